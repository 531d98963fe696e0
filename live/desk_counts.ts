/**
 * Rule 32's counts, on every desk page: the title `(N) <page> · chatdesk` and the navigation show
 * the unassigned tickets the agent may see and the pending chats it may take. Pages draw them at
 * first paint (`navCounts`); the live stream sends them again once they change.
 */
import { isStaff } from "../domain/access.ts";
import { listChats } from "../domain/chats.ts";
import { visibleDepartments } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { countUnassigned } from "../domain/tickets.ts";
import type { Agent } from "../domain/types.ts";
import type { NavCounts } from "../views/layout.tsx";
import { type Share, unshared } from "./parts.ts";

/** What the title and the navigation count (rule 32). */
export interface DeskCounts {
  /** Unassigned tickets the agent may see. */
  unassigned: number;
  /** Pending chats it may take, ids sorted (the stream announces new ones). */
  pending: readonly string[];
  /** Pending chat id → its customer (for the announcement). */
  customers: ReadonlyMap<string, string>;
}

/** The counts' version inside a page version: short, and the same wherever it is computed. */
export const deskVersion = (c: DeskCounts): string => `${c.unassigned}-${c.pending.length}`;

/** Rule 32: the unassigned tickets the agent may see and the pending chats it may take. */
export async function deskCounts(
  desk: Desk,
  agent: Agent,
  share: Share = unshared,
): Promise<DeskCounts> {
  const { kv } = desk;
  const visible = await share(`visible|${agent.id}`, () => visibleDepartments(kv, agent));
  // Agents with the same departments (all staff alike) see the same counts.
  const scope = isStaff(agent) ? "staff" : `agent|${visible.join(",")}`;
  return await share(`desk|${scope}`, async () => {
    const [unassigned, pending] = await Promise.all([
      countUnassigned(kv, visible),
      listChats(desk, agent, "pending"),
    ]);
    return {
      unassigned,
      pending: pending.map((c) => c.id).sort(),
      customers: new Map(pending.map((c) => [c.id, c.customerId])),
    };
  });
}

/**
 * Rule 32 at first paint: the counts the Layout shows (`counts`) and their version in the page's
 * `/events` version (`version`: with it the stream sends the counts only once they change), so
 * nothing waits for the live stream to connect.
 */
export async function navCounts(
  desk: Desk,
  agent: Agent,
  share: Share = unshared,
): Promise<{ counts: NavCounts; version: string }> {
  const counts = await deskCounts(desk, agent, share);
  return {
    counts: { unassigned: counts.unassigned, chats: counts.pending.length },
    version: deskVersion(counts),
  };
}
