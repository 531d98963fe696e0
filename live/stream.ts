/**
 * The desk's live stream, `GET /events` (rules 12, 29, 32, 33, 35): every connected page is woken
 * by the hub (live/hub.ts) and renders only the parts of its view (live/views.ts) the wave's
 * changes touch (a delivery status re-renders the conversation, a note the notes, neither the
 * lists), and sends what changed since the version the page has: a patch of single rows and
 * counts when the part offers one, else the whole fragments; on every desk page also rule 32's
 * counts, announcements and notices. Pages woken together share the work: one session check per
 * token, one render per agent, page and part, one patch per version pair, and each message is
 * encoded (and compressed) once for every page it goes to.
 *
 * Each wave's last message carries `id:`, the page's version part by part, so a browser that
 * reconnects (`Last-Event-ID`) gets what it missed, patched when its version is still known.
 * The stream is gzip when the browser accepts it: every message is compressed on its own (a raw
 * deflate block ending in a sync flush), so pages share the compressed bytes and a stream keeps
 * no compressor. A stream holds no timer: the hub's one keepalive tick serves all of them.
 */
import { constants, deflateRawSync } from "node:zlib";
import { announcedTo, type Arrival, takeNotices } from "../domain/alerts.ts";
import { visibleDepartments } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { displayName } from "../domain/customer_names.ts";
import { keys } from "../domain/keys.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Conversation, Customer } from "../domain/types.ts";
import { NoticeBanner } from "../views/layout.tsx";
import { deskCounts, deskVersion } from "./desk_counts.ts";
import { type Change, deskHub, EVERYTHING, type Listener, type Wave } from "./hub.ts";
import type { LiveContext, LivePart, LiveViews } from "./parts.ts";
import { findView, LIVE_VIEWS } from "./views.ts";

/** A page this far behind in reading is dropped; it reconnects and catches up by its version. */
const BACKLOG_BYTES = 512 * 1024;
/** Rule 48: streams one session may hold open in one process; a further one ends the oldest. */
export const MAX_STREAMS_PER_SESSION = 20;

/** Each desk's open streams by session token, oldest first (rule 48). */
const sessions = new WeakMap<Deno.Kv, Map<string, Set<LiveStream>>>();

/** Counts a new stream for its session; past the cap the session's oldest stream gives way. */
function holdStream(desk: Desk, token: string, stream: LiveStream): () => void {
  let bySession = sessions.get(desk.kv);
  if (!bySession) sessions.set(desk.kv, bySession = new Map());
  let open = bySession.get(token);
  if (!open) bySession.set(token, open = new Set());
  open.add(stream);
  if (open.size > MAX_STREAMS_PER_SESSION) open.values().next().value!.giveWay();
  return () => {
    open.delete(stream);
    if (!open.size && bySession.get(token) === open) bySession.delete(token);
  };
}
/** What the desk's counts, announcements and notices follow. */
const DESK_CHANGES: readonly Change[] = ["tickets", "chats", "notices"];

/**
 * The stream for a signed-in agent's page (`token`: its session) at `request`'s address: its
 * view and parameters, and the version it has (`v`, or `Last-Event-ID` after a drop).
 * `views`: the table of live views (tests may hand in their own).
 */
export function liveEvents(
  desk: Desk,
  token: string,
  request: Request,
  views: LiveViews = LIVE_VIEWS,
): Response {
  const params = new URL(request.url).searchParams;
  const live = findView(views, params.get("view"))(params);
  // What the page has: its version at load, or the last one this stream sent before a drop.
  const last = request.headers.get("last-event-id");
  const have = (last && last.length <= 400 ? last : params.get("v") ?? "").split(".");
  const gzip = /\bgzip\b/i.test(request.headers.get("accept-encoding") ?? "");
  const stream = new LiveStream(desk, token, params, live, have, gzip);
  const headers: Record<string, string> = {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    "x-accel-buffering": "no",
  };
  if (gzip) Object.assign(headers, { "content-encoding": "gzip", vary: "Accept-Encoding" });
  return new Response(stream.body, { headers });
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
// A stream closed for a newer one of its session: its page comes back a minute later, not at once.
const GIVE_WAY = message("retry: 60000\n\n");
const KEEPALIVE = message(": keepalive\n\n");
const SIGNED_OUT = encodeEvent("signed-out", "");

const touches = (part: LivePart, changes: ReadonlySet<Change>) =>
  part.on.some((change) => changes.has(change));

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
class LiveStream implements Listener {
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
  #release: () => void = () => {};

  constructor(
    private desk: Desk,
    private token: string,
    private params: URLSearchParams,
    private live: LivePart[],
    have: string[],
    private gzip: boolean,
  ) {
    // One version per part, then the desk's (rule 32's counts).
    this.#known = Array.from({ length: live.length + 1 }, (_, i) => have[i] ?? "");
    this.#address = new URLSearchParams([...params].filter(([k]) => k !== "v").sort()).toString();
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        if (gzip) controller.enqueue(GZIP_HEADER);
        this.#send(RETRY);
        const hub = deskHub(desk);
        this.#unsubscribe = hub.subscribe(this);
        this.#release = holdStream(desk, token, this);
        // Bring the page up to date (pages connecting together share the renders), once the hub
        // has read the counters it will tell changes by (`ready`).
        hub.ready.then(() => this.wave(hub.connectWave()));
      },
      // The browser went away (Deno cancels the body when the connection closes).
      cancel: () => this.#close(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
  }

  tick() {
    this.#send(KEEPALIVE);
  }

  /** Rule 48: its session opened one stream too many; this, its oldest, ends. */
  giveWay() {
    this.#send(GIVE_WAY);
    this.#close();
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
    const { kv, clock } = this.desk;
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
    const ctx: LiveContext = { desk: this.desk, agent, params: this.params, share: wave.share };
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
    const { desk, agent } = ctx;
    const { kv } = desk;
    const out: Encoded[] = [];
    const counts = await deskCounts(desk, agent, wave.share);
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
    this.#release();
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
  const who = customer.value ? displayName(customer.value) || "A customer" : "A customer";
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
  return Promise.resolve(alertEvent(kind, alertBody(displayName(t), t.preview), href));
}

const alertEvent = (kind: string, body: string, href: string) =>
  encodeEvent("alert", JSON.stringify({ kind, body, href }));

/** "Name: the first words…", at most 72 characters. */
const alertBody = (who: string, text: string) => {
  const line = text ? `${who}: ${text}` : who;
  return line.length > 72 ? `${line.slice(0, 71).trimEnd()}…` : line;
};
