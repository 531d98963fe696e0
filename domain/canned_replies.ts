/**
 * Canned replies (rule 34): admin-managed texts for all departments or one, offered in the reply
 * box with `{{customer.name}}`, `{{agent.name}}` and `{{ticket.id}}` filled on insert. A value
 * that is missing, or a placeholder we do not know, stays as typed and blocks sending.
 */
import { hasOwnName } from "./customer_names.ts";
import { isStaff } from "./access.ts";
import type { Clock } from "./clock.ts";
import { visibleDepartments } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { readChat } from "./notes.ts";
import { readTicket } from "./tickets.ts";
import type { Agent, CannedReply, Customer } from "./types.ts";
import { asBody, type Body, str } from "./validate.ts";

export const CANNED_TITLE_MAX = 80;
export const CANNED_BODY_MAX = 4096;

/** The placeholders the desk fills; any other `{{…}}` is unknown and stays as typed. */
export const PLACEHOLDERS = ["customer.name", "agent.name", "ticket.id"] as const;
export type Placeholder = typeof PLACEHOLDERS[number];

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Where a reply is inserted: a ticket or a chat the agent may read (rule 23). */
export interface ReplyContext {
  ticketId?: string;
  chatId?: string;
}

/**
 * Rule 34, pure: fills each `{{name}}` that has a value; a placeholder with no value (null,
 * undefined or empty) or an unknown one stays exactly as typed and is listed in `missing`
 * (each name once, in order of appearance).
 */
export function fillPlaceholders(
  body: string,
  values: Partial<Record<string, string | null>>,
): { text: string; missing: string[] } {
  const missing: string[] = [];
  const text = body.replace(PLACEHOLDER, (typed, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (typeof value === "string" && value !== "") return value;
    if (!missing.includes(name)) missing.push(name);
    return typed;
  });
  return { text, missing };
}

/** Rule 34: the placeholders still in a reply text (each once); the reply cannot be sent while any remain. */
export function unfilledPlaceholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/** Rule 34: whether a reply text still holds a `{{…}}` placeholder (the reply box blocks sending). */
export function hasUnfilledPlaceholder(text: string): boolean {
  return unfilledPlaceholders(text).length > 0;
}

async function allCannedReplies(kv: Deno.Kv): Promise<CannedReply[]> {
  const out: CannedReply[] = [];
  for await (const e of kv.list<CannedReply>({ prefix: keys.cannedReplies() })) out.push(e.value);
  return out.sort((a, b) => a.title.localeCompare(b.title) || a.id.localeCompare(b.id));
}

/** What a ticket or chat context says: its department, the customer, and the ticket id if any. */
interface ResolvedContext {
  department: string | null;
  customerId: string | null;
  ticketId: string | null;
}

async function resolveContext(
  desk: Desk,
  agent: Agent,
  context: ReplyContext,
): Promise<ResolvedContext | null> {
  if (context.ticketId && context.chatId) {
    throw new Invalid("invalid_query", "Give ticketId or chatId, not both.");
  }
  if (context.ticketId) {
    const ticket = await readTicket(desk.kv, agent, context.ticketId);
    return { department: ticket.department, customerId: ticket.customerId, ticketId: ticket.id };
  }
  if (context.chatId) {
    const chat = await readChat(desk, agent, context.chatId);
    // A chat has no ticket id to offer, even one started from a ticket (rule 34).
    return { department: chat.department, customerId: chat.customerId, ticketId: null };
  }
  return null;
}

/** Rule 34: all-department replies, the agent's departments' and the context's (staff: all). */
function offeredTo(
  agent: Agent,
  visible: string[],
  context: ResolvedContext | null,
): (reply: CannedReply) => boolean {
  if (isStaff(agent)) return () => true;
  return (reply) =>
    reply.department === null ||
    visible.includes(reply.department) ||
    (context !== null && reply.department === context.department);
}

/**
 * Rule 34: the canned replies offered to this agent: those for all departments and its own
 * departments' (every one when departments are not configured, like rule 13), plus, with a
 * ticket or chat it may read, that one's department's. Supervisors and admins get all.
 */
export async function listCannedReplies(
  desk: Desk,
  agent: Agent,
  context: ReplyContext = {},
): Promise<CannedReply[]> {
  const resolved = await resolveContext(desk, agent, context);
  const visible = await visibleDepartments(desk.kv, agent);
  return (await allCannedReplies(desk.kv)).filter(offeredTo(agent, visible, resolved));
}

export async function getCannedReply(kv: Deno.Kv, id: string): Promise<CannedReply> {
  const entry = await kv.get<CannedReply>(keys.cannedReply(id));
  if (!entry.value) throw new NotFound("Canned reply");
  return entry.value;
}

/**
 * Rule 34: a canned reply filled for a ticket or chat the agent may read (404 otherwise, and for
 * a reply not offered to it). `{{customer.name}}` is missing when the name is only the address or
 * the web chat's generated visitor label (rules 34, 54); `{{ticket.id}}` is missing in a chat.
 */
export async function renderCannedReply(
  desk: Desk,
  agent: Agent,
  id: string,
  context: ReplyContext = {},
): Promise<{ text: string; missing: string[] }> {
  const resolved = await resolveContext(desk, agent, context);
  const reply = await getCannedReply(desk.kv, id);
  const visible = await visibleDepartments(desk.kv, agent);
  if (!offeredTo(agent, visible, resolved)(reply)) throw new NotFound("Canned reply");
  const customer = resolved?.customerId
    ? (await desk.kv.get<Customer>(keys.customer(resolved.customerId))).value
    : null;
  const values: Record<Placeholder, string | null> = {
    "customer.name": customer && hasOwnName(customer) ? customer.name.trim() : null,
    "agent.name": agent.name,
    "ticket.id": resolved?.ticketId ?? null,
  };
  return fillPlaceholders(reply.body, values);
}

async function parseDepartment(kv: Deno.Kv, body: Body): Promise<string | null> {
  const value = body.department;
  if (value === null) return null;
  if (typeof value !== "string" || value === "") {
    throw new Invalid("invalid_field", '"department" must be a department id or null.', {
      department: "A department id, or null for all departments.",
    });
  }
  if (!(await kv.get(keys.department(value))).value) {
    throw new Invalid("unknown_department", `Unknown department "${value}".`, {
      department: "Unknown.",
    });
  }
  return value;
}

/** Validates `{title, body, department}`; on an edit, a part left out keeps its value. */
async function parseCannedReply(
  kv: Deno.Kv,
  input: unknown,
  current?: CannedReply,
): Promise<Omit<CannedReply, "id">> {
  const body = asBody(input);
  const title = current && body.title === undefined
    ? current.title
    : str(body, "title", { max: CANNED_TITLE_MAX, line: true }).trim();
  const text = current && body.body === undefined
    ? current.body
    : str(body, "body", { max: CANNED_BODY_MAX });
  const department = body.department === undefined
    ? current?.department ?? null
    : await parseDepartment(kv, body);
  return { title, body: text, department };
}

/** Rule 34 (admin): a new canned reply. */
export async function createCannedReply(
  kv: Deno.Kv,
  clock: Clock,
  input: unknown,
): Promise<CannedReply> {
  const reply: CannedReply = { id: newId(clock.now()), ...(await parseCannedReply(kv, input)) };
  const key = keys.cannedReply(reply.id);
  const result = await kv.atomic().check({ key, versionstamp: null }).set(key, reply).commit();
  if (!result.ok) throw new Conflict("edit_conflict", "The canned reply exists already.");
  return reply;
}

/** Rule 34 (admin): changes any part of `{title, body, department}`. */
export async function updateCannedReply(
  kv: Deno.Kv,
  id: string,
  input: unknown,
): Promise<CannedReply> {
  const entry = await kv.get<CannedReply>(keys.cannedReply(id));
  if (!entry.value) throw new NotFound("Canned reply");
  const next: CannedReply = { id, ...(await parseCannedReply(kv, input, entry.value)) };
  if (!(await kv.atomic().check(entry).set(keys.cannedReply(id), next).commit()).ok) {
    throw new Conflict("edit_conflict", "The canned reply changed meanwhile; try again.");
  }
  return next;
}

/** Rule 34 (admin). */
export async function deleteCannedReply(kv: Deno.Kv, id: string): Promise<void> {
  const entry = await kv.get<CannedReply>(keys.cannedReply(id));
  if (!entry.value) throw new NotFound("Canned reply");
  await kv.atomic().check(entry).delete(entry.key).commit();
}
