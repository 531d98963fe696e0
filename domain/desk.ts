/** What every domain write path is handed: the store, the clock, and whether to schedule wake-ups. */
import type { Clock } from "./clock.ts";
import { type DueKind, keys } from "./keys.ts";

export interface Desk {
  kv: Deno.Kv;
  clock: Clock;
  /** Enqueue a KV message at each due time so sweeps run on time, not only at the next cron tick. */
  wakeups: boolean;
  /**
   * Starts a customer's deliveries in this process right after a commit queued messages for it
   * (the committed KV job is the durable way; this only saves the queue's polling delay).
   */
  kick?: (customerId: string) => void;
}

/** Asks the process's courier to look at a customer's queue now (best effort, never throws). */
export function kickDelivery(desk: Desk, customerId: string) {
  try {
    desk.kick?.(customerId);
  } catch (error) {
    console.error("delivery kick failed", error);
  }
}

const MAX_ENQUEUE_DELAY = 30 * 24 * 60 * 60 * 1000;

/** Records a due time (the sweep's index) and, when wake-ups are on, a precise timer for it. */
export function scheduleDue(
  desk: Desk,
  op: Deno.AtomicOperation,
  at: number,
  kind: DueKind,
  id: string,
) {
  op.set(keys.due(at, kind, id), id);
  const delay = at - desk.clock.now();
  if (desk.wakeups && delay <= MAX_ENQUEUE_DELAY) {
    op.enqueue({ kind: "due" }, { delay: Math.max(0, delay) });
  }
}

export function unscheduleDue(
  op: Deno.AtomicOperation,
  at: number | null,
  kind: DueKind,
  id: string,
) {
  if (at !== null) op.delete(keys.due(at, kind, id));
}
