/**
 * Rule 29: Retry puts a failed message back at the back of its customer's queue, after checking
 * rule 18 again. Failed messages are never resent by themselves.
 */
import { messageAccess } from "./access.ts";
import { assertWindowOpen } from "./chats.ts";
import { type Desk, kickDelivery } from "./desk.ts";
import { Conflict, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { refuseOptedOut } from "./opt_outs.ts";
import {
  findMessage,
  KICK_GRACE_MS,
  type OutboxEntry,
  scheduleDelivery,
  withoutSchedule,
} from "./messages.ts";
import { getSettings } from "./settings.ts";
import type { Agent, Conversation, Customer, Delivery, Message } from "./types.ts";

export async function retryMessage(desk: Desk, agent: Agent, messageId: string): Promise<Message> {
  const { kv, clock } = desk;
  const settings = await getSettings(kv);
  const retried = await retryCommit(async () => {
    const entry = await findMessage(kv, messageId);
    const message = entry?.value;
    if (!entry || !message || message.direction !== "out" || !message.customerId) {
      throw new NotFound("Message");
    }
    const customerId = message.customerId;
    const access = await messageAccess(desk, agent, message, customerId);
    if (!access.read) throw new NotFound("Message");
    if (!access.retry) {
      throw new Conflict(
        "not_yours",
        "Only the ticket's agent, the chat's agent or a supervisor may retry this.",
      );
    }
    if (message.delivery?.status !== "failed") {
      throw new Conflict("not_failed", "Only a failed message can be retried.");
    }
    const [customer, conversation] = await kv.getMany<[Customer, Conversation]>([
      keys.customer(customerId),
      keys.conversation(customerId),
    ]);
    if (!customer.value) throw new NotFound("Customer");
    refuseOptedOut(customer.value);
    assertWindowOpen(customer.value, conversation.value, message, settings, clock);
    const now = clock.now();
    const { error: _e, firstAttemptAt: _f, providerId: _p, ...rest } = withoutSchedule(
      message.delivery,
    );
    // The 1-hour staleness of auto-replies counts from the Retry: an agent asked for it now.
    const delivery: Delivery = {
      ...rest,
      status: "queued",
      attempts: 0,
      updatedAt: now,
      queuedAt: now,
    };
    const next: Message = { ...message, delivery };
    const position: OutboxEntry = { conversationId: message.conversationId, messageId };
    const op = kv.atomic().check(entry)
      .set(entry.key, next)
      .set(keys.outbox(customerId, newId(now)), position)
      .sum(keys.deliveryChanged(), 1n);
    scheduleDelivery(op, customerId, now + KICK_GRACE_MS);
    return (await op.commit()).ok ? next : undefined;
  });
  kickDelivery(desk, retried.customerId!);
  return retried;
}
