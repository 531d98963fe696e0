/** The Tickets tab lists (rules 12, 13, 16, 19, 20): index walks with filters and a scan budget. */
import { listAgents } from "./agents.ts";
import { visibleDepartments } from "./departments.ts";
import { Invalid } from "./errors.ts";
import { keys } from "./keys.ts";
import { getAll, mergeRanges, mergeSelector } from "./kv_util.ts";
import { type Agent, type Channel, CHANNELS, type Ticket } from "./types.ts";
import { DAY, HOUR } from "./clock.ts";

export type Queue = "unassigned" | "assigned" | "closed" | "archived";
export const QUEUES: readonly Queue[] = ["unassigned", "assigned", "closed", "archived"];
export type Age = "1h" | "24h" | "7d" | "older";
export const AGES: Record<Age, string> = {
  "1h": "Under 1 hour",
  "24h": "Under 24 hours",
  "7d": "Under 7 days",
  older: "Older than 7 days",
};

export interface TicketQuery {
  queue: Queue;
  closedByMe?: boolean;
  channel?: Channel;
  department?: string;
  q?: string;
  age?: Age;
  sort?: "newest" | "oldest";
  cursor?: string;
  limit?: number;
  /** Supervisors: whose Assigned queue ("all" for everyone's). */
  agent?: string;
}

export interface TicketPage {
  tickets: Ticket[];
  nextCursor: string | null;
  /** The scan budget ran out before the page filled: say so rather than scan the whole store. */
  truncated: boolean;
}

export const SCAN_BUDGET = 2000;

/** A paging cursor is an id or "closedAt.id": anything longer is not one of ours. */
function cursorOf(params: URLSearchParams): string | undefined {
  const cursor = params.get("cursor") || undefined;
  if (cursor && (cursor.length > 64 || !/^[0-9A-Za-z.]+$/.test(cursor))) {
    throw new Invalid("invalid_query", "cursor is not valid.");
  }
  return cursor;
}

/** A supervisor's "whose Assigned queue": an agent id or "all". */
function agentOf(params: URLSearchParams): string | undefined {
  const agent = params.get("agent") || undefined;
  if (agent && (agent.length > 64 || !/^[0-9A-Za-z]+$/.test(agent))) {
    throw new Invalid("invalid_query", "agent must be an agent id or all.");
  }
  return agent;
}

/** Reads and validates list parameters from a URL query. */
export function parseTicketQuery(params: URLSearchParams): TicketQuery {
  const queue = (params.get("queue") ?? "unassigned") as Queue;
  if (!QUEUES.includes(queue)) {
    throw new Invalid("invalid_query", `queue must be one of ${QUEUES.join(", ")}.`);
  }
  const channel = params.get("channel") || undefined;
  if (channel && !CHANNELS.includes(channel as Channel)) {
    throw new Invalid("invalid_query", `channel must be one of ${CHANNELS.join(", ")}.`);
  }
  const age = params.get("age") || undefined;
  if (age && !(age in AGES)) {
    throw new Invalid("invalid_query", `age must be one of ${Object.keys(AGES).join(", ")}.`);
  }
  const sort = params.get("sort") || undefined;
  if (sort && sort !== "newest" && sort !== "oldest") {
    throw new Invalid("invalid_query", "sort must be newest or oldest.");
  }
  const limitText = params.get("limit");
  const limit = limitText ? Number(limitText) : 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw new Invalid("invalid_query", "limit must be 1 to 200.");
  }
  const q = params.get("q")?.trim() || undefined;
  if (q && q.length > 200) throw new Invalid("invalid_query", "q must be at most 200 characters.");
  return {
    queue,
    closedByMe: params.get("closedByMe") === "1" || params.get("closedByMe") === "true",
    channel: channel as Channel | undefined,
    department: params.get("department") || undefined,
    q,
    age: age as Age | undefined,
    sort: sort as "newest" | "oldest" | undefined,
    cursor: cursorOf(params),
    limit,
    agent: agentOf(params),
  };
}

function matches(t: Ticket, query: TicketQuery, now: number): boolean {
  if (query.channel && t.channel !== query.channel) return false;
  if (query.department && (t.department ?? "none") !== query.department) return false;
  if (query.age) {
    const age = now - t.createdAt;
    if (query.age === "1h" && age >= HOUR) return false;
    if (query.age === "24h" && age >= DAY) return false;
    if (query.age === "7d" && age >= 7 * DAY) return false;
    if (query.age === "older" && age < 7 * DAY) return false;
  }
  if (query.q) {
    const needle = query.q.toLowerCase();
    if (![t.name, t.from, t.preview, t.id].some((field) => field.toLowerCase().includes(needle))) {
      return false;
    }
  }
  return true;
}

/**
 * The index ranges a queue's page is listed from, newest first unless sorted oldest first:
 * `visible` is the agent's departments (rule 13), `agents` everyone (a supervisor's "all").
 * Rule 41: a page's read-ahead lists the same ranges while the session is checked.
 */
export function queueRanges(
  agent: Pick<Agent, "id" | "role">,
  query: TicketQuery,
  visible: readonly string[],
  agents: readonly Agent[] = [],
): Deno.KvListSelector[] {
  const reverse = query.sort !== "oldest";
  if (query.queue === "closed") {
    return [
      closedSelector(
        query.closedByMe ? keys.closedBy(agent.id) : keys.closed(),
        reverse,
        query.cursor,
      ),
    ];
  }
  let prefixes: Deno.KvKey[];
  if (query.queue === "unassigned") {
    prefixes = visible.filter((d) => !query.department || d === query.department).map((d) =>
      keys.unassigned(d)
    );
  } else if (query.queue === "assigned") {
    const whose = agent.role !== "agent" && query.agent ? query.agent : agent.id;
    prefixes = whose === "all" ? agents.map((a) => keys.assigned(a.id)) : [keys.assigned(whose)];
  } else {
    prefixes = [keys.archived()];
  }
  const bounds = reverse ? { reverse, end: query.cursor } : { reverse, start: query.cursor };
  return prefixes.map((prefix) => mergeSelector(prefix, bounds));
}

/** Lists one queue for the agent, newest first unless sorted oldest first. */
export async function listTickets(
  kv: Deno.Kv,
  agent: Agent,
  query: TicketQuery,
  now: number,
): Promise<TicketPage> {
  const reverse = query.sort !== "oldest";
  const limit = query.limit ?? 50;
  const [visible, agents] = await Promise.all([
    query.queue === "unassigned" ? visibleDepartments(kv, agent) : [],
    query.queue === "assigned" && agent.role !== "agent" && query.agent === "all"
      ? listAgents(kv)
      : [],
  ]);
  const ranges = queueRanges(agent, query, visible, agents);
  const ids = query.queue === "closed"
    ? closedPairs(kv, ranges[0], reverse, query.cursor)
    : idPairs(mergeRanges<string>(kv, ranges, reverse), query.cursor);
  const tickets: Ticket[] = [];
  let scanned = 0;
  let lastCursor: string | null = null;
  let lastSeen: string | null = null;
  let batch: [string, string][] = [];
  let walkedAll = true;
  const flush = async () => {
    const entries = await getAll<Ticket>(kv, batch.map(([, id]) => keys.ticket(id)));
    for (let i = 0; i < entries.length && tickets.length < limit; i++) {
      const t = entries[i].value;
      lastCursor = batch[i][0];
      if (t && t.status === query.queue && matches(t, query, now)) tickets.push(t);
    }
    batch = [];
  };
  for await (const pair of ids) {
    batch.push(pair);
    lastSeen = pair[0];
    scanned++;
    // Read tickets a page at a time (the first batch is the page itself when no filter drops any).
    if (batch.length === Math.min(limit, 50)) await flush();
    if (tickets.length >= limit || scanned >= SCAN_BUDGET) {
      walkedAll = false;
      break;
    }
  }
  if (batch.length) await flush();
  const done = walkedAll && lastCursor === lastSeen;
  return {
    tickets,
    nextCursor: done ? null : lastCursor,
    truncated: !done && tickets.length < limit,
  };
}

async function* idPairs(source: AsyncIterable<[Deno.KvKeyPart, string]>, cursor?: string) {
  for await (const [id, value] of source) {
    if (id === cursor) continue;
    yield [String(id), value] as [string, string];
  }
}

/** The Closed index from its newest (or oldest) entry, past a "closedAt.id" cursor. */
function closedSelector(
  prefix: Deno.KvKey,
  reverse: boolean,
  cursor?: string,
): Deno.KvListSelector {
  if (!cursor) return { prefix };
  const [at, id] = cursor.split(".");
  const bound = [...prefix, Number(at), id ?? ""];
  if (!Number.isFinite(Number(at))) throw new Invalid("invalid_query", "cursor is not valid.");
  return reverse ? { prefix, end: bound } : { prefix, start: bound };
}

async function* closedPairs(
  kv: Deno.Kv,
  selector: Deno.KvListSelector,
  reverse: boolean,
  cursor?: string,
) {
  for await (const entry of kv.list<string>(selector, { reverse, batchSize: 50 })) {
    const key = entry.key;
    const c = `${String(key[key.length - 2])}.${String(key[key.length - 1])}`;
    if (c === cursor) continue;
    yield [c, entry.value] as [string, string];
  }
}
