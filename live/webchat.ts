/**
 * The web chat visitor's live stream (rule 30): every message of its thread after a cursor, sent
 * as soon as the thread changes, and the hub that wakes it. A commit that writes a message for a
 * customer bumps its `threadChanged` key; the connected customers' keys are watched in groups of
 * 10 (KV's limit per watch), so a commit wakes exactly its customer's streams with no extra read.
 *
 * Rule 40 as for the desk's hub (live/hub.ts): a remote store's `kv.watch` sees every instance's
 * writes, so there the watch is all; processes sharing one SQLite file never see each other's
 * writes through it, so there a 750 ms poll of the same keys (one `getMany` per 10 customers)
 * runs too; a `:memory:` store needs none. Measured against one watch on desk-wide keys plus a
 * scan of every connected customer on each wake: see BENCHMARKS.md.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Desk } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";
import { getAll } from "../domain/kv_util.ts";
import type { Message } from "../domain/types.ts";
import { THREAD_PAGE, tokenAlive, type Visitor, visitorThread } from "../domain/webchat.ts";
import { crossProcessPoll } from "./hub.ts";
import { TooManyRequests } from "../domain/errors.ts";

export type StreamSignal = "changed" | "end";
type Listener = (signal: StreamSignal) => void;

/** Rule 48: streams one visitor may hold open in one process; a further one ends the oldest. */
export const MAX_STREAMS_PER_VISITOR = 5;
/** Rule 48: web chat streams one client address (IPv6: its /64) may open in one process. */
export const MAX_STREAMS_PER_ADDRESS = 200;
/**
 * The poll where one is needed (a shared SQLite file): under 1 s with the poll's own time, so
 * another process's writes too reach the visitor within rule 30's second.
 */
export const HUB_POLL_MS = 750;
const KEEPALIVE_MS = 25_000;
/** `kv.watch` takes at most 10 keys. */
const GROUP_SIZE = 10;
/** A group's watch that broke (a remote store's connection dropped) is opened again after this. */
const REWATCH_MS = 1000;

/** Up to 10 connected customers whose `threadChanged` keys share one `kv.watch`. */
interface Group {
  ids: string[];
  reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null;
  rewatch?: ReturnType<typeof setTimeout>;
}

/**
 * Wakes visitors' streams when their thread changes: one registry of customer → listeners per
 * process and KV handle, the watches in groups, and the cross-process poll where one is needed.
 */
export class ThreadHub {
  #listeners = new Map<string, Set<Listener>>();
  /** Open streams per client address (rule 48). */
  #addresses = new Map<string, number>();
  #stamps = new Map<string, string>();
  #groups = new Set<Group>();
  #groupOf = new Map<string, Group>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #scanning = false;
  /** Counters for the benchmark: polls run, streams woken, time spent polling. */
  stats = { scans: 0, wakes: 0, scanMs: 0 };

  /** `pollMs`: the cross-process poll (`crossProcessPoll`), null for watch only. */
  constructor(private kv: Deno.Kv, readonly pollMs: number | null = HUB_POLL_MS) {}

  get size(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  /** Whether the cross-process poll is running now (rule 40: only on a shared SQLite file). */
  get polling(): boolean {
    return this.#timer !== null;
  }

  subscribe(customerId: string, listener: Listener): () => void {
    let set = this.#listeners.get(customerId);
    if (!set) {
      this.#listeners.set(customerId, set = new Set());
      this.#join(customerId);
    }
    set.add(listener);
    if (set.size > MAX_STREAMS_PER_VISITOR) {
      const oldest = set.values().next().value!;
      set.delete(oldest);
      oldest("end");
    }
    if (this.#timer === null && this.pollMs !== null) {
      this.#timer = setInterval(() => this.#poll(), this.pollMs);
    }
    return () => {
      const current = this.#listeners.get(customerId);
      if (!current?.delete(listener)) return;
      if (current.size === 0) {
        this.#listeners.delete(customerId);
        this.#stamps.delete(customerId);
        this.#leave(customerId);
      }
      if (this.#listeners.size === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }

  /**
   * Rule 48: one of `address`'s stream places, or 429 when it holds them all; the stream gives it
   * back when it ends (the returned function; a second call does nothing).
   */
  takeStreamPlace(address: string): () => void {
    const open = this.#addresses.get(address) ?? 0;
    if (open >= MAX_STREAMS_PER_ADDRESS) {
      throw new TooManyRequests(
        `This address already holds ${MAX_STREAMS_PER_ADDRESS} open chat streams; close some first.`,
        5,
      );
    }
    this.#addresses.set(address, open + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.#addresses.get(address) ?? 1) - 1;
      if (left > 0) this.#addresses.set(address, left);
      else this.#addresses.delete(address);
    };
  }

  /** A write this process just made for the customer: wake its streams now. */
  nudge(customerId: string) {
    this.#wake(customerId, "changed");
  }

  /** The visitor's token was revoked: its streams end. */
  end(customerId: string) {
    this.#wake(customerId, "end");
  }

  #wake(customerId: string, signal: StreamSignal) {
    for (const listener of [...this.#listeners.get(customerId) ?? []]) {
      this.stats.wakes++;
      listener(signal);
    }
  }

  /** A customer's stamp as read now: a change (or a first sight) wakes its streams. */
  #seen(customerId: string, entry: Deno.KvEntryMaybe<unknown>) {
    if (!this.#listeners.has(customerId)) return;
    const stamp = entry.versionstamp ?? "-";
    if (this.#stamps.get(customerId) === stamp) return;
    this.#stamps.set(customerId, stamp);
    // A first sight wakes too: the stream may have missed a write while it was connecting.
    this.#wake(customerId, "changed");
  }

  #join(customerId: string) {
    let group = [...this.#groups].find((g) => g.ids.length < GROUP_SIZE);
    if (!group) this.#groups.add(group = { ids: [], reader: null });
    group.ids.push(customerId);
    this.#groupOf.set(customerId, group);
    this.#watch(group);
  }

  #leave(customerId: string) {
    const group = this.#groupOf.get(customerId);
    if (!group) return;
    this.#groupOf.delete(customerId);
    group.ids = group.ids.filter((id) => id !== customerId);
    if (group.ids.length) this.#watch(group);
    else {
      this.#groups.delete(group);
      clearTimeout(group.rewatch);
      group.reader?.cancel().catch(() => {});
      group.reader = null;
    }
  }

  /** (Re)starts a group's watch on its current members. */
  #watch(group: Group) {
    clearTimeout(group.rewatch);
    group.reader?.cancel().catch(() => {});
    const ids = [...group.ids];
    let reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]>;
    try {
      reader = this.kv.watch(ids.map((id) => keys.threadChanged(id))).getReader();
    } catch {
      // The store is closed (shutdown, tests): nothing is left to watch.
      group.reader = null;
      return;
    }
    group.reader = reader;
    (async () => {
      try {
        while (group.reader === reader) {
          const { value, done } = await reader.read();
          if (done || group.reader !== reader) break;
          value.forEach((entry, i) => this.#seen(ids[i], entry));
        }
      } catch (error) {
        // The store closed (shutdown, tests).
        if (error instanceof Deno.errors.BadResource) return;
      }
      // Ended while its streams listen (a remote store's connection dropped): watch again.
      if (group.reader !== reader) return;
      group.rewatch = setTimeout(() => {
        if (group.reader === reader) this.#watch(group);
      }, REWATCH_MS);
    })();
  }

  /** Reads every connected customer's stamp (10 per getMany); one poll at a time. */
  async #poll() {
    if (this.#scanning) return;
    this.#scanning = true;
    const started = Date.now();
    try {
      this.stats.scans++;
      const ids = [...this.#listeners.keys()];
      const entries = await getAll<bigint>(this.kv, ids.map((id) => keys.threadChanged(id)));
      entries.forEach((entry, i) => this.#seen(ids[i], entry));
    } catch {
      // The store closed (tests) or a read failed: the next tick tries again.
    } finally {
      this.stats.scanMs += Date.now() - started;
      this.#scanning = false;
    }
  }
}

// One hub per KV handle: tests with their own stores get their own hub.
const hubs = new WeakMap<Deno.Kv, ThreadHub>();

/** The process's web chat hub for this desk's store, made at its first use. */
export function threadHub(desk: Desk): ThreadHub {
  let hub = hubs.get(desk.kv);
  if (!hub) hubs.set(desk.kv, hub = new ThreadHub(desk.kv, crossProcessPoll(desk, HUB_POLL_MS)));
  return hub;
}

/** A page of the thread as the visitor gets it, and what its chat is doing (rule 55). */
export type VisitorPage = (messages: Message[]) => Promise<{ messages: unknown[]; chat: unknown }>;

/**
 * A visitor's SSE stream: every message of its thread after `start`, each with its id as the
 * event id and its JSON (`page`) as data, as soon as the hub says the thread changed, and a `chat`
 * event whenever what its chat is doing changes (rule 55: an agent joined, the chat ended, a
 * YES/NO question waits); comments keep proxies from closing it.
 */
export function visitorStream(
  c: Context,
  desk: Desk,
  who: Visitor,
  start: string | null,
  page: VisitorPage,
  /** Gives the client address's stream place back (rule 48) when the stream ends. */
  release: () => void = () => {},
): Response {
  c.header("x-accel-buffering", "no"); // a proxy must pass each event on at once
  return streamSSE(c, async (stream) => {
    let cursor = start;
    let dirty = true;
    let ping = false;
    let closed = false;
    let wake = () => {};
    const unsubscribe = threadHub(desk).subscribe(who.customerId, (signal) => {
      if (signal === "end") closed = true;
      dirty = true;
      wake();
    });
    stream.onAbort(() => {
      closed = true;
      wake();
    });
    const timer = setInterval(() => {
      ping = true;
      wake();
    }, KEEPALIVE_MS);
    let chat = "";
    try {
      await stream.write("retry: 3000\n\n");
      while (!closed && !stream.aborted) {
        if (dirty) {
          dirty = false;
          for (let more = true; more && !closed;) {
            const read = await visitorThread(desk.kv, who, cursor, THREAD_PAGE, false);
            const drawn = await page(read.messages);
            for (const [i, m] of read.messages.entries()) {
              await stream.writeSSE({ id: m.id, data: JSON.stringify(drawn.messages[i]) });
            }
            cursor = read.cursor;
            more = read.messages.length === THREAD_PAGE;
            const now = JSON.stringify(drawn.chat);
            if (!more && now !== chat) {
              chat = now;
              await stream.writeSSE({ event: "chat", data: now });
            }
          }
          continue;
        }
        if (ping) {
          ping = false;
          // A token revoked or expired elsewhere (another process) ends the stream too.
          if (!(await tokenAlive(desk, who.tokenHash))) break;
          await stream.write(": ping\n\n");
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = () => {};
      }
    } catch (error) {
      if (!stream.aborted) console.error("web chat stream failed", error);
    } finally {
      clearInterval(timer);
      unsubscribe();
      release();
    }
  });
}
