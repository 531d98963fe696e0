/**
 * Rule 41 for the pages and API calls it names: what a request is going to read is read at its
 * start, together with its session check, by a read-ahead (domain/kv_read_ahead.ts), and the
 * handlers find it there. Each plan below names, from the request alone (its path, its token,
 * which names the agent), the keys and lists its handler reads first; a plan may go on from what
 * those said (a ticket's customer, an agent's departments) so later steps find theirs too.
 *
 * A plan only saves round trips: a key it did not read, or read differently, is read by the
 * handler as before, and what it read is used only by the request that read it, after the
 * session check has passed. tests/round_trips_test.ts holds each route to its rule 41 count.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { canReadTicket } from "../domain/access.ts";
import { listChats } from "../domain/chats.ts";
import { customerChats, customerProfile } from "../domain/customer_profile.ts";
import { listDepartments, visibleOf } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";
import { ReadAhead, readAheadDesk, withReadAhead } from "../domain/kv_read_ahead.ts";
import { ticketNotes } from "../domain/notes.ts";
import { hashToken } from "../domain/passwords.ts";
import { authenticate, tokenAgentId } from "../domain/sessions.ts";
import { listTickets, parseTicketQuery, queueRanges } from "../domain/ticket_lists.ts";
import { ticketMessages } from "../domain/tickets.ts";
import type { Agent, Department, Role, Ticket } from "../domain/types.ts";
import { filtersOf } from "../live/queues.tsx";
import { LIST_QUEUES, type ListQueue } from "../views/tickets.tsx";
import { SESSION_COOKIE, tokenOf } from "./auth.ts";
import type { AppDeps } from "./context.ts";

/** The routes' dependencies with the store read through read-aheads (the same desk otherwise). */
export function readAheadDeps(deps: AppDeps): AppDeps {
  return { ...deps, desk: readAheadDesk(deps.desk) };
}

/** What a plan starts from. */
interface Start {
  ra: ReadAhead;
  /** The desk with its store read through the read-ahead (what the plan read is kept there). */
  desk: Desk;
  /** The session token, and the agent it names. */
  token: string;
  agentId: string;
  /** The request path's groups (the plan's pattern). */
  path: string[];
  params: URLSearchParams;
}

type Plan = (start: Start) => Promise<unknown>;

interface Route {
  method: "GET" | "POST";
  path: RegExp;
  /** Where the session token is: the page cookie or the API's bearer header. */
  token: "cookie" | "bearer";
  plan: Plan;
}

const QUEUE = `(${LIST_QUEUES.join("|")})`;
const ID = "([0-9A-Za-z]{1,64})";

/** A reply on a ticket (`replyToTicket`): the settings and the ticket; its customer comes next. */
const reply: Plan = ({ ra, path: [id] }) => ra.get([keys.settings(), keys.ticket(id)]);

/** A message in a chat (`sendChatMessage`): the chat's customer pointer and the settings. */
const chatMessage: Plan = ({ ra, path: [id] }) => ra.get([keys.chat(id), keys.settings()]);

/** The routes rule 41 counts, and what each reads first. */
const ROUTES: Route[] = [
  { method: "GET", path: new RegExp(`^/tickets/${QUEUE}$`), token: "cookie", plan: queuePage },
  {
    method: "GET",
    path: new RegExp(`^/tickets/${QUEUE}/${ID}$`),
    token: "cookie",
    plan: ticketPage,
  },
  { method: "POST", path: new RegExp(`^/api/tickets/${ID}/reply$`), token: "bearer", plan: reply },
  { method: "POST", path: new RegExp(`^/tickets/${ID}/reply$`), token: "cookie", plan: reply },
  {
    method: "POST",
    path: new RegExp(`^/api/chats/${ID}/messages$`),
    token: "bearer",
    plan: chatMessage,
  },
  {
    method: "POST",
    path: new RegExp(`^/chats/${ID}/messages$`),
    token: "cookie",
    plan: chatMessage,
  },
];

/**
 * Starts the read-ahead of a request some plan names (for handlers given readAheadDeps(deps));
 * other requests pass untouched.
 */
export function readAhead(deps: AppDeps): MiddlewareHandler {
  const store = deps.desk.kv;
  const desk = readAheadDesk(deps.desk);
  return async (c, next) => {
    const route = ROUTES.find((r) => r.method === c.req.method && r.path.test(c.req.path));
    const token = route ? tokenFrom(c, route.token) : "";
    const agentId = tokenAgentId(token);
    if (!route || !agentId) return await next();
    const ra = new ReadAhead(store);
    const start: Start = {
      ra,
      desk,
      token,
      agentId,
      path: route.path.exec(c.req.path)!.slice(1),
      params: new URL(c.req.url).searchParams,
    };
    // The session check's reads go first, with the plan's: one round for all of them. A token
    // that is no session's costs that round only: a plan reads on from the agent once
    // `authenticate` accepted it.
    ra.get([keys.session(await hashToken(token)), keys.agent(agentId)]);
    // A plan's failure (a bad parameter, say) is the handler's to find and answer.
    void withReadAhead(ra, () => route.plan(start)).catch(() => {});
    try {
      await withReadAhead(ra, next);
    } finally {
      ra.close();
    }
  };
}

function tokenFrom(c: Context, from: "cookie" | "bearer"): string {
  const token = from === "cookie" ? getCookie(c, SESSION_COOKIE) ?? "" : tokenOf(c);
  return token.length <= 200 ? token : "";
}

// ---- What an agent may see: remembered per instance, to list its queue before it is known ------

/**
 * What each agent was last seen to see (rule 13), by agent id, and every department key of the
 * Unassigned index as last read. The Unassigned list depends on an agent's departments, known
 * only once the agent is read: a plan lists those remembered here alongside (all of them for an
 * agent not seen yet, a superset), and lists what is missing once the agent is in. A hint only:
 * one instance's memory, never used for what the page shows.
 */
const seenVisible = new Map<string, { role: Role; visible: string[] }>();
let seenDepartments: string[] | null = null;
const SEEN_MAX = 10_000;

function remember(agent: Agent, visible: string[], departments: Department[]) {
  if (seenVisible.size >= SEEN_MAX) seenVisible.clear();
  seenVisible.set(agent.id, { role: agent.role, visible });
  seenDepartments = visibleOf({ role: "admin", departments: [] }, departments);
}

/** What this agent is likely to see, before it is read. */
function likelyVisible(agentId: string): { role: Role; visible: string[] } | null {
  return seenVisible.get(agentId) ??
    (seenDepartments && { role: "agent", visible: seenDepartments });
}

/**
 * The agent and what it may see, once the session check's reads and the departments are in;
 * null when the session is not a valid one (a plan then reads nothing more).
 */
async function seeing(start: Start) {
  const { ra, desk } = start;
  const [agent, departments] = await Promise.all([
    authenticate(desk.kv, desk.clock, start.token),
    ra.list({ prefix: keys.departments() }).then(() => listDepartments(desk.kv)),
  ]);
  if (!agent) return null;
  const visible = visibleOf(agent, departments);
  remember(agent, visible, departments);
  return { agent, visible };
}

/** The query `queueParts` lists a queue's page with, for an agent seeing `visible`. */
function queueQuery(start: Start, queue: ListQueue, visible: string[]) {
  const listParams = new URLSearchParams(filtersOf(queue, start.params, visible));
  listParams.set("queue", queue);
  const cursor = start.params.get("cursor");
  if (cursor) listParams.set("cursor", cursor);
  return parseTicketQuery(listParams);
}

/** A queue page's ranges, as many entries as the page shows, and the Unassigned counts. */
function readRanges(
  start: Start,
  queue: ListQueue,
  agent: Pick<Agent, "id" | "role">,
  visible: string[],
) {
  const { ra } = start;
  const query = queueQuery(start, queue, visible);
  const reverse = query.sort !== "oldest";
  for (const range of queueRanges(agent, query, visible)) {
    ra.list(range, { reverse, limit: (query.limit ?? 50) + 1 });
  }
  ra.get(visible.map((d) => keys.count("unassigned", d)));
}

/**
 * The Tickets tab's queue (`queueParts`, `navCounts`): the counts, the pending chats and, with
 * the departments this agent was last seen to see, the list; then, once the agent is in, the
 * list's tickets and the chats' records.
 */
async function queuePage(start: Start) {
  const { ra, agentId, desk } = start;
  const queue = start.path[0] as ListQueue;
  ra.get([keys.countClosed(), keys.countAssigned(agentId)]);
  ra.list({ prefix: keys.chatsByState("pending") });
  const hint = likelyVisible(agentId);
  if (hint) readRanges(start, queue, { id: agentId, role: hint.role }, hint.visible);
  const seen = await seeing(start);
  if (!seen) return;
  const { agent, visible } = seen;
  // Lists only what the hint missed: a range read already is not read again.
  readRanges(start, queue, agent, visible);
  await Promise.all([
    listTickets(desk.kv, agent, queueQuery(start, queue, visible), desk.clock.now()),
    listChats(desk, agent, "pending"),
  ].map(quiet));
}

/**
 * A ticket open beside its queue: the queue page's reads, the ticket, what its thread, notes,
 * reply box and customer panel read first; then, from the ticket, its conversations' messages
 * and notes and its customer's profile and chats, read as those parts read them.
 */
async function ticketPage(start: Start) {
  const { ra, desk } = start;
  const id = start.path[1];
  ra.get([keys.ticket(id), keys.settings()]);
  for (
    const prefix of [
      keys.agents(),
      keys.templates(),
      keys.cannedReplies(),
      keys.ticketConversations(id),
      keys.notes("ticket", id),
      keys.chatsByState("live"),
    ]
  ) ra.list({ prefix });
  // Quieted now: should the reads below fail (a store closing), nothing is left unhandled.
  const queued = quiet(queuePage(start));
  const [seen, [entry]] = await Promise.all([seeing(start), ra.get<[Ticket]>([keys.ticket(id)])]);
  const ticket = entry.value;
  // Nothing more for a ticket the page will answer 404 (rule 23).
  if (!seen || !ticket || !canReadTicket(seen.agent, ticket, seen.visible)) return await queued;
  const { agent } = seen;
  await Promise.all([
    queued,
    ticketMessages(desk.kv, ticket),
    ticketNotes(desk.kv, ticket),
    listChats(desk, agent, "live"),
    customerProfile(desk, agent, ticket.customerId),
    customerChats(desk, agent, ticket.customerId),
  ].map(quiet));
}

/** A plan's read that fails is the handler's to meet again and answer. */
const quiet = (read: Promise<unknown>) => read.catch(() => {});
