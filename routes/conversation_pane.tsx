/**
 * What the ticket and chat pages share around a conversation (rules 29, 34–36): the aside beside
 * the thread (internal notes and the customer panel, with its data and its edit), canned replies
 * inserted without JavaScript, the server's refusal of a reply with an unfilled placeholder, a
 * message's Retry, the thread's poller, and the words for refused notes and edits. Routes never
 * import each other; both page modules use this one, for a ticket or a chat alike (a
 * `PaneSubject`). What of it is live (thread, notes) comes from live/conversation.tsx.
 */
import type { Context } from "hono";
import { canReadTicket, canSeeChat, isStaff } from "../domain/access.ts";
import {
  renderCannedReply,
  type ReplyContext,
  unfilledPlaceholders,
} from "../domain/canned_replies.ts";
import type { Chat } from "../domain/chats.ts";
import { HOUR } from "../domain/clock.ts";
import { isCurrent } from "../domain/conversations.ts";
import {
  type CustomerChatRow,
  customerChats,
  type CustomerProfile,
  customerProfile,
  type CustomerTicketRow,
  updateCustomer,
} from "../domain/customer_profile.ts";
import { visibleDepartments } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { Conflict, DeskError, Invalid, NotFound } from "../domain/errors.ts";
import { keys } from "../domain/keys.ts";
import { retryMessage } from "../domain/message_retry.ts";
import { chatNotes, readChat, ticketNotes } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import type { Agent, Channel, Conversation, Ticket } from "../domain/types.ts";
import {
  type AsideBasics,
  asideBasics,
  notesFragment,
  type ThreadPart,
} from "../live/conversation.tsx";
import { type Flash, FlashMessage } from "../views/components.tsx";
import {
  customerName,
  CustomerPanel,
  type CustomerPanelProps,
  hasName,
} from "../views/customer_panel.tsx";
import { RETRY_QUEUED, retryRefusal } from "../views/delivery.tsx";
import { type NotesProps, NotesSection } from "../views/notes.tsx";
import { foldOf } from "../views/tickets.tsx";
import { formOf, isHtmx, redirectWithFlash } from "./page_auth.ts";

/** What the pane is beside: a ticket, or a chat (its id and customer are all it needs). */
export type PaneSubject =
  | { kind: "ticket"; ticket: Ticket }
  | { kind: "chat"; chat: Pick<Chat, "id" | "customerId"> };

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
  form: { text?: string; canned?: string },
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
function noteRefusal(error: unknown): string {
  if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) throw error;
  if (error instanceof Invalid) return "Write a note of 1 to 4,096 characters.";
  return error.message;
}

// ---- Rule 36: the customer panel, its data and its edit ---------------------------------------

/** Where this agent opens each of a customer's tickets (rule 23); null where it may not. */
async function ticketLinks(
  desk: Desk,
  agent: Agent,
  rows: CustomerTicketRow[],
): Promise<(row: CustomerTicketRow) => string | null> {
  const open = rows.filter((r) => r.status === "unassigned" || r.status === "assigned");
  const [tickets, visible] = await Promise.all([
    desk.kv.getMany<Ticket[]>([...new Set(open.map((r) => r.id))].map((id) => keys.ticket(id))),
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
 * Where this agent opens the customer's current chat (rule 23: a pending one of its departments
 * is taken from the list, its own live one opens); null for ended chats, which the panel links to
 * their read-only page by their own `readable` flag.
 */
async function chatLinks(
  desk: Desk,
  agent: Agent,
  customerId: string,
): Promise<(row: CustomerChatRow) => string | null> {
  const [entry, visible] = await Promise.all([
    desk.kv.get<Conversation>(keys.conversation(customerId)),
    visibleDepartments(desk.kv, agent),
  ]);
  const chat = entry.value;
  const mayOpen = !!chat && isCurrent(chat, desk.clock.now()) && canSeeChat(agent, chat, visible);
  return (row) => {
    if (!mayOpen || row.id !== chat.id || row.state === "ended") return null;
    return row.state === "pending" ? "/chats" : `/chats/${row.id}`;
  };
}

/**
 * The customer panel for this agent (rule 36), or null when it may not see the customer (rule
 * 23): the profile with its tickets and chats, and where each opens.
 */
async function customerPanelProps(
  desk: Desk,
  agent: Agent,
  customerId: string,
  opts: {
    action: string;
    names: Map<string, string>;
    timeZone: string;
    level: 2 | 3;
    currentTicketId?: string;
    /** The chat the page shows: marked, and not linked to again. */
    currentChatId?: string;
    pane?: PaneState;
  },
): Promise<CustomerPanelProps | null> {
  let profile: CustomerProfile;
  let chats: Awaited<ReturnType<typeof customerChats>>;
  try {
    [profile, chats] = await Promise.all([
      customerProfile(desk, agent, customerId),
      customerChats(desk, agent, customerId),
    ]);
  } catch (error) {
    if (error instanceof NotFound) return null;
    throw error;
  }
  const chatTickets = chats.chats.flatMap((c) => c.ticket ? [c.ticket] : []);
  const [ticketHref, chatHref] = await Promise.all([
    ticketLinks(desk, agent, [...profile.tickets, ...chatTickets]),
    chatLinks(desk, agent, customerId),
  ]);
  return {
    profile,
    names: opts.names,
    me: agent.id,
    action: opts.action,
    ticketHref,
    currentTicketId: opts.currentTicketId,
    chats: chats.chats,
    moreChats: chats.more,
    chatHref: (row) => row.id === opts.currentChatId ? null : chatHref(row),
    currentChatId: opts.currentChatId,
    timeZone: opts.timeZone,
    level: opts.level,
    draft: opts.pane?.customerDraft,
    error: opts.pane?.customerError,
    saved: opts.pane?.customerSaved,
  };
}

/** The customer panel beside a ticket or a chat (rule 36), or null when the agent may not see it. */
export function subjectPanel(
  desk: Desk,
  agent: Agent,
  subject: PaneSubject,
  basics: AsideBasics,
  pane: PaneState = {},
): Promise<CustomerPanelProps | null> {
  const common = { names: basics.names, timeZone: basics.timeZone ?? "UTC", pane };
  return subject.kind === "ticket"
    ? customerPanelProps(desk, agent, subject.ticket.customerId, {
      ...common,
      action: `/tickets/${subject.ticket.id}/customer`,
      level: 2,
      currentTicketId: subject.ticket.id,
    })
    : customerPanelProps(desk, agent, subject.chat.customerId, {
      ...common,
      action: `/chats/${subject.chat.id}/customer`,
      level: 3,
      currentChatId: subject.chat.id,
    });
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
    const theirs = now ? ` It is now named “${customerName(now)}”.` : "";
    return `Someone else changed this customer meanwhile.${theirs} Your text is kept below: ` +
      "save again to replace theirs.";
  }
  if (error instanceof Invalid && error.fields.name) return "A name has 1 to 100 characters.";
  if (error instanceof Invalid && error.fields.about) return "About has at most 2,000 characters.";
  return error.message;
}

/**
 * Adds a note from the notes form (rule 35) and answers it: htmx gets the notes section in place
 * (a draft reply stays), a plain form a redirect to `back` with a flash, or, when refused, the
 * whole page again through `page` with the typed note kept. `subject`, `back` and `page` are read
 * only on the path that needs them.
 */
export async function saveNoteForm(
  c: Context,
  desk: Desk,
  agent: Agent,
  opts: {
    add: (text: string) => Promise<unknown>;
    subject: () => Promise<PaneSubject>;
    back: () => Promise<string>;
    page: (pane: PaneState, status: 400) => Promise<Response>;
  },
): Promise<Response> {
  const text = formText((await formOf(c)).note);
  let pane: PaneState;
  try {
    await opts.add(text);
    pane = { noteAdded: true };
  } catch (error) {
    pane = { noteDraft: text, noteError: noteRefusal(error) };
  }
  if (!isHtmx(c)) {
    if (pane.noteError) return await opts.page(pane, 400);
    return redirectWithFlash(c, `${await opts.back()}#notes`, {
      kind: "ok",
      text: "Note added: only staff see it.",
    });
  }
  const subject = await opts.subject();
  const basics = await asideBasics(desk.kv);
  return c.html(await subjectNotesSection(desk, agent, subject, basics, pane));
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
    ? opts.renamed(customerName(panel.profile))
    : null;
  // htmx swaps 2xx answers only: a refusal comes back as 200 with its message in the panel.
  return c.html(
    <>
      <CustomerPanel {...panel} />
      {heading}
    </>,
  );
}

// ---- Rule 35: the notes beside a ticket or chat, live for everyone who may read them ----------

/**
 * Rule 35: the notes section's data: the notes, and the form for who may add one (an open
 * ticket's readers, closed ones' supervisors and admins; a chat's while it is still going).
 */
export async function subjectNotes(
  desk: Desk,
  agent: Agent,
  subject: PaneSubject,
  basics: AsideBasics,
  pane: PaneState = {},
): Promise<NotesProps> {
  const common = {
    names: basics.names,
    me: agent.id,
    timeZone: basics.timeZone ?? "UTC",
    draft: pane.noteDraft,
    error: pane.noteError,
    added: pane.noteAdded,
  };
  if (subject.kind === "ticket") {
    const { ticket } = subject;
    return {
      ...common,
      notes: await ticketNotes(desk.kv, ticket),
      action: mayNoteTicket(agent, ticket) ? `/tickets/${ticket.id}/notes` : null,
      closedText: "Only supervisors and admins add notes to closed tickets.",
      level: 2,
    };
  }
  const { chat } = subject;
  const [notes, going] = await Promise.all([
    chatNotes(desk.kv, chat.id),
    readChat(desk, agent, chat.id).then(() => true, refusedAs(false)),
  ]);
  return {
    ...common,
    notes,
    action: going ? `/chats/${chat.id}/notes` : null,
    closedText: "This chat has ended: notes go on the customer's ticket now.",
    level: 3,
  };
}

/** A domain refusal (ended, not found) becomes `value`; anything else still throws. */
export const refusedAs = <T,>(value: T) => (error: unknown): T => {
  if (error instanceof DeskError) return value;
  throw error;
};

/** The notes section alone: an htmx note post's answer, in place. */
async function subjectNotesSection(
  desk: Desk,
  agent: Agent,
  subject: PaneSubject,
  basics: AsideBasics,
  pane: PaneState = {},
) {
  return <NotesSection {...await subjectNotes(desk, agent, subject, basics, pane)} />;
}

/** Whether this agent may add a note to the ticket (rule 35: closed ones are for staff). */
const mayNoteTicket = (agent: Agent, ticket: Ticket): boolean =>
  ticket.status === "unassigned" || ticket.status === "assigned" || isStaff(agent);

// ---- Rules 35 and 36 together: the aside ------------------------------------------------------

/**
 * Beside a ticket or chat: its notes (rule 35) and the customer panel (rule 36). `notesVersion`
 * goes into the page's live version (the notes part's place), so a page that is current gets
 * nothing at connect; `name` is the customer's name now (an agent may have changed it).
 */
export async function conversationAside(
  desk: Desk,
  agent: Agent,
  subject: PaneSubject,
  basics: AsideBasics,
  pane: PaneState = {},
) {
  const [notes, panel] = await Promise.all([
    subjectNotes(desk, agent, subject, basics, pane),
    subjectPanel(desk, agent, subject, basics, pane),
  ]);
  return {
    name: panel?.profile.name,
    notesVersion: (await notesFragment(notes)).version,
    element: (
      <>
        <NotesSection {...notes} />
        {panel ? <CustomerPanel {...panel} /> : null}
      </>
    ),
  };
}

// ---- Rules 29 and 34: the thread and the reply box --------------------------------------------

/**
 * A thread's htmx poll (the SSE fallback): 204 while the page has its version (`v`); 286 (htmx
 * stops polling) once the agent may no longer read the ticket or chat.
 */
export function threadPoll(c: Context, part: ThreadPart | null): Response {
  if (!part) return new Response(null, { status: 286 });
  if (c.req.query("v") === part.version) return c.body(null, 204);
  return c.html(part.html);
}

/**
 * Rule 29's Retry: the failed message goes back to the customer's queue, or the refusal is said.
 * htmx gets the flash and `pane()` (the thread, out of band, showing the mark); a plain form a
 * redirect to `back`.
 */
/** Rule 56: the fold a Retry form carries (its thread's), so the thread drawn back keeps it. */
export async function formFold(c: Context): Promise<string | null | undefined> {
  const body = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
  return foldOf(typeof body.fold === "string" ? body.fold : undefined);
}

export async function retryForm(
  c: Context,
  desk: Desk,
  agent: Agent,
  messageId: string,
  opts: { back: string; pane: () => Promise<unknown> },
): Promise<Response> {
  let flash = RETRY_QUEUED;
  try {
    await retryMessage(desk, agent, messageId);
  } catch (error) {
    if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) {
      throw error;
    }
    const settings = await getSettings(desk.kv);
    flash = retryRefusal(error, settings.timeouts.whatsappWindowHours);
  }
  if (!isHtmx(c)) return redirectWithFlash(c, opts.back, flash);
  const pane = await opts.pane();
  return c.html(
    <>
      <FlashMessage flash={flash} />
      {pane}
    </>,
  );
}

/**
 * Rule 34 on a reply form, before anything is sent: Insert adds the filled canned reply to the
 * draft and draws the page again; a text that still holds a placeholder is refused (422), the
 * draft kept. Both first check the agent may still read the ticket or chat (`readable`). Null:
 * the reply may go (a template's parameters are not checked here).
 */
export async function draftAnswer(
  desk: Desk,
  agent: Agent,
  form: { text: string; canned: string; insert: boolean; template?: string },
  context: ReplyContext,
  opts: {
    readable: () => Promise<unknown>;
    page: (pane: PaneState, status: 200 | 400 | 422) => Promise<Response>;
  },
): Promise<Response | null> {
  if (form.insert) {
    await opts.readable();
    const { draft, error } = await insertCanned(desk, agent, form, context);
    return await opts.page({ draft, replyError: error }, error ? 400 : 200);
  }
  const unfilled = form.template ? null : unfilledRefusal(form.text);
  if (!unfilled) return null;
  await opts.readable();
  return await opts.page({ draft: formText(form.text), replyError: unfilled }, 422);
}

/** Rule 18: whether free text may go out now (WhatsApp's window after the last inbound). */
export function replyWindowOpen(
  channel: Channel,
  lastInboundAt: number | undefined,
  windowHours: number,
  now: number,
): boolean {
  return channel !== "whatsapp" || now - (lastInboundAt ?? 0) <= windowHours * HOUR;
}
