/**
 * The one KV queue dispatcher: every `kv.enqueue`d job is typed (messages.ts `QueueJob`) and
 * routed here. Timer wake-ups run the sweeps; delivery jobs run the customer's queue. Provider
 * errors never throw out of a handler (the courier records them); a store error does, and KV
 * delivers the job again.
 */
import type { Courier } from "./delivery.ts";
import type { QueueJob } from "./messages.ts";

export function queueDispatcher(
  courier: Courier,
  sweep: () => Promise<unknown>,
): (job: unknown) => Promise<void> {
  return async (job: unknown) => {
    const kind = (job as Partial<QueueJob> | null)?.kind;
    if (kind === "due") {
      await sweep();
    } else if (kind === "deliver") {
      const customerId = (job as { customerId?: unknown }).customerId;
      if (typeof customerId === "string") await courier.deliver(customerId);
    } else {
      console.error("queue: unknown job ignored", job);
    }
  };
}
