/** The records chatdesk keeps, in the product's words (SPEC "Words"). */
export type Channel = "whatsapp" | "sms" | "webchat";
export const CHANNELS: readonly Channel[] = ["whatsapp", "sms", "webchat"];
export type Role = "agent" | "supervisor" | "admin";
export const ROLES: readonly Role[] = ["agent", "supervisor", "admin"];
export type AgentStatus = "online" | "offline";

export interface Agent {
  id: string;
  name: string;
  email: string;
  role: Role;
  departments: string[];
  status: AgentStatus;
  active: boolean;
  passwordHash: string;
  createdAt: number;
}

export interface Department {
  id: string;
  name: string;
  active: boolean;
}

export interface Template {
  id: string;
  name: string;
  body: string;
  language: string;
}

export interface Customer {
  id: string;
  channel: Channel;
  from: string;
  name: string;
  createdAt: number;
  /** As stored, the time of the first contact; `customerState` adds the latest conversation's. */
  lastInboundAt: number;
}

export type ConversationState = "live" | "pending" | "awaiting_reply" | "leaving_message" | "ended";

/** The customer's current exchange; a pending or live one is also a "chat" with the same id. */
export interface Conversation {
  id: string;
  customerId: string;
  state: ConversationState;
  department: string | null;
  startedAt: number;
  lastActivityAt: number;
  /** When the current state times out (epoch ms), null when it cannot. */
  deadline: number | null;
  ticketId: string | null;
  agentId: string | null;
  /** Started by an agent replying on a ticket (rule 17): accepting it never closes that ticket. */
  fromTicket: boolean;
  /** First words of the customer's first message: a ticket made from it shows these. */
  firstText: string;
  /** The customer's latest inbound message (rule 18's window), carried into the next conversation. */
  lastInboundAt: number | null;
  /** When this conversation's entry in the due index fires; it may be earlier than `deadline`
   * (a moved deadline is rescheduled by the sweep, not on every message). */
  dueAt: number | null;
}

export type TicketStatus = "unassigned" | "assigned" | "closed" | "archived";
export type CloseReason = "agent" | "live_chat" | "admin";

export interface TicketEvent {
  at: number;
  action: "created" | "merged" | "accepted" | "reassigned" | "replied" | "closed" | "archived";
  by: string | null;
  to?: string | null;
  from?: string | null;
}

export interface Ticket {
  id: string;
  customerId: string;
  channel: Channel;
  from: string;
  name: string;
  department: string | null;
  status: TicketStatus;
  createdAt: number;
  lastMessageAt: number;
  assignedTo: string | null;
  assignedAt: number | null;
  closedBy: string | null;
  closedAt: number | null;
  closeReason: CloseReason | null;
  archivedAt: number | null;
  /** First words of the customer's first message, for list rows. */
  preview: string;
  history: TicketEvent[];
}

export interface Message {
  id: string;
  conversationId: string;
  direction: "in" | "out";
  /** "customer", "system" (auto-responder) or the sending agent's id. */
  author: string;
  text: string;
  template?: string;
  at: number;
}

export interface Timeouts {
  intakeMinutes: number;
  sessionMinutes: number;
  pendingMinutes: number;
  archiveDays: number;
  whatsappWindowHours: number;
}

export interface Texts {
  outOfHours: string;
  noAgent: string;
  prompt: string;
  yesAck: string;
  noGoodbye: string;
  endAck: string;
}
