/** What every route is handed, and the Hono environment type the sub-apps share. */
import type { ManualClock } from "../domain/clock.ts";
import type { Config } from "../domain/config.ts";
import type { Desk } from "../domain/desk.ts";
import type { Courier } from "../domain/delivery.ts";
import type { Agent } from "../domain/types.ts";

import type { MediaFetcher } from "../domain/media_fetch.ts";

export interface AppDeps {
  desk: Desk;
  config: Config;
  /** Present only under CHATDESK_CLOCK=manual. */
  manualClock: ManualClock | null;
  /** Inbound bearer token (from the environment, or generated once and kept in KV). */
  inboundToken: string;
  /** Hands queued messages to providers (rules 25–27). */
  courier: Courier;
  /** Rule 49: fetches customers' files and holds the file store (a default one when not given). */
  media?: MediaFetcher;
  /** Body deadline and per-address cap (routes/limits.ts); tests shorten them. */
  limits?: RequestLimits;
}

/** Body deadline and per-address cap (routes/limits.ts). */
export interface RequestLimits {
  /** A whole request body must arrive within this many ms (real time). */
  bodyDeadlineMs: number;
  /** Requests in flight at once from one client address on capped routes. */
  perAddress: number;
}

export type DeskEnv = {
  Variables: {
    agent: Agent;
    token: string;
  };
};
