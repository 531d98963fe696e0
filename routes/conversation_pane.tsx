/**
 * What the ticket and chat pages share around a conversation (rules 34–36): the customer panel's
 * data, the panel edit, canned replies inserted without JavaScript, the server's refusal of a
 * reply with an unfilled placeholder, and the words for refused notes and edits. Routes never
 * import each other; both page modules use this one.
 */
import type { Context } from "hono";
import { canReadTicket, canSeeChat, isStaff } from "../domain/access.ts";
import { listAgents } from "../domain/agents.ts";
import {
  renderCannedReply,
  type ReplyContext,
  unfilledPlaceholders,
} from "../domain/canned_replies.ts";
import { isCurrent } from "../domain/conversations.ts";
import {
  type CustomerProfile,
  customerProfile,
  type CustomerTicketRow,
  updateCustomer,
} from "../domain/customer_profile.ts";
import { visibleDepartments } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { Conflict, DeskError, Invalid, NotFound } from "../domain/errors.ts";
import { keys } from "../domain/keys.ts";
import { getSettings } from "../domain/settings.ts";
import type { Agent, Conversation, Ticket } from "../domain/types.ts";
import type { Flash } from "../views/components.tsx";
import { CustomerPanel, type CustomerPanelProps, hasName } from "../views/customer_panel.tsx";
import { isHtmx, redirectWithFlash } from "./page_auth.ts";

/** What a refused or in-place form leaves in the pane when the page is drawn again. */
export interface PaneState {
  /** The reply box's text: a refused reply, or one a canned reply was inserted into. */
  draft?: string;
  replyError?: string | null;
  noteDraft?: string;
  noteError?: string | null;
  noteAdded?: boolean;
  customerDraft?: { name: string; about: string };
  customerError?: string | null;
  customerSaved?: boolean;
}

/** The business time zone: threads, notes and the panel show their times in it (labelled). */
export async function businessTimeZone(kv: Deno.Kv): Promise<string> {
  return (await getSettings(kv)).hours.timeZone;
}

/** Agent names and the business time zone: what notes and the panel show beside a thread. */
export async function asideBasics(kv: Deno.Kv): Promise<[Map<string, string>, string]> {
  const [agents, timeZone] = await Promise.all([listAgents(kv), businessTimeZone(kv)]);
  return [new Map(agents.map((a) => [a.id, a.name])), timeZone];
}

/** Form text with the browser's CRLF line breaks as stored text has them. */
export const formText = (value: string | undefined): string =>
  (value ?? "").replace(/\r\n?/g, "\n");

/**
 * Rule 34 on the server: a reply that still holds a `{{…}}` placeholder is not sent, whatever the
 * page's script did. Returns the reason, or null when the text may go.
 */
export function unfilledRefusal(text: string): string | null {
  const left = unfilledPlaceholders(text);
  if (!left.length) return null;
  return `Not sent: ${
    left.map((n) => `{{${n}}}`).join(", ")
  } still needs a value. Replace or remove it, then send.`;
}

/**
 * Rule 34 without JavaScript: Insert adds the chosen canned reply, filled for this ticket or chat,
 * after what the agent typed. Returns the new draft, or the draft with the reason it did not.
 */
export async function insertCanned(
  desk: Desk,
  agent: Agent,
  form: Record<string, string>,
  context: ReplyContext,
): Promise<{ draft: string; error: string | null }> {
  const draft = formText(form.text);
  if (!form.canned) return { draft, error: "Choose a canned reply to insert." };
  try {
    const { text } = await renderCannedReply(desk, agent, form.canned, context);
    const before = draft.replace(/\s+$/, "");
    return { draft: before ? `${before}\n${text}` : text, error: null };
  } catch (error) {
    // The page itself was readable (checked before): the reply was deleted or is not offered.
    if (error instanceof NotFound) {
      return { draft, error: "That canned reply is no longer offered." };
    }
    throw error;
  }
}

/** Words for a refused note (rule 35); 404s stay errors (the page is not the agent's to see). */
export function noteRefusal(error: unknown): string {
  if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) throw error;
  if (error instanceof Invalid) return "Write a note of 1 to 4,096 characters.";
  return error.message;
}

/** Where this agent opens each of a customer's tickets (rule 23); null where it may not. */
async function ticketLinks(
  desk: Desk,
  agent: Agent,
  rows: CustomerTicketRow[],
): Promise<(row: CustomerTicketRow) => string | null> {
  const open = rows.filter((r) => r.status === "unassigned" || r.status === "assigned");
  const [tickets, visible] = await Promise.all([
    desk.kv.getMany<Ticket[]>(open.map((r) => keys.ticket(r.id))),
    visibleDepartments(desk.kv, agent),
  ]);
  const readable = new Set(
    tickets.map((e) => e.value).filter((t): t is Ticket => !!t && canReadTicket(agent, t, visible))
      .map((t) => t.id),
  );
  return (row) => {
    if (row.status === "closed" || row.status === "archived") return `/tickets/closed/${row.id}`;
    if (!readable.has(row.id)) return null;
    return `/tickets/${row.status}/${row.id}`;
  };
}

/**
 * The customer panel for this agent (rule 36), or null when it may not see the customer (rule
 * 23): the profile with its tickets, where each opens, and the customer's current chat.
 */
export async function customerPanelProps(
  desk: Desk,
  agent: Agent,
  customerId: string,
  opts: {
    action: string;
    names: Map<string, string>;
    timeZone: string;
    level: 2 | 3;
    currentTicketId?: string;
    /** The chat the page shows: the panel does not link to it again. */
    currentChatId?: string;
    pane?: PaneState;
  },
): Promise<CustomerPanelProps | null> {
  let profile: CustomerProfile;
  try {
    profile = await customerProfile(desk, agent, customerId);
  } catch (error) {
    if (error instanceof NotFound) return null;
    throw error;
  }
  const [ticketHref, chat] = await Promise.all([
    ticketLinks(desk, agent, profile.tickets),
    panelChat(desk, agent, customerId, opts.names, opts.currentChatId),
  ]);
  return {
    profile,
    names: opts.names,
    me: agent.id,
    action: opts.action,
    ticketHref,
    currentTicketId: opts.currentTicketId,
    chat,
    timeZone: opts.timeZone,
    level: opts.level,
    draft: opts.pane?.customerDraft,
    error: opts.pane?.customerError,
    saved: opts.pane?.customerSaved,
  };
}

async function panelChat(
  desk: Desk,
  agent: Agent,
  customerId: string,
  names: Map<string, string>,
  currentChatId?: string,
): Promise<CustomerPanelProps["chat"]> {
  const chat = (await desk.kv.get<Conversation>(keys.conversation(customerId))).value;
  if (!chat || !isCurrent(chat, desk.clock.now())) return null;
  if (chat.state !== "pending" && chat.state !== "live") return null;
  const visible = await visibleDepartments(desk.kv, agent);
  const mayOpen = canSeeChat(agent, chat, visible) && chat.id !== currentChatId;
  return {
    state: chat.state,
    href: !mayOpen ? null : chat.state === "pending" ? "/chats" : `/chats/${chat.id}`,
    agent: chat.agentId === agent.id
      ? "you"
      : chat.agentId
      ? names.get(chat.agentId) ?? null
      : null,
  };
}

/**
 * Rule 36 from the panel's form: only what changed is sent, with the version the panel was drawn
 * from, so an edit made meanwhile by someone else is refused (409), never overwritten.
 */
function customerEdit(form: Record<string, string>, current: CustomerProfile) {
  const input: { name?: string; about?: string; ifVersion?: number } = {};
  const name = form.name?.trim();
  if (name !== undefined && name !== (hasName(current) ? current.name : "")) input.name = name;
  const about = form.about === undefined ? undefined : formText(form.about);
  if (about !== undefined && about !== current.about) input.about = about;
  const version = Number(form.ifVersion);
  if (form.ifVersion && Number.isInteger(version)) input.ifVersion = version;
  return input;
}

/** Words for a refused panel edit; the typed text stays in the fields. */
function customerRefusal(error: unknown, now: CustomerProfile | null): string {
  if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) throw error;
  if (error instanceof Conflict && error.code === "version_conflict") {
    const theirs = now ? ` It is now named “${hasName(now) ? now.name : now.from}”.` : "";
    return `Someone else changed this customer meanwhile.${theirs} Your text is kept below: ` +
      "save again to replace theirs.";
  }
  if (error instanceof Invalid && error.fields.name) return "A name has 1 to 100 characters.";
  if (error instanceof Invalid && error.fields.about) return "About has at most 2,000 characters.";
  return error.message;
}

/**
 * Saves the panel's form (rule 36) and answers it: htmx gets the panel in place (and, after a
 * rename, `renamed` for the page heading), a plain form a redirect to `back` with a flash. A
 * refused edit without htmx draws the whole page again through `page`, the typed text kept.
 */
export async function saveCustomerForm(
  c: Context,
  desk: Desk,
  agent: Agent,
  customerId: string,
  form: Record<string, string>,
  opts: {
    back: string;
    panel: (pane: PaneState) => Promise<CustomerPanelProps | null>;
    page: (pane: PaneState, status: 400 | 409) => Promise<Response>;
    renamed?: (name: string) => unknown;
  },
): Promise<Response> {
  const before = await customerProfile(desk, agent, customerId);
  let pane: PaneState;
  try {
    const saved = await updateCustomer(desk, agent, customerId, customerEdit(form, before));
    pane = { customerSaved: true };
    if (!isHtmx(c)) {
      const flash: Flash = { kind: "ok", text: `Customer ${saved.name} saved.` };
      return redirectWithFlash(c, opts.back, flash);
    }
  } catch (error) {
    const now = error instanceof Conflict
      ? await customerProfile(desk, agent, customerId).catch(() => null)
      : before;
    pane = {
      customerDraft: { name: form.name ?? "", about: formText(form.about) },
      customerError: customerRefusal(error, now),
    };
    if (!isHtmx(c)) return await opts.page(pane, error instanceof Conflict ? 409 : 400);
  }
  const panel = await opts.panel(pane);
  if (!panel) throw new NotFound("Customer");
  const heading = pane.customerSaved && opts.renamed
    ? opts.renamed(hasName(panel.profile) ? panel.profile.name : panel.profile.from)
    : null;
  // htmx swaps 2xx answers only: a refusal comes back as 200 with its message in the panel.
  return c.html(
    <>
      <CustomerPanel {...panel} />
      {heading}
    </>,
  );
}

/** Whether this agent may add a note to the ticket (rule 35: closed ones are for staff). */
export const mayNoteTicket = (agent: Agent, ticket: Ticket): boolean =>
  ticket.status === "unassigned" || ticket.status === "assigned" || isStaff(agent);
