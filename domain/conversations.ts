/** The conversation state machine (rules 1–5, 8, 9) as pure decisions, plus its record helpers. */
import { scheduleDue, unscheduleDue } from "./desk.ts";
import { keys } from "./keys.ts";
import { bump } from "./kv_util.ts";
import type { Conversation, ConversationState } from "./types.ts";

export type Route =
  | { kind: "intake_message"; endsIntake: boolean } // rule 1
  | { kind: "open_intake" } // rule 2: yes
  | { kind: "decline" } // rule 2: no
  | { kind: "reprompt" } // rule 2: anything else
  | { kind: "chat_message" } // rule 3
  | { kind: "start" }; // rule 4

const command = (text: string) => text.trim().toLowerCase();

/**
 * Rule 55: the YES/NO prompt's answers as the buttons a channel draws (web chat, WhatsApp reply
 * buttons); a tapped one comes back as its text, which rule 2 reads like a typed word.
 */
export const PROMPT_ANSWERS: readonly string[] = ["Yes", "No"];

/** Rules 1–4: where an inbound message goes, from the conversation's current state alone. */
export function routeInbound(state: ConversationState | null, text: string): Route {
  switch (state) {
    case "leaving_message":
      return { kind: "intake_message", endsIntake: command(text) === "//end" };
    case "awaiting_reply": {
      const answer = command(text);
      if (answer === "yes") return { kind: "open_intake" };
      if (answer === "no") return { kind: "decline" };
      return { kind: "reprompt" };
    }
    case "live":
    case "pending":
      return { kind: "chat_message" };
    default:
      return { kind: "start" };
  }
}

/** A conversation counts as current only while its state has not timed out (rules 5, 8, 9). */
export function isCurrent(conversation: Conversation | null, now: number): boolean {
  return !!conversation && conversation.state !== "ended" &&
    (conversation.deadline === null || conversation.deadline > now);
}

/**
 * Writes the conversation record with its due entry and chat indexes kept in step. A deadline
 * that only moved later in the same state keeps its due entry: the sweep reschedules it when it
 * fires early, so a message in an intake or a live chat costs no index churn.
 */
export function writeConversation(
  op: Deno.AtomicOperation,
  before: Conversation | null,
  after: Conversation,
  options: { reschedule?: boolean } = {},
) {
  // Records written before `dueAt` existed had their due entry at the deadline.
  const beforeDue = before ? before.dueAt === undefined ? before.deadline : before.dueAt : null;
  const keep = !options.reschedule && before !== null && before.id === after.id &&
    before.state === after.state && beforeDue !== null &&
    after.deadline !== null && beforeDue <= after.deadline;
  if (keep) after.dueAt = beforeDue;
  else {
    if (before) unscheduleDue(op, beforeDue, "conversation", before.customerId);
    if (after.deadline !== null) {
      scheduleDue(op, after.deadline, "conversation", after.customerId);
    }
    after.dueAt = after.deadline;
  }
  op.set(keys.conversation(after.customerId), after);
  const wasChat = before && (before.state === "pending" || before.state === "live") ? before : null;
  const isChat = after.state === "pending" || after.state === "live";
  if (wasChat && (wasChat.id !== after.id || wasChat.state !== after.state)) {
    op.delete(keys.chatsByState(wasChat.state, wasChat.id));
    bump(op, keys.chatsChanged());
  }
  if (isChat && (!wasChat || wasChat.id !== after.id || wasChat.state !== after.state)) {
    op.set(keys.chatsByState(after.state, after.id), after.customerId);
    op.set(keys.chat(after.id), after.customerId);
    bump(op, keys.chatsChanged());
  }
  if (after.state === "live" && after.agentId && wasChat?.agentId !== after.agentId) {
    op.set(keys.chatAgent(after.id, after.agentId), true);
    op.set(keys.customerChatAgent(after.customerId, after.agentId), after.id);
  }
  // Rule 55: the web chat tells its visitor when an agent joins, the chat ends or a YES/NO
  // question waits; its stream wakes on the thread key, messages or not.
  if (
    !before || before.id !== after.id || before.state !== after.state ||
    before.agentId !== after.agentId
  ) {
    bump(op, keys.threadChanged(after.customerId));
  }
}
