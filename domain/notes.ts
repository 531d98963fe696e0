/**
 * Internal notes (rule 35): staff-only, append-only texts on tickets and chats. They are never
 * delivered and never join a customer's thread: they live under their own keys, apart from
 * messages and the outbox. A chat's notes are keyed by its conversation, so they follow that
 * conversation into any ticket it joins; a ticket's own notes are keyed by the ticket.
 */
import { canReadTicket, canSeeChat, isStaff } from "./access.ts";
import { iso } from "./clock.ts";
import { isCurrent } from "./conversations.ts";
import { visibleDepartments } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { Conflict, Forbidden, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { isOpen, ticketConversationIds } from "./tickets.ts";
import type { Agent, Conversation, Note, Ticket } from "./types.ts";
import { asBody, str } from "./validate.ts";

export const NOTE_MAX = 4096;

/** The API shape of a note: `{id, author, text, at}` with an ISO time. */
export function noteJson(note: Note) {
  return { id: note.id, author: note.author, text: note.text, at: iso(note.at) };
}

function parseNoteText(input: unknown): string {
  return str(asBody(input), "text", { max: NOTE_MAX });
}

/**
 * Rule 23: the current (pending or live) chat `chatId`, when the agent may see it: a pending chat
 * of its departments or its own live chat (supervisors and admins: any). An ended chat is a 409
 * for whoever could have seen it, a 404 for everyone else.
 */
export async function readChat(desk: Desk, agent: Agent, chatId: string): Promise<Conversation> {
  return (await readChatEntry(desk, agent, chatId)).chat;
}

async function readChatEntry(
  desk: Desk,
  agent: Agent,
  chatId: string,
): Promise<{ entry: Deno.KvEntryMaybe<Conversation>; chat: Conversation }> {
  const customerId = (await desk.kv.get<string>(keys.chat(chatId))).value;
  if (!customerId) throw new NotFound("Chat");
  const entry = await desk.kv.get<Conversation>(keys.conversation(customerId));
  const chat = entry.value;
  if (!chat || chat.id !== chatId) throw new NotFound("Chat");
  if (!isCurrent(chat, desk.clock.now()) || (chat.state !== "pending" && chat.state !== "live")) {
    if (isStaff(agent) || chat.agentId === agent.id) {
      throw new Conflict("chat_ended", "This chat has ended.");
    }
    throw new NotFound("Chat");
  }
  if (!canSeeChat(agent, chat, await visibleDepartments(desk.kv, agent))) {
    throw new NotFound("Chat");
  }
  return { entry, chat };
}

/**
 * Rule 35: a note on a ticket. Whoever may read an open ticket may add one; on a closed or
 * archived ticket only supervisors and admins (403 for an agent), and an agent that may not read
 * the ticket at all gets 404 (rule 23). Checked against the ticket, so a close that races the
 * note is respected.
 */
export async function addTicketNote(
  desk: Desk,
  agent: Agent,
  ticketId: string,
  input: unknown,
): Promise<Note> {
  const text = parseNoteText(input);
  const visible = await visibleDepartments(desk.kv, agent);
  return await retryCommit(async () => {
    const entry = await desk.kv.get<Ticket>(keys.ticket(ticketId));
    const ticket = entry.value;
    if (!ticket || !canReadTicket(agent, ticket, visible)) throw new NotFound("Ticket");
    if (!isOpen(ticket) && !isStaff(agent)) {
      throw new Forbidden("Only supervisors and admins add notes to closed tickets.");
    }
    const note = newNote(desk, agent, text);
    const key = keys.note("ticket", ticket.id, note.id);
    const op = desk.kv.atomic().check(entry).check({ key, versionstamp: null }).set(key, note)
      .sum(keys.notesChanged(), 1n);
    return (await op.commit()).ok ? note : undefined;
  });
}

/**
 * Rule 35: a note on a pending or live chat the agent may see (rule 23). It is keyed by the chat's
 * conversation, so it shows on any ticket that conversation joins (rule 5's timeout, rule 6).
 */
export async function addChatNote(
  desk: Desk,
  agent: Agent,
  chatId: string,
  input: unknown,
): Promise<Note> {
  const text = parseNoteText(input);
  return await retryCommit(async () => {
    const { entry } = await readChatEntry(desk, agent, chatId);
    const note = newNote(desk, agent, text);
    const key = keys.note("conversation", chatId, note.id);
    const op = desk.kv.atomic().check(entry).check({ key, versionstamp: null }).set(key, note)
      .sum(keys.notesChanged(), 1n);
    return (await op.commit()).ok ? note : undefined;
  });
}

function newNote(desk: Desk, agent: Agent, text: string): Note {
  const at = desk.clock.now();
  return { id: newId(at), author: agent.id, text, at };
}

async function listNotes(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Note[]> {
  const out: Note[] = [];
  for await (const e of kv.list<Note>({ prefix })) out.push(e.value);
  return out;
}

/** Rule 35: a chat's notes (its conversation's), oldest first. */
export function chatNotes(kv: Deno.Kv, chatId: string): Promise<Note[]> {
  return listNotes(kv, keys.notes("conversation", chatId));
}

/** Rule 35: a ticket's own notes and those of every conversation it holds, in time order. */
export async function ticketNotes(kv: Deno.Kv, ticket: Ticket): Promise<Note[]> {
  const lists = await Promise.all([
    listNotes(kv, keys.notes("ticket", ticket.id)),
    ...(await ticketConversationIds(kv, ticket)).map((id) =>
      listNotes(kv, keys.notes("conversation", id))
    ),
  ]);
  // Ids are time-ordered: sorting by id is time order, ties broken the same way every time.
  return lists.flat().sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
