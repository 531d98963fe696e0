/**
 * `GET /events`: server-sent events for the live lists (rule 12) and the open ticket's
 * conversation. One `kv.watch` per process and KV handle, on the "queue changed" keys every
 * ticket and chat commit bumps, wakes every connected page; each sends the fragments its agent
 * may see whose HTML changed. Pages woken together share the work: one session check per token,
 * one render per agent and view, and one list render for all agents who see the same list (500
 * pages of 50 agents cost about 50 small renders and one list, not 500 lists). A 2 s poll of the
 * same keys covers writes from other processes, which `kv.watch` does not see on a local file.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { keys } from "../domain/keys.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Agent } from "../domain/types.ts";
import { LIST_QUEUES, type ListQueue } from "../views/tickets.tsx";
import { renderChatParts } from "./chats.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import { pageAuth } from "./page_auth.ts";
import { fnv1a } from "./static.ts";
import { liveVersion, loadConversationPart, loadQueueParts, type Share } from "./tickets.tsx";

const WATCHED: Deno.KvKey[] = [keys.ticketsChanged(), keys.chatsChanged()];
export const POLL_MS = 2000;
const KEEPALIVE_MS = 25_000;

/**
 * One wake-up of every connected page. Work keyed the same within a wave runs once, so pages
 * that show the same thing share it; the next change starts a new wave, so nothing goes stale.
 */
export class Wave {
  #memo = new Map<string, Promise<unknown>>();
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
  #stamps: string | null = null;
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
    const stamps = entries.map((e) => e.versionstamp ?? "-").join(",");
    if (stamps === this.#stamps) return;
    const first = this.#stamps === null;
    this.#stamps = stamps;
    if (first) return;
    const wave = new Wave();
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

export interface LiveParts {
  /** SSE event name → fragment HTML (the page's `sse-swap` names). */
  parts: Record<string, string>;
  version: string;
}

/** A live part ready to send: its hash (to skip unchanged ones) and its SSE message bytes. */
interface Encoded {
  hash: string;
  bytes: Uint8Array;
}

interface LiveView {
  parts: Map<string, Encoded>;
  version: string;
}

const encoder = new TextEncoder();

/** One SSE message, as hono's writeSSE would write it, encoded once for every page it goes to. */
function encodeEvent(event: string, data: string): Uint8Array {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join("\n");
  return encoder.encode(`event: ${event}\n${lines}\n\n`);
}

/** What one connected page shows: a ticket queue (with its open ticket, if any) or the chats. */
async function renderView(
  deps: AppDeps,
  agent: Agent,
  params: URLSearchParams,
  share: Share,
): Promise<LiveParts> {
  const view = params.get("view") ?? "unassigned";
  if (view === "chats") return await renderChatParts(deps, agent, params);
  const queue: ListQueue = LIST_QUEUES.includes(view as ListQueue)
    ? view as ListQueue
    : "unassigned";
  const selected = params.get("selected");
  const [{ parts }, conversation] = await Promise.all([
    loadQueueParts(deps, agent, queue, params, share),
    selected ? loadConversationPart(deps, agent, queue, selected, share) : null,
  ]);
  return {
    parts: {
      tabs: parts.tabs,
      quick: parts.quick,
      list: parts.list,
      ...(conversation ? { conversation: conversation.html } : {}),
    },
    version: liveVersion(parts.version, conversation?.version),
  };
}

/** Renders and encodes a view once per agent and page address within a wave. */
function liveView(deps: AppDeps, agent: Agent, params: URLSearchParams, wave: Wave) {
  const address = new URLSearchParams([...params].filter(([k]) => k !== "v").sort()).toString();
  return wave.share(`view|${agent.id}|${address}`, async (): Promise<LiveView> => {
    const live = await renderView(deps, agent, params, wave.share);
    const parts = new Map<string, Encoded>();
    for (const [event, html] of Object.entries(live.parts)) {
      parts.set(event, { hash: fnv1a(html), bytes: encodeEvent(event, html) });
    }
    return { parts, version: live.version };
  });
}

export function eventRoutes(deps: AppDeps): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.get("/", pageAuth(deps), (c) => liveStream(c, deps));
  return app;
}

function liveStream(c: Context<DeskEnv>, deps: AppDeps) {
  const { kv, clock } = deps.desk;
  const token = c.get("token");
  const params = new URL(c.req.url).searchParams;
  return streamSSE(c, async (stream) => {
    const sent = new Map<string, string>();
    let running = false;
    let dirty = false;
    let closed = false;

    /** Sends this page's fragments that changed since the last send; one run at a time. */
    let next: Wave | null = null;
    const refresh = async (wave: Wave, initial = false) => {
      if (running) {
        dirty = true;
        next = wave;
        return;
      }
      running = true;
      try {
        do {
          if (dirty && next) wave = next;
          dirty = false;
          // Re-read the agent: a signed-out or re-departmented agent stops seeing old queues.
          const agent = await wave.share(`agent|${token}`, () => authenticate(kv, clock, token));
          if (!agent) {
            closed = true;
            await stream.writeSSE({ event: "signed-out", data: "" });
            stream.abort();
            return;
          }
          const live = await liveView(deps, agent, params, wave);
          const fresh = initial && live.version !== params.get("v");
          for (const [event, part] of live.parts) {
            if (sent.get(event) === part.hash) continue;
            const firstTime = !sent.has(event);
            sent.set(event, part.hash);
            if (!firstTime || fresh) await stream.write(part.bytes);
          }
          initial = false;
        } while (dirty && !closed);
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
    await refresh(alone(), true);
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
