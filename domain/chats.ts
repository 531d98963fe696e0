/** Live chats: pending chats agents accept (rule 7), agent replies that start a chat (17, 18). */
import type { Clock } from "./clock.ts";
import { HOUR } from "./clock.ts";
import { canReadEndedChat, canSeeChat, isStaff } from "./access.ts";
import { isCurrent, writeConversation } from "./conversations.ts";
import { visibleDepartments } from "./departments.ts";
import { type Desk, kickDelivery } from "./desk.ts";
import { Conflict, Forbidden, Invalid, NotFound, Unprocessable } from "./errors.ts";
import { latestInbound } from "./inbound.ts";
import { assertFitsChannel, MAX_MESSAGE_LENGTH } from "./channels.ts";
import { addOutbound, dispatchFor, headOf } from "./messages.ts";
import { idTime, newId } from "./ids.ts";
import { keys, NO_DEPARTMENT } from "./keys.ts";
import { getAll, retryCommit } from "./kv_util.ts";
import { refuseOptedOut } from "./opt_outs.ts";
import { getSettings, type Settings } from "./settings.ts";
import { renderTemplate } from "./templates.ts";
import {
  catchUpLastMessage,
  closedTicket,
  isOpen,
  linkConversation,
  withEvent,
  writeTicket,
} from "./tickets.ts";
import { settleConversation } from "./sweeps.ts";
import type { Agent, Attachment, Conversation, Customer, Message, Ticket } from "./types.ts";
import { asBody } from "./validate.ts";
import {
  checkOutgoingMedia,
  mediaFields,
  type OutgoingMedia,
  parseOutgoingMedia,
  sendWithMedia,
} from "./agent_media.ts";
import type { FileStore } from "./file_store.ts";

export interface Chat {
  id: string;
  customerId: string;
  state: "pending" | "live";
  agentId: string | null;
  department: string | null;
  createdAt: number;
  ticketId: string | null;
  /** Rule 56: the start of what the customer wrote (empty in a chat an agent started). */
  preview: string;
}

const asChat = (c: Conversation): Chat => ({
  id: c.id,
  customerId: c.customerId,
  state: c.state as Chat["state"],
  agentId: c.agentId,
  department: c.department,
  createdAt: c.startedAt,
  ticketId: c.ticketId,
  preview: c.firstText,
});

/** `GET /api/chats`: pending chats of the agent's departments, or its own live chats (staff: all). */
export async function listChats(
  desk: Desk,
  agent: Agent,
  state: "pending" | "live",
): Promise<Chat[]> {
  const [pointers, visible] = await Promise.all([
    Array.fromAsync(desk.kv.list<string>({ prefix: keys.chatsByState(state) })),
    visibleDepartments(desk.kv, agent),
  ]);
  const entries = await getAll<Conversation>(
    desk.kv,
    pointers.map((e) => keys.conversation(e.value)),
  );
  const now = desk.clock.now();
  return entries
    .map((e) => e.value)
    .filter((c): c is Conversation => !!c && isCurrent(c, now) && c.state === state)
    .filter((c) => canSeeChat(agent, c, visible))
    .map(asChat);
}

async function chatConversation(desk: Desk, chatId: string) {
  const customerId = (await desk.kv.get<string>(keys.chat(chatId))).value;
  if (!customerId) throw new NotFound("Chat");
  return customerId;
}

/** Rule 7: an agent takes a pending chat; the customer's open ticket closes (reason live_chat). */
export async function acceptChat(desk: Desk, agent: Agent, chatId: string): Promise<Chat> {
  const customerId = await chatConversation(desk, chatId);
  const settings = await getSettings(desk.kv);
  const visible = await visibleDepartments(desk.kv, agent);
  return await retryCommit(async () => {
    const now = desk.clock.now();
    const [entry, open] = await desk.kv.getMany<[Conversation, string]>([
      keys.conversation(customerId),
      keys.openTicketByCustomer(customerId),
    ]);
    const c = entry.value;
    if (!c || c.id !== chatId || !isCurrent(c, now)) {
      throw new Conflict("chat_ended", "This chat has ended.");
    }
    if (c.state !== "pending") {
      throw new Conflict("chat_taken", "Another agent took this chat first.");
    }
    if (agent.role === "agent" && !visible.includes(c.department ?? NO_DEPARTMENT)) {
      throw new NotFound("Chat");
    }
    const op = desk.kv.atomic().check(entry, open);
    if (open.value && !c.fromTicket) {
      const ticketEntry = await desk.kv.get<Ticket>(keys.ticket(open.value));
      if (ticketEntry.value && isOpen(ticketEntry.value)) {
        op.check(ticketEntry);
        writeTicket(
          op,
          ticketEntry.value,
          closedTicket(ticketEntry.value, now, null, "live_chat"),
          now,
        );
      }
    }
    const live: Conversation = {
      ...c,
      state: "live",
      agentId: agent.id,
      liveId: newId(now),
      lastActivityAt: now,
      deadline: now + settings.timeouts.sessionMinutes * 60_000,
    };
    writeConversation(op, c, live);
    return (await op.commit()).ok ? asChat(live) : undefined;
  });
}

/**
 * What an agent sends: free text, a filled template with its name, language and params, or
 * (rule 51) a file with an optional caption, or a place.
 */
export interface Outgoing extends Partial<OutgoingMedia> {
  text: string;
  template?: string;
  language?: string;
  params?: string[];
}

/**
 * Reads `{text}`, `{template, params}`, `{file, text?}` (a multipart body's parts) or
 * `{location}` into what the agent sends (rules 18, 44 and 51 decide if it may).
 */
export async function parseOutgoing(
  kv: Deno.Kv,
  input: unknown,
): Promise<Outgoing> {
  const body = asBody(input);
  const media = parseOutgoingMedia(body);
  if (media) {
    if (media.text.length > MAX_MESSAGE_LENGTH) {
      throw new Invalid("text_too_long", `At most ${MAX_MESSAGE_LENGTH} characters.`);
    }
    return media;
  }
  if (body.template !== undefined) {
    if (typeof body.template !== "string") {
      throw new Invalid("invalid_field", '"template" must be a template id or name.');
    }
    const { template, text } = await renderTemplate(kv, body.template, body.params);
    return {
      text,
      template: template.name,
      language: template.language,
      params: body.params as string[] ?? [],
    };
  }
  if (typeof body.text !== "string" || body.text.trim() === "") {
    throw new Invalid("missing_field", 'Send "text", or "template" with "params".', {
      text: "Type a message.",
    });
  }
  if (body.text.length > MAX_MESSAGE_LENGTH) {
    throw new Invalid("text_too_long", `At most ${MAX_MESSAGE_LENGTH} characters.`);
  }
  return { text: body.text };
}

/** Rule 18: free text to a WhatsApp customer needs an inbound message within the window. */
export function assertWindowOpen(
  customer: Customer,
  conversation: Conversation | null,
  outgoing: { template?: string },
  settings: Settings,
  clock: Clock,
) {
  if (customer.channel !== "whatsapp" || outgoing.template) return;
  if (
    clock.now() - latestInbound(customer, conversation) >
      settings.timeouts.whatsappWindowHours * HOUR
  ) {
    throw new Unprocessable(
      "whatsapp_window_closed",
      `The customer's last WhatsApp message is older than ${settings.timeouts.whatsappWindowHours} hours: send an approved template.`,
    );
  }
}

/** What the agent sends with a file or a place (rule 51), or null for text and templates. */
const mediaOf = (outgoing: Outgoing): OutgoingMedia | null =>
  outgoing.file || outgoing.location ? outgoing as OutgoingMedia : null;

/**
 * Whether the agent may send this to the customer now: rule 44 (opted out), rule 45 (the
 * channel's length), rule 18 (the WhatsApp window) and rule 51 (a file or place the route
 * carries, whose send rule it answers; null without one).
 */
function checkSend(
  customer: Customer,
  conversation: Conversation | null,
  outgoing: Outgoing,
  settings: Settings,
  clock: Clock,
) {
  refuseOptedOut(customer);
  assertFitsChannel(customer.channel, outgoing.text);
  assertWindowOpen(customer, conversation, outgoing, settings, clock);
  const media = mediaOf(outgoing);
  return media ? checkOutgoingMedia(customer, conversation?.route, media) : null;
}

/** The message fields of what the agent sends: text or template, file or place (rule 51). */
function outgoingFields(outgoing: Outgoing, attachment: Attachment | null) {
  const media = mediaOf(outgoing);
  return media ? mediaFields(media, attachment) : outgoing;
}

/**
 * Rule 17: the assignee replies on a ticket with Start Chat; the message goes to the customer
 * and a live chat starts, which never closes the ticket (rule 7). The ticket stays assigned.
 * Rule 51: a file is stored only once every check passed (`files`: where it is kept).
 */
export async function replyToTicket(
  desk: Desk,
  agent: Agent,
  ticketId: string,
  input: unknown,
  files?: FileStore,
): Promise<Message> {
  const outgoing = await parseOutgoing(desk.kv, input);
  const settings = await getSettings(desk.kv);
  const media = mediaOf(outgoing);
  const message = await sendWithMedia(desk, files, media, async (stage) => {
    const now = desk.clock.now();
    const ticketEntry = await desk.kv.get<Ticket>(keys.ticket(ticketId));
    const ticket = ticketEntry.value;
    if (!ticket) throw new NotFound("Ticket");
    if (ticket.status === "unassigned") {
      const hidden = agent.role === "agent" &&
        !(await visibleDepartments(desk.kv, agent)).includes(ticket.department ?? NO_DEPARTMENT);
      if (hidden) throw new NotFound("Ticket");
      throw new Forbidden("Accept the ticket before replying.");
    }
    if (!isOpen(ticket)) throw new Conflict("ticket_closed", "This ticket is closed.");
    if (ticket.assignedTo !== agent.id) {
      if (agent.role === "agent") throw new NotFound("Ticket");
      throw new Forbidden("Only the assigned agent replies; reassign the ticket first.");
    }
    const [convEntry, customerEntry] = await desk.kv.getMany<[Conversation, Customer]>([
      keys.conversation(ticket.customerId),
      keys.customer(ticket.customerId),
    ]);
    const customer = customerEntry.value;
    if (!customer) throw new NotFound("Customer");
    const rule = checkSend(customer, convEntry.value, outgoing, settings, desk.clock);
    const stored = convEntry.value;
    // A timed-out conversation no sweep has settled yet (a pending chat due to become a ticket)
    // is settled first, so its messages land where the rules put them (rules 5, 6, 21).
    if (stored && stored.state !== "ended" && !isCurrent(stored, now)) {
      await settleConversation(desk, ticket.customerId, settings);
      return undefined;
    }
    const before = stored && isCurrent(stored, now) ? stored : null;
    if (before?.state === "live" && before.agentId !== agent.id) {
      throw new Conflict("customer_in_chat", "The customer is in a live chat with another agent.");
    }
    if (stage.check) return { checked: rule };
    const op = desk.kv.atomic().check(ticketEntry, convEntry);
    const deadline = now + settings.timeouts.sessionMinutes * 60_000;
    let chat: Conversation;
    let next = ticket;
    if (before?.state === "live" && before.ticketId === ticket.id) {
      chat = { ...before, lastActivityAt: now, deadline };
    } else {
      // Whatever the customer had going (intake, a pending chat, a YES/NO prompt) joins the ticket.
      if (before && before.ticketId === null) linkConversation(op, ticket.id, before.id);
      const chatId = newId(now);
      chat = {
        id: chatId,
        customerId: ticket.customerId,
        state: "live",
        department: ticket.department,
        startedAt: now,
        lastActivityAt: now,
        deadline,
        ticketId: ticket.id,
        agentId: agent.id,
        fromTicket: true,
        liveId: chatId,
        route: stored?.route ?? null,
        routeTo: stored?.routeTo ?? null,
        firstText: "",
        lastInboundAt: convEntry.value?.lastInboundAt ?? null,
        dueAt: null,
      };
      linkConversation(op, ticket.id, chat.id);
      // Logged once per chat started from the ticket, not per message (the record stays small).
      next = {
        ...ticket,
        history: withEvent(ticket.history, { at: now, action: "replied", by: agent.id }),
      };
    }
    next = { ...next, lastMessageAt: now };
    writeTicket(op, ticket, next, now);
    writeConversation(op, convEntry.value, chat);
    const to = { conversationId: chat.id, customerId: ticket.customerId, route: chat.route };
    const message = addOutbound(op, to, now, dispatchFor(chat.route), {
      author: agent.id,
      ...outgoingFields(outgoing, stage.attachment),
    });
    return (await op.commit()).ok ? message : undefined;
  });
  kickDelivery(desk, message.customerId!, headOf(message));
  return message;
}

/** An agent's message in its own live chat (the /chats page). */
export async function sendChatMessage(
  desk: Desk,
  agent: Agent,
  chatId: string,
  input: unknown,
  files?: FileStore,
): Promise<Message> {
  const customerId = await chatConversation(desk, chatId);
  const outgoing = await parseOutgoing(desk.kv, input);
  const settings = await getSettings(desk.kv);
  const media = mediaOf(outgoing);
  const sent = await sendWithMedia(desk, files, media, async (stage) => {
    const now = desk.clock.now();
    const [entry, customer] = await desk.kv.getMany<[Conversation, Customer]>([
      keys.conversation(customerId),
      keys.customer(customerId),
    ]);
    const c = entry.value;
    if (!c || c.id !== chatId || !isCurrent(c, now) || c.state !== "live") {
      throw new Conflict("chat_ended", "This chat has ended.");
    }
    // The chat's agent writes in it; supervisors and admins may write in any chat.
    if (c.agentId !== agent.id && !isStaff(agent)) {
      throw new Forbidden("This is another agent's chat.");
    }
    const rule = checkSend(customer.value!, c, outgoing, settings, desk.clock);
    if (stage.check) return { checked: rule };
    const op = desk.kv.atomic().check(entry);
    const after = {
      ...c,
      lastActivityAt: now,
      deadline: now + settings.timeouts.sessionMinutes * 60_000,
    };
    writeConversation(op, c, after);
    const to = { conversationId: chatId, customerId, route: c.route };
    const message = addOutbound(op, to, now, dispatchFor(c.route), {
      author: agent.id,
      ...outgoingFields(outgoing, stage.attachment),
    });
    return (await op.commit()).ok ? message : undefined;
  });
  kickDelivery(desk, customerId, headOf(sent));
  return sent;
}

/** The agent ends its live chat. */
export async function endChat(desk: Desk, agent: Agent, chatId: string): Promise<Chat> {
  const customerId = await chatConversation(desk, chatId);
  return await retryCommit(async () => {
    const [entry, open] = await desk.kv.getMany<[Conversation, string]>([
      keys.conversation(customerId),
      keys.openTicketByCustomer(customerId),
    ]);
    const c = entry.value;
    if (!c || c.id !== chatId || !isCurrent(c, desk.clock.now())) {
      throw new Conflict("chat_ended", "This chat has ended.");
    }
    if (c.agentId !== agent.id && agent.role === "agent") {
      throw new Forbidden("This is another agent's chat.");
    }
    const op = desk.kv.atomic().check(entry, open);
    await catchUpLastMessage(desk.kv, op, c, open.value, desk.clock.now());
    writeConversation(op, c, { ...c, state: "ended", deadline: null });
    return (await op.commit()).ok ? asChat(c) : undefined;
  });
}

export async function chatMessages(
  desk: Desk,
  agent: Agent,
  chatId: string,
): Promise<{ chat: Chat; messages: Message[] }> {
  const customerId = await chatConversation(desk, chatId);
  const c = (await desk.kv.get<Conversation>(keys.conversation(customerId))).value;
  if (!c || c.id !== chatId) throw new NotFound("Chat");
  if (!isStaff(agent) && c.agentId !== agent.id) throw new NotFound("Chat");
  const messages: Message[] = [];
  for await (const e of desk.kv.list<Message>({ prefix: keys.messages(chatId) })) {
    messages.push(e.value);
  }
  return { chat: asChat(c), messages };
}

/**
 * A chat that has ended, as the store keeps it: its `chats` pointer and its messages (the
 * customer's next conversation replaces its record), plus its conversation's ticket link.
 */
export interface EndedChat {
  id: string;
  customerId: string;
  /** Who had it: its agent while its record is still the customer's, then who wrote in it. */
  agentIds: string[];
  startedAt: number;
  /** Its newest message (about when it ended); null when it has none. */
  lastMessageAt: number | null;
  /** The ticket its messages joined (rule 5's timeout, rule 6's merge, rule 17's reply). */
  ticketId: string | null;
}

/** What `/chats/:id` shows: the current chat, or the chat once it has ended (read-only). */
export type ChatHistory =
  | { ended: false; chat: Chat; messages: Message[] }
  | { ended: true; chat: EndedChat; messages: Message[] };

/** The agents a chat went live with (`keys.chatAgent`), oldest first. */
export async function chatAgentsOf(kv: Deno.Kv, chatId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of kv.list({ prefix: keys.chatAgents(chatId) })) ids.push(String(e.key[2]));
  return ids;
}

/**
 * The agents who had a chat: its record's agent, those it went live with, then whoever wrote in
 * it, in message order.
 */
export function chatAgentIds(
  record: Conversation | null,
  messages: Message[],
  liveWith: readonly string[] = [],
): string[] {
  const ids = new Set<string>(record?.agentId ? [record.agentId] : []);
  for (const id of liveWith) ids.add(id);
  for (const m of messages) {
    if (m.direction === "out" && m.author !== "system" && m.author !== "customer") {
      ids.add(m.author);
    }
  }
  return [...ids];
}

/**
 * Rule 23 for `/chats/:id`: a current (pending or live) chat as `chatMessages` gives it (its
 * agent; supervisors and admins: any); once it has ended, read-only for whoever
 * `canReadEndedChat` lets read it. 404 for an unknown chat and for everyone else alike.
 */
export async function chatHistory(desk: Desk, agent: Agent, chatId: string): Promise<ChatHistory> {
  const { kv } = desk;
  const customerId = await chatConversation(desk, chatId);
  const [entry, link] = await kv.getMany<[Conversation, string]>([
    keys.conversation(customerId),
    keys.conversationTicket(chatId),
  ]);
  const record = entry.value?.id === chatId ? entry.value : null;
  const current = !!record && isCurrent(record, desk.clock.now()) &&
    (record.state === "pending" || record.state === "live");
  if (current && !isStaff(agent) && record.agentId !== agent.id) throw new NotFound("Chat");
  const messages: Message[] = [];
  for await (const e of kv.list<Message>({ prefix: keys.messages(chatId) })) {
    messages.push(e.value);
  }
  if (current) return { ended: false, chat: asChat(record), messages };
  const agentIds = chatAgentIds(record, messages, await chatAgentsOf(kv, chatId));
  if (!isStaff(agent) && !agentIds.includes(agent.id)) {
    const ticket = link.value ? (await kv.get<Ticket>(keys.ticket(link.value))).value : null;
    const visible = await visibleDepartments(kv, agent);
    if (!canReadEndedChat(agent, agentIds, ticket, visible)) throw new NotFound("Chat");
  }
  return {
    ended: true,
    chat: {
      id: chatId,
      customerId,
      agentIds,
      startedAt: record?.startedAt ?? idTime(chatId),
      lastMessageAt: messages.at(-1)?.at ?? null,
      ticketId: link.value ?? null,
    },
    messages,
  };
}
