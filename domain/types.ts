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

/** A session belongs to one agent and one of its session epochs (see `sessionEpochOf`). */
export interface Session {
  agentId: string;
  expiresAt: number;
  /** The agent's session epoch at sign-in; missing on sessions older than epochs (0). */
  epoch?: number;
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
  /** The name the provider reports (WhatsApp profile name). */
  profileName?: string | null;
  /** As stored, the time of the first contact; `customerState` adds the latest conversation's. */
  lastInboundAt: number;
  /** Rule 36: staff's free text about the customer (≤ 2,000 characters). */
  about?: string;
  /** Rule 36: an agent edited the name; the provider's names no longer replace it. */
  nameSetByAgent?: boolean;
  /** Bumped by every change to the record (`ifVersion` on edits); absent means 1. */
  version?: number;
  /**
   * Rule 44: when the customer opted out by texting STOP (Twilio blocks every message to it
   * until it texts START); absent or null while it has not.
   */
  optedOutAt?: number | null;
}

/** Rule 44: Twilio's keyword kinds (its `OptOutType`): opt-out, opt-in and help. */
export type OptOutKind = "stop" | "start" | "help";

/** Rule 34: a reply text staff insert in the reply box; `department` null is for all departments. */
export interface CannedReply {
  id: string;
  title: string;
  body: string;
  department: string | null;
}

/** Rule 35: a staff-only note on a ticket or a chat; append-only, never delivered. */
export interface Note {
  id: string;
  /** The writing agent's id. */
  author: string;
  text: string;
  at: number;
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
  /**
   * Rule 55: an id made when the chat went live with its agent; it sorts among the thread's
   * message ids, so the web chat places "the agent joined" exactly there.
   */
  liveId?: string;
  /** First words of the customer's first message: a ticket made from it shows these. */
  firstText: string;
  /** The customer's latest inbound message (rule 18's window), carried into the next conversation. */
  lastInboundAt: number | null;
  /** Where the latest inbound message came in (carried into the next conversation). */
  route?: Route | null;
  /** The desk's own address that message was sent to (Twilio's `To`, Meta's phone number id). */
  routeTo?: string | null;
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

/** Where a customer's latest inbound message came in; outbound messages go back the same way. */
export type Route = "meta" | "twilio" | "webchat" | "api" | "demo";
export const ROUTES: readonly Route[] = ["meta", "twilio", "webchat", "api", "demo"];

/** Rule 25: ranked queued < sent < delivered < read; failed stands apart. */
export type DeliveryStatus = "queued" | "sent" | "delivered" | "read" | "failed";

export interface DeliveryError {
  code: string;
  message: string;
}

export interface Delivery {
  status: DeliveryStatus;
  attempts: number;
  providerId?: string;
  error?: DeliveryError;
  updatedAt: number;
  /** Start of the 24 h retry budget (moved later by the time a channel was held). */
  firstAttemptAt?: number;
  /** When the next attempt is due (a retry waiting); absent when due at once. */
  nextAttemptAt?: number;
  /** Held by a disabled or paused channel since then: the retry budget does not run. */
  heldSince?: number;
  /** When a Retry queued it again (auto-replies go stale an hour after this). */
  queuedAt?: number;
  /** The route of the latest attempt (status callbacks must come from it). */
  route?: Route;
  /**
   * Rule 51: the media id Meta gave the message's file when it was uploaded, and when (desk
   * clock): a retry sends by it instead of uploading again while it lives (Meta keeps 30 days).
   */
  mediaId?: string;
  mediaIdAt?: number;
}

export interface Message {
  id: string;
  conversationId: string;
  direction: "in" | "out";
  /** "customer", "system" (auto-responder) or the sending agent's id. */
  author: string;
  text: string;
  template?: string;
  /** A template's language and filled parameters, for providers that send templates by name. */
  language?: string;
  params?: string[];
  /** Rule 55: answers offered as buttons (the YES/NO prompt's), where the channel can draw them. */
  quickReplies?: string[];
  at: number;
  /** The provider's time for an inbound message (Meta's timestamp). */
  providerAt?: number;
  /** Outbound messages written since delivery exists; older ones have none and are never sent. */
  delivery?: Delivery;
  /** The customer this message belongs to (outbound messages carry it for their delivery). */
  customerId?: string;
  /** Rule 46: when the customer last edited it on WhatsApp; `edits` are its earlier texts. */
  editedAt?: number;
  /** Rule 46: the texts it had before, oldest (the first) first, each with when it was written. */
  edits?: { text: string; at: number }[];
  /** Rule 46: when the customer deleted it on WhatsApp (staff still read its text). */
  deletedAt?: number;
  /** Rule 49: files that came or went with it (one per message sent by an agent). */
  attachments?: Attachment[];
  /** Rules 49 and 51: a place shared (WhatsApp `location`). */
  location?: Place;
  /**
   * Rule 51: an agent's file sent without a caption: `text` is its `[image]`-style placeholder
   * (for search and transcripts), and the provider gets no caption.
   */
  noCaption?: boolean;
}

/** Rule 49: what a file is, for how it is shown (rule 50). */
export type AttachmentKind = "image" | "audio" | "video" | "document" | "sticker";
export const ATTACHMENT_KINDS: readonly AttachmentKind[] = [
  "image",
  "audio",
  "video",
  "document",
  "sticker",
];
/** Rule 49: `fetching` until its bytes are in the desk's store; `too_large` past the cap. */
export type AttachmentStatus = "fetching" | "stored" | "failed" | "too_large";

/** Rule 49: one file of a message; its bytes live in the file store under the same id. */
export interface Attachment {
  id: string;
  kind: AttachmentKind;
  /** The media type without parameters' noise (`audio/ogg; codecs=opus` is kept whole). */
  mime: string;
  /** Bytes; 0 while unknown (a provider that says nothing before the download). */
  size: number;
  filename?: string;
  status: AttachmentStatus;
}

/** Rules 49–51: a shared place. */
export interface Place {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
}

/** Rule 46: a customer's edit or deletion (WhatsApp `revoke`) of its message `of` (provider id). */
export interface MessageChange {
  kind: "edit" | "revoke";
  of: string;
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
