/** What every route is handed, and the Hono environment type the sub-apps share. */
import type { ManualClock } from "../domain/clock.ts";
import type { Config } from "../domain/config.ts";
import type { Desk } from "../domain/desk.ts";
import type { Agent } from "../domain/types.ts";

export interface AppDeps {
  desk: Desk;
  config: Config;
  /** Present only under CHATDESK_CLOCK=manual. */
  manualClock: ManualClock | null;
  /** Inbound bearer token (from the environment, or generated once and kept in KV). */
  inboundToken: string;
}

export type DeskEnv = {
  Variables: {
    agent: Agent;
    token: string;
  };
};
