/**
 * Rule 29: the delivery mark of an outbound message (queued, retrying, paused, sent ✓,
 * delivered ✓✓, read, failed ⚠ with the reason) and its Retry form. A mark says what it means in
 * words, visible or for screen readers, never by colour alone. Messages stored before delivery
 * existed have no `delivery` and get no mark.
 */
import type { Delivery, Message } from "../domain/types.ts";
import type { Flash } from "./components.tsx";

/** Queue holds that are not the provider's fault: the channel, not the message, waits. */
const PAUSED: Record<string, string> = {
  channel_disabled: "Paused: channel disabled",
  channel_auth_failed: "Paused: the provider refused the channel's credentials",
};

/** Where a queued message stands in its customer's queue (rule 26), as far as a thread shows. */
export interface QueuePlace {
  /** Later messages to the same customer held behind this one while it retries or is paused. */
  holding: number;
  /** Held behind an earlier message that retries or is paused. */
  waiting: boolean;
}

const held = (d: Delivery | undefined): boolean => d?.status === "queued" && !!d.error;

/**
 * Rule 26 on the page: the first queued message with an error holds the later queued ones to the
 * same customer; each of those says it waits, and the holder says how many wait for it.
 */
export function queuePlaces(messages: Message[]): Map<string, QueuePlace> {
  const places = new Map<string, QueuePlace>();
  const holders = new Map<string, QueuePlace>();
  for (const m of messages) {
    if (m.direction !== "out" || m.delivery?.status !== "queued") continue;
    const customer = m.customerId ?? "";
    const holder = holders.get(customer);
    if (holder) {
      holder.holding++;
      places.set(m.id, { holding: 0, waiting: true });
    } else if (held(m.delivery)) {
      const place = { holding: 0, waiting: false };
      holders.set(customer, place);
      places.set(m.id, place);
    }
  }
  return places;
}

/** "HH:MM:SS UTC" of a retry's next attempt. */
const clockTime = (ms: number): string => `${new Date(ms).toISOString().slice(11, 19)} UTC`;

const later = (n: number): string =>
  n === 1 ? "1 later message waits for it" : `${n} later messages wait for it`;

/** One message's mark; `id` lets a Retry button point at the reason it answers. */
export function DeliveryMark(
  { delivery, place, id }: { delivery: Delivery; place?: QueuePlace; id?: string },
) {
  switch (delivery.status) {
    case "sent":
      return <span class="mark mark-sent" role="img" aria-label="Sent" title="Sent">✓</span>;
    case "delivered":
      return (
        <span class="mark mark-delivered" role="img" aria-label="Delivered" title="Delivered">
          ✓✓
        </span>
      );
    case "read":
      return <span class="mark mark-read" role="img" aria-label="Read" title="Read">✓✓</span>;
    case "failed": {
      const code = delivery.error?.code ?? "failed";
      return (
        <span class="mark mark-failed" id={id} title={`Error code: ${code}`}>
          <span aria-hidden="true">⚠</span> Failed: {delivery.error?.message ?? "not delivered."}
          {" "}
          <span class="sr-only">(error code {code})</span>
        </span>
      );
    }
    case "queued": {
      const error = delivery.error;
      if (!error) {
        return (
          <span class="mark mark-queued">
            Queued{place?.waiting ? " · waits for an earlier message" : ""}
          </span>
        );
      }
      const paused = PAUSED[error.code];
      const next = !paused && delivery.nextAttemptAt !== undefined
        ? ` · next try ${clockTime(delivery.nextAttemptAt)}`
        : "";
      return (
        <span class={paused ? "mark mark-paused" : "mark mark-retry"} title={`Code: ${error.code}`}>
          {paused ?? `Retrying: ${error.message}`}
          {next}
          {place?.holding ? ` · ${later(place.holding)}` : ""}
        </span>
      );
    }
  }
}

/** Rule 29: the Retry form of a failed message (a plain form, htmx answers in place). */
export function RetryForm(
  { action, describedBy, fold }: {
    action: string;
    describedBy: string;
    /** The thread's fold (rule 56, as in `fold=`), so the thread drawn back keeps it. */
    fold?: string;
  },
) {
  return (
    <form
      method="post"
      action={action}
      class="msg-retry"
      hx-post={action}
      hx-target="#flash"
      hx-disabled-elt="find button"
    >
      {fold ? <input type="hidden" name="fold" value={fold} /> : null}
      <button type="submit" class="btn btn-sm" aria-describedby={describedBy}>Retry</button>
    </form>
  );
}

/** What a Retry that worked says. */
export const RETRY_QUEUED: Flash = {
  kind: "ok",
  text: "Queued again: the message goes out after the customer's other waiting messages; " +
    "its mark shows when it is sent.",
};

/** Why a Retry was refused (rule 18's window closed, already retried, not this agent's). */
export function retryRefusal(error: { code: string; message: string }, windowHours: number): Flash {
  if (error.code === "whatsapp_window_closed") {
    return {
      kind: "error",
      text: `The ${windowHours}-hour window has closed: send an approved template.`,
    };
  }
  if (error.code === "not_failed") {
    return { kind: "info", text: "This message is no longer failed: it was already retried." };
  }
  return { kind: "error", text: error.message };
}
