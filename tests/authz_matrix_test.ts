/**
 * The authorization matrix (rule 23 and the API table), generated from the app's own route table:
 * every route × anonymous / agent (the owner) / another agent of its department / an agent of
 * another department / supervisor / admin. Each case starts from the same stored world and is
 * judged by what is stored afterwards, not only by the status: a refused call changes nothing
 * and shows nothing of the resource; an allowed call is not refused, shows it, and makes its
 * change. A route added without a row here fails the test, naming the route.
 *
 * `deno task soak` (`CHATDESK_SOAK=1`) adds three callers whose credentials stopped working: a
 * session expired on the desk clock, one from before a password reset, and one of a deactivated
 * agent. Each must get exactly what an anonymous caller gets, on every route (tests/soak.ts).
 */
import assert from "node:assert/strict";
import { getAgent } from "../domain/agents.ts";
import { keys } from "../domain/keys.ts";
import { findMessage } from "../domain/messages.ts";
import type { Conversation, Customer, Message, Ticket } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, CLOSED_TIME, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { HOUR } from "../domain/clock.ts";
import { startSession } from "../domain/sessions.ts";
import { SOAK } from "./soak.ts";
import { pointAttachment, storeUpload } from "../domain/attachments.ts";
import { newId } from "../domain/ids.ts";
import { signMediaToken } from "../domain/media_links.ts";

const CALLERS = ["anonymous", "owner", "other", "outsider", "supervisor", "admin"] as const;
type Who = (typeof CALLERS)[number];
/** Soak only: agents of the owner's department whose credentials stopped working. */
const STALE = ["expired", "revoked", "deactivated"] as const;
type Stale = (typeof STALE)[number];
type Caller = Who | Stale;
const isStale = (who: Caller): who is Stale => (STALE as readonly string[]).includes(who);
const WHO: readonly Caller[] = SOAK ? [...CALLERS, ...STALE] : CALLERS;
const ANYONE: readonly Who[] = CALLERS;
const STAFF_AND_AGENTS: readonly Who[] = ["owner", "other", "outsider", "supervisor", "admin"];
const SUPERVISORS: readonly Who[] = ["supervisor", "admin"];
const ADMINS: readonly Who[] = ["admin"];
const NOBODY: readonly Who[] = [];
/** Readers of the owner's assigned ticket, its customer, its messages and the owner's live chat. */
const OWNER_AND_STAFF: readonly Who[] = ["owner", "supervisor", "admin"];
/** Who may take an unassigned ticket or a pending chat of the owner's department. */
const DEPARTMENT_AND_STAFF: readonly Who[] = ["owner", "other", "supervisor", "admin"];

/** What the cases act on; built once, then restored before every case. */
interface World {
  d: TestDesk;
  agents: Record<Exclude<Who, "anonymous">, { id: string; email: string; token: string }>;
  /** Soak only: the stale callers' tokens (each names an agent of the owner's department). */
  stale: Partial<Record<Stale, string>>;
  sales: string;
  support: string;
  waiting: string;
  owned: string;
  ownedCustomer: string;
  reply: string;
  /** A file on the owner's reply (rule 50), and a signed link to it (rule 51). */
  file: string;
  fileToken: string;
  pendingChat: string;
  liveChat: string;
  /** A chat the owner took and ended (read-only on `GET /chats/:id`). */
  endedChat: string;
  template: string;
  cannedReply: string;
}

interface Request {
  path: string;
  /** JSON for the API; a form for pages. */
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

interface Case {
  /** What the case acts on, for failure messages. */
  on: string;
  allowed: readonly Who[];
  request: (w: World, who: Who) => Request;
  /** Text only a caller allowed to read the resource gets back. */
  marker?: string;
  /** The stored change an allowed caller makes. */
  effect?: (w: World, who: Who) => Promise<boolean>;
}

const MARK = {
  waiting: "mark-waiting-ticket-7f3a",
  owned: "mark-owned-ticket-91c2",
  customer: "Mark Customer 55d0",
  reply: "mark-owner-reply-0b7e",
  file: "mark-owner-file-3c9e",
  pending: "mark-pending-chat-c41d",
  live: "mark-live-chat-e8a9",
  ended: "mark-ended-chat-4d17",
};

const ticketOf = async (w: World, id: string) => (await w.d.kv.get<Ticket>(keys.ticket(id))).value!;
const agentOf = (w: World, who: Who) =>
  who === "anonymous" ? null : w.agents[who as Exclude<Who, "anonymous">];
const chatState = async (w: World, chatId: string) => {
  const customerId = (await w.d.kv.get<string>(keys.chat(chatId))).value ?? "";
  return (await w.d.kv.get<Conversation>(keys.conversation(customerId))).value;
};
/** Agent messages with this text in the owner's ticket (read as the admin would). */
const inOwnedTicket = async (w: World, text: string) => {
  const res = await w.d.json<{ messages: { text: string }[] }>(
    "GET",
    `/api/tickets/${w.owned}`,
    { token: w.agents.admin.token },
  );
  return res.body.messages.filter((m) => m.text === text).length;
};

/** How many notes are stored under this prefix. */
const notesOf = async (w: World, prefix: Deno.KvKey) =>
  (await Array.fromAsync(w.d.kv.list({ prefix }))).length;

const one = (c: Case): Case[] => [c];
const simple = (allowed: readonly Who[], path: string, body?: Record<string, unknown>) =>
  one({ on: path, allowed, request: () => ({ path, body }) });

/** Every route of the app, keyed `METHOD /path` as Hono lists it. */
const ROUTES: Record<string, Case[]> = {
  // Callers with their own credentials (inbound token, provider signatures): no session opens them.
  "POST /api/inbound": simple(NOBODY, "/api/inbound", {
    channel: "sms",
    from: "+15550000999",
    text: "hi",
  }),
  "POST /api/inbound/status": simple(NOBODY, "/api/inbound/status", {
    id: "x",
    status: "read",
  }),
  "GET /webhooks/whatsapp": simple(
    NOBODY,
    "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1",
  ),
  "POST /webhooks/whatsapp": simple(NOBODY, "/webhooks/whatsapp", { object: "x" }),
  "POST /webhooks/twilio": simple(NOBODY, "/webhooks/twilio", { From: "+15550000998" }),
  "POST /webhooks/twilio/status": simple(NOBODY, "/webhooks/twilio/status", { MessageSid: "x" }),

  "POST /api/session": one({
    on: "the owner's credentials",
    allowed: ANYONE,
    request: (w) => ({
      path: "/api/session",
      body: { email: w.agents.owner.email, password: "password-123" },
    }),
  }),
  "DELETE /api/session": one({
    on: "the caller's session",
    allowed: STAFF_AND_AGENTS,
    request: () => ({ path: "/api/session" }),
    effect: async (w, who) =>
      (await w.d.call("GET", "/api/agents/me", { token: agentOf(w, who)!.token })).status === 401,
  }),
  "GET /api/agents/me": simple(STAFF_AND_AGENTS, "/api/agents/me"),
  // Rule 58: one's own password (the current one required), and the inbound token's rotation.
  "PUT /api/agents/me/password": simple(STAFF_AND_AGENTS, "/api/agents/me/password", {
    currentPassword: "password-123",
    newPassword: "password-456",
  }),
  "POST /api/inbound-token": simple(ADMINS, "/api/inbound-token", {}),
  "GET /account": simple(STAFF_AND_AGENTS, "/account"),
  "GET /account/password": simple(STAFF_AND_AGENTS, "/account/password"),
  "POST /account/password": simple(STAFF_AND_AGENTS, "/account/password", {
    currentPassword: "password-123",
    newPassword: "password-456",
    confirmPassword: "password-456",
  }),
  "GET /admin/integrations/inbound-token": simple(ADMINS, "/admin/integrations/inbound-token"),
  "POST /admin/integrations/inbound-token": simple(
    ADMINS,
    "/admin/integrations/inbound-token",
    {},
  ),
  "PUT /api/agents/me/status": one({
    on: "the caller",
    allowed: STAFF_AND_AGENTS,
    request: () => ({ path: "/api/agents/me/status", body: { status: "online" } }),
    effect: async (w, who) => (await getAgent(w.d.kv, agentOf(w, who)!.id)).status === "online",
  }),

  "GET /api/tickets": simple(STAFF_AND_AGENTS, "/api/tickets?queue=unassigned"),
  "GET /api/tickets/:id": [
    {
      on: "the owner's assigned ticket",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/api/tickets/${w.owned}` }),
      marker: MARK.owned,
    },
    {
      on: "an unassigned ticket of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/api/tickets/${w.waiting}` }),
      marker: MARK.waiting,
    },
  ],
  "POST /api/tickets/quick-accept": simple(STAFF_AND_AGENTS, "/api/tickets/quick-accept", {
    count: 1,
  }),
  "POST /api/tickets/:id/accept": one({
    on: "an unassigned ticket of the owner's department",
    allowed: DEPARTMENT_AND_STAFF,
    request: (w) => ({ path: `/api/tickets/${w.waiting}/accept` }),
    effect: async (w, who) => (await ticketOf(w, w.waiting)).assignedTo === agentOf(w, who)!.id,
  }),
  "POST /api/tickets/:id/reply": one({
    on: "the owner's assigned ticket",
    allowed: ["owner"],
    request: (w) => ({ path: `/api/tickets/${w.owned}/reply`, body: { text: "more" } }),
    effect: async (w) => (await inOwnedTicket(w, "more")) === 1,
  }),
  "POST /api/tickets/:id/close": one({
    on: "the owner's assigned ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/tickets/${w.owned}/close` }),
    effect: async (w) => (await ticketOf(w, w.owned)).status === "closed",
  }),
  "POST /api/tickets/:id/reassign": one({
    on: "an unassigned ticket",
    allowed: SUPERVISORS,
    request: (w) => ({
      path: `/api/tickets/${w.waiting}/reassign`,
      body: { agentId: w.agents.other.id },
    }),
    effect: async (w) => (await ticketOf(w, w.waiting)).assignedTo === w.agents.other.id,
  }),
  "GET /api/customers/:id": one({
    on: "the customer of the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/customers/${w.ownedCustomer}` }),
    marker: MARK.customer,
  }),
  "GET /api/customers/:id/messages": one({
    on: "the customer of the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/customers/${w.ownedCustomer}/messages` }),
  }),
  // Rule 50: a file is served to whoever may read its message.
  "GET /api/attachments/:id": one({
    on: "the file on the owner's reply",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/attachments/${w.file}` }),
    marker: MARK.file,
  }),
  // Rule 51: the signed link opens the file for anyone holding it, and nothing without it.
  "GET /media/:id": [
    {
      on: "the file by its signed link",
      allowed: ANYONE,
      request: (w) => ({ path: `/media/${w.file}?token=${w.fileToken}` }),
      marker: MARK.file,
    },
    {
      on: "the file by its id alone",
      allowed: NOBODY,
      request: (w) => ({ path: `/media/${w.file}` }),
    },
  ],
  "GET /api/messages/:id": one({
    on: "the owner's reply",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/messages/${w.reply}` }),
    marker: MARK.reply,
  }),
  "POST /api/messages/:id/retry": one({
    on: "the owner's failed reply",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/messages/${w.reply}/retry` }),
    effect: async (w) => (await findMessage(w.d.kv, w.reply))?.value?.delivery?.status === "queued",
  }),

  "GET /api/chats": simple(STAFF_AND_AGENTS, "/api/chats?state=pending"),
  "GET /api/chats/:id": one({
    on: "the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/chats/${w.liveChat}` }),
    marker: MARK.live,
  }),
  "POST /api/chats/:id/accept": one({
    on: "a pending chat of the owner's department",
    allowed: DEPARTMENT_AND_STAFF,
    request: (w) => ({ path: `/api/chats/${w.pendingChat}/accept` }),
    effect: async (w, who) => (await chatState(w, w.pendingChat))?.agentId === agentOf(w, who)!.id,
  }),
  "POST /api/chats/:id/messages": one({
    // The chat's agent; supervisors and admins may write in any chat.
    on: "the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/chats/${w.liveChat}/messages`, body: { text: "hello" } }),
    effect: liveChatGrew,
  }),
  "POST /api/chats/:id/end": one({
    on: "the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/chats/${w.liveChat}/end` }),
    effect: async (w) => (await chatState(w, w.liveChat))?.state === "ended",
  }),

  // Rules 34–36 (routes/productivity.ts).
  "GET /api/canned-replies": simple(STAFF_AND_AGENTS, "/api/canned-replies"),
  "GET /api/canned-replies/:id/render": one({
    on: "an all-department reply in the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/canned-replies/${w.cannedReply}/render?ticketId=${w.owned}` }),
    marker: MARK.customer,
  }),
  "POST /api/canned-replies": simple(ADMINS, "/api/canned-replies", {
    title: "New",
    body: "Hello",
    department: null,
  }),
  "PUT /api/canned-replies/:id": one({
    on: "a canned reply",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/canned-replies/${w.cannedReply}`, body: { title: "Renamed" } }),
  }),
  "DELETE /api/canned-replies/:id": one({
    on: "a canned reply",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/canned-replies/${w.cannedReply}` }),
    effect: async (w) => (await w.d.kv.get(keys.cannedReply(w.cannedReply))).value === null,
  }),
  "POST /api/tickets/:id/notes": [
    {
      on: "the owner's assigned ticket",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/api/tickets/${w.owned}/notes`, body: { text: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("ticket", w.owned))) === 1,
    },
    {
      on: "an unassigned ticket of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/api/tickets/${w.waiting}/notes`, body: { text: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("ticket", w.waiting))) === 1,
    },
  ],
  "POST /api/chats/:id/notes": [
    {
      on: "the owner's live chat",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/api/chats/${w.liveChat}/notes`, body: { text: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("conversation", w.liveChat))) === 1,
    },
    {
      on: "a pending chat of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/api/chats/${w.pendingChat}/notes`, body: { text: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("conversation", w.pendingChat))) === 1,
    },
  ],
  "PATCH /api/customers/:id": one({
    on: "the customer of the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/api/customers/${w.ownedCustomer}`, body: { about: "edited" } }),
    effect: async (w) =>
      (await w.d.kv.get<Customer>(keys.customer(w.ownedCustomer))).value?.about === "edited",
  }),

  "GET /api/stats": simple(SUPERVISORS, "/api/stats"),
  "GET /api/transcripts": simple(SUPERVISORS, "/api/transcripts?format=json"),

  "GET /api/agents": simple(ADMINS, "/api/agents"),
  "POST /api/agents": one({
    on: "a new agent",
    allowed: ADMINS,
    request: () => ({
      path: "/api/agents",
      body: { name: "New", email: "new@test.local", password: "password-123", role: "admin" },
    }),
    effect: async (w) => (await w.d.kv.get(keys.agentByEmail("new@test.local"))).value !== null,
  }),
  "GET /api/agents/:id": simple(ADMINS, "/api/agents/ID").map((c) => ({
    ...c,
    request: (w: World) => ({ path: `/api/agents/${w.agents.other.id}` }),
  })),
  "PUT /api/agents/:id": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/agents/${w.agents.other.id}`, body: { role: "admin" } }),
    effect: async (w) => (await getAgent(w.d.kv, w.agents.other.id)).role === "admin",
  }),
  "DELETE /api/agents/:id": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/agents/${w.agents.other.id}` }),
    effect: async (w) => !(await getAgent(w.d.kv, w.agents.other.id)).active,
  }),
  "GET /api/departments": simple(ADMINS, "/api/departments"),
  "POST /api/departments": simple(ADMINS, "/api/departments", { name: "Billing" }),
  "PUT /api/departments/:id": one({
    on: "a department",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/departments/${w.sales}`, body: { name: "Renamed" } }),
  }),
  "DELETE /api/departments/:id": one({
    on: "a department",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/departments/${w.support}` }),
  }),
  "GET /api/templates": simple(STAFF_AND_AGENTS, "/api/templates"),
  "POST /api/templates": simple(ADMINS, "/api/templates", { name: "n2", body: "Hi {{1}}" }),
  "PUT /api/templates/:id": one({
    on: "a template",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/templates/${w.template}`, body: { body: "Changed {{1}}" } }),
  }),
  "DELETE /api/templates/:id": one({
    on: "a template",
    allowed: ADMINS,
    request: (w) => ({ path: `/api/templates/${w.template}` }),
    effect: async (w) => (await w.d.kv.get(keys.template(w.template))).value === null,
  }),
  "GET /api/settings": simple(ADMINS, "/api/settings"),
  "PUT /api/settings": simple(ADMINS, "/api/settings", { timeouts: { intakeMinutes: 12 } }),
  "GET /api/channels": simple(ADMINS, "/api/channels"),
  "PUT /api/channels/whatsapp": simple(ADMINS, "/api/channels/whatsapp", {
    phoneNumberId: "123456",
  }),
  "PUT /api/channels/twilio": simple(ADMINS, "/api/channels/twilio", {
    fromNumber: "+15550001111",
  }),
  "PUT /api/channels/api": simple(ADMINS, "/api/channels/api", {
    webhookUrl: "https://gateway.example/hook",
  }),
  "PUT /api/channels/webchat": simple(ADMINS, "/api/channels/webchat", { title: "Hello" }),
  "POST /api/test/clock": simple(ADMINS, "/api/test/clock", { advanceMs: 0 }),

  // Pages.
  "GET /static/:name": simple(ANYONE, "/static/desk.css"),
  "GET /login": simple(ANYONE, "/login"),
  "POST /login": one({
    on: "the owner's credentials",
    allowed: ANYONE,
    request: (w) => ({
      path: "/login",
      body: { email: w.agents.owner.email, password: "password-123" },
    }),
  }),
  "POST /logout": simple(ANYONE, "/logout", {}),
  "GET /": simple(ANYONE, "/"),
  "POST /status": one({
    on: "the caller",
    allowed: STAFF_AND_AGENTS,
    request: () => ({ path: "/status", body: { status: "online" } }),
    effect: async (w, who) => (await getAgent(w.d.kv, agentOf(w, who)!.id)).status === "online",
  }),
  "GET /tickets": simple(STAFF_AND_AGENTS, "/tickets"),
  "GET /tickets/:queue": simple(STAFF_AND_AGENTS, "/tickets/unassigned"),
  "GET /tickets/:queue/:id": [
    {
      on: "the owner's assigned ticket",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/tickets/assigned/${w.owned}` }),
      marker: MARK.owned,
    },
    {
      on: "an unassigned ticket of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/tickets/unassigned/${w.waiting}` }),
      marker: MARK.waiting,
    },
  ],
  "POST /tickets/quick-accept": simple(STAFF_AND_AGENTS, "/tickets/quick-accept", { count: "1" }),
  "POST /tickets/:id/accept": one({
    on: "an unassigned ticket of the owner's department",
    allowed: DEPARTMENT_AND_STAFF,
    request: (w) => ({ path: `/tickets/${w.waiting}/accept`, body: {} }),
    effect: async (w, who) => (await ticketOf(w, w.waiting)).assignedTo === agentOf(w, who)!.id,
  }),
  "POST /tickets/:id/reply": one({
    on: "the owner's assigned ticket",
    allowed: ["owner"],
    request: (w) => ({ path: `/tickets/${w.owned}/reply`, body: { text: "more" } }),
    effect: async (w) => (await inOwnedTicket(w, "more")) === 1,
  }),
  "POST /tickets/:id/messages/:messageId/retry": one({
    on: "the owner's failed reply",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/tickets/${w.owned}/messages/${w.reply}/retry`, body: {} }),
    effect: async (w) => (await findMessage(w.d.kv, w.reply))?.value?.delivery?.status === "queued",
  }),
  "POST /tickets/:id/close": one({
    on: "the owner's assigned ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/tickets/${w.owned}/close`, body: {} }),
    effect: async (w) => (await ticketOf(w, w.owned)).status === "closed",
  }),
  // The conversation pane (rules 34–36 on the pages).
  "GET /tickets/:id/canned-replies/:cannedId": one({
    on: "an all-department reply in the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/tickets/${w.owned}/canned-replies/${w.cannedReply}` }),
    marker: MARK.customer,
  }),
  "POST /tickets/:id/notes": [
    {
      on: "the owner's assigned ticket",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/tickets/${w.owned}/notes`, body: { note: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("ticket", w.owned))) === 1,
    },
    {
      on: "an unassigned ticket of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/tickets/${w.waiting}/notes`, body: { note: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("ticket", w.waiting))) === 1,
    },
  ],
  "POST /tickets/:id/customer": one({
    on: "the customer of the owner's ticket",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/tickets/${w.owned}/customer`, body: { about: "edited" } }),
    effect: async (w) =>
      (await w.d.kv.get<Customer>(keys.customer(w.ownedCustomer))).value?.about === "edited",
  }),
  "GET /chats": simple(STAFF_AND_AGENTS, "/chats"),
  "GET /chats/:id": [
    {
      on: "the owner's live chat",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/chats/${w.liveChat}` }),
      marker: MARK.live,
    },
    {
      on: "a chat the owner ended (no ticket)",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/chats/${w.endedChat}` }),
      marker: MARK.ended,
    },
  ],
  "POST /chats/:id/accept": one({
    on: "a pending chat of the owner's department",
    allowed: DEPARTMENT_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.pendingChat}/accept`, body: {} }),
    effect: async (w, who) => (await chatState(w, w.pendingChat))?.agentId === agentOf(w, who)!.id,
  }),
  "POST /chats/:id/messages": one({
    on: "the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.liveChat}/messages`, body: { text: "hello" } }),
    effect: liveChatGrew,
  }),
  "POST /chats/:id/messages/:messageId/retry": one({
    on: "a message of the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.liveChat}/messages/${w.reply}/retry`, body: {} }),
  }),
  "POST /chats/:id/end": one({
    on: "the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.liveChat}/end`, body: {} }),
    effect: async (w) => (await chatState(w, w.liveChat))?.state === "ended",
  }),
  "GET /chats/:id/canned-replies/:cannedId": one({
    on: "an all-department reply in the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.liveChat}/canned-replies/${w.cannedReply}` }),
  }),
  "POST /chats/:id/notes": [
    {
      on: "the owner's live chat",
      allowed: OWNER_AND_STAFF,
      request: (w) => ({ path: `/chats/${w.liveChat}/notes`, body: { note: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("conversation", w.liveChat))) === 1,
    },
    {
      on: "a pending chat of the owner's department",
      allowed: DEPARTMENT_AND_STAFF,
      request: (w) => ({ path: `/chats/${w.pendingChat}/notes`, body: { note: "a note" } }),
      effect: async (w) => (await notesOf(w, keys.notes("conversation", w.pendingChat))) === 1,
    },
  ],
  "POST /chats/:id/customer": one({
    on: "the customer of the owner's live chat",
    allowed: OWNER_AND_STAFF,
    request: (w) => ({ path: `/chats/${w.liveChat}/customer`, body: { about: "edited" } }),
    effect: async (w) => {
      const customerId = (await chatState(w, w.liveChat))!.customerId;
      return (await w.d.kv.get<Customer>(keys.customer(customerId))).value?.about === "edited";
    },
  }),
  "GET /events": simple(STAFF_AND_AGENTS, "/events?view=unassigned"),

  "GET /supervisor": simple(SUPERVISORS, "/supervisor"),
  "GET /supervisor/queues": simple(SUPERVISORS, "/supervisor/queues"),
  "GET /supervisor/archive": simple(SUPERVISORS, "/supervisor/archive"),
  "GET /supervisor/tickets/:id": one({
    on: "the owner's assigned ticket",
    allowed: SUPERVISORS,
    request: (w) => ({ path: `/supervisor/tickets/${w.owned}` }),
    marker: MARK.owned,
  }),
  "POST /supervisor/tickets/:id/reassign": one({
    on: "an unassigned ticket",
    allowed: SUPERVISORS,
    request: (w) => ({
      path: `/supervisor/tickets/${w.waiting}/reassign`,
      body: { agentId: w.agents.other.id },
    }),
    effect: async (w) => (await ticketOf(w, w.waiting)).assignedTo === w.agents.other.id,
  }),
  "GET /supervisor/transcripts": simple(SUPERVISORS, "/supervisor/transcripts"),
  "GET /supervisor/transcripts/download": simple(
    SUPERVISORS,
    "/supervisor/transcripts/download?format=csv",
  ),

  "GET /admin": simple(ADMINS, "/admin"),
  "GET /admin/hours": simple(ADMINS, "/admin/hours"),
  "POST /admin/hours": simple(ADMINS, "/admin/hours", { timeZone: "UTC", op: "save" }),
  "GET /admin/agents": simple(ADMINS, "/admin/agents"),
  "POST /admin/agents": one({
    on: "a new agent",
    allowed: ADMINS,
    request: () => ({
      path: "/admin/agents",
      body: { name: "New", email: "new@test.local", password: "password-123", role: "admin" },
    }),
    effect: async (w) => (await w.d.kv.get(keys.agentByEmail("new@test.local"))).value !== null,
  }),
  "GET /admin/agents/:id": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/agents/${w.agents.other.id}` }),
  }),
  "POST /admin/agents/:id": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({
      path: `/admin/agents/${w.agents.other.id}`,
      body: { name: "Renamed", email: w.agents.other.email, role: "admin" },
    }),
    effect: async (w) => (await getAgent(w.d.kv, w.agents.other.id)).role === "admin",
  }),
  "POST /admin/agents/:id/password": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({
      path: `/admin/agents/${w.agents.other.id}/password`,
      body: { password: "taken-over-1", confirm: "taken-over-1" },
    }),
    effect: async (w) =>
      (await w.d.call("GET", "/api/agents/me", { token: w.agents.other.token })).status === 401,
  }),
  "POST /admin/agents/:id/active": one({
    on: "another agent",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/agents/${w.agents.other.id}/active`, body: { active: "0" } }),
    effect: async (w) => !(await getAgent(w.d.kv, w.agents.other.id)).active,
  }),
  "GET /admin/departments": simple(ADMINS, "/admin/departments"),
  "POST /admin/departments": simple(ADMINS, "/admin/departments", { name: "Billing" }),
  "POST /admin/departments/:id": one({
    on: "a department",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/departments/${w.sales}`, body: { name: "Renamed" } }),
  }),
  "POST /admin/departments/:id/active": one({
    on: "a department",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/departments/${w.support}/active`, body: { active: "0" } }),
  }),
  "GET /admin/texts": simple(ADMINS, "/admin/texts"),
  "POST /admin/texts": simple(ADMINS, "/admin/texts", { outOfHours: "Closed now." }),
  "POST /admin/texts/preview": simple(ADMINS, "/admin/texts/preview", { text: "x" }),
  "POST /admin/timeouts": simple(ADMINS, "/admin/timeouts", { intakeMinutes: "12" }),
  "GET /admin/templates": simple(ADMINS, "/admin/templates"),
  "POST /admin/templates": simple(ADMINS, "/admin/templates", { name: "n2", body: "Hi {{1}}" }),
  "GET /admin/templates/:id": one({
    on: "a template",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/templates/${w.template}` }),
  }),
  "POST /admin/templates/:id": one({
    on: "a template",
    allowed: ADMINS,
    request: (w) => ({
      path: `/admin/templates/${w.template}`,
      body: { name: "n1", body: "Changed {{1}}" },
    }),
  }),
  "POST /admin/templates/:id/delete": one({
    on: "a template",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/templates/${w.template}/delete`, body: {} }),
    effect: async (w) => (await w.d.kv.get(keys.template(w.template))).value === null,
  }),
  "GET /admin/canned-replies": simple(ADMINS, "/admin/canned-replies"),
  "POST /admin/canned-replies": simple(ADMINS, "/admin/canned-replies", {
    title: "New",
    body: "Hello",
  }),
  "GET /admin/canned-replies/:id": one({
    on: "a canned reply",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/canned-replies/${w.cannedReply}` }),
  }),
  "POST /admin/canned-replies/:id": one({
    on: "a canned reply",
    allowed: ADMINS,
    request: (w) => ({
      path: `/admin/canned-replies/${w.cannedReply}`,
      body: { title: "Renamed", body: "Hi {{customer.name}}" },
    }),
  }),
  "POST /admin/canned-replies/:id/delete": one({
    on: "a canned reply",
    allowed: ADMINS,
    request: (w) => ({ path: `/admin/canned-replies/${w.cannedReply}/delete`, body: {} }),
    effect: async (w) => (await w.d.kv.get(keys.cannedReply(w.cannedReply))).value === null,
  }),
  "GET /admin/integrations": simple(ADMINS, "/admin/integrations"),

  // Web chat: public pages, and a visitor API that only a visitor token opens (no desk session).
  "GET /webchat": simple(ANYONE, "/webchat"),
  "GET /webchat/widget.js": simple(ANYONE, "/webchat/widget.js"),
  // Rule 59: whether the desk takes a site's chats, readable by any site.
  "GET /webchat/api/availability": simple(ANYONE, "/webchat/api/availability"),
  "GET /webchat/preview": simple(ADMINS, "/webchat/preview?title=Hi"),
  "POST /webchat/api/visitors": simple(ANYONE, "/webchat/api/visitors", {}),
  "DELETE /webchat/api/visitors/me": simple(NOBODY, "/webchat/api/visitors/me"),
  "POST /webchat/api/messages": simple(NOBODY, "/webchat/api/messages", {
    text: "hi",
    clientId: "c1",
  }),
  "GET /webchat/api/messages": simple(NOBODY, "/webchat/api/messages"),
  // Rule 52: a visitor's own thread's files only; staff use /api/attachments/:id.
  "GET /webchat/api/attachments/:id": one({
    on: "a staff file by the web chat API",
    allowed: NOBODY,
    request: (w) => ({ path: `/webchat/api/attachments/${w.file}` }),
  }),
  "POST /webchat/api/receipts": simple(NOBODY, "/webchat/api/receipts", {
    upTo: "x",
    state: "read",
  }),
  "POST /webchat/api/stream-ticket": simple(NOBODY, "/webchat/api/stream-ticket", {}),
  "GET /webchat/api/events": simple(NOBODY, "/webchat/api/events"),
};
for (const channel of ["whatsapp", "twilio", "api", "webchat"]) {
  ROUTES[`GET /admin/integrations/${channel}`] = simple(ADMINS, `/admin/integrations/${channel}`);
  ROUTES[`POST /admin/integrations/${channel}`] = simple(
    ADMINS,
    `/admin/integrations/${channel}`,
    { enabled: "0" },
  );
  if (channel !== "webchat") {
    ROUTES[`GET /admin/integrations/${channel}/test`] = simple(
      ADMINS,
      `/admin/integrations/${channel}/test`,
    );
    ROUTES[`POST /admin/integrations/${channel}/test`] = simple(
      ADMINS,
      `/admin/integrations/${channel}/test`,
      { to: "+15550001234" },
    );
  }
}

async function liveChatGrew(w: World): Promise<boolean> {
  let n = 0;
  for await (const e of w.d.kv.list<Message>({ prefix: keys.messages(w.liveChat) })) {
    if (e.value.text === "hello") n++;
  }
  return n === 1;
}

/** The whole store, to put back before each case and to compare with after it. */
class Snapshot {
  #entries = new Map<string, Deno.KvEntry<unknown>>();
  #stamps = new Map<string, string>();

  static async take(kv: Deno.Kv): Promise<Snapshot> {
    const s = new Snapshot();
    for await (const e of kv.list({ prefix: [] })) {
      s.#entries.set(name(e.key), e);
      s.#stamps.set(name(e.key), e.versionstamp);
    }
    return s;
  }

  /** Keys written, added or deleted since the snapshot (or its last restore). */
  async changes(kv: Deno.Kv): Promise<string[]> {
    return (await this.#changed(kv)).map(([key]) => key);
  }

  async #changed(kv: Deno.Kv): Promise<[string, Deno.KvKey][]> {
    const out: [string, Deno.KvKey][] = [];
    const seen = new Set<string>();
    for await (const e of kv.list({ prefix: [] })) {
      const key = name(e.key);
      seen.add(key);
      if (this.#stamps.get(key) !== e.versionstamp) out.push([key, e.key]);
    }
    for (const [key, e] of this.#entries) if (!seen.has(key)) out.push([key, e.key]);
    return out;
  }

  async restore(kv: Deno.Kv): Promise<void> {
    for (const [key, kvKey] of await this.#changed(kv)) {
      const saved = this.#entries.get(key);
      if (saved) {
        const { versionstamp } = await kv.set(saved.key, saved.value);
        this.#stamps.set(key, versionstamp);
      } else await kv.delete(kvKey);
    }
  }
}

const name = (key: Deno.KvKey) =>
  JSON.stringify(key, (_, v) => typeof v === "bigint" ? `${v}n` : v);

async function buildWorld(): Promise<World> {
  const d = await testDesk({ at: CLOSED_TIME });
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const people = {
    owner: await d.person("agent", { departments: [sales], name: "Owner" }),
    other: await d.person("agent", { departments: [sales], name: "Other" }),
    outsider: await d.person("agent", { departments: [support], name: "Outsider" }),
    supervisor: await d.person("supervisor"),
    admin: await d.person("admin"),
  };
  await closeBusiness(d);
  const waiting = await leaveMessage(d, "+27820000601", [MARK.waiting], { department: sales });
  const owned = await leaveMessage(d, "+27820000602", [MARK.owned], {
    department: sales,
    name: MARK.customer,
  });
  const accept = await d.call("POST", `/api/tickets/${owned}/accept`, {
    token: people.owner.token,
  });
  assert.equal(accept.status, 200);
  const sent = await d.json<{ id: string }>("POST", `/api/tickets/${owned}/reply`, {
    token: people.owner.token,
    body: { text: MARK.reply },
  });
  assert.equal(sent.status, 201);
  // The reply failed for good, so Retry has something to act on.
  const entry = (await findMessage(d.kv, sent.body.id))!;
  const message = entry.value!;
  await d.kv.set(entry.key, {
    ...message,
    delivery: {
      ...message.delivery!,
      status: "failed",
      error: { code: "131026", message: "Undeliverable" },
    },
  });
  const ownedCustomer = (await d.kv.get<Ticket>(keys.ticket(owned))).value!.customerId;
  // Chats need an open desk and an online agent of the department.
  await d.call("PUT", "/api/settings", {
    token: people.admin.token,
    body: {
      hours: {
        timeZone: "UTC",
        weekly: Object.fromEntries(
          ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((
            day,
          ) => [day, [["00:00", "24:00"]]]),
        ),
        closures: [],
      },
    },
  });
  await d.call("PUT", "/api/agents/me/status", {
    token: people.owner.token,
    body: { status: "online" },
  });
  const ended = await d.inbound({
    channel: "whatsapp",
    from: "+27820000605",
    text: MARK.ended,
    department: sales,
  });
  const endedChat = (await d.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: people.owner.token },
  )).body.chats.find((c) => c.customerId === ended.customerId)!.id;
  for (const action of ["accept", "end"]) {
    const res = await d.call("POST", `/api/chats/${endedChat}/${action}`, {
      token: people.owner.token,
    });
    assert.equal(res.status, 200);
  }
  const live = await d.inbound({
    channel: "whatsapp",
    from: "+27820000603",
    text: MARK.live,
    department: sales,
  });
  assert.equal(live.conversation.state, "pending");
  const pending = await d.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: people.owner.token },
  );
  const liveChat = pending.body.chats.find((c) => c.customerId === live.customerId)!.id;
  assert.equal(
    (await d.call("POST", `/api/chats/${liveChat}/accept`, { token: people.owner.token })).status,
    200,
  );
  const next = await d.inbound({
    channel: "whatsapp",
    from: "+27820000604",
    text: MARK.pending,
    department: sales,
  });
  assert.equal(next.conversation.state, "pending");
  const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: people.owner.token },
  );
  const pendingChat = chats.body.chats.find((c) => c.customerId === next.customerId)!.id;
  await d.call("PUT", "/api/channels/webchat", {
    token: people.admin.token,
    body: { enabled: true },
  });
  const template = await d.json<{ id: string }>("POST", "/api/templates", {
    token: people.admin.token,
    body: { name: "n1", body: "Hello {{1}}" },
  });
  const cannedReply = await d.json<{ id: string }>("POST", "/api/canned-replies", {
    token: people.admin.token,
    body: { title: "Greeting", body: "Hi {{customer.name}}", department: null },
  });
  const stale: World["stale"] = SOAK ? await staleCallers(d, sales, people.admin.token) : {};
  const file = await fileOnMessage(d, sent.body.id, MARK.file);
  const agents = Object.fromEntries(
    Object.entries(people).map(([who, p]) => [who, {
      id: p.agent.id,
      email: p.agent.email,
      token: p.token,
    }]),
  ) as World["agents"];
  return {
    d,
    agents,
    stale,
    sales,
    support,
    waiting,
    owned,
    ownedCustomer,
    reply: sent.body.id,
    file,
    fileToken: await signMediaToken(d.kv, file, d.clock.now()),
    pendingChat,
    liveChat,
    endedChat,
    template: template.body.id,
    cannedReply: cannedReply.body.id,
  };
}

/** A stored text file on a message (as an agent's upload leaves it); answers its id. */
async function fileOnMessage(d: TestDesk, messageId: string, text: string): Promise<string> {
  const entry = await findMessage(d.kv, messageId);
  const message = entry!.value!;
  const id = newId(d.clock.now());
  const attachment = await storeUpload(
    d.media.files,
    new File([text], "note.txt", { type: "text/plain" }),
    { id, kind: "document", mime: "text/plain", maxBytes: 1024, at: d.clock.now() },
  );
  const op = d.kv.atomic().check(entry!).set(entry!.key, {
    ...message,
    attachments: [attachment],
  });
  pointAttachment(op, id, {
    conversationId: message.conversationId,
    messageId,
    customerId: message.customerId!,
  });
  assert.ok((await op.commit()).ok);
  return id;
}

/**
 * Soak only: three agents of the department whose sessions no longer work. One signed in 13 hours
 * ago on the desk clock (sessions last 12), one before its password was reset, one before it was
 * deactivated.
 */
async function staleCallers(d: TestDesk, sales: string, admin: string) {
  const expired = await d.person("agent", { departments: [sales], name: "Expired" });
  d.clock.advance(-13 * HOUR);
  const old = await startSession(d.kv, d.clock, expired.agent);
  d.clock.advance(13 * HOUR);
  const revoked = await d.person("agent", { departments: [sales], name: "Revoked" });
  const reset = await d.call("PUT", `/api/agents/${revoked.agent.id}`, {
    token: admin,
    body: { password: "a-new-password-1" },
  });
  assert.equal(reset.status, 200);
  const deactivated = await d.person("agent", { departments: [sales], name: "Deactivated" });
  const gone = await d.call("DELETE", `/api/agents/${deactivated.agent.id}`, { token: admin });
  assert.ok(gone.status < 300, `deactivation: ${gone.status}`);
  for (const token of [old.token, revoked.token, deactivated.token]) {
    const me = await d.call("GET", "/api/agents/me", { token });
    assert.equal(me.status, 401, "a stale token is refused before the matrix starts");
  }
  return { expired: old.token, revoked: revoked.token, deactivated: deactivated.token };
}

function routeTable(app: TestDesk["app"]): string[] {
  const seen = new Set<string>();
  for (const r of app.routes) if (r.method !== "ALL") seen.add(`${r.method} ${r.path}`);
  return [...seen];
}

const isApi = (route: string) => / \/(api|webhooks|webchat\/api)\//.test(route);

async function send(w: World, route: string, who: Caller, req: Request): Promise<Response> {
  const method = route.slice(0, route.indexOf(" "));
  const token = isStale(who) ? w.stale[who] : agentOf(w, who)?.token;
  const headers: Record<string, string> = { ...req.headers };
  let body: string | undefined;
  if (isApi(route)) {
    if (token) headers.authorization = `Bearer ${token}`;
    if (req.body !== undefined && method !== "GET") {
      body = JSON.stringify(req.body);
      headers["content-type"] = "application/json";
    }
  } else {
    headers.accept = "text/html";
    if (token) headers.cookie = `${SESSION_COOKIE}=${token}`;
    if (method !== "GET") {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(req.body ?? {})) form.append(k, String(v));
      body = form.toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers.origin = "http://localhost";
    }
  }
  return await w.d.app.request(`http://localhost${req.path}`, { method, headers, body });
}

/** A refusal: 401/403/404 for the API; for pages also the redirect to /login. */
function refused(route: string, res: Response): boolean {
  if ([401, 403, 404].includes(res.status)) return true;
  if (isApi(route)) return false;
  if (res.status === 204 && route === "GET /events") return true;
  return res.status === 303 && (res.headers.get("location") ?? "").startsWith("/login?next=");
}

Deno.test("[routes] rule 23: the authorization matrix, every route × every kind of caller, judged by stored state", async (t) => {
  const w = await buildWorld();
  try {
    const routes = routeTable(w.d.app);
    await t.step("every route of the app has a row in the matrix", () => {
      const missing = routes.filter((r) => !ROUTES[r]);
      assert.deepEqual(missing, [], `add these routes to ROUTES in ${import.meta.url}`);
    });
    const snapshot = await Snapshot.take(w.d.kv);
    const failures: string[] = [];
    let cases = 0;
    for (const route of routes) {
      for (const c of ROUTES[route] ?? []) {
        for (const caller of WHO) {
          // A stale caller is judged as anonymous: its credentials must open nothing more.
          const who: Who = isStale(caller) ? "anonymous" : caller;
          await snapshot.restore(w.d.kv);
          const req = c.request(w, who);
          const res = await send(w, route, caller, req);
          const text = route === "GET /events" ? "" : await res.text();
          if (route === "GET /events") await res.body?.cancel();
          const changed = await snapshot.changes(w.d.kv);
          const allowed = c.allowed.includes(who);
          const label = `${route} on ${c.on} as ${caller} → ${res.status}`;
          cases++;
          if (res.status >= 500) failures.push(`${label}: server error`);
          if (!allowed) {
            if (!refused(route, res) && (isApi(route) || res.status !== 303)) {
              failures.push(`${label}: should be refused`);
            }
            if (changed.length) failures.push(`${label}: refused but stored ${changed.join(" ")}`);
            if (c.marker && text.includes(c.marker)) failures.push(`${label}: refused but shown`);
          } else {
            if (refused(route, res)) failures.push(`${label}: should be allowed`);
            if (c.marker && !text.includes(c.marker)) failures.push(`${label}: not shown`);
            if (c.effect && !(await c.effect(w, who))) failures.push(`${label}: no effect`);
          }
        }
      }
    }
    await t.step(`${cases} cases: each caller gets exactly what rule 23 gives it`, () => {
      assert.deepEqual(failures, []);
    });
  } finally {
    await w.d.close();
  }
});
