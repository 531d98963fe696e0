/**
 * Who may read and act on what (rules 23 and 29), in one place: a message is readable by whoever
 * may read its ticket or its chat; Retry is for the ticket's assignee, the chat's agent, any
 * supervisor or admin, and, for auto-replies, any agent who may read the ticket.
 */
import { isCurrent } from "./conversations.ts";
import { visibleDepartments } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { keys, NO_DEPARTMENT } from "./keys.ts";
import { getAll } from "./kv_util.ts";
import type { Agent, Conversation, Message, Ticket } from "./types.ts";

/** Supervisors and admins read everything (rule 23). */
export const isStaff = (agent: Agent): boolean => agent.role !== "agent";

const departmentOf = (x: { department: string | null }) => x.department ?? NO_DEPARTMENT;

/**
 * Rule 23: unassigned tickets of the agent's departments (rule 13), its own assigned ones, and
 * closed or archived ones (read-only); never another agent's assigned ticket.
 */
export function canReadTicket(agent: Agent, ticket: Ticket, visible: string[]): boolean {
  if (isStaff(agent)) return true;
  switch (ticket.status) {
    case "unassigned":
      return visible.includes(departmentOf(ticket));
    case "assigned":
      return ticket.assignedTo === agent.id;
    default:
      return true;
  }
}

/** Rule 23: a pending chat of the agent's departments, or its own live chat (staff: any). */
export function canSeeChat(agent: Agent, chat: Conversation, visible: string[]): boolean {
  if (isStaff(agent)) return true;
  if (chat.state === "live") return chat.agentId === agent.id;
  if (chat.state === "pending") return visible.includes(departmentOf(chat));
  return false;
}

/**
 * Rule 23 for a chat that has ended (no longer its customer's current conversation), read-only:
 * supervisors and admins, the agent who had it (`agentIds`), and an agent who may read the
 * ticket its messages joined (it reads them there already). `canSeeChat` gives an agent no ended
 * chat, and seeing the customer gives no more than the panel's list.
 */
export function canReadEndedChat(
  agent: Agent,
  agentIds: readonly string[],
  ticket: Ticket | null,
  visible: string[],
): boolean {
  if (isStaff(agent) || agentIds.includes(agent.id)) return true;
  return !!ticket && canReadTicket(agent, ticket, visible);
}

export interface MessageAccess {
  read: boolean;
  retry: boolean;
}

/** What this agent may do with this message. */
export async function messageAccess(
  desk: Desk,
  agent: Agent,
  message: Message,
  customerId: string | null,
): Promise<MessageAccess> {
  if (isStaff(agent)) return { read: true, retry: true };
  const { kv } = desk;
  const [[link, conversationEntry, wentLive], visible] = await Promise.all([
    kv.getMany<[string, Conversation, boolean]>([
      keys.conversationTicket(message.conversationId),
      customerId ? keys.conversation(customerId) : keys.conversationTicket(message.conversationId),
      keys.chatAgent(message.conversationId, agent.id),
    ]),
    visibleDepartments(kv, agent),
  ]);
  const ticketId = link.value;
  const ticketEntry = ticketId ? await kv.get<Ticket>(keys.ticket(ticketId)) : null;
  let read = false, retry = false;
  const ticket = ticketEntry?.value ?? null;
  if (ticket && canReadTicket(agent, ticket, visible)) {
    read = true;
    if (ticket.status === "assigned" && ticket.assignedTo === agent.id) retry = true;
    if (message.author === "system") retry = true;
  }
  const chat = conversationEntry.value;
  if (
    customerId && chat && chat.id === message.conversationId &&
    isCurrent(chat, desk.clock.now()) && canSeeChat(agent, chat, visible)
  ) {
    read = true;
    // The chat's agent retries anything in it; in a pending chat only auto-replies are anyone's.
    if (chat.state === "live" || message.author === "system") retry = true;
  }
  // Rule 48: a chat's messages stay readable, once it has ended, to whoever may open its page
  // (`chatHistory`): the agents it went live with or who wrote in it (its ticket's readers above).
  if (
    wentLive.value || message.author === agent.id ||
    (chat?.id === message.conversationId && chat.agentId === agent.id)
  ) read = true;
  return { read, retry };
}

/**
 * Rule 23: an agent sees a customer only when it may read one of the customer's tickets or its
 * current chat (pending in its departments, or its own live chat); rule 48: or one of its ended
 * chats (an agent it went live with).
 */
export async function maySeeCustomer(desk: Desk, agent: Agent, customerId: string) {
  if (isStaff(agent)) return true;
  const { kv } = desk;
  const [visible, [conversationEntry, open, hadChat], listed] = await Promise.all([
    visibleDepartments(kv, agent),
    kv.getMany<[Conversation, string, string]>([
      keys.conversation(customerId),
      keys.openTicketByCustomer(customerId),
      keys.customerChatAgent(customerId, agent.id),
    ]),
    Array.fromAsync(kv.list<string>({ prefix: keys.customerTickets(customerId) })),
  ]);
  const conversation = conversationEntry.value;
  if (
    conversation && isCurrent(conversation, desk.clock.now()) &&
    canSeeChat(agent, conversation, visible)
  ) return true;
  if (hadChat.value || conversation?.agentId === agent.id) return true;
  const ids = [...new Set([...open.value ? [open.value] : [], ...listed.map((e) => e.value)])];
  // The open ticket first, then the others, 50 to a round (rule 41: never ticket by ticket).
  for (let i = 0; i < ids.length; i += CUSTOMER_TICKETS_READ) {
    const tickets = await getAll<Ticket>(
      kv,
      ids.slice(i, i + CUSTOMER_TICKETS_READ).map((id) => keys.ticket(id)),
    );
    if (tickets.some((e) => e.value !== null && canReadTicket(agent, e.value, visible))) {
      return true;
    }
  }
  return false;
}

/** How many of a customer's tickets `maySeeCustomer` reads at once. */
const CUSTOMER_TICKETS_READ = 50;
