/**
 * The live views `/events` serves (rules 12 and 29). Each page that updates over SSE registers
 * its parts here with the changes that can alter them; the hub (events.ts) knows no page by
 * name and renders, for each wave, only the parts the wave's changes touch: a delivery status
 * re-renders the open conversation, never the queue lists and counts.
 */
import { keys } from "../domain/keys.ts";
import type { Agent } from "../domain/types.ts";
import type { AppDeps } from "./context.ts";
import { fnv1a } from "./static.ts";

/** What a commit changed, by the counter it bumps in the same commit. */
export type Change = "tickets" | "chats" | "delivery";

export const CHANGE_KEYS: Readonly<Record<Change, Deno.KvKey>> = {
  tickets: keys.ticketsChanged(),
  chats: keys.chatsChanged(),
  delivery: keys.deliveryChanged(),
};
export const CHANGES: readonly Change[] = ["tickets", "chats", "delivery"];

/**
 * Runs `fn` at most once per key among pages refreshed together (the live stream shares one
 * render between agents who see the same list); a plain page load runs everything itself.
 */
export type Share = <T>(key: string, fn: () => Promise<T>) => Promise<T>;
export const unshared: Share = (_key, fn) => fn();

/** Everything a part renders from. */
export interface LiveContext {
  deps: AppDeps;
  agent: Agent;
  /** The page's `/events` parameters (`view`, `selected`, its filters). */
  params: URLSearchParams;
  share: Share;
}

/** Fragments of a page ready to send, and the version the page was rendered with. */
export interface LiveParts {
  /** SSE event name → fragment HTML (the page's `sse-swap` names). */
  parts: Record<string, string>;
  version: string;
}

/** Some of a page's fragments, rendered together. */
export interface LivePart {
  /** The changes that can alter these fragments: waves of other changes leave them alone. */
  on: readonly Change[];
  /** Null: nothing for this agent (say, a ticket it may no longer read). */
  render(ctx: LiveContext): Promise<LiveParts | null>;
}

/** A page's live parts, from its `/events` parameters. */
export type LiveView = (params: URLSearchParams) => LivePart[];

/** The version a live page starts from: the versions of its parts, in order. */
export function pageVersion(versions: (string | null | undefined)[]): string {
  const present = versions.filter((v): v is string => !!v);
  return present.length <= 1 ? present[0] ?? "" : fnv1a(present.join("|"));
}

export class LiveViews {
  #views = new Map<string, LiveView>();
  #fallback: string | null = null;

  /** `fallback`: the view of a page that names none, or an unknown one. */
  register(name: string, view: LiveView, opts: { fallback?: boolean } = {}) {
    this.#views.set(name, view);
    if (opts.fallback) this.#fallback = name;
  }

  find(name: string | null): LiveView | null {
    return (name !== null ? this.#views.get(name) : undefined) ??
      (this.#fallback !== null ? this.#views.get(this.#fallback) ?? null : null);
  }
}

/** The desk's live views; the page modules (routes/tickets.tsx, routes/chats.tsx) register. */
export const liveViews = new LiveViews();
