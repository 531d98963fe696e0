/**
 * Shared pieces of the engine benchmarks (bench/engine_report.ts, bench/engine_bench.ts):
 * a file-backed desk in a temp dir, customer scripts for POST /api/inbound, fast seeding of
 * tickets straight into KV, timing statistics, and a KV wrapper that counts and times calls.
 */
import { ManualClock } from "../domain/clock.ts";
import { Courier } from "../domain/delivery.ts";
import { parseConfig, providerConfig } from "../domain/config.ts";
import { writeConversation } from "../domain/conversations.ts";
import type { Desk } from "../domain/desk.ts";
import { customerIdFor, newId } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import { closedTicket, linkConversation, newTicket, writeTicket } from "../domain/tickets.ts";
import type { Agent, Channel, Conversation, Customer, Message, Ticket } from "../domain/types.ts";
import { createApp } from "../routes/app.ts";
import { commitInBatches } from "./batched_commits.ts";

export const INBOUND_TOKEN = "bench-inbound-token-0123456789abcdef";
/** A Wednesday, 20:00 UTC: closed under the default hours, so every new conversation asks YES/NO. */
export const CLOSED_TIME = Date.parse("2026-11-25T20:00:00Z");
export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

export interface BenchDesk {
  dir: string;
  path: string;
  kv: Deno.Kv;
  clock: ManualClock;
  desk: Desk;
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

/** A desk on a fresh SQLite file in a temp dir; `close()` removes the dir. */
export async function fileDesk(at = CLOSED_TIME, wrap?: (kv: Deno.Kv) => Deno.Kv) {
  const dir = await Deno.makeTempDir({ prefix: "chatdesk-bench-" });
  const path = `${dir}/kv.sqlite3`;
  const raw = await Deno.openKv(path);
  const kv = wrap ? wrap(raw) : raw;
  const clock = new ManualClock(at);
  const desk: Desk = { kv, clock };
  const config = parseConfig({
    CHATDESK_KV_PATH: path,
    CHATDESK_ADMIN_EMAIL: "admin@bench.local",
    CHATDESK_INBOUND_TOKEN: INBOUND_TOKEN,
    CHATDESK_CLOCK: "manual",
  });
  const app = createApp({
    desk,
    config,
    manualClock: clock,
    inboundToken: INBOUND_TOKEN,
    courier: new Courier(desk, providerConfig(config)),
  });
  return {
    dir,
    path,
    kv,
    clock,
    desk,
    app,
    async close() {
      raw.close();
      await Deno.remove(dir, { recursive: true });
    },
  } satisfies BenchDesk;
}

// ---------------------------------------------------------------- inbound traffic

const CHANNELS: Channel[] = ["whatsapp", "sms", "webchat"];

export interface InboundBody {
  channel: Channel;
  from: string;
  text: string;
  id: string;
}

/**
 * One customer leaving a message out of hours, as providers deliver it: first message (auto-reply
 * and YES/NO prompt), YES (ticket created), two intake messages, //end. Each has a provider id.
 */
/** `run` must be digits (it is part of the phone number). */
export function customerScript(run: string, k: number): InboundBody[] {
  const channel = CHANNELS[k % 3];
  const n = String(k).padStart(7, "0");
  const from = channel === "webchat" ? `visitor-${run}-${n}` : `+2782${run}${n}`;
  const texts = [
    `Hi, my order ${k} has not arrived yet, can someone help?`,
    "YES",
    `It was due on Monday. Order number ${100000 + k}, paid by card.`,
    "Please call me back on this number after 9am.",
    "//end",
  ];
  return texts.map((text, j) => ({ channel, from, text, id: `${run}.${k}.${j}` }));
}

/** Calls POST /api/inbound in-process (`app.request`) or over HTTP (`base` set); checks the answer. */
export function inboundCaller(app: BenchDesk["app"], base?: string) {
  const headers = {
    authorization: `Bearer ${INBOUND_TOKEN}`,
    "content-type": "application/json",
  };
  return async (body: InboundBody): Promise<void> => {
    const init = { method: "POST", headers, body: JSON.stringify(body) };
    const res = base
      ? await fetch(`${base}/api/inbound`, init)
      : await app.request("/api/inbound", init);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`inbound ${res.status}: ${text}`);
  };
}

// ---------------------------------------------------------------- timing

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface Timing {
  latencies: number[];
  n: number;
  totalMs: number;
  perSec: number;
  p50: number;
  p99: number;
  median: number;
}

export function summarize(latencies: number[], totalMs: number): Timing {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    latencies,
    n: sorted.length,
    totalMs,
    perSec: sorted.length / (totalMs / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    median: percentile(sorted, 50),
  };
}

/** Adds up timings of several rounds of one measurement (interleaved with others). */
export function combine(timings: Timing[]): Timing {
  return summarize(
    timings.flatMap((t) => t.latencies),
    timings.reduce((sum, t) => sum + t.totalMs, 0),
  );
}

/** Runs `jobs` with `concurrency` workers pulling from one queue; per-job latency in ms. */
export async function drive<T>(
  jobs: T[][],
  concurrency: number,
  run: (job: T) => Promise<void>,
  onJob?: () => void,
): Promise<Timing> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const sequence = jobs[next++];
      // One customer's messages stay in order, as a provider delivers them.
      for (const job of sequence) {
        onJob?.();
        const t0 = performance.now();
        await run(job);
        latencies.push(performance.now() - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(latencies, performance.now() - start);
}

/** Raw rate of one atomic commit of three `set`s (values sized like a message) on `kv`. */
export async function rawCommits(
  kv: Deno.Kv,
  count: number,
  concurrency: number,
  tag: string,
): Promise<Timing> {
  const value = {
    id: newId(Date.now()),
    text: "x".repeat(120),
    at: Date.now(),
    direction: "in",
    author: "customer",
  };
  const jobs = Array.from({ length: count }, (_, i) => [i]);
  return await drive(jobs, concurrency, async (i) => {
    const res = await kv.atomic()
      .set(["bench_raw", tag, i, "a"], value)
      .set(["bench_raw", tag, i, "b"], value)
      .set(["bench_raw", tag, i, "c"], value)
      .commit();
    if (!res.ok) throw new Error("raw commit failed");
  });
}

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---------------------------------------------------------------- seeding

/** An agent record as the domain functions need it (not stored: no password hashing). */
export function benchAgent(at: number, label: string): Agent {
  return {
    id: newId(at),
    name: `Bench ${label}`,
    email: `${label}@bench.local`,
    role: "agent",
    departments: [],
    status: "offline",
    active: true,
    passwordHash: "",
    createdAt: at,
  };
}

/**
 * A customer and their conversation as inbound leaves them at `at`: ended by default, so the
 * caller can open a ticket on it; `state` and `deadline` make one that a sweep still settles.
 */
export function seededCustomer(
  at: number,
  who: Pick<Customer, "id" | "channel" | "from" | "name">,
  firstText: string,
  conversation: Pick<Partial<Conversation>, "state" | "deadline"> = {},
): { customer: Customer; conversation: Conversation } {
  const customer: Customer = { ...who, createdAt: at, lastInboundAt: at };
  return {
    customer,
    conversation: {
      id: newId(at),
      customerId: customer.id,
      state: conversation.state ?? "ended",
      department: null,
      startedAt: at,
      lastActivityAt: at,
      deadline: conversation.deadline ?? null,
      ticketId: null,
      agentId: null,
      fromTicket: false,
      firstText,
      lastInboundAt: at,
      dueAt: null,
    },
  };
}

/**
 * Seeds tickets `from..to-1` straight into KV (no inbound path), as many per commit as its limits
 * allow (bench/batched_commits.ts): each has its customer, an ended conversation and three
 * messages, like a ticket made by inbound. 80% stay unassigned, 10% assigned to one of `agents`,
 * 10% closed recently (not yet archivable). Ticket i is created at `base + i * 10 ms`, so later
 * seeds are newer.
 */
export async function seedTickets(
  kv: Deno.Kv,
  from: number,
  to: number,
  base: number,
  agents: Agent[],
): Promise<void> {
  await commitInBatches(kv, to - from, async (op, n) => {
    const i = from + n;
    const at = base + i * 10;
    const channel = CHANNELS[i % 3];
    const addr = channel === "webchat" ? `visitor-seed-${i}` : `+2783${String(i).padStart(8, "0")}`;
    const { customer, conversation } = seededCustomer(
      at,
      { id: await customerIdFor(channel, addr), channel, from: addr, name: `Customer ${i}` },
      `Seeded message ${i}: my parcel has not arrived, please help`,
    );
    let ticket: Ticket = newTicket(conversation, customer, at);
    conversation.ticketId = ticket.id;
    const agent = agents[i % agents.length];
    if (i % 10 === 8) {
      ticket = {
        ...ticket,
        status: "assigned",
        assignedTo: agent.id,
        assignedAt: at + MINUTE,
        history: [...ticket.history, { at: at + MINUTE, action: "accepted", by: agent.id }],
      };
    } else if (i % 10 === 9) {
      ticket = closedTicket(
        { ...ticket, status: "assigned", assignedTo: agent.id, assignedAt: at + MINUTE },
        at + 60 * MINUTE,
        agent.id,
        "agent",
      );
    }
    writeTicket(op, null, ticket, at);
    linkConversation(op, ticket.id, conversation.id);
    op.set(keys.customer(customer.id), customer);
    op.set(keys.conversation(customer.id), conversation);
    const texts = [
      conversation.firstText,
      "Would you like to leave a message for the agent? Please respond with YES or NO.",
      "Thank you. Please type your message; send //end when you are done.",
    ];
    texts.forEach((text, j) => {
      const message: Message = {
        id: newId(at + j),
        conversationId: conversation.id,
        direction: j === 0 ? "in" : "out",
        author: j === 0 ? "customer" : "system",
        text,
        at: at + j,
      };
      op.set(keys.message(conversation.id, message.id), message);
    });
  });
}

/**
 * Writes `count` conversations that time out at `deadline` (+i ms): half awaiting_reply (YES/NO
 * unanswered), half leaving_message (intake open on a fresh ticket). Each is what a sweep settles.
 */
export async function seedConversations(
  desk: Desk,
  count: number,
  deadline: number,
  label: string,
): Promise<void> {
  await commitInBatches(desk.kv, count, async (op, i) => {
    const at = deadline - 10 * MINUTE + i;
    const addr = `+2784${label}${String(i).padStart(6, "0")}`;
    const intake = i % 2 === 1;
    const { customer, conversation } = seededCustomer(
      at,
      {
        id: await customerIdFor("whatsapp", addr),
        channel: "whatsapp",
        from: addr,
        name: `Due ${label} ${i}`,
      },
      "Hello, anyone there?",
      { state: intake ? "leaving_message" : "awaiting_reply", deadline: deadline + i },
    );
    if (intake) {
      const ticket = newTicket(conversation, customer, at);
      conversation.ticketId = ticket.id;
      writeTicket(op, null, ticket, at);
      linkConversation(op, ticket.id, conversation.id);
    }
    op.set(keys.customer(customer.id), customer);
    writeConversation(op, null, conversation);
  });
}

// ---------------------------------------------------------------- KV call profile

export interface CallStat {
  calls: number;
  ms: number;
}

/** The first stack frame in domain/ that made a KV call, e.g. "inbound.ts:98 receiveInbound". */
function callSite(): string {
  const stack = new Error().stack?.split("\n") ?? [];
  for (const line of stack) {
    const m = line.match(/at (?:async )?(?:([\w.<>$]+) \()?file:.*\/domain\/([\w_]+\.ts):(\d+)/);
    if (m) return `${m[2]}:${m[3]} ${m[1] ?? ""}`.trim();
  }
  return "?";
}

/**
 * Patches a KV handle in place so every get, getMany, list (time spent in `next`) and commit is
 * counted and timed, per call and per domain call site. The domain code runs unchanged on it.
 */
export function profiledKv(kv: Deno.Kv, options: { sites?: boolean } = {}) {
  const withSites = options.sites ?? true;
  const profile = new Map<string, CallStat>();
  const sites = new Map<string, CallStat>();
  let enabled = false;
  const note = (name: string, site: string, ms: number) => {
    if (!enabled) return;
    for (const [map, key] of [[profile, name], [sites, `${name} @ ${site}`]] as const) {
      const s = map.get(key) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += ms;
      map.set(key, s);
    }
  };
  const timed =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const site = enabled ? callSite() : "";
      const t0 = performance.now();
      try {
        return await fn(...args);
      } finally {
        note(name, site, performance.now() - t0);
      }
    };
  const k = kv as unknown as Record<string, unknown>;
  k.get = timed("get", kv.get.bind(kv));
  k.getMany = timed("getMany", kv.getMany.bind(kv));
  const atomic = kv.atomic.bind(kv);
  /** Mutations and checks per commit, summed (`ms` unused): how big the commits are. */
  const size = { commits: 0, mutations: 0, checks: 0 };
  k.atomic = () => {
    const op = atomic();
    let mutations = 0, checks = 0;
    const o = op as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["set", "delete", "sum", "min", "max", "enqueue"]) {
      const original = o[name].bind(op);
      o[name] = (...args: unknown[]) => {
        mutations++;
        original(...args);
        return op;
      };
    }
    const check = o.check.bind(op);
    o.check = (...args: unknown[]) => {
      checks += args.length;
      check(...args);
      return op;
    };
    const commit = timed("atomic.commit", op.commit.bind(op));
    op.commit = () => {
      if (enabled) {
        size.commits++;
        size.mutations += mutations;
        size.checks += checks;
      }
      return commit();
    };
    return op;
  };
  const list = kv.list.bind(kv);
  k.list = (selector: Deno.KvListSelector, options?: Deno.KvListOptions) => {
    const iter = list(selector, options);
    const site = enabled && withSites ? callSite() : "";
    let first = true;
    const next = iter.next.bind(iter);
    iter.next = async () => {
      const t0 = performance.now();
      const r = await next();
      note(first ? "list (first batch)" : "list (next)", site, performance.now() - t0);
      first = false;
      return r;
    };
    return iter;
  };
  return {
    kv,
    profile,
    sites,
    size,
    /** Clears the totals and starts counting. */
    start() {
      profile.clear();
      sites.clear();
      Object.assign(size, { commits: 0, mutations: 0, checks: 0 });
      enabled = true;
    },
    /** Counts on, keeping the totals so far. */
    resume() {
      enabled = true;
    },
    stop() {
      enabled = false;
    },
  };
}
