/**
 * Writing messages (rule 24): every message is one key under its conversation plus an id index;
 * an outbound one is written with its delivery job in the same commit (an outbox entry and a due
 * entry, never a KV queue: rule 37), so a crash never loses a message nor sends one that was not
 * stored.
 */
import { pointAttachment } from "./attachments.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { bump, onceInCommit } from "./kv_util.ts";
import type { Delivery, DeliveryStatus, Message, Route } from "./types.ts";

export interface OutboxEntry {
  conversationId: string;
  messageId: string;
}

/** The outbox entry a message gets when it is queued. */
export const headOf = (m: Pick<Message, "conversationId" | "id">): OutboxEntry => ({
  conversationId: m.conversationId,
  messageId: m.id,
});

/** Adds one message to a conversation in the caller's commit (inbound, or stored only). */
export function addMessage(
  op: Deno.AtomicOperation,
  conversationId: string,
  at: number,
  fields: Pick<Message, "direction" | "author" | "text"> & Partial<Message>,
): Message {
  const message: Message = { id: newId(at), conversationId, at, ...fields };
  for (const k of ["template", "language", "params", "providerAt"] as const) {
    if (message[k] === undefined) delete message[k];
  }
  op.set(keys.message(conversationId, message.id), message);
  op.set(keys.messageById(message.id), conversationId);
  // Rule 49: each file points to its message (access checks, serving and fetch results find it).
  for (const a of message.attachments ?? []) {
    pointAttachment(op, a.id, {
      conversationId,
      messageId: message.id,
      customerId: message.customerId ?? "",
    });
  }
  if (message.customerId) bump(op, keys.threadChanged(message.customerId));
  if (message.customerId) op.set(keys.thread(message.customerId, message.id), conversationId);
  return message;
}

/** How an outbound message leaves, decided from the customer's route when it is written. */
export type Dispatch =
  /** Through the outbox: a provider call after the commit (meta, twilio, api with a webhook). */
  | "outbox"
  /** Delivered at once with no provider (the demo route). */
  | "demo"
  /** Handed over by the write itself: a web chat store is the send; API answers carry replies. */
  | "in_answer";

/**
 * Rule 24. `inAnswer`: the message is part of the answer to `POST /api/inbound` and the API
 * channel has no webhook, so the answer itself delivers it.
 */
export function dispatchFor(route: Route | null | undefined, inAnswer = false): Dispatch {
  if (route === "demo") return "demo";
  if (route === "webchat") return "in_answer";
  if (route === "api" && inAnswer) return "in_answer";
  return "outbox";
}

/**
 * How long the instance that wrote a message has to start sending it before any other instance
 * may (rule 37): the writer starts at once, so others only step in when it stopped meanwhile.
 */
export const KICK_GRACE_MS = 1_000;

/**
 * Rule 37: a look at the customer's queue at `at`, in the caller's commit: a due entry that the
 * timers of every live instance and the delivery cron run, and the bump that re-arms them.
 */
export function scheduleDelivery(op: Deno.AtomicOperation, customerId: string, at: number) {
  const key = keys.deliveryDue(at, customerId);
  if (onceInCommit(op, JSON.stringify(key))) bump(op.set(key, customerId), keys.dueChanged());
}

/**
 * Rule 24: an outbound message and its delivery, in the caller's commit. Queued messages get an
 * outbox entry at the back of the customer's queue and a due entry as the backstop of the kick
 * that the writer gives its courier after the commit.
 */
export function addOutbound(
  op: Deno.AtomicOperation,
  to: { conversationId: string; customerId: string; route: Route | null | undefined },
  at: number,
  dispatch: Dispatch,
  fields: Pick<Message, "author" | "text"> & Partial<Message>,
): Message {
  const { conversationId, customerId } = to;
  const status: DeliveryStatus = dispatch === "demo"
    ? "delivered"
    : dispatch === "in_answer"
    ? "sent"
    : "queued";
  const delivery: Delivery = {
    status,
    attempts: dispatch === "outbox" ? 0 : 1,
    updatedAt: at,
    ...(dispatch !== "outbox" && to.route ? { route: to.route } : {}),
  };
  const message = addMessage(op, conversationId, at, {
    ...fields,
    direction: "out",
    customerId,
    delivery,
  });
  if (dispatch === "outbox") {
    const entry: OutboxEntry = { conversationId, messageId: message.id };
    op.set(keys.outbox(customerId, message.id), entry);
    scheduleDelivery(op, customerId, at + KICK_GRACE_MS);
  }
  op.set(keys.customerMessage(customerId, message.id), conversationId);
  bump(op, keys.deliveryChanged());
  return message;
}

/** Finds a message by id alone. */
export async function findMessage(
  kv: Deno.Kv,
  messageId: string,
): Promise<Deno.KvEntryMaybe<Message> | null> {
  const pointer = await kv.get<string>(keys.messageById(messageId));
  if (!pointer.value) return null;
  const entry = await kv.get<Message>(keys.message(pointer.value, messageId));
  return entry.value ? entry : null;
}

const RANK: Record<Exclude<DeliveryStatus, "failed">, number> = {
  queued: 0,
  sent: 1,
  delivered: 2,
  read: 3,
};

/**
 * Rule 25: a reported status applies only when it ranks higher than the current one; `failed`
 * applies from queued or sent; a later delivered or read overrides failed. Null: no change.
 */
export function advanceDelivery(
  current: Delivery,
  status: Exclude<DeliveryStatus, "queued">,
  error: Delivery["error"] | undefined,
  at: number,
): Delivery | null {
  if (status === "failed") {
    if (current.status !== "queued" && current.status !== "sent") return null;
    return { ...withoutSchedule(current), status, error, updatedAt: at };
  }
  if (current.status === "failed") {
    if (status === "sent") return null;
    const { error: _dropped, ...rest } = current;
    return { ...rest, status, updatedAt: at };
  }
  if (RANK[status] <= RANK[current.status]) return null;
  const { error: _dropped, ...rest } = withoutSchedule(current);
  return { ...rest, status, updatedAt: at };
}

/** A delivery no longer waiting for anything (its retry and hold marks dropped). */
export function withoutSchedule(d: Delivery): Delivery {
  const { nextAttemptAt: _n, heldSince: _h, ...rest } = d;
  return rest;
}

/** The API shape of a delivery (rule 25): internal scheduling fields stay inside. */
export function deliveryJson(d: Delivery) {
  return {
    status: d.status,
    attempts: d.attempts,
    ...(d.providerId ? { providerId: d.providerId } : {}),
    ...(d.error ? { error: d.error } : {}),
    updatedAt: new Date(d.updatedAt).toISOString(),
  };
}
