/**
 * What a live view is made of (rules 12, 29, 32, 33, 35). A page that updates over SSE names its
 * view (live/views.ts); the view gives the page's parts, each with the changes that can alter it,
 * and the stream (live/stream.ts) renders, for each wave, only the parts the wave's changes
 * touch: a delivery status re-renders the open conversation and a note the open notes, never the
 * queue lists. A part may offer a patch (live/patch.ts) instead of its whole fragments.
 */
import type { Desk } from "../domain/desk.ts";
import type { Agent } from "../domain/types.ts";
import type { Change } from "./hub.ts";

/**
 * Runs `fn` at most once per key among pages refreshed together (the live stream shares one
 * render between agents who see the same list); a plain page load runs everything itself.
 */
export type Share = <T>(key: string, fn: () => Promise<T>) => Promise<T>;
export const unshared: Share = (_key, fn) => fn();

/** Everything a part renders from. */
export interface LiveContext {
  desk: Desk;
  agent: Agent;
  /** The page's `/events` parameters (`view`, `selected`, its filters). */
  params: URLSearchParams;
  share: Share;
}

/** An out-of-band fragment for the page (`event` is an `sse-swap` name that swaps nothing). */
export interface LivePatch {
  event: string;
  html: string;
}

/** Fragments of a page ready to send, and the version the page was rendered with. */
export interface LiveParts {
  /** SSE event name → fragment HTML (the page's `sse-swap` names). */
  parts: Record<string, string>;
  version: string;
  /**
   * The patch from version `from` (one the page had) to this one, or null when only the whole
   * `parts` will do (an unknown version, a list that changed shape). `had`: the `state` this
   * stream last sent, when it has it (else the part looks `from` up among recent versions).
   */
  patch?: (from: string, had?: unknown) => Promise<LivePatch | null>;
  /** What a stream keeps to patch from next time (shared between pages; never HTML). */
  state?: unknown;
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

/** Live views by the name a page gives `/events` (`view=`). */
export type LiveViews = Readonly<Record<string, LiveView>>;

/**
 * The address of a page's stream: its view, its parameters (filters, cursor, open item) and the
 * version it starts from, the versions of its parts in order, then the desk's (rule 32's counts),
 * joined by dots. The stream reads the version (or the page's `Last-Event-ID`) part by part; a
 * missing or empty one means "send that part whole", so trailing empty ones are left off.
 */
export function eventsUrl(
  view: string,
  params: URLSearchParams,
  versions: (string | null | undefined)[],
): string {
  const events = new URLSearchParams([["view", view], ...params]);
  events.set("v", versions.map((v) => v ?? "").join(".").replace(/\.+$/, ""));
  return `/events?${events}`;
}

/** A rendered element (hono/jsx may render asynchronously) as its HTML. */
export const rendered = async (element: unknown): Promise<string> => String(await element);
