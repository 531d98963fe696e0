/**
 * The live views `/events` serves (rules 12, 29, 32, 33, 35). Each page that updates over SSE
 * registers its parts here with the changes that can alter them; the hub (events.ts) knows no
 * page by name and renders, for each wave, only the parts the wave's changes touch: a delivery
 * status re-renders the open conversation and a note the open notes, never the queue lists.
 *
 * A part may also offer a patch: what turns the version a page has into the current one with
 * out-of-band swaps of single rows and small pieces (a tab's count, the Quick Accept count)
 * instead of whole fragments (rule 33). Patches are computed from `PatchState`s, which hold keys
 * of what each row and piece shows, never HTML; the recent ones are remembered by version, so a
 * page that reconnects (its `Last-Event-ID`) or connects after loading gets a patch too.
 */
import { countUnassigned } from "../domain/tickets.ts";
import { isStaff } from "../domain/access.ts";
import { listChats } from "../domain/chats.ts";
import { visibleDepartments } from "../domain/departments.ts";
import { keys } from "../domain/keys.ts";
import type { Agent } from "../domain/types.ts";
import type { AppDeps } from "./context.ts";

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

/**
 * The version a live page starts from: the versions of its parts in order, then the desk's
 * (deskVersion), joined by dots. The stream reads it (or the page's `Last-Event-ID`) part by
 * part; a missing or empty one means "send that part whole".
 */
export function pageVersion(versions: (string | null | undefined)[]): string {
  return versions.map((v) => v ?? "").join(".").replace(/\.+$/, "");
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
/** Pages with nothing live but the desk's counts and alerts (rule 32): Admin, Supervisor. */
liveViews.register("desk", () => []);

// ---- Rule 32: the counts every desk page shows ---------------------------------------------

/** What the title and the navigation count (rule 32). */
export interface DeskCounts {
  /** Unassigned tickets the agent may see. */
  unassigned: number;
  /** Pending chats it may take, ids sorted (the stream announces new ones). */
  pending: readonly string[];
  /** Pending chat id → its customer (for the announcement). */
  customers: ReadonlyMap<string, string>;
}

/** The counts' version inside a page version: short, and the same wherever it is computed. */
export const deskVersion = (c: DeskCounts): string => `${c.unassigned}-${c.pending.length}`;

/** Rule 32: the unassigned tickets the agent may see and the pending chats it may take. */
export async function deskCounts(
  deps: AppDeps,
  agent: Agent,
  share: Share = unshared,
): Promise<DeskCounts> {
  const { kv } = deps.desk;
  const visible = await share(`visible|${agent.id}`, () => visibleDepartments(kv, agent));
  // Agents with the same departments (all staff alike) see the same counts.
  const scope = isStaff(agent) ? "staff" : `agent|${visible.join(",")}`;
  return await share(`desk|${scope}`, async () => {
    const [unassigned, pending] = await Promise.all([
      countUnassigned(kv, visible),
      listChats(deps.desk, agent, "pending"),
    ]);
    return {
      unassigned,
      pending: pending.map((c) => c.id).sort(),
      customers: new Map(pending.map((c) => [c.id, c.customerId])),
    };
  });
}

// ---- Rule 33: patches ------------------------------------------------------------------------

/** cyrb53: a 53-bit content hash (versions are remembered and looked up; 32 bits could collide). */
export function hash53(text: string): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** What a page shows of a patchable part, as keys (never HTML): rows in order and pieces. */
export interface PatchState {
  version: string;
  /** Everything rows and pieces do not cover: when it differs, only the whole part will do. */
  frame: string;
  /** Element id → key of what the piece shows. */
  pieces: ReadonlyMap<string, string>;
  /** Piece id → the piece drawn around it (sent instead when that one changed too). */
  within: ReadonlyMap<string, string>;
  /** Row element ids, in order, and the key of each row. */
  rows: readonly string[];
  rowKeys: readonly string[];
}

/**
 * A patch state and its version (a hash of all its keys). `versioned`: pieces that show the
 * version itself (a poller asking "changed since?"), sent with every change.
 */
export function patchState(input: {
  frame: string;
  pieces: [string, string][];
  within?: [string, string][];
  rows: readonly string[];
  rowKeys: readonly string[];
  versioned?: string[];
}): PatchState {
  const version = hash53(
    [input.frame, ...input.pieces.flat(), "|", ...input.rows, "|", ...input.rowKeys].join("\u0000"),
  );
  const pieces = new Map(input.pieces);
  for (const id of input.versioned ?? []) pieces.set(id, version);
  return {
    version,
    frame: input.frame,
    pieces,
    within: new Map(input.within ?? []),
    rows: input.rows,
    rowKeys: input.rowKeys,
  };
}

/** How a part draws the pieces of a patch (its view components own the markup). */
export interface PatchDrawing {
  /** A piece, swapped out of band by its id. */
  piece(id: string): string | Promise<string>;
  /** A row, swapped out of band by its id. */
  row(id: string): string | Promise<string>;
  /** A row inserted after row `after` (null: first in the list). */
  insert(id: string, after: string | null): string | Promise<string>;
  /** A row removed. */
  remove(id: string): string;
  /** What the patch turns `from` into `to` (the page checks it has `from` before applying). */
  marker(from: string, to: string): string;
}

/** More row operations than this (or than half the list) and the whole list is cheaper. */
const MAX_ROW_OPS = 12;

/**
 * The out-of-band fragment that turns `from` into `to`, or null when the frame changed or so
 * many rows did that the whole part is better. Removals come first, then changed pieces and
 * rows, then insertions in list order, each after a row already in place.
 */
export async function patchHtml(
  from: PatchState,
  to: PatchState,
  draw: PatchDrawing,
): Promise<string | null> {
  if (from.frame !== to.frame) return null;
  const oldIndex = new Map(from.rows.map((id, i) => [id, i]));
  const newIds = new Set(to.rows);
  // Rows kept in the same relative order stay in place (longest increasing run of old indexes).
  const keptOld = to.rows.map((id) => oldIndex.get(id) ?? -1);
  const stay = stayingRows(keptOld);
  const removed = from.rows.filter((id) => !newIds.has(id));
  const moved = to.rows.filter((_, i) => keptOld[i] >= 0 && !stay.has(i));
  const inserted = to.rows.filter((_, i) => !stay.has(i));
  const changed = to.rows.filter((_, i) =>
    stay.has(i) && from.rowKeys[keptOld[i]] !== to.rowKeys[i]
  );
  const rowOps = removed.length + moved.length + inserted.length + changed.length;
  if (rowOps > Math.max(MAX_ROW_OPS, Math.floor(to.rows.length / 2))) return null;

  const out: string[] = [draw.marker(from.version, to.version)];
  for (const id of [...removed, ...moved]) out.push(draw.remove(id));
  for (const [id, key] of to.pieces) {
    if (from.pieces.get(id) === key) continue;
    const around = to.within.get(id);
    if (around && from.pieces.get(around) !== to.pieces.get(around)) continue;
    out.push(await draw.piece(id));
  }
  for (const id of changed) out.push(await draw.row(id));
  for (let i = 0; i < to.rows.length; i++) {
    if (stay.has(i)) continue;
    out.push(await draw.insert(to.rows[i], i === 0 ? null : to.rows[i - 1]));
  }
  return out.join("");
}

/** Positions (in the new order) of the rows that can stay: an LIS of their old positions. */
function stayingRows(oldPositions: number[]): Set<number> {
  const tails: number[] = [];
  const prev = new Array<number>(oldPositions.length).fill(-1);
  for (let i = 0; i < oldPositions.length; i++) {
    const v = oldPositions[i];
    if (v < 0) continue;
    let lo = 0, hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (oldPositions[tails[mid]] < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  }
  const stay = new Set<number>();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) stay.add(i);
  return stay;
}

/**
 * The patch states pages were recently sent or drawn with, by version: a page that connects or
 * reconnects with one of them gets a patch, any other version the whole part.
 */
export class PatchStates {
  #states = new Map<string, PatchState>();
  constructor(private max = 256) {}

  remember(state: PatchState): PatchState {
    const known = this.#states.get(state.version);
    if (known) {
      // Most recently used last; the same version keeps the first object (shared by pages).
      this.#states.delete(state.version);
      this.#states.set(state.version, known);
      return known;
    }
    this.#states.set(state.version, state);
    if (this.#states.size > this.max) {
      this.#states.delete(this.#states.keys().next().value!);
    }
    return state;
  }

  get(version: string): PatchState | undefined {
    return this.#states.get(version);
  }
}
