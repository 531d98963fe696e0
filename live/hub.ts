/**
 * The desk's live hub (rules 12, 29, 32, 33, 35): one `kv.watch` per process and KV handle on the
 * "changed" counters that every ticket, chat, delivery, notice and note commit bumps in the same
 * commit, fanned out in memory to the connected pages as a `Wave` of what changed. It runs only
 * while a page listens, and holds the one keepalive timer every stream shares.
 *
 * Rule 40, live across instances: on a remote store (KV Connect, Deno Deploy's database)
 * `kv.watch` sees every instance's writes, so the watch is all there is; processes sharing one
 * SQLite file never see each other's writes through it, so there a short poll of the same keys
 * runs too; a `:memory:` store lives in one process and needs none (`crossProcessPoll`).
 */
import { type Arrival, arrivalsSince } from "../domain/alerts.ts";
import type { Clock } from "../domain/clock.ts";
import { crossProcessPollMs, type Desk } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";

/** What a commit changed, by the counter it bumps in the same commit. */
export type Change = "tickets" | "chats" | "delivery" | "notices" | "notes";

export const CHANGE_KEYS: Readonly<Record<Change, Deno.KvKey>> = {
  tickets: keys.ticketsChanged(),
  chats: keys.chatsChanged(),
  delivery: keys.deliveryChanged(),
  notices: keys.noticesChanged(),
  // Rule 35: a note re-renders the notes of open tickets and chats, never a list or a thread.
  notes: keys.notesChanged(),
};
export const CHANGES: readonly Change[] = ["tickets", "chats", "delivery", "notices", "notes"];
export const EVERYTHING: ReadonlySet<Change> = new Set(CHANGES);

const WATCHED: Deno.KvKey[] = CHANGES.map((change) => CHANGE_KEYS[change]);
/** The poll where one is needed: with a render, a page is current ≤ 2.5 s after the commit. */
export const POLL_MS = 2000;
const KEEPALIVE_MS = 25_000;
/** A watch that broke (the store's connection dropped) is opened again after this long. */
const REWATCH_MS = 1000;
/** Arrivals committed out of time order by this much are still announced (once). */
const FEED_OVERLAP_MS = 5_000;
/** Pages that connect within this long of each other share their first renders. */
const CONNECT_SHARE_MS = 250;

/**
 * Rule 40: how often this process must re-read what `kv.watch` would tell it, or null for never
 * (`crossProcessPollMs`). A desk that does not say where its store lives (`storeKind`, which
 * main.ts knows from the configuration) polls, as a shared SQLite file needs.
 */
export function crossProcessPoll(desk: Desk, ms: number): number | null {
  return crossProcessPollMs(desk.storeKind ?? "file", ms);
}

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

export interface Listener {
  wave(wave: Wave): void;
  /** The keepalive: one timer in the hub for every stream. */
  tick(): void;
}

/** Wakes its subscribers whenever a watched key changes; runs only while someone listens. */
export class DeskHub {
  #listeners = new Set<Listener>();
  #connecting: { wave: Wave; at: number } | null = null;
  #stamps: string[] | null = null;
  /** This start's first reading of the counters while it is awaited (`ready`), else null. */
  #reading: PromiseWithResolvers<void> | null = null;
  #reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #rewatch: ReturnType<typeof setTimeout> | undefined;
  /** The work feed: read from here (less the overlap); what was announced, by key. */
  #since = 0;
  #startedAt = 0;
  #handled = new Map<string, number>();
  #feed: Promise<unknown> = Promise.resolve();

  /** `pollMs`: the cross-process poll (`crossProcessPoll`), null for watch only. */
  constructor(private kv: Deno.Kv, private clock: Clock, readonly pollMs: number | null) {}

  get size(): number {
    return this.#listeners.size;
  }

  /** Whether the cross-process poll is running now (rule 40: only on a shared SQLite file). */
  get polling(): boolean {
    return this.#timers.length > 1;
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
   * Resolves once the hub has its first reading of the counters since it started. A page draws
   * itself only after it: a commit before the reading is in what the page draws, and one after
   * differs from the reading and wakes the page. (Drawn before the reading, a commit in between
   * would become the starting point and never reach the page.)
   */
  get ready(): Promise<void> {
    return this.#reading?.promise ?? Promise.resolve();
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
    if (before === null) {
      this.#reading?.resolve();
      this.#reading = null;
      return;
    }
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
    const reading = this.#reading = Promise.withResolvers<void>();
    this.#watch();
    // The watch's first reading can come late (a loaded or remote store): read the counters at
    // once too; whichever comes first is the starting point.
    this.kv.getMany(WATCHED).then(
      (entries) => {
        if (this.#reading === reading) this.#seen(entries);
      },
      // The store closed: pages must not wait for a reading that will never come.
      () => reading.resolve(),
    );
    this.#timers = [
      setInterval(() => {
        for (const listener of [...this.#listeners]) listener.tick();
      }, KEEPALIVE_MS),
    ];
    if (this.pollMs !== null) {
      this.#timers.push(setInterval(async () => {
        try {
          this.#seen(await this.kv.getMany(WATCHED));
        } catch {
          // Store closed between ticks; the next subscriber restarts us.
        }
      }, this.pollMs));
    }
  }

  #watch() {
    let reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]>;
    try {
      reader = this.kv.watch(WATCHED).getReader();
    } catch {
      // The store is closed (shutdown, tests): nothing is left to watch.
      return;
    }
    this.#reader = reader;
    (async () => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          this.#seen(value);
        }
      } catch (error) {
        // The store closed (shutdown, tests).
        if (error instanceof Deno.errors.BadResource) return;
        if (this.#reader === reader) console.error("kv.watch stopped", error);
      }
      // Ended while pages listen (a remote store's connection dropped): watch again. The first
      // read is compared with the last stamps, so a change made meanwhile still wakes the pages.
      if (this.#reader !== reader) return;
      this.#rewatch = setTimeout(() => {
        if (this.#reader === reader) this.#watch();
      }, REWATCH_MS);
    })();
  }

  #stop() {
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#rewatch);
    this.#timers = [];
    const reader = this.#reader;
    this.#reader = null;
    this.#stamps = null;
    this.#reading?.resolve();
    this.#reading = null;
    this.#connecting = null;
    reader?.cancel().catch(() => {});
  }
}

// One hub per KV handle (not a global handle): tests with their own stores get their own hub.
const hubs = new WeakMap<Deno.Kv, DeskHub>();

/** The process's hub for this desk's store, made at its first use. */
export function deskHub(desk: Desk): DeskHub {
  let hub = hubs.get(desk.kv);
  if (!hub) {
    hubs.set(desk.kv, hub = new DeskHub(desk.kv, desk.clock, crossProcessPoll(desk, POLL_MS)));
  }
  return hub;
}
