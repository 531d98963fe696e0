/**
 * `GET /events`: server-sent events for the live lists (rules 12, 33), the open conversation and
 * its delivery marks (rule 29), its internal notes (rule 35), and on every desk page its counts,
 * announcements and notices (rule 32). One `kv.watch` per process and KV handle, on the "changed"
 * counters every ticket, chat, delivery, notice and note commit bumps, wakes every connected page;
 * each renders only the parts the wave's changes touch (a delivery status re-renders the
 * conversation, a note the notes, neither the lists) and sends what changed since the version the
 * page has: a patch of single rows and counts when the part offers one, else the whole fragments.
 * Pages woken together share the work: one session check per token, one render per agent, page and
 * part, one patch per version pair, and each message is encoded (and compressed) once for every
 * page it goes to. A 2 s poll of the same keys covers writes from other processes, which `kv.watch`
 * does not see on a local file.
 *
 * Each wave's last message carries `id:`, the page's version part by part, so a browser that
 * reconnects (`Last-Event-ID`) gets what it missed, patched when its version is still known.
 * The stream is gzip when the browser accepts it: every message is compressed on its own (a raw
 * deflate block ending in a sync flush), so pages share the compressed bytes and a stream keeps
 * no compressor. A stream holds no timer: the hub's one keepalive tick serves all of them.
 */
import { Hono } from "hono";
import { constants, deflateRawSync } from "node:zlib";
import { announcedTo, type Arrival, arrivalsSince, takeNotices } from "../domain/alerts.ts";
import { type Clock, systemClock } from "../domain/clock.ts";
import { visibleDepartments } from "../domain/departments.ts";
import { keys } from "../domain/keys.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Conversation, Customer } from "../domain/types.ts";
import { NoticeBanner } from "../views/layout.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  type Change,
  CHANGE_KEYS,
  CHANGES,
  deskCounts,
  deskVersion,
  type LiveContext,
  type LivePart,
  type LiveViews,
  liveViews,
} from "./live_views.ts";
import { pageAuth } from "./page_auth.ts";

const WATCHED: Deno.KvKey[] = CHANGES.map((change) => CHANGE_KEYS[change]);
export const POLL_MS = 2000;
const KEEPALIVE_MS = 25_000;
/** A page this far behind in reading is dropped; it reconnects and catches up by its version. */
const BACKLOG_BYTES = 512 * 1024;
/** Arrivals committed out of time order by this much are still announced (once). */
const FEED_OVERLAP_MS = 5_000;
const EVERYTHING: ReadonlySet<Change> = new Set(CHANGES);
/** What the desk's counts, announcements and notices follow. */
const DESK_CHANGES: readonly Change[] = ["tickets", "chats", "notices"];

/**
 * One wake-up of every connected page, for what changed. Work keyed the same within a wave runs
 * once, so pages that show the same thing share it; the next change starts a new wave, so
 * nothing goes stale. `arrivals`: tickets that came to someone's desk (rule 32), read once.
 */
export class Wave {
  #memo = new Map<string, Promise<unknown>>();
  constructor(
    readonly changes: ReadonlySet<Change> = EVERYTHING,
    readonly arrivals: Promise<Arrival[]> | null = null,
  ) {}
  share = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    let found = this.#memo.get(key) as Promise<T> | undefined;
    if (!found) this.#memo.set(key, found = fn());
    return found;
  };
}

interface Listener {
  wave(wave: Wave): void;
  /** The keepalive: one timer in the hub for every stream. */
  tick(): void;
}

/** Pages that connect within this long of each other share their first renders. */
const CONNECT_SHARE_MS = 250;

/** Wakes its subscribers whenever a watched key changes; runs only while someone listens. */
export class QueueHub {
  #listeners = new Set<Listener>();
  #connecting: { wave: Wave; at: number } | null = null;
  #stamps: string[] | null = null;
  #reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** The work feed: read from here (less the overlap); what was announced, by key. */
  #since = 0;
  #startedAt = 0;
  #handled = new Map<string, number>();
  #feed: Promise<unknown> = Promise.resolve();

  constructor(private kv: Deno.Kv, private clock: Clock) {}

  get size(): number {
    return this.#listeners.size;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /**
   * The wave a newly connected page brings itself up to date on. Pages that connect together (a
   * burst of reconnects after a restart) share it; a change starts a new one. A page subscribes
   * before it renders, so a change it might have missed still reaches it as a wave of its own.
   */
  connectWave(): Wave {
    const now = performance.now();
    if (!this.#connecting || now - this.#connecting.at > CONNECT_SHARE_MS) {
      this.#connecting = { wave: new Wave(), at: now };
    }
    return this.#connecting.wave;
  }

  #seen(entries: Deno.KvEntryMaybe<unknown>[]) {
    const stamps = entries.map((e) => e.versionstamp ?? "-");
    const before = this.#stamps;
    this.#stamps = stamps;
    if (before === null) return;
    const changes = new Set(CHANGES.filter((_, i) => stamps[i] !== before[i]));
    if (changes.size === 0) return;
    this.#connecting = null;
    const wave = new Wave(changes, changes.has("tickets") ? this.#arrivals() : null);
    for (const listener of [...this.#listeners]) listener.wave(wave);
  }

  /** Tickets that arrived since the last wave, each once (read in order, one wave at a time). */
  #arrivals(): Promise<Arrival[]> {
    const next = this.#feed.then(async () => {
      const found = await arrivalsSince(this.kv, this.#since - FEED_OVERLAP_MS);
      const fresh = found.filter((a) => a.at >= this.#startedAt && !this.#handled.has(a.key));
      for (const a of fresh) {
        this.#handled.set(a.key, a.at);
        this.#since = Math.max(this.#since, a.at);
      }
      for (const [key, at] of this.#handled) {
        if (at < this.#since - FEED_OVERLAP_MS) this.#handled.delete(key);
      }
      return fresh;
    }).catch(() => [] as Arrival[]);
    this.#feed = next;
    return next;
  }

  #start() {
    this.#since = this.#startedAt = this.clock.now();
    this.#handled.clear();
    const reader = this.kv.watch(WATCHED).getReader();
    this.#reader = reader;
    (async () => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          this.#seen(value);
        }
      } catch (error) {
        // The store closed (tests) or the watch broke: the poll keeps pages current.
        if (this.#reader === reader && !(error instanceof Deno.errors.BadResource)) {
          console.error("kv.watch stopped", error);
        }
      }
    })();
    this.#timers = [
      setInterval(async () => {
        try {
          this.#seen(await this.kv.getMany(WATCHED));
        } catch {
          // Store closed between ticks; the next subscriber restarts us.
        }
      }, POLL_MS),
      setInterval(() => {
        for (const listener of [...this.#listeners]) listener.tick();
      }, KEEPALIVE_MS),
    ];
  }

  #stop() {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    const reader = this.#reader;
    this.#reader = null;
    this.#stamps = null;
    this.#connecting = null;
    reader?.cancel().catch(() => {});
  }
}

// One hub per KV handle (not a global handle): tests with their own stores get their own hub.
const hubs = new WeakMap<Deno.Kv, QueueHub>();
export function hubFor(kv: Deno.Kv, clock: Clock = systemClock): QueueHub {
  let hub = hubs.get(kv);
  if (!hub) hubs.set(kv, hub = new QueueHub(kv, clock));
  return hub;
}

const encoder = new TextEncoder();

/** An SSE message, encoded once for every page it goes to; compressed once, when one wants it. */
class Encoded {
  #gzip: Uint8Array | null = null;
  constructor(readonly raw: Uint8Array) {}
  /** The message as a deflate block of its own, ending in a sync flush (see the header). */
  get gzip(): Uint8Array {
    return this.#gzip ??= deflateRawSync(this.raw, { finishFlush: constants.Z_SYNC_FLUSH });
  }
}

const message = (text: string) => new Encoded(encoder.encode(text));

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** One SSE message, as hono's writeSSE would write it. */
function encodeEvent(event: string, data: string): Encoded {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join("\n");
  return message(`event: ${event}\n${lines}\n\n`);
}

/** A gzip member header (no name, no time); the deflate blocks follow, the trailer never comes. */
const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
// Ask the browser to retry soon after a drop.
const RETRY = message("retry: 2000\n\n");
const KEEPALIVE = message(": keepalive\n\n");
const SIGNED_OUT = encodeEvent("signed-out", "");

const touches = (part: LivePart, changes: ReadonlySet<Change>) =>
  part.on.some((change) => changes.has(change));

/** `views`: the registry of pages (tests may hand in their own). */
export function eventRoutes(deps: AppDeps, views: LiveViews = liveViews): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.get("/", pageAuth(deps), (c) => {
    const params = new URL(c.req.url).searchParams;
    const live = views.find(params.get("view"))?.(params) ?? [];
    // What the page has: its version at load, or the last one this stream sent before a drop.
    const last = c.req.header("last-event-id");
    const have = (last && last.length <= 400 ? last : params.get("v") ?? "").split(".");
    const gzip = /\bgzip\b/i.test(c.req.header("accept-encoding") ?? "");
    const stream = new LiveStream(deps, c.get("token"), params, live, have, gzip);
    const headers: Record<string, string> = {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    };
    if (gzip) Object.assign(headers, { "content-encoding": "gzip", vary: "Accept-Encoding" });
    return new Response(stream.body, { headers });
  });
  return app;
}

/** Waves that came while a refresh ran: the latest, with every change and arrival they bring. */
interface Waiting {
  wave: Wave;
  changes: Set<Change>;
  arrivals: Promise<Arrival[]>[];
}

/**
 * One page's stream. It keeps only what it must: the version it sent of each part (shared
 * strings), the pending chats it last saw (a shared array), and its place in the hub.
 */
class LiveStream {
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #known: string[];
  /** The patch state of each part as last sent (shared objects), when the part has them. */
  #states: unknown[] = [];
  #pending: readonly string[] | null = null;
  #address: string;
  #first = true;
  #running = false;
  #closed = false;
  #waiting: Waiting | null = null;
  #unsubscribe: () => void = () => {};

  constructor(
    private deps: AppDeps,
    private token: string,
    private params: URLSearchParams,
    private live: LivePart[],
    have: string[],
    private gzip: boolean,
  ) {
    // One version per part, then the desk's (rule 32's counts).
    this.#known = Array.from({ length: live.length + 1 }, (_, i) => have[i] ?? "");
    this.#address = new URLSearchParams([...params].filter(([k]) => k !== "v").sort()).toString();
    const { kv, clock } = deps.desk;
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        if (gzip) controller.enqueue(GZIP_HEADER);
        this.#send(RETRY);
        const hub = hubFor(kv, clock);
        this.#unsubscribe = hub.subscribe(this);
        // Bring the page up to date (pages connecting together share the renders).
        this.wave(hub.connectWave());
      },
      // The browser went away (Deno cancels the body when the connection closes).
      cancel: () => this.#close(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
  }

  tick() {
    this.#send(KEEPALIVE);
  }

  wave(wave: Wave) {
    if (this.#closed) return;
    const desk = DESK_CHANGES.some((change) => wave.changes.has(change));
    if (!this.#first && !desk && !this.live.some((part) => touches(part, wave.changes))) return;
    const waiting = this.#waiting ??= { wave, changes: new Set(), arrivals: [] };
    waiting.wave = wave;
    for (const change of wave.changes) waiting.changes.add(change);
    if (wave.arrivals) waiting.arrivals.push(wave.arrivals);
    if (!this.#running) void this.#run();
  }

  /** Sends what changed, one wave at a time. */
  async #run() {
    this.#running = true;
    try {
      while (this.#waiting && !this.#closed) {
        const waiting = this.#waiting;
        this.#waiting = null;
        const out = await this.#refresh(waiting);
        if (out === null) {
          this.#send(SIGNED_OUT);
          this.#close();
          return;
        }
        if (!out.length) continue;
        const id = this.#known.join(".");
        out.push(
          await waiting.wave.share(`id|${id}`, () => Promise.resolve(message(`id: ${id}\n\n`))),
        );
        // One chunk per wave: the browser reads the wave whole.
        this.#send(...out);
      }
    } catch (error) {
      if (!this.#closed) console.error("live refresh failed", error);
    } finally {
      this.#running = false;
    }
  }

  /** The messages this wave brings the page; null when its session has ended. */
  async #refresh({ wave, changes, arrivals }: Waiting): Promise<Encoded[] | null> {
    const { kv, clock } = this.deps.desk;
    // Re-read the agent: a signed-out or re-departmented agent stops seeing old queues.
    const agent = await wave.share(
      `agent|${this.token}`,
      () => authenticate(kv, clock, this.token),
    );
    if (!agent) return null;
    // Gone while waiting: render nothing more for it.
    if (this.#closed) return [];
    const first = this.#first;
    this.#first = false;
    const ctx: LiveContext = { deps: this.deps, agent, params: this.params, share: wave.share };
    const parts = await Promise.all(
      this.live.map((part, i) => this.#part(part, i, ctx, first ? EVERYTHING : changes, wave)),
    );
    const desk = first || DESK_CHANGES.some((c) => changes.has(c))
      ? await this.#desk(ctx, first, changes, arrivals, wave)
      : [];
    return [...parts.flat(), ...desk];
  }

  /** Part `i`: nothing when the page has its version, a patch when it offers one, else whole. */
  async #part(
    part: LivePart,
    i: number,
    ctx: LiveContext,
    changes: ReadonlySet<Change>,
    wave: Wave,
  ): Promise<Encoded[]> {
    if (!touches(part, changes)) return [];
    const key = `${ctx.agent.id}|${this.#address}|${i}`;
    const out = await wave.share(`part|${key}`, () => part.render(ctx));
    if (!out) return [];
    const had = this.#known[i];
    const hadState = this.#states[i];
    this.#states[i] = out.state;
    if (had === out.version) return [];
    this.#known[i] = out.version;
    if (had && out.patch) {
      const patch = await wave.share(`patch|${key}|${had}`, async () => {
        const p = await out.patch!(had, hadState);
        return p && encodeEvent(p.event, p.html);
      });
      if (patch) return [patch];
    }
    return await wave.share(
      `full|${key}`,
      () =>
        Promise.resolve(
          Object.entries(out.parts).map(([event, html]) => encodeEvent(event, html)),
        ),
    );
  }

  /**
   * Rule 32 on every desk page: the counts when they changed, an announcement for each ticket
   * that came to this agent and each new pending chat it may take (none on the first wave: the
   * page was just drawn), and its notices.
   */
  async #desk(
    ctx: LiveContext,
    first: boolean,
    changes: ReadonlySet<Change>,
    arrivals: Promise<Arrival[]>[],
    wave: Wave,
  ): Promise<Encoded[]> {
    const { deps, agent } = ctx;
    const { kv } = deps.desk;
    const out: Encoded[] = [];
    const counts = await deskCounts(deps, agent, wave.share);
    const version = deskVersion(counts);
    const at = this.live.length;
    if (this.#known[at] !== version) {
      this.#known[at] = version;
      out.push(
        await wave.share(`desk|${version}`, () =>
          Promise.resolve(encodeEvent(
            "desk",
            JSON.stringify({ unassigned: counts.unassigned, chats: counts.pending.length }),
          ))),
      );
    }
    const before = this.#pending;
    this.#pending = counts.pending;
    if (!first) {
      if (before && before !== counts.pending) {
        for (const id of counts.pending) {
          if (before.includes(id)) continue;
          const customerId = counts.customers.get(id)!;
          out.push(await wave.share(`chat-alert|${id}`, () => chatAlert(kv, id, customerId)));
        }
      }
      const visible = await wave.share(`visible|${agent.id}`, () => visibleDepartments(kv, agent));
      for (const found of await Promise.all(arrivals)) {
        for (const arrival of found) {
          if (!announcedTo(agent, visible, arrival)) continue;
          out.push(await wave.share(`alert|${arrival.key}`, () => ticketAlert(arrival)));
        }
      }
    }
    if (first || changes.has("notices")) {
      const notices = await wave.share(`notices|${agent.id}`, () => takeNotices(kv, agent.id));
      for (const notice of notices) {
        out.push(
          await wave.share(
            `notice|${notice.ticketId}|${notice.at}`,
            async () => encodeEvent("notice", String(await NoticeBanner({ notice }))),
          ),
        );
      }
    }
    return out;
  }

  #send(...parts: Encoded[]) {
    if (this.#closed) return;
    const bytes = parts.map((part) => this.gzip ? part.gzip : part.raw);
    try {
      this.#controller.enqueue(bytes.length === 1 ? bytes[0] : concat(bytes));
    } catch {
      this.#close();
      return;
    }
    if ((this.#controller.desiredSize ?? 0) < -BACKLOG_BYTES) {
      // The reader stalled: drop the stream rather than queue without end.
      this.#close(new Error("backlog"));
    }
  }

  #close(error?: Error) {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiting = null;
    this.#unsubscribe();
    try {
      if (error) this.#controller.error(error);
      else this.#controller.close();
    } catch {
      // Already cancelled by the browser.
    }
  }
}

/** Rule 32: "a new pending chat it may take", for alerts.js (sound, desktop notification). */
async function chatAlert(kv: Deno.Kv, chatId: string, customerId: string): Promise<Encoded> {
  const [customer, conversation] = await kv.getMany<[Customer, Conversation]>([
    keys.customer(customerId),
    keys.conversation(customerId),
  ]);
  const who = customer.value?.name || customer.value?.from || "A customer";
  const text = conversation.value?.id === chatId ? conversation.value.firstText : "";
  return alertEvent("chat", alertBody(who, text), "/chats");
}

/**
 * Rule 32: a ticket new in the agent's Unassigned list, sent back to it, or reassigned to it.
 * alerts.js words the title from `kind`; the body is short (rule 33 counts these bytes too).
 */
function ticketAlert(arrival: Arrival): Promise<Encoded> {
  const t = arrival.ticket;
  const kind = arrival.kind === "assigned"
    ? "assigned"
    : arrival.kind === "unassigned"
    ? "back"
    : "ticket";
  const href = `/tickets/${kind === "assigned" ? "assigned" : "unassigned"}/${t.id}`;
  return Promise.resolve(alertEvent(kind, alertBody(t.name || t.from, t.preview), href));
}

const alertEvent = (kind: string, body: string, href: string) =>
  encodeEvent("alert", JSON.stringify({ kind, body, href }));

/** "Name: the first words…", at most 72 characters. */
const alertBody = (who: string, text: string) => {
  const line = text ? `${who}: ${text}` : who;
  return line.length > 72 ? `${line.slice(0, 71).trimEnd()}…` : line;
};
