/** Tickets: create-or-merge (rule 6), accept (14), quick accept (15), close (19), reassign (11). */
import { canReadTicket, isStaff } from "./access.ts";
import { noteWork } from "./alerts.ts";
import { visibleDepartments } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { Conflict, Forbidden, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys, MINUS_ONE, NO_DEPARTMENT } from "./keys.ts";
import { bump, getAll, mergeLists, retryCommit } from "./kv_util.ts";
import type {
  Agent,
  CloseReason,
  Conversation,
  Customer,
  Message,
  Ticket,
  TicketEvent,
} from "./types.ts";

/** Events kept on a ticket record: the first and the latest ones (values must stay < 64 KiB). */
export const HISTORY_LIMIT = 200;

/** Appends an event; a ticket that has lived very long keeps its creation and its latest events. */
export function withEvent(history: TicketEvent[], event: TicketEvent): TicketEvent[] {
  const next = [...history, event];
  return next.length <= HISTORY_LIMIT
    ? next
    : [next[0], ...next.slice(next.length - HISTORY_LIMIT + 1)];
}

export const isOpen = (t: Ticket): boolean => t.status === "unassigned" || t.status === "assigned";
const dept = (t: { department: string | null }): string => t.department ?? NO_DEPARTMENT;

/** The index entries a ticket in its current state has; each holds only the ticket id. */
function indexKeys(t: Ticket): Deno.KvKey[] {
  switch (t.status) {
    case "unassigned":
      return [keys.unassigned(dept(t), t.id), keys.openTicketByCustomer(t.customerId)];
    case "assigned":
      return [keys.assigned(t.assignedTo!, t.id), keys.openTicketByCustomer(t.customerId)];
    case "closed":
      return [
        keys.closed(t.closedAt!, t.id),
        ...(t.closedBy ? [keys.closedBy(t.closedBy, t.closedAt!, t.id)] : []),
      ];
    case "archived":
      return [keys.archived(t.id)];
  }
}

/**
 * Writes a ticket and derives every index, counter and queue-changed bump from the change, so
 * no write path can forget one. `before` is null for a new ticket.
 */
export function writeTicket(
  op: Deno.AtomicOperation,
  before: Ticket | null,
  after: Ticket,
  now: number,
) {
  op.set(keys.ticket(after.id), after);
  const oldKeys = before ? indexKeys(before) : [];
  const newKeys = indexKeys(after);
  const same = (a: Deno.KvKey, b: Deno.KvKey) =>
    a.length === b.length && a.every((p, i) => p === b[i]);
  for (const key of oldKeys) if (!newKeys.some((k) => same(k, key))) op.delete(key);
  for (const key of newKeys) if (!oldKeys.some((k) => same(k, key))) op.set(key, after.id);

  const wasUnassigned = before?.status === "unassigned" ? dept(before) : null;
  const isUnassigned = after.status === "unassigned" ? dept(after) : null;
  if (wasUnassigned !== isUnassigned) {
    if (wasUnassigned) {
      op.sum(keys.count("unassigned", wasUnassigned), MINUS_ONE).sum(
        keys.queueChanged(wasUnassigned),
        1n,
      );
    }
    if (isUnassigned) {
      op.sum(keys.count("unassigned", isUnassigned), 1n).sum(keys.queueChanged(isUnassigned), 1n);
    }
  }
  const wasAssigned = before?.status === "assigned" ? before.assignedTo : null;
  const isAssigned = after.status === "assigned" ? after.assignedTo : null;
  if (wasAssigned !== isAssigned) {
    if (wasAssigned) op.sum(keys.countAssigned(wasAssigned), MINUS_ONE);
    if (isAssigned) op.sum(keys.countAssigned(isAssigned), 1n);
  }
  const wasClosed = before?.status === "closed", isClosed = after.status === "closed";
  if (wasClosed !== isClosed) op.sum(keys.countClosed(), isClosed ? 1n : MINUS_ONE);
  bump(op, keys.ticketsChanged());
  // Rule 32: sent back, reassigned, or closed by rule 7 under its agent.
  noteWork(op, before, after, now);

  const statDays = { expireIn: 9 * 24 * 3600_000 };
  if (!before) {
    op.set(keys.customerTicket(after.customerId, after.id), after.id);
    op.set(keys.statEvent("created", now, after.id), 0, statDays);
    op.sum(keys.quarterCreated(Math.floor(now / 900_000) * 900_000), 1n);
  }
  if (
    before?.status === "unassigned" && after.status === "assigned" &&
    before.history.every((e) => e.action !== "accepted")
  ) {
    op.set(
      keys.statEvent("accepted", now, after.id),
      Math.round((now - after.createdAt) / 1000),
      statDays,
    );
  }
  if (before && before.status !== "closed" && after.status === "closed") {
    op.set(keys.statEvent("closed", now, after.id), 0, statDays);
  }
}

/** A new unassigned ticket holding one conversation. */
export function newTicket(conversation: Conversation, customer: Customer, now: number): Ticket {
  return {
    id: newId(now),
    customerId: customer.id,
    channel: customer.channel,
    from: customer.from,
    name: customer.name,
    department: conversation.department,
    status: "unassigned",
    createdAt: now,
    lastMessageAt: now,
    assignedTo: null,
    assignedAt: null,
    closedBy: null,
    closedAt: null,
    closeReason: null,
    archivedAt: null,
    preview: conversation.firstText,
    history: [{ at: now, action: "created", by: null }],
  };
}

/** Adds a conversation's messages to a ticket, in the caller's commit. */
export function linkConversation(
  op: Deno.AtomicOperation,
  ticketId: string,
  conversationId: string,
) {
  op.set(keys.ticketConversation(ticketId, conversationId), conversationId);
  op.set(keys.conversationTicket(conversationId), ticketId);
}

/**
 * Rules 5 and 6: a conversation becomes a ticket, or, when the customer has an open one, joins it
 * instead of making a second. Written in the caller's commit, which must check the open-ticket
 * pointer and the existing ticket it read.
 */
export function fileConversation(
  op: Deno.AtomicOperation,
  existing: Ticket | null,
  conversation: Conversation,
  customer: Customer,
  at: number,
): Ticket {
  const ticket = existing
    ? {
      ...existing,
      lastMessageAt: at,
      history: withEvent(existing.history, { at, action: "merged" as const, by: null }),
    }
    : newTicket(conversation, customer, at);
  writeTicket(op, existing, ticket, at);
  linkConversation(op, ticket.id, conversation.id);
  return ticket;
}

/** The ids of a ticket's conversations, oldest first (ids are time-ordered). */
export async function ticketConversationIds(kv: Deno.Kv, ticket: Ticket): Promise<string[]> {
  // Tickets stored before the link keys kept the list on the record.
  const ids = new Set((ticket as { conversationIds?: string[] }).conversationIds ?? []);
  for await (const e of kv.list<string>({ prefix: keys.ticketConversations(ticket.id) })) {
    ids.add(e.value);
  }
  return [...ids].sort();
}

/** Rule 7 and 19: the closed ticket (the caller commits it with writeTicket). */
export function closedTicket(
  ticket: Ticket,
  now: number,
  by: string | null,
  reason: CloseReason,
): Ticket {
  return {
    ...ticket,
    status: "closed",
    closedAt: now,
    closedBy: by,
    closeReason: reason,
    history: withEvent(ticket.history, { at: now, action: "closed", by, to: reason }),
  };
}

/** A conversation that wrote into an open ticket ends: the ticket's lastMessageAt catches up. */
export async function catchUpLastMessage(
  kv: Deno.Kv,
  op: Deno.AtomicOperation,
  conversation: Conversation,
  openTicketId: string | null,
  at: number,
) {
  if (!conversation.ticketId || conversation.ticketId !== openTicketId) return;
  const entry = await kv.get<Ticket>(keys.ticket(conversation.ticketId));
  const ticket = entry.value;
  if (ticket && ticket.lastMessageAt < conversation.lastActivityAt) {
    op.check(entry);
    writeTicket(op, ticket, { ...ticket, lastMessageAt: conversation.lastActivityAt }, at);
  }
}

export async function getTicket(kv: Deno.Kv, id: string): Promise<Ticket> {
  const entry = await kv.get<Ticket>(keys.ticket(id));
  if (!entry.value) throw new NotFound("Ticket");
  return entry.value;
}

/** Reads a ticket the agent may see, or 404 (not 403, so ids of others' tickets reveal nothing). */
export async function readTicket(kv: Deno.Kv, agent: Agent, id: string): Promise<Ticket> {
  const ticket = await getTicket(kv, id);
  if (!canReadTicket(agent, ticket, await visibleDepartments(kv, agent))) {
    throw new NotFound("Ticket");
  }
  return ticket;
}

/** All messages of a ticket's conversations, in order (the conversations are listed together). */
export async function ticketMessages(kv: Deno.Kv, ticket: Ticket): Promise<Message[]> {
  const lists = await Promise.all(
    (await ticketConversationIds(kv, ticket)).map((conversationId) =>
      Array.fromAsync(kv.list<Message>({ prefix: keys.messages(conversationId) }))
    ),
  );
  return lists.flat().map((entry) => entry.value);
}

/** Rule 14: assigns one unassigned ticket the agent may see; a lost race is a 409. */
export async function acceptTicket(desk: Desk, agent: Agent, id: string): Promise<Ticket> {
  const visible = await visibleDepartments(desk.kv, agent);
  const result = await tryAccept(desk, agent, id, visible);
  if (result === "taken") {
    throw new Conflict("ticket_taken", "Another agent accepted this ticket first.");
  }
  if (result === "closed") throw new Conflict("ticket_closed", "This ticket is closed.");
  if (result === "hidden") throw new NotFound("Ticket");
  return result;
}

async function tryAccept(
  desk: Desk,
  agent: Agent,
  id: string,
  visible: string[],
  /** The ticket as already read, for the first try (a lost check reads it again). */
  first?: Deno.KvEntryMaybe<Ticket>,
): Promise<Ticket | "taken" | "closed" | "hidden"> {
  let read = first;
  return await retryCommit(async () => {
    const entry = read ?? await desk.kv.get<Ticket>(keys.ticket(id));
    read = undefined;
    const ticket = entry.value;
    // A ticket outside the agent's departments is not found, whatever its state (rule 13).
    if (!ticket || (!isStaff(agent) && !visible.includes(dept(ticket)))) return "hidden" as const;
    if (ticket.status === "assigned") return "taken" as const;
    if (ticket.status !== "unassigned") return "closed" as const;
    const now = desk.clock.now();
    const accepted: Ticket = {
      ...ticket,
      status: "assigned",
      assignedTo: agent.id,
      assignedAt: now,
      history: withEvent(ticket.history, { at: now, action: "accepted", by: agent.id }),
    };
    const op = desk.kv.atomic().check(entry);
    writeTicket(op, ticket, accepted, now);
    // A failed check means another agent won: re-read, which then answers "taken".
    return (await op.commit()).ok ? accepted : undefined;
  });
}

export const QUICK_ACCEPT_MAX = 100;

/**
 * Rule 15: assigns the N oldest unassigned tickets the agent may see, whatever the list's filters.
 * Each ticket is its own checked commit, so racing quick accepts never assign one ticket twice;
 * a ticket lost to another agent is skipped and the walk goes on to the next oldest. The tickets
 * still wanted are read in one round and committed side by side (rule 41: a Quick Accept of 10
 * is a handful of round trips, not two per ticket).
 */
export async function quickAccept(desk: Desk, agent: Agent, count: number): Promise<string[]> {
  const visible = await visibleDepartments(desk.kv, agent);
  const accepted: string[] = [];
  if (count < 1) return accepted;
  const prefixes = visible.map((d) => keys.unassigned(d));
  const oldest = mergeLists<string>(desk.kv, prefixes, { batchSize: Math.min(count + 5, 200) })
    [Symbol.asyncIterator]();
  let walked = false;
  while (!walked && accepted.length < count) {
    // The next oldest, as many as are still wanted (the list reads ahead count + 5 at a time).
    const ids: string[] = [];
    while (ids.length < count - accepted.length) {
      const next = await oldest.next();
      if (next.done) {
        walked = true;
        break;
      }
      ids.push(next.value[1]);
    }
    const entries = await getAll<Ticket>(desk.kv, ids.map((id) => keys.ticket(id)));
    const results = await Promise.all(
      ids.map((id, i) => tryAccept(desk, agent, id, visible, entries[i])),
    );
    for (const result of results) if (typeof result === "object") accepted.push(result.id);
  }
  return accepted;
}

/** How many unassigned tickets this agent may see (rule 15 offers buttons up to this). */
export async function unassignedCount(kv: Deno.Kv, agent: Agent): Promise<number> {
  return countUnassigned(kv, await visibleDepartments(kv, agent));
}

/** Unassigned tickets in these departments, from the maintained counters (no scan). */
export async function countUnassigned(kv: Deno.Kv, departments: string[]): Promise<number> {
  const entries = await getAll<Deno.KvU64>(kv, departments.map((d) => keys.count("unassigned", d)));
  return entries.reduce((sum, e) => sum + Number(e.value?.value ?? 0n), 0);
}

/** Tickets in the Closed tab (closed, not yet archived). */
export async function closedCount(kv: Deno.Kv): Promise<number> {
  const entry = await kv.get<Deno.KvU64>(keys.countClosed());
  return Number(entry.value?.value ?? 0n);
}

export async function assignedCount(kv: Deno.Kv, agentId: string): Promise<number> {
  const entry = await kv.get<Deno.KvU64>(keys.countAssigned(agentId));
  return Number(entry.value?.value ?? 0n);
}

/** Rule 19: an agent closes its own assigned tickets; supervisors and admins close any open one. */
export async function closeTicket(desk: Desk, agent: Agent, id: string): Promise<Ticket> {
  return await retryCommit(async () => {
    const entry = await desk.kv.get<Ticket>(keys.ticket(id));
    const ticket = entry.value;
    if (!ticket) throw new NotFound("Ticket");
    const own = ticket.status === "assigned" && ticket.assignedTo === agent.id;
    if (!isStaff(agent) && !own) {
      if (ticket.status === "unassigned") {
        const visible = await visibleDepartments(desk.kv, agent);
        if (!visible.includes(dept(ticket))) throw new NotFound("Ticket");
        throw new Forbidden("Accept the ticket before closing it.");
      }
      if (ticket.status === "assigned") throw new NotFound("Ticket");
    }
    if (!isOpen(ticket)) throw new Conflict("ticket_closed", "This ticket is closed already.");
    const now = desk.clock.now();
    const closed = closedTicket(ticket, now, agent.id, own ? "agent" : "admin");
    const op = desk.kv.atomic().check(entry);
    writeTicket(op, ticket, closed, now);
    return (await op.commit()).ok ? closed : undefined;
  });
}

/** Rule 11: only supervisors move a ticket to another agent or back to Unassigned; it is logged. */
export async function reassignTicket(
  desk: Desk,
  by: Agent,
  id: string,
  agentId: string | null,
): Promise<Ticket> {
  if (!isStaff(by)) throw new Forbidden("Agents cannot transfer tickets.");
  if (agentId !== null) {
    const target = await desk.kv.get<Agent>(keys.agent(agentId));
    if (!target.value || !target.value.active) throw new NotFound("Agent");
  }
  return await retryCommit(async () => {
    const entry = await desk.kv.get<Ticket>(keys.ticket(id));
    const ticket = entry.value;
    if (!ticket) throw new NotFound("Ticket");
    if (!isOpen(ticket)) {
      throw new Conflict("ticket_closed", "A closed ticket cannot be reassigned.");
    }
    if (ticket.assignedTo === agentId) return ticket;
    const now = desk.clock.now();
    const next: Ticket = {
      ...ticket,
      status: agentId ? "assigned" : "unassigned",
      assignedTo: agentId,
      assignedAt: agentId ? now : null,
      history: withEvent(ticket.history, {
        at: now,
        action: "reassigned",
        by: by.id,
        from: ticket.assignedTo,
        to: agentId,
      }),
    };
    const op = desk.kv.atomic().check(entry);
    writeTicket(op, ticket, next, now);
    return (await op.commit()).ok ? next : undefined;
  });
}

/** Rule 10: archives tickets closed at least `archiveAfterMs` ago; cost follows how many are due. */
export async function archiveClosed(
  desk: Desk,
  archiveAfterMs: number,
  limit = 500,
): Promise<number> {
  const cutoff = desk.clock.now() - archiveAfterMs;
  let archived = 0;
  const due = desk.kv.list<string>({ prefix: keys.closed(), end: [...keys.closed(), cutoff + 1] }, {
    limit,
  });
  for await (const index of due) {
    // One ticket's failure is logged and must not stop the others (the next sweep retries it).
    const done = await retryCommit(async () => {
      const entry = await desk.kv.get<Ticket>(keys.ticket(index.value));
      const ticket = entry.value;
      if (!ticket || ticket.status !== "closed" || ticket.closedAt! > cutoff) {
        // Archived meanwhile by another sweep, or a stale entry: drop it if it is still there.
        await desk.kv.atomic().check(index).delete(index.key).commit();
        return false;
      }
      // Archived at the moment its age came due, so a late sweep records what an on-time one
      // would (rule 21).
      const at = ticket.closedAt! + archiveAfterMs;
      const next: Ticket = {
        ...ticket,
        status: "archived",
        archivedAt: at,
        history: withEvent(ticket.history, { at, action: "archived", by: null }),
      };
      const op = desk.kv.atomic().check(entry);
      writeTicket(op, ticket, next, at);
      return (await op.commit()).ok ? true : undefined;
    }).catch((error) => {
      console.error(`archive: ticket ${index.value} failed`, error);
      return false;
    });
    if (done) archived++;
  }
  return archived;
}
