/**
 * Rule 32: what reaches an agent's desk by someone else's hand, and the notices of rule 7.
 * New tickets are read from the "created" stat events writeTicket already writes; a ticket sent
 * back to Unassigned or reassigned to an agent leaves an entry in the work feed; a ticket that
 * rule 7 closes under its agent leaves that agent a notice. All are written by writeTicket, in
 * the commit that changes the ticket, so no path can forget one.
 */
import { displayName } from "./customer_names.ts";
import { isStaff } from "./access.ts";
import { keys, NO_DEPARTMENT } from "./keys.ts";
import { getAll } from "./kv_util.ts";
import type { Agent, Ticket } from "./types.ts";

/** Feed entries and notices are garbage after this (the stream reads only the last seconds). */
const FEED_KEEP_MS = 24 * 3600_000;
const NOTICE_KEEP_MS = 30 * 24 * 3600_000;
/** A notice list is read whole; more than this waiting is shown as the newest ones. */
const NOTICES_MAX = 20;

interface FeedEntry {
  kind: "unassigned" | "assigned";
  /** The agent it was reassigned to ("assigned"). */
  agentId: string | null;
  /** Who moved it (a supervisor or admin). */
  by: string | null;
}

/** A rule 7 close of one of the agent's tickets, until its desk shows it. */
export interface Notice {
  ticketId: string;
  /** The customer as the agent knows it (name, else address). */
  customer: string;
  at: number;
}

/**
 * Written by writeTicket for every change: a ticket sent back to Unassigned or reassigned to an
 * agent goes to the work feed; a rule 7 close of an assigned ticket leaves its agent a notice.
 * New tickets, accepts, merges and ordinary closes write nothing here.
 */
export function noteWork(
  op: Deno.AtomicOperation,
  before: Ticket | null,
  after: Ticket,
  now: number,
) {
  if (!before) return;
  const event = after.history[after.history.length - 1];
  const moved = event?.action === "reassigned" && event.at === now;
  if (moved && after.status === "unassigned" && before.status !== "unassigned") {
    const entry: FeedEntry = { kind: "unassigned", agentId: null, by: event.by };
    op.set(keys.workFeed(now, after.id, after.history.length), entry, { expireIn: FEED_KEEP_MS });
  } else if (moved && after.status === "assigned" && after.assignedTo !== before.assignedTo) {
    const entry: FeedEntry = { kind: "assigned", agentId: after.assignedTo, by: event.by };
    op.set(keys.workFeed(now, after.id, after.history.length), entry, { expireIn: FEED_KEEP_MS });
  }
  if (
    before.status === "assigned" && before.assignedTo && after.status === "closed" &&
    after.closeReason === "live_chat"
  ) {
    const notice: Notice = { ticketId: after.id, customer: displayName(after), at: now };
    op.set(keys.agentNotice(before.assignedTo, now, after.id), notice, {
      expireIn: NOTICE_KEEP_MS,
    });
    op.sum(keys.noticesChanged(), 1n);
  }
}

/** A ticket that came to someone's desk: new, sent back, or reassigned. */
export interface Arrival {
  /** Unique per arrival (the stream remembers which it has handled). */
  key: string;
  at: number;
  kind: "created" | "unassigned" | "assigned";
  ticket: Ticket;
  agentId: string | null;
  by: string | null;
}

/** Arrivals at or after `since` (desk time), oldest first, with their tickets as they are now. */
export async function arrivalsSince(kv: Deno.Kv, since: number): Promise<Arrival[]> {
  const found: (Omit<Arrival, "ticket"> & { ticketId: string })[] = [];
  const created = keys.statEvents("created");
  for await (const e of kv.list({ start: [...created, since], end: [...created, Infinity] })) {
    const [, , at, ticketId] = e.key as [string, string, number, string];
    found.push({
      key: `c|${at}|${ticketId}`,
      at,
      ticketId,
      kind: "created",
      agentId: null,
      by: null,
    });
  }
  const feed = keys.workFeed();
  for await (
    const e of kv.list<FeedEntry>({ start: [...feed, since], end: [...feed, Infinity] })
  ) {
    const [, at, ticketId, change] = e.key as [string, number, string, number];
    found.push({ key: `f|${at}|${ticketId}|${change}`, at, ticketId, ...e.value });
  }
  if (!found.length) return [];
  const tickets = await getAll<Ticket>(kv, found.map((f) => keys.ticket(f.ticketId)));
  return found
    .flatMap(({ ticketId: _, ...f }, i) => {
      const ticket = tickets[i].value;
      return ticket ? [{ ...f, ticket }] : [];
    })
    .sort((a, b) => a.at - b.at);
}

/**
 * Rule 32: whether an arrival is announced to this agent: a ticket newly in its Unassigned list
 * (created, or sent back, and still waiting) or one reassigned to it (and still its); never its
 * own doing. `visible`: the agent's departments (domain/departments.ts).
 */
export function announcedTo(agent: Agent, visible: readonly string[], arrival: Arrival): boolean {
  if (arrival.by === agent.id) return false;
  const t = arrival.ticket;
  if (arrival.kind === "assigned") {
    return arrival.agentId === agent.id && t.status === "assigned" && t.assignedTo === agent.id;
  }
  return t.status === "unassigned" &&
    (isStaff(agent) || visible.includes(t.department ?? NO_DEPARTMENT));
}

/** Checks in one commit: the self-hosted KV Connect server (denokv) allows 10 (rule 41). */
const CHECKS_PER_COMMIT = 10;

/**
 * Rule 32: the agent's notices not shown yet, newest last; they are removed as they are read, so
 * a desk shows each once (live, or at the next page load). A concurrent reader that removed them
 * first shows them instead. They are removed ten to a commit (rule 41), the commits side by side:
 * each notice is still shown by exactly one reader, the one whose commit removed it, since every
 * commit checks each notice it removes; racing readers may each show a part.
 */
export async function takeNotices(kv: Deno.Kv, agentId: string): Promise<Notice[]> {
  const entries: Deno.KvEntry<Notice>[] = [];
  for await (
    const e of kv.list<Notice>({ prefix: keys.agentNotices(agentId) }, {
      reverse: true,
      limit: NOTICES_MAX,
    })
  ) {
    entries.push(e);
  }
  if (!entries.length) return [];
  const chunks: Deno.KvEntry<Notice>[][] = [];
  for (let i = 0; i < entries.length; i += CHECKS_PER_COMMIT) {
    chunks.push(entries.slice(i, i + CHECKS_PER_COMMIT));
  }
  const taken = await Promise.all(chunks.map(async (chunk) => {
    const op = kv.atomic();
    for (const e of chunk) op.check(e).delete(e.key);
    return (await op.commit()).ok ? chunk : [];
  }));
  return taken.flat().map((e) => e.value).reverse();
}
