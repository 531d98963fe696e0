/**
 * `GET /events`: server-sent events for the live lists (rule 12), the open conversation and its
 * delivery marks (rule 29). One `kv.watch` per process and KV handle, on the "changed" counters
 * every ticket, chat and delivery commit bumps, wakes every connected page; each renders only the
 * parts the wave's changes touch (a delivery status re-renders the conversation, not the lists)
 * and sends the fragments its agent may see whose HTML changed. Pages woken together share the
 * work: one session check per token, one render per agent, page and part, and one list render for
 * all agents who see the same list (500 pages of 50 agents cost about 50 small renders and one
 * list, not 500 lists). A 2 s poll of the same keys covers writes from other processes, which
 * `kv.watch` does not see on a local file. The pages themselves come from the registry in
 * live_views.ts.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { authenticate } from "../domain/sessions.ts";
import type { Agent } from "../domain/types.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  type Change,
  CHANGE_KEYS,
  CHANGES,
  type LivePart,
  type LiveViews,
  liveViews,
  pageVersion,
  type Share,
} from "./live_views.ts";
import { pageAuth } from "./page_auth.ts";
import { fnv1a } from "./static.ts";

const WATCHED: Deno.KvKey[] = CHANGES.map((change) => CHANGE_KEYS[change]);
export const POLL_MS = 2000;
const KEEPALIVE_MS = 25_000;
const EVERYTHING: ReadonlySet<Change> = new Set(CHANGES);

/**
 * One wake-up of every connected page, for what changed. Work keyed the same within a wave runs
 * once, so pages that show the same thing share it; the next change starts a new wave, so
 * nothing goes stale.
 */
export class Wave {
  #memo = new Map<string, Promise<unknown>>();
  constructor(readonly changes: ReadonlySet<Change> = EVERYTHING) {}
  share: Share = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    let found = this.#memo.get(key) as Promise<T> | undefined;
    if (!found) this.#memo.set(key, found = fn());
    return found;
  };
}

/** A page's own wave: its first render shares nothing with older waves. */
const alone = (): Wave => new Wave();

/** Wakes its subscribers whenever a watched key changes; runs only while someone listens. */
export class QueueHub {
  #listeners = new Set<(wave: Wave) => void>();
  #stamps: string[] | null = null;
  #reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(private kv: Deno.Kv) {}

  get size(): number {
    return this.#listeners.size;
  }

  subscribe(listener: (wave: Wave) => void): () => void {
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

  #seen(entries: Deno.KvEntryMaybe<unknown>[]) {
    const stamps = entries.map((e) => e.versionstamp ?? "-");
    const before = this.#stamps;
    this.#stamps = stamps;
    if (before === null) return;
    const changes = new Set(CHANGES.filter((_, i) => stamps[i] !== before[i]));
    if (changes.size === 0) return;
    const wave = new Wave(changes);
    for (const listener of [...this.#listeners]) listener(wave);
  }

  #start() {
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
    this.#timer = setInterval(async () => {
      try {
        this.#seen(await this.kv.getMany(WATCHED));
      } catch {
        // Store closed between ticks; the next subscriber restarts us.
      }
    }, POLL_MS);
  }

  #stop() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const reader = this.#reader;
    this.#reader = null;
    this.#stamps = null;
    reader?.cancel().catch(() => {});
  }
}

// One hub per KV handle (not a global handle): tests with their own stores get their own hub.
const hubs = new WeakMap<Deno.Kv, QueueHub>();
export function hubFor(kv: Deno.Kv): QueueHub {
  let hub = hubs.get(kv);
  if (!hub) hubs.set(kv, hub = new QueueHub(kv));
  return hub;
}

/** A live part ready to send: its hash (to skip unchanged ones) and its SSE message bytes. */
interface Encoded {
  hash: string;
  bytes: Uint8Array;
}

interface Rendered {
  parts: Map<string, Encoded>;
  /** Only when every part was rendered (a page's first render). */
  version: string | null;
}

const encoder = new TextEncoder();

/** One SSE message, as hono's writeSSE would write it, encoded once for every page it goes to. */
function encodeEvent(event: string, data: string): Uint8Array {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join("\n");
  return encoder.encode(`event: ${event}\n${lines}\n\n`);
}

const touches = (part: LivePart, changes: ReadonlySet<Change>) =>
  part.on.some((change) => changes.has(change));

/**
 * Renders the parts of a page that `changes` touch, each once per agent, page address and part
 * within a wave (pages with the same address share it).
 */
async function renderTouched(
  deps: AppDeps,
  agent: Agent,
  params: URLSearchParams,
  live: LivePart[],
  changes: ReadonlySet<Change>,
  wave: Wave,
): Promise<Rendered> {
  const address = new URLSearchParams([...params].filter(([k]) => k !== "v").sort()).toString();
  const ctx = { deps, agent, params, share: wave.share };
  const rendered = await Promise.all(live.map((part, i) => {
    if (!touches(part, changes)) return undefined;
    return wave.share(`part|${agent.id}|${address}|${i}`, async () => {
      const out = await part.render(ctx);
      if (!out) return null;
      const events = Object.entries(out.parts).map(([event, html]) =>
        [event, { hash: fnv1a(html), bytes: encodeEvent(event, html) }] as const
      );
      return { events, version: out.version };
    });
  }));
  const parts = new Map<string, Encoded>();
  for (const one of rendered) for (const [event, part] of one?.events ?? []) parts.set(event, part);
  const all = !rendered.includes(undefined);
  const versions = rendered.map((one) => one?.version);
  return { parts, version: all ? pageVersion(versions) : null };
}

/** `views`: the registry of pages (tests may hand in their own). */
export function eventRoutes(deps: AppDeps, views: LiveViews = liveViews): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.get("/", pageAuth(deps), (c) => liveStream(c, deps, views));
  return app;
}

function liveStream(c: Context<DeskEnv>, deps: AppDeps, views: LiveViews) {
  const { kv, clock } = deps.desk;
  const token = c.get("token");
  const params = new URL(c.req.url).searchParams;
  const live = views.find(params.get("view"))?.(params) ?? [];
  return streamSSE(c, async (stream) => {
    const sent = new Map<string, string>();
    let initial = true;
    let running = false;
    let closed = false;
    /** Waves that came while a refresh ran: the latest, with every change they bring. */
    let waiting: { wave: Wave; changes: Set<Change> } | null = null;

    /** Sends this page's fragments that changed since the last send; one run at a time. */
    const refresh = async (wave: Wave) => {
      if (!initial && !live.some((part) => touches(part, wave.changes))) return;
      if (waiting) {
        waiting.wave = wave;
        for (const change of wave.changes) waiting.changes.add(change);
      } else waiting = { wave, changes: new Set(wave.changes) };
      if (running) return;
      running = true;
      try {
        while (waiting && !closed) {
          const { wave, changes } = waiting;
          waiting = null;
          // Re-read the agent: a signed-out or re-departmented agent stops seeing old queues.
          const agent = await wave.share(`agent|${token}`, () => authenticate(kv, clock, token));
          if (!agent) {
            closed = true;
            await stream.writeSSE({ event: "signed-out", data: "" });
            stream.abort();
            return;
          }
          const first = initial;
          initial = false;
          const rendered = await renderTouched(
            deps,
            agent,
            params,
            live,
            first ? EVERYTHING : changes,
            wave,
          );
          // A page rendered from an older state gets every part at once.
          const fresh = first && rendered.version !== params.get("v");
          for (const [event, part] of rendered.parts) {
            if (sent.get(event) === part.hash) continue;
            sent.set(event, part.hash);
            if (!first || fresh) await stream.write(part.bytes);
          }
        }
      } catch (error) {
        if (!stream.aborted) console.error("live refresh failed", error);
      } finally {
        running = false;
      }
    };

    let wake = () => {};
    const unsubscribe = hubFor(kv).subscribe((wave) => void refresh(wave));
    stream.onAbort(() => {
      closed = true;
      unsubscribe();
      wake();
    });
    // Ask the browser to retry soon after a drop; then bring the page up to date.
    await stream.write("retry: 2000\n\n");
    await refresh(alone());
    while (!closed && !stream.aborted) {
      // An abortable wait: a closed stream must not leave a 25 s timer behind.
      await new Promise<void>((resolve) => {
        const id = setTimeout(resolve, KEEPALIVE_MS);
        wake = () => {
          clearTimeout(id);
          resolve();
        };
      });
      if (closed || stream.aborted) break;
      await stream.write(": keepalive\n\n");
    }
    unsubscribe();
  });
}
