/**
 * Rule 46: a WhatsApp customer edits or deletes (`revoke`) a message it sent earlier. The change
 * is applied to that message where it is stored: an edit replaces its text and keeps the earlier
 * ones (the first always) in its history, a deletion marks it and keeps the text for staff.
 * Neither starts a conversation nor sends anything; open pages redraw the thread.
 */
import type { Channel, Conversation, Message, MessageChange } from "./types.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import type { Desk } from "./desk.ts";

/** As long as provider ids are remembered for dedupe: Meta allows edits for 15 minutes. */
const KEPT_FOR = 7 * 24 * 3600_000;
/** Earlier texts kept on a message: the first, then the latest ones (the record stays small). */
const EDITS_KEPT = 20;

interface StoredAt {
  conversationId: string;
  messageId: string;
}

/**
 * In the inbound message's own commit: where a provider's message was stored, so its later edit
 * or deletion finds it (rule 46) without a scan.
 */
export function rememberInbound(
  op: Deno.AtomicOperation,
  channel: Channel,
  customerId: string,
  providerId: string | undefined,
  stored: Message,
): void {
  if (!providerId) return;
  const at: StoredAt = { conversationId: stored.conversationId, messageId: stored.id };
  op.set(keys.inboundMessage(channel, customerId, providerId), at, { expireIn: KEPT_FOR });
}

/** The message with its new text; its text before goes to its history (the first is kept). */
export function withEdit(message: Message, text: string, now: number): Message {
  if (text === message.text) return message;
  const history = [...message.edits ?? [], {
    text: message.text,
    at: message.editedAt ?? message.at,
  }];
  const edits = history.length > EDITS_KEPT
    ? [history[0], ...history.slice(history.length - EDITS_KEPT + 1)]
    : history;
  return { ...message, text, editedAt: now, edits };
}

/**
 * Rule 46: applies an edit or deletion to the customer's message it names. Null when the desk
 * has no such message (older than the ids it remembers, or never stored): the caller then keeps
 * the change as a passive message. A repeat of the same change (its own provider id) changes
 * nothing. Returns the customer's current conversation, for the answer.
 */
export async function applyMessageChange(
  desk: Desk,
  input: { channel: Channel; text: string; id?: string; change: MessageChange },
  customerId: string,
): Promise<{ conversation: Conversation | null; duplicate: boolean } | null> {
  const { kv } = desk;
  const pointerKey = keys.inboundMessage(input.channel, customerId, input.change.of);
  const seenKey = input.id ? keys.inboundSeen(input.channel, customerId, input.id) : null;
  return await retryCommit(async () => {
    const now = desk.clock.now();
    const [seen, pointer, conversation] = await kv.getMany<[string, StoredAt, Conversation]>([
      seenKey ?? pointerKey,
      pointerKey,
      keys.conversation(customerId),
    ]);
    if (seenKey && seen.value) return { conversation: conversation.value, duplicate: true };
    const at = pointer.value;
    if (!at) return null;
    const entry = await kv.get<Message>(keys.message(at.conversationId, at.messageId));
    const original = entry.value;
    if (!original || original.direction !== "in") return null;
    const next = input.change.kind === "edit"
      ? withEdit(original, input.text, now)
      : original.deletedAt
      ? original
      : { ...original, deletedAt: now };
    const op = kv.atomic().check(entry);
    if (seenKey) {
      op.check({ key: seenKey, versionstamp: null }).set(seenKey, customerId, {
        expireIn: KEPT_FOR,
      });
    }
    if (next !== original) {
      // Open tickets and chats redraw their thread (it listens to delivery changes).
      op.set(entry.key, next).sum(keys.deliveryChanged(), 1n).sum(
        keys.threadChanged(customerId),
        1n,
      );
    }
    if (!(await op.commit()).ok) return undefined;
    return { conversation: conversation.value, duplicate: false };
  });
}
