/** Every Deno KV key chatdesk writes, built in one place. Indexes hold ids, never record copies. */
import type { Channel, ConversationState } from "./types.ts";

export const NO_DEPARTMENT = "none";
export type DueKind = "conversation";
export type StatKind = "created" | "accepted" | "closed";
export type NoteOwner = "ticket" | "conversation";

export const keys = {
  settings: () => ["settings"] as const,
  agent: (id: string) => ["agents", id] as const,
  agents: () => ["agents"] as const,
  agentByEmail: (email: string) => ["agent_by_email", email] as const,
  agentOnline: (id: string) => ["agents_online", id] as const,
  agentsOnline: () => ["agents_online"] as const,
  session: (tokenHash: string) => ["sessions", tokenHash] as const,
  /** Failed sign-ins of one e-mail from one client address (growing delays, owner unaffected). */
  loginFailuresOfPair: (email: string, address: string) =>
    ["login_failures_pair", email, address] as const,
  /** Failed sign-ins from one client address, whatever the e-mail (password spraying). */
  loginFailuresFrom: (address: string) => ["login_failures_address", address] as const,
  department: (id: string) => ["departments", id] as const,
  departments: () => ["departments"] as const,
  template: (id: string) => ["templates", id] as const,
  templates: () => ["templates"] as const,

  customer: (id: string) => ["customers", id] as const,
  conversation: (customerId: string) => ["conversations", customerId] as const,
  chat: (chatId: string) => ["chats", chatId] as const,
  /**
   * Each agent a chat went live with, written in the commit that made it so: after the customer's
   * next conversation replaces the chat's record, this is how its page knows its agent (even one
   * that never wrote in it).
   */
  chatAgent: (chatId: string, agentId: string) => ["chat_agents", chatId, agentId] as const,
  chatAgents: (chatId: string) => ["chat_agents", chatId] as const,
  /**
   * Rule 48: an agent a chat of this customer went live with (the latest such chat): whoever may
   * open an ended chat's page may read its customer, found without walking the customer's chats.
   */
  customerChatAgent: (customerId: string, agentId: string) =>
    ["customer_chat_agents", customerId, agentId] as const,
  chatsByState: (state: ConversationState, chatId?: string) =>
    chatId ? ["chats_by_state", state, chatId] as const : ["chats_by_state", state] as const,
  message: (conversationId: string, messageId: string) =>
    ["messages", conversationId, messageId] as const,
  messages: (conversationId: string) => ["messages", conversationId] as const,
  /** A provider message id, per customer: two web-chat visitors may both send id "1". */
  inboundSeen: (channel: Channel, customerId: string, providerId: string) =>
    ["inbound_seen", channel, customerId, providerId] as const,
  /** Rule 46: where an inbound message with a provider id was stored (its edits find it). */
  inboundMessage: (channel: Channel, customerId: string, providerId: string) =>
    ["inbound_messages", channel, customerId, providerId] as const,

  ticket: (id: string) => ["tickets", id] as const,
  tickets: () => ["tickets"] as const,
  /** The conversations whose messages make up a ticket (merges add one; the record never grows). */
  ticketConversation: (ticketId: string, conversationId: string) =>
    ["ticket_conversations", ticketId, conversationId] as const,
  ticketConversations: (ticketId: string) => ["ticket_conversations", ticketId] as const,
  /** Every ticket of a customer (written when the ticket is created). */
  customerTicket: (customerId: string, ticketId: string) =>
    ["customer_tickets", customerId, ticketId] as const,
  customerTickets: (customerId: string) => ["customer_tickets", customerId] as const,
  openTicketByCustomer: (customerId: string) => ["open_ticket_by_customer", customerId] as const,
  unassigned: (department: string, ticketId?: string) =>
    ticketId ? ["unassigned", department, ticketId] as const : ["unassigned", department] as const,
  assigned: (agentId: string, ticketId?: string) =>
    ticketId ? ["assigned", agentId, ticketId] as const : ["assigned", agentId] as const,
  closed: (closedAt?: number, ticketId?: string) =>
    closedAt === undefined ? ["closed"] as const : ["closed", closedAt, ticketId ?? ""] as const,
  closedBy: (agentId: string, closedAt?: number, ticketId?: string) =>
    closedAt === undefined
      ? ["closed_by", agentId] as const
      : ["closed_by", agentId, closedAt, ticketId ?? ""] as const,
  archived: (ticketId?: string) =>
    ticketId ? ["archived", ticketId] as const : ["archived"] as const,

  /** Messages by id alone (their key lives under the conversation). */
  messageById: (messageId: string) => ["message_by_id", messageId] as const,
  /** A customer's outbound messages, wherever they were written (`/api/customers/:id/messages`). */
  customerMessage: (customerId: string, messageId: string) =>
    ["customer_messages", customerId, messageId] as const,
  customerMessages: (customerId: string) => ["customer_messages", customerId] as const,
  /** The ticket a conversation's messages belong to (the reverse of ticketConversation). */
  conversationTicket: (conversationId: string) => ["conversation_ticket", conversationId] as const,
  /** Rule 26: one customer's messages waiting for the provider, in send order (`position`). */
  outbox: (customerId: string, position?: string) =>
    position === undefined
      ? ["outbox", customerId] as const
      : ["outbox", customerId, position] as const,
  outboxAll: () => ["outbox"] as const,
  /**
   * A customer whose queue needs a look at a due time (rule 37): a new message's backstop, a
   * retry, a send lease's expiry. Timers in every live instance and the delivery cron run these.
   */
  deliveryDue: (at?: number, customerId?: string) =>
    at === undefined ? ["delivery_due"] as const : ["delivery_due", at, customerId ?? ""] as const,
  /** A customer whose queue is held by a disabled or paused channel. */
  deliveryHeld: (route: string, customerId?: string) =>
    customerId === undefined
      ? ["delivery_held", route] as const
      : ["delivery_held", route, customerId] as const,
  /** Who is handing a customer's queue head to the provider, until when (real time). */
  sendLease: (customerId: string) => ["send_lease", customerId] as const,
  /** The provider's id of a message we sent, per route: status callbacks find the message. */
  providerMessage: (route: string, providerId: string) =>
    ["provider_messages", route, providerId] as const,
  /** A status callback that came before its message's `sent` commit (kept 10 minutes). */
  earlyStatus: (route: string, providerId: string) =>
    ["early_statuses", route, providerId] as const,
  /** Bumped with every message written to a customer (a web chat visitor's stream watches it). */
  threadChanged: (customerId: string) => ["thread_changed", customerId] as const,
  /** Every message of a customer, in and out, by id (a web chat visitor's thread). */
  thread: (customerId: string, messageId?: string) =>
    messageId === undefined
      ? ["customer_thread", customerId] as const
      : ["customer_thread", customerId, messageId] as const,
  /** Web chat (rule 30): a visitor, its token by hash, its quotas, its receipts, stream tickets. */
  webchatVisitor: (visitorId: string) => ["webchat_visitors", visitorId] as const,
  webchatToken: (tokenHash: string) => ["webchat_tokens", tokenHash] as const,
  /** Recent uses of a limited web chat action (new visitors per address, messages per visitor). */
  webchatQuota: (kind: "visitors" | "messages" | "streams", subject: string) =>
    ["webchat_quotas", kind, subject] as const,
  /** A visitor's `clientId` → the message it stored (a resend answers the same message). */
  webchatClientMessage: (visitorId: string, clientId: string) =>
    ["webchat_client_messages", visitorId, clientId] as const,
  /** How far a visitor's receipts have moved its thread's marks (each walk starts there). */
  webchatReceipts: (visitorId: string) => ["webchat_receipts", visitorId] as const,
  webchatStreamTicket: (ticketHash: string) => ["webchat_stream_tickets", ticketHash] as const,
  /**
   * Bumped when a thread changes without any list changing: a delivery mark moves, the desk
   * writes a message, a customer writes in a live chat. Open conversations re-render; lists do not.
   */
  deliveryChanged: () => ["queue_changed", "_delivery"] as const,
  /** Provider channel settings (secrets included: never answered or shown). */
  channelSettings: (channel: string) => ["channel_settings", channel] as const,

  /** Rule 34: admin-managed canned replies (all departments, or one). */
  cannedReply: (id: string) => ["canned_replies", id] as const,
  cannedReplies: () => ["canned_replies"] as const,
  /**
   * Rule 35: internal notes, by ticket or by conversation (a chat's notes follow its conversation
   * into any ticket it joins). Never in a customer's thread, never in the outbox.
   */
  note: (on: NoteOwner, ownerId: string, noteId: string) => ["notes", on, ownerId, noteId] as const,
  notes: (on: NoteOwner, ownerId: string) => ["notes", on, ownerId] as const,
  /** Bumped (sum) in every note's commit: open tickets and chats redraw their notes, nothing else. */
  notesChanged: () => ["queue_changed", "_notes"] as const,

  due: (at: number, kind: DueKind, id: string) => ["due", at, kind, id] as const,
  dueAll: () => ["due"] as const,
  /**
   * Bumped (sum) in every commit that writes a due entry of either kind: each live instance
   * watches it and re-arms its timers from the next due entries (rule 37).
   */
  dueChanged: () => ["due_changed"] as const,
  /**
   * Rule 49: a stored file's record (size, type, sha256, chunk count), written after its last
   * chunk: a file is readable only once it is whole.
   */
  file: (id: string) => ["files", id] as const,
  /** Rule 49: the bytes of a file in pieces of at most 60 KiB (a KV value holds 64 KiB). */
  fileChunk: (id: string, index: number) => ["file_chunks", id, index] as const,
  fileChunks: (id: string) => ["file_chunks", id] as const,
  /** Rule 49: the message an attachment belongs to (access and status changes find it). */
  attachment: (id: string) => ["attachments", id] as const,
  /**
   * An upload stored ahead of its message's commit (rules 51, 52): the commit that points to the
   * file deletes this; one left an hour means the writer died in between (`sweepOrphanUploads`).
   */
  uploadPending: (id: string) => ["uploads_pending", id] as const,
  uploadsPending: () => ["uploads_pending"] as const,
  /** Rule 49: a file still to fetch from its provider: where from, attempts, when next. */
  mediaJob: (id: string) => ["media_jobs", id] as const,
  /** Rule 49: when a media job is next due (rule 37: a due entry, never a KV queue). */
  mediaDue: (at?: number, id?: string) =>
    at === undefined ? ["media_due"] as const : ["media_due", at, id ?? ""] as const,
  /** Rule 51: the secret that signs media links (made on first use, never shown). */
  mediaLinkSecret: () => ["secrets", "media_links"] as const,
  /** Rule 52: a web chat visitor's uploads in the current hour. */
  visitorUploads: (customerId: string, hour: number) =>
    ["visitor_uploads", customerId, hour] as const,
  /** The data migrations this store has had (migrations.ts, rule 38). */
  schemaVersion: () => ["schema", "version"] as const,
  /** Which instance is migrating the store, until when (real time). */
  migrationLease: () => ["schema", "lease"] as const,

  /** Bumped (sum) in the same commit as any change to a department's Unassigned queue. */
  queueChanged: (department: string) => ["queue_changed", department] as const,
  /** Bumped with every ticket change (assigned, closed, archived included). */
  ticketsChanged: () => ["queue_changed", "_tickets"] as const,
  /** Bumped with every pending/live chat change. */
  chatsChanged: () => ["queue_changed", "_chats"] as const,

  /**
   * Rule 32: tickets that reached an agent by someone else's hand (sent back to Unassigned,
   * reassigned to it), by time; `change` tells two moves of one ticket in one millisecond apart
   * (the ticket's history length). New tickets are read from `statEvent("created", …)`.
   */
  workFeed: (at?: number, ticketId?: string, change?: number) =>
    at === undefined
      ? ["work_feed"] as const
      : ["work_feed", at, ticketId ?? "", change ?? 0] as const,
  /** Rule 32: "your ticket was closed by rule 7", kept until the agent's desk has shown it. */
  agentNotice: (agentId: string, at: number, ticketId: string) =>
    ["agent_notices", agentId, at, ticketId] as const,
  agentNotices: (agentId: string) => ["agent_notices", agentId] as const,
  /** Bumped with every notice written (the live stream reads notices only after one). */
  noticesChanged: () => ["queue_changed", "_notices"] as const,

  count: (queue: "unassigned", department: string) => ["counts", queue, department] as const,
  countAssigned: (agentId: string) => ["counts", "assigned", agentId] as const,
  countClosed: () => ["counts", "closed"] as const,
  /** One entry per ticket event, by time: "today" counts and median accept time list a day of them. */
  statEvent: (kind: StatKind, at: number, ticketId: string) =>
    ["stat_events", kind, at, ticketId] as const,
  statEvents: (kind: StatKind) => ["stat_events", kind] as const,
  /** Tickets created per quarter hour (its start in epoch ms): local hours in any zone add 4 up. */
  quarterCreated: (quarterStart: number) => ["quarter_created", quarterStart] as const,

  /** Rule 58: the inbound token an admin rotated to (its hash, and the hash of the one it replaced). */
  inboundTokenRotation: () => ["inbound_token", "rotation"] as const,
  /** Rule 58: recent wrong current passwords given to change one's own password. */
  passwordChangeFailures: (agentId: string) => ["password_change_failures", agentId] as const,
};

/** `sum` wraps at 2^64, so adding 2^64-1 is a decrement. */
export const MINUS_ONE = 0xffffffffffffffffn;
