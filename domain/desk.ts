/** What every domain write path is handed: the store, the clock, and this instance's courier. */
import { bump } from "./kv_util.ts";
import type { Clock } from "./clock.ts";
import { type DueKind, keys } from "./keys.ts";
import type { OutboxEntry } from "./messages.ts";

export interface Desk {
  kv: Deno.Kv;
  clock: Clock;
  /** Where the store lives, which decides whether instances must poll (rules 37, 40). */
  storeKind?: StoreKind;
  /**
   * Starts a customer's deliveries in this instance right after a commit queued messages for it.
   * The durable record is the outbox entry and its due entry (rule 37); this only saves the wait.
   */
  kick?: (customerId: string, likely?: OutboxEntry) => void;
  /** Rule 49: starts fetching a customer's file in this instance right after its commit. */
  fetchMedia?: (attachmentId: string) => void;
}

/** Asks the instance's media fetcher to fetch a file now (best effort, never throws). */
export function kickMediaFetch(desk: Desk, attachmentId: string) {
  try {
    desk.fetchMedia?.(attachmentId);
  } catch (error) {
    console.error("media kick failed", error);
  }
}

/** Asks the instance's courier to look at a customer's queue now (best effort, never throws). */
/** `likely`: a message the caller just queued, probably the head (read together with the queue). */
export function kickDelivery(desk: Desk, customerId: string, likely?: OutboxEntry) {
  try {
    desk.kick?.(customerId, likely);
  } catch (error) {
    console.error("delivery kick failed", error);
  }
}

/**
 * Records a due time in the caller's commit (rule 37): the due entry is the durable record, and
 * the bump of `dueChanged` lets every live instance re-arm its timer for it.
 */
export function scheduleDue(
  op: Deno.AtomicOperation,
  at: number,
  kind: DueKind,
  id: string,
) {
  bump(op.set(keys.due(at, kind, id), id), keys.dueChanged());
}

export function unscheduleDue(
  op: Deno.AtomicOperation,
  at: number | null,
  kind: DueKind,
  id: string,
) {
  if (at !== null) op.delete(keys.due(at, kind, id));
}

/** Where the store lives decides how instances hear of each other's writes (rules 37, 40). */
export type StoreKind = "memory" | "file" | "remote";

export function storeKind(kvPath: string | undefined): StoreKind {
  if (kvPath === ":memory:") return "memory";
  // Deno Deploy's own database (no path) and KV Connect URLs are remote.
  if (kvPath === undefined || /^https?:\/\//.test(kvPath)) return "remote";
  return "file";
}

/**
 * How often an instance re-reads what it would otherwise learn from `kv.watch`: only processes
 * sharing one SQLite file need it, since there `watch` never sees another process's writes.
 */
export function crossProcessPollMs(kind: StoreKind, pollMs: number): number | null {
  return kind === "file" ? pollMs : null;
}
