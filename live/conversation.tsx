/**
 * What is live beside an open ticket or chat: its thread (rule 29: messages and their delivery
 * marks, fragment "conversation" on a ticket, "messages" on a chat) and its internal notes (rule
 * 35, fragment "notes"). Ticket and chat pages draw the same parts when they load, so a page that
 * is current gets nothing when its stream connects. Each renders only for an agent who may still
 * read the ticket or chat (rule 23).
 */
import type { Child, FC } from "hono/jsx";
import { messageAccess } from "../domain/access.ts";
import { listAgents } from "../domain/agents.ts";
import { type ChatHistory, chatHistory } from "../domain/chats.ts";
import type { Desk } from "../domain/desk.ts";
import { DeskError, NotFound } from "../domain/errors.ts";
import { chatNotes, readChat, ticketNotes } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import { readTicket, ticketMessages } from "../domain/tickets.ts";
import { displayName } from "../domain/customer_names.ts";
import { keys } from "../domain/keys.ts";
import type { Agent, Customer, Message, Note, Ticket } from "../domain/types.ts";
import { fnv1a } from "../views/assets.ts";
import { ChatMessages, ChatName } from "../views/chats.tsx";
import { type NoteListProps, NotesLive } from "../views/notes.tsx";
import {
  conversationPollUrl,
  DetailName,
  foldQuery,
  type ListQueue,
  openingFold,
  type ThreadProps,
  TicketConversation,
} from "../views/tickets.tsx";
import { type LivePart, type LiveParts, rendered, type Share, unshared } from "./parts.ts";

/** What notes, threads and the customer panel show beside a conversation: names, time zone. */
export interface AsideBasics {
  names: Map<string, string>;
  timeZone?: string;
}

/** The business time zone: threads, notes and the panel show their times in it (labelled). */
export async function businessTimeZone(kv: Deno.Kv): Promise<string> {
  return (await getSettings(kv)).hours.timeZone;
}

/** Agent names and the business time zone, read once per wave (`share`). */
export async function asideBasics(
  kv: Deno.Kv,
  share: Share = unshared,
): Promise<Required<AsideBasics>> {
  const [agents, timeZone] = await Promise.all([
    share("agents", () => listAgents(kv)),
    share("timeZone", () => businessTimeZone(kv)),
  ]);
  return { names: new Map(agents.map((a) => [a.id, a.name])), timeZone };
}

// ---- Rule 29: the thread and its marks ---------------------------------------------------------

/**
 * A thread fragment, its version (its hash without the poller) and its poller's address; its
 * `thread.fold` is the fold the page keeps (rule 56), which its stream and poller are given.
 */
export interface ThreadPart {
  thread: ThreadProps & { fold: string | null };
  html: string;
  version: string;
  /** Empty: no poller (nothing more is written in an ended chat). */
  pollUrl: string;
}

/** Failed messages this agent may Retry (rule 29; who may is decided in domain/access.ts). */
async function retryable(desk: Desk, agent: Agent, messages: Message[]): Promise<Set<string>> {
  const failed = messages.filter((m) => m.direction === "out" && m.delivery?.status === "failed");
  const access = await Promise.all(
    failed.map((m) => messageAccess(desk, agent, m, m.customerId ?? null)),
  );
  return new Set(failed.filter((_, i) => access[i].retry).map((m) => m.id));
}

/**
 * A thread as this agent sees it, drawn by `Thread` (whose poller asks `pollUrl(version)`):
 * its messages, their authors, what it may Retry at `retryBase`, the business time zone.
 */
async function threadPart(
  desk: Desk,
  agent: Agent,
  messages: Message[],
  opts: {
    retryBase: string;
    Thread: FC<ThreadProps & { pollUrl: string }>;
    pollUrl: (version: string, fold: string | null) => string;
    share: Share;
    /** Rule 56: the page's fold (`foldThread`); left out, the page is opening and folds now. */
    fold?: string | null;
    /**
     * Rule 54: the page's heading with the customer's name now, sent out of band with every
     * live or polled thread (a rename elsewhere reaches the open page); part of the version.
     */
    heading?: Promise<Child>;
  },
): Promise<ThreadPart> {
  const [basics, ids, heading] = await Promise.all([
    asideBasics(desk.kv, opts.share),
    retryable(desk, agent, messages),
    opts.heading ? opts.heading.then(rendered) : "",
  ]);
  const fold = opts.fold === undefined ? openingFold(messages) : opts.fold;
  const thread = {
    messages,
    names: basics.names,
    me: agent.id,
    retry: { base: opts.retryBase, ids },
    timeZone: basics.timeZone,
    fold,
  };
  const { Thread } = opts;
  const version = fnv1a(await rendered(<Thread {...thread} pollUrl="" />) + heading);
  const pollUrl = opts.pollUrl(version, fold);
  return {
    thread,
    version,
    pollUrl,
    html: await rendered(<Thread {...thread} pollUrl={pollUrl} />) + heading,
  };
}

/** How a thread is drawn: shared reads (a live wave's), and the page's fold (rule 56). */
export interface ThreadOptions {
  share?: Share;
  fold?: string | null;
}

/** A ticket's thread (fragment "conversation") as this agent sees it in `queue`. */
export async function ticketThread(
  desk: Desk,
  agent: Agent,
  queue: ListQueue,
  ticket: Ticket,
  { share = unshared, fold }: ThreadOptions = {},
): Promise<ThreadPart> {
  const messages = await share(`messages|${ticket.id}`, () => ticketMessages(desk.kv, ticket));
  return await threadPart(desk, agent, messages, {
    retryBase: `/tickets/${ticket.id}/messages`,
    Thread: TicketConversation,
    pollUrl: (version, fold) => conversationPollUrl(queue, ticket.id, version, fold),
    share,
    fold,
    heading: Promise.resolve(<DetailName name={displayName(ticket)} oob />),
  });
}

/** The open ticket's thread, or null once this agent may no longer read the ticket (rule 23). */
export async function openTicketThread(
  desk: Desk,
  agent: Agent,
  queue: ListQueue,
  id: string,
  options: ThreadOptions = {},
): Promise<ThreadPart | null> {
  const ticket = await readTicket(desk.kv, agent, id).catch(notFoundAs(null));
  return ticket && await ticketThread(desk, agent, queue, ticket, options);
}

/**
 * A chat's thread (fragment "messages") with what `chatHistory` found, or null once this agent
 * may no longer read the chat. An ended chat's has no poller (the stream still moves its marks).
 */
export async function chatThread(
  desk: Desk,
  agent: Agent,
  id: string,
  { share = unshared, fold }: ThreadOptions = {},
): Promise<(ThreadPart & { found: ChatHistory }) | null> {
  const found = await chatHistory(desk, agent, id).catch(notFoundAs(null));
  if (!found) return null;
  const customer = desk.kv.get<Customer>(keys.customer(found.chat.customerId));
  const part = await threadPart(desk, agent, found.messages, {
    retryBase: `/chats/${id}/messages`,
    Thread: ChatMessages,
    pollUrl: (version, fold) =>
      found.ended ? "" : `/chats/${id}?part=messages&v=${version}&${foldQuery(fold)}`,
    share,
    fold,
    heading: customer.then((e) => e.value ? <ChatName name={displayName(e.value)} oob /> : ""),
  });
  return { ...part, found };
}

/** A 404 becomes `value`; anything else still throws. */
const notFoundAs = <T,>(value: T) => (error: unknown): T => {
  if (error instanceof NotFound) return value;
  throw error;
};

/**
 * The open ticket's or chat's thread, live: a delivery mark re-renders only this part. `fold`:
 * the page's (its stream's `fold=`, rule 56).
 */
export function threadLivePart(
  subject: { kind: "ticket"; queue: ListQueue } | { kind: "chat" },
  id: string,
  fold?: string | null,
): LivePart {
  return {
    on: ["tickets", "chats", "delivery"],
    async render({ desk, agent, share }): Promise<LiveParts | null> {
      if (subject.kind === "ticket") {
        const part = await openTicketThread(desk, agent, subject.queue, id, { share, fold });
        return part && { parts: { conversation: part.html }, version: part.version };
      }
      const part = await chatThread(desk, agent, id, { share, fold });
      return part && { parts: { messages: part.html }, version: part.version };
    },
  };
}

// ---- Rule 35: the notes ------------------------------------------------------------------------

/** The notes' live fragment (`NotesLive`) and its version, the one the page is drawn with too. */
export async function notesFragment(
  list: NoteListProps,
): Promise<{ html: string; version: string }> {
  const html = await rendered(<NotesLive {...list} />);
  return { html, version: fnv1a(html) };
}

/**
 * The open ticket's or chat's notes as a live part (fragment "notes"): a note anyone adds reaches
 * every page showing that ticket or chat within the stream's wake-up, and only agents who may
 * read it (rule 23: `readTicket`, `readChat`); nothing else on the page is drawn for it. A
 * ticket's notes also change when a conversation joins it (rules 5, 6), a ticket change.
 */
export function notesLivePart(kind: "ticket" | "chat", id: string): LivePart {
  return {
    on: kind === "ticket" ? ["notes", "tickets"] : ["notes"],
    async render({ desk, agent, share }) {
      let notes: Note[];
      try {
        if (kind === "ticket") {
          const ticket = await readTicket(desk.kv, agent, id);
          notes = await share(`notes|ticket|${id}`, () => ticketNotes(desk.kv, ticket));
        } else {
          await readChat(desk, agent, id);
          notes = await share(`notes|chat|${id}`, () => chatNotes(desk.kv, id));
        }
      } catch (error) {
        // Not (or no longer) this agent's to read, or a chat that ended: nothing is sent.
        if (error instanceof DeskError) return null;
        throw error;
      }
      const basics = await asideBasics(desk.kv, share);
      const list = { notes, names: basics.names, me: agent.id, timeZone: basics.timeZone };
      const { html, version } = await notesFragment(list);
      return { parts: { notes: html }, version };
    },
  };
}
