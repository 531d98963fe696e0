/**
 * The customer profile (rule 36): name, the provider's profile name, channel and address, first
 * seen, staff's `about`, and the customer's tickets page by page, plus (for the panel beside a
 * ticket or chat) its chats, current and past. Agents see it only when rule 23 lets them see the
 * customer; tickets and chats are listed even when the agent may not open them.
 */
import { canReadEndedChat, isStaff, maySeeCustomer } from "./access.ts";
import { chatAgentIds, chatAgentsOf } from "./chats.ts";
import { isCurrent } from "./conversations.ts";
import { visibleDepartments } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { idTime } from "./ids.ts";
import { customerState } from "./inbound.ts";
import { keys } from "./keys.ts";
import { getAll, retryCommit } from "./kv_util.ts";
import type { Agent, Conversation, Customer, Message, Ticket, TicketStatus } from "./types.ts";
import { asBody, str } from "./validate.ts";

export const CUSTOMER_TICKETS_PAGE = 50;
export const ABOUT_MAX = 2000;
export const CUSTOMER_NAME_MAX = 100;

export interface CustomerTicketRow {
  id: string;
  status: TicketStatus;
  createdAt: number;
  assignedTo: string | null;
}

export interface CustomerProfile {
  id: string;
  channel: Customer["channel"];
  from: string;
  name: string;
  profileName: string | null;
  about: string;
  firstSeenAt: number;
  conversation: { state: string; chatId?: string };
  openTicketId: string | null;
  /** Newest first, one page. */
  tickets: CustomerTicketRow[];
  /** Pass back for the next (older) page; null on the last page. */
  ticketsCursor: string | null;
  version: number;
  /** Rule 44: when the customer texted STOP (replies are refused until it texts START). */
  optedOutAt: number | null;
}

/** Records written before edits existed have no version: they are at 1. */
export const customerVersion = (c: Customer): number => c.version ?? 1;

const CURSOR = /^[0-9A-Za-z_-]{1,64}$/;

/**
 * Rule 36: the profile of a customer the agent may see (404 otherwise, rule 23), with its tickets
 * newest first, `pageSize` (50) at a time: `cursor` is the previous page's `ticketsCursor`.
 */
export async function customerProfile(
  desk: Desk,
  agent: Agent,
  customerId: string,
  cursor?: string | null,
  pageSize = CUSTOMER_TICKETS_PAGE,
): Promise<CustomerProfile> {
  if (cursor && !CURSOR.test(cursor)) {
    throw new Invalid("invalid_query", "cursor is not one this list gave.", {
      cursor: "Use the ticketsCursor of the previous answer.",
    });
  }
  const prefix = keys.customerTickets(customerId);
  // Read alongside the access check (rule 41); nothing is answered before it passed.
  const listed = Array.fromAsync(desk.kv.list<string>(
    cursor ? { prefix, end: [...prefix, cursor] } : { prefix },
    { reverse: true, limit: pageSize + 1 },
  ));
  const read = listed.then((entries) =>
    getAll<Ticket>(desk.kv, entries.slice(0, pageSize).map((e) => keys.ticket(e.value)))
  );
  read.catch(() => {});
  const [state, may] = await Promise.all([
    customerState(desk, customerId),
    maySeeCustomer(desk, agent, customerId),
  ]);
  // Not found (not forbidden), so ids of customers the agent may not see reveal nothing.
  if (!state || !may) throw new NotFound("Customer");
  const { customer } = state;
  const ids = (await listed).map((e) => e.value);
  const page = ids.slice(0, pageSize);
  const tickets = (await read)
    .map((e) => e.value)
    .filter((t): t is Ticket => t !== null)
    .map(ticketRow);
  return {
    id: customer.id,
    channel: customer.channel,
    from: customer.from,
    name: customer.name,
    profileName: customer.profileName ?? null,
    about: customer.about ?? "",
    firstSeenAt: customer.createdAt,
    conversation: state.conversation,
    openTicketId: state.openTicketId,
    tickets,
    ticketsCursor: ids.length > pageSize ? page[page.length - 1] : null,
    version: customerVersion(customer),
    optedOutAt: customer.optedOutAt ?? null,
  };
}

/** How many chats the panel lists, newest first. */
export const CUSTOMER_CHATS_SHOWN = 10;
/** How many of the customer's latest conversations are looked through for them. */
const CONVERSATIONS_LOOKED_AT = 50;
/** How many messages of a past chat are read for the agents who wrote in it. */
const CHAT_MESSAGES_READ = 100;

export interface CustomerChatRow {
  id: string;
  /** `pending` or `live`: the customer's current chat; `ended`: a past one. */
  state: "pending" | "live" | "ended";
  startedAt: number;
  /** Its newest message (for a past chat, about when it ended). */
  lastMessageAt: number;
  /**
   * A current chat's agent; for a past one, its agent while its record is still the customer's,
   * and the agents who wrote in it (in its first 100 messages: the page reads them all).
   */
  agentIds: string[];
  /** The ticket its messages are part of (rule 5's timeout, rule 6's merge, rule 17's reply). */
  ticket: CustomerTicketRow | null;
  /**
   * Whether this agent may open the chat's page (`/chats/:id`): a current chat's agent, or for a
   * past one `canReadEndedChat` (rule 23); supervisors and admins: always.
   */
  readable: boolean;
}

const ticketRow = (t: Ticket): CustomerTicketRow => ({
  id: t.id,
  status: t.status,
  createdAt: t.createdAt,
  assignedTo: t.assignedTo,
});

/** How many `customer_thread` entries one read of `conversationsNewestFirst` takes. */
export const THREAD_READ = 100;

/**
 * The customer's conversations that have messages, newest first, each with the id of its newest
 * message, from `customer_thread` (every message of the customer, by id). Ids are time-ordered
 * and a customer has one conversation at a time, so the thread reads as whole conversations, one
 * after another: a read takes the newest 100 entries, and the next one jumps below the last
 * conversation it reached, so a long conversation is never read to its start (rule 41: a few
 * reads for the whole walk, not one per conversation).
 */
async function* conversationsNewestFirst(
  kv: Deno.Kv,
  customerId: string,
): AsyncGenerator<[conversationId: string, newestMessageId: string]> {
  const prefix = keys.thread(customerId);
  const seen = new Set<string>();
  let below: string | null = null;
  while (true) {
    const selector: Deno.KvListSelector = below === null
      ? { prefix }
      : { prefix, end: [...prefix, below] };
    const read: Deno.KvEntry<string>[] = await Array.fromAsync(
      kv.list<string>(selector, { reverse: true, limit: THREAD_READ }),
    );
    for (const entry of read) {
      const conversationId = entry.value;
      if (seen.has(conversationId)) continue;
      seen.add(conversationId);
      yield [conversationId, String(entry.key[entry.key.length - 1])];
    }
    if (read.length < THREAD_READ) return;
    // Below the last conversation's id, or only below its last message read when that sorts
    // under it (a first message made in the conversation's own millisecond): every read moves down.
    const last: Deno.KvEntry<string> = read[read.length - 1];
    const messageId = String(last.key[last.key.length - 1]);
    below = last.value < messageId ? last.value : messageId;
  }
}

/**
 * The customer's chats for its panel (rule 36, as the shift desk asks): the current pending or
 * live chat and the past ones, newest first, `limit` of them; `more` when there may be older
 * ones. A chat's record is replaced by the customer's next conversation, so past chats are found
 * through the messages the store keeps (`customer_thread`) and told from intake and YES/NO
 * conversations by their `chats` key; the walk stops after 50 conversations. 404 for an agent
 * who may not see the customer (rule 23). Rule 41: the walk, then in one round every candidate's
 * `chats` key and ticket link with the newest candidates' first messages and agents, then the
 * chats' tickets.
 */
export async function customerChats(
  desk: Desk,
  agent: Agent,
  customerId: string,
  limit = CUSTOMER_CHATS_SHOWN,
): Promise<{ chats: CustomerChatRow[]; more: boolean }> {
  const { kv } = desk;
  // The access check runs alongside the reads (rule 41); nothing is answered before it passed.
  const may = maySeeCustomer(desk, agent, customerId);
  may.catch(() => {});
  const [currentEntry, walked, visible] = await Promise.all([
    kv.get<Conversation>(keys.conversation(customerId)),
    walkConversations(kv, customerId),
    isStaff(agent) ? [] : visibleDepartments(kv, agent),
  ]);
  const current = currentEntry.value;
  const live = current && isCurrent(current, desk.clock.now()) &&
      (current.state === "pending" || current.state === "live")
    ? current
    : null;
  // Conversation id → its newest message id.
  const newest = new Map(walked.conversations);
  const candidates = [
    ...live ? [live.id] : [],
    ...walked.conversations.map(([id]) => id).filter((id) => id !== live?.id),
  ];
  // A past chat's first messages and agents: read with the `chats` keys for the newest
  // candidates (most are chats), later only for a shown chat beyond them.
  const details = new Map<string, Promise<[Message[], string[]]>>();
  const detail = (id: string) => {
    let read = details.get(id);
    if (!read) details.set(id, read = pastChat(kv, id));
    return read;
  };
  for (const id of candidates.slice(0, limit)) if (id !== live?.id) detail(id).catch(() => {});
  const [pointers, links] = await Promise.all([
    getAll<string>(kv, candidates.map((id) => keys.chat(id))),
    getAll<string>(kv, candidates.map((id) => keys.conversationTicket(id))),
  ]);
  if (!(await may)) throw new NotFound("Customer");
  const chatIds = candidates.filter((_, i) => pointers[i].value === customerId);
  const shown = chatIds.slice(0, limit);
  const linkOf = new Map(candidates.map((id, i) => [id, links[i].value]));
  const ticketIds = [...new Set(shown.flatMap((id) => linkOf.get(id) ?? []))];
  const [tickets, pasts] = await Promise.all([
    getAll<Ticket>(kv, ticketIds.map((id) => keys.ticket(id))),
    Promise.all(shown.map((id) => live?.id === id ? null : detail(id))),
  ]);
  const ticketById = new Map(
    tickets.flatMap((e) => e.value ? [[e.value.id, e.value] as const] : []),
  );
  const chats = shown.map((id, i): CustomerChatRow => {
    const ticketId = linkOf.get(id);
    const ticket = ticketId ? ticketById.get(ticketId) ?? null : null;
    const last = newest.get(id);
    const past = pasts[i];
    if (!past) {
      return {
        id,
        state: live!.state as "pending" | "live",
        startedAt: live!.startedAt,
        lastMessageAt: last ? idTime(last) : live!.lastActivityAt,
        agentIds: live!.agentId ? [live!.agentId] : [],
        ticket: ticket && ticketRow(ticket),
        readable: isStaff(agent) || live!.agentId === agent.id,
      };
    }
    // An ended chat whose record is still the customer's names its agent even if it never wrote.
    const record = current?.id === id ? current : null;
    const [messages, liveWith] = past;
    const agentIds = chatAgentIds(record, messages, liveWith);
    return {
      id,
      state: "ended",
      startedAt: idTime(id),
      lastMessageAt: last ? idTime(last) : idTime(id),
      agentIds,
      ticket: ticket && ticketRow(ticket),
      readable: canReadEndedChat(agent, agentIds, ticket, visible),
    };
  });
  return { chats, more: chatIds.length > limit || !walked.complete };
}

/** The customer's latest conversations (up to 50), and whether that was all of them. */
async function walkConversations(kv: Deno.Kv, customerId: string) {
  const conversations: [string, string][] = [];
  for await (const found of conversationsNewestFirst(kv, customerId)) {
    conversations.push(found);
    if (conversations.length === CONVERSATIONS_LOOKED_AT) return { conversations, complete: false };
  }
  return { conversations, complete: true };
}

/** A past chat's first messages and the agents it went live with. */
function pastChat(kv: Deno.Kv, chatId: string): Promise<[Message[], string[]]> {
  return Promise.all([firstMessages(kv, chatId), chatAgentsOf(kv, chatId)]);
}

/** A chat's first messages, where the agents who wrote in it are looked for. */
async function firstMessages(kv: Deno.Kv, chatId: string): Promise<Message[]> {
  const messages = kv.list<Message>({ prefix: keys.messages(chatId) }, {
    limit: CHAT_MESSAGES_READ,
  });
  return (await Array.fromAsync(messages)).map((e) => e.value);
}

interface CustomerEdit {
  name?: string;
  about?: string;
  ifVersion?: number;
}

function parseCustomerEdit(input: unknown): CustomerEdit {
  const body = asBody(input);
  const edit: CustomerEdit = {};
  if (body.name !== undefined) {
    edit.name = str(body, "name", { max: CUSTOMER_NAME_MAX, line: true }).trim();
  }
  if (body.about !== undefined) {
    if (body.about !== null && typeof body.about !== "string") {
      throw new Invalid("invalid_field", '"about" must be text.', { about: "Must be text." });
    }
    const about = body.about ?? "";
    if (about.length > ABOUT_MAX) {
      throw new Invalid("invalid_field", `"about" must have at most ${ABOUT_MAX} characters.`, {
        about: `At most ${ABOUT_MAX} characters.`,
      });
    }
    edit.about = about;
  }
  if (body.ifVersion !== undefined && body.ifVersion !== null) {
    if (typeof body.ifVersion !== "number" || !Number.isInteger(body.ifVersion)) {
      throw new Invalid("invalid_field", '"ifVersion" must be the version you read.', {
        ifVersion: "A whole number.",
      });
    }
    edit.ifVersion = body.ifVersion;
  }
  return edit;
}

/**
 * Rule 36: staff who may see the customer edit its name (1–100) and `about` (≤ 2,000). Every
 * change bumps `version`; a stale `ifVersion` is a 409 `version_conflict`. A name an agent
 * changed wins over the provider's from then on (`nameSetByAgent`, see `renamedCustomer`), and
 * rule 54 carries it to the customer's tickets (`renameTickets`) and to open pages at once.
 */
export async function updateCustomer(
  desk: Desk,
  agent: Agent,
  customerId: string,
  input: unknown,
): Promise<Customer> {
  const edit = parseCustomerEdit(input);
  if (!(await maySeeCustomer(desk, agent, customerId))) throw new NotFound("Customer");
  const [updated, renamed] = await retryCommit(
    async (): Promise<[Customer, boolean] | undefined> => {
      const entry = await desk.kv.get<Customer>(keys.customer(customerId));
      const customer = entry.value;
      if (!customer) throw new NotFound("Customer");
      const version = customerVersion(customer);
      if (edit.ifVersion !== undefined && edit.ifVersion !== version) {
        throw new Conflict(
          "version_conflict",
          `The customer changed meanwhile (version ${version}, not ${edit.ifVersion}); reload it.`,
        );
      }
      let next = customer;
      if (edit.name !== undefined && edit.name !== customer.name) {
        next = { ...next, name: edit.name, nameSetByAgent: true };
      }
      if (edit.about !== undefined && edit.about !== (customer.about ?? "")) {
        next = { ...next, about: edit.about };
      }
      if (next === customer) return [customer, false];
      next = { ...next, version: version + 1 };
      const op = desk.kv.atomic().check(entry).set(entry.key, next);
      if (next.name !== customer.name) {
        // Rule 54: a message in flight that read the old name (and may file a ticket under it)
        // checks the conversation record: rewriting it unchanged makes that message read again.
        const conversation = await desk.kv.get<Conversation>(keys.conversation(customerId));
        if (conversation.value) op.check(conversation).set(conversation.key, conversation.value);
        // Open lists and chat rows redraw with the new name (rule 54: live on open pages).
        op.sum(keys.ticketsChanged(), 1n).sum(keys.chatsChanged(), 1n);
      }
      return (await op.commit()).ok ? [next, next.name !== customer.name] : undefined;
    },
  );
  if (renamed) await renameTickets(desk.kv, customerId);
  return updated;
}

/** Tickets renamed per commit: with the customer's check, 10 checks (denokv's limit, rule 41). */
const RENAME_BATCH = 9;

/**
 * Rule 54: every ticket of the customer (open, closed and archived) carries its current name, so
 * list rows, search, notices and transcripts say it. Batches of nine tickets, each commit
 * checking the customer (a rename meanwhile starts the walk again with the newer name).
 */
export async function renameTickets(kv: Deno.Kv, customerId: string): Promise<number> {
  const ids: string[] = [];
  for await (const e of kv.list<string>({ prefix: keys.customerTickets(customerId) })) {
    ids.push(e.value);
  }
  let renamed = 0;
  for (let i = 0; i < ids.length; i += RENAME_BATCH) {
    const batch = ids.slice(i, i + RENAME_BATCH).map((id) => keys.ticket(id));
    renamed += await retryCommit(async () => {
      const [customer, ...tickets] = await kv.getMany<[Customer, ...Ticket[]]>([
        keys.customer(customerId),
        ...batch,
      ]);
      const name = customer.value?.name;
      if (name === undefined) return 0;
      const stale = tickets.filter((t) => t.value && t.value.name !== name);
      if (!stale.length) return 0;
      const op = kv.atomic().check(customer, ...stale);
      for (const t of stale) op.set(t.key, { ...t.value!, name });
      op.sum(keys.ticketsChanged(), 1n);
      return (await op.commit()).ok ? stale.length : undefined;
    });
  }
  return renamed;
}

/**
 * Rule 36: indexes existing tickets by customer (tickets written before the index existed). A
 * one-time migration (migrations.ts), in batches of 100 tickets: one read round and one commit
 * each. Idempotent: the pointer is the same whoever writes it, so only missing entries are
 * written and no check is needed. Returns how many it wrote.
 */
export async function indexCustomerTickets(kv: Deno.Kv): Promise<number> {
  let written = 0;
  let batch: Ticket[] = [];
  const flush = async () => {
    const entries = await getAll<string>(
      kv,
      batch.map((t) => keys.customerTicket(t.customerId, t.id)),
    );
    const missing = batch.filter((_, i) => entries[i].versionstamp === null);
    if (missing.length) {
      await retryCommit(async () => {
        const op = kv.atomic();
        for (const t of missing) op.set(keys.customerTicket(t.customerId, t.id), t.id);
        return (await op.commit()).ok || undefined;
      });
    }
    written += missing.length;
    batch = [];
  };
  for await (const { value } of kv.list<Ticket>({ prefix: keys.tickets() }, { batchSize: 500 })) {
    batch.push(value);
    if (batch.length === 100) await flush();
  }
  if (batch.length) await flush();
  return written;
}
