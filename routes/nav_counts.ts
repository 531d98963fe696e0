/**
 * Rule 32 at first paint: every desk page draws its title `(N) <page> · chatdesk` and the
 * navigation's counts on the server, so nothing waits for the live stream to connect.
 */
import type { Agent } from "../domain/types.ts";
import type { NavCounts } from "../views/layout.tsx";
import type { AppDeps } from "./context.ts";
import { deskCounts, deskVersion, type Share, unshared } from "./live_views.ts";

/**
 * The counts the Layout shows (`counts`) and their version in the page's `/events` version
 * (`version`: with it the stream sends the counts only once they change).
 */
export async function navCounts(
  deps: AppDeps,
  agent: Agent,
  share: Share = unshared,
): Promise<{ counts: NavCounts; version: string }> {
  const desk = await deskCounts(deps, agent, share);
  return {
    counts: { unassigned: desk.unassigned, chats: desk.pending.length },
    version: deskVersion(desk),
  };
}
