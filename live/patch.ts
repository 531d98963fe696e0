/**
 * Rule 33: live updates carry only what changed. A part that offers a patch turns the version a
 * page has into the current one with out-of-band swaps of single rows and small pieces (a tab's
 * count, the Quick Accept count) instead of whole fragments. Patches are computed from
 * `PatchState`s, which hold keys of what each row and piece shows, never HTML; the recent ones
 * are remembered by version, so a page that reconnects (its `Last-Event-ID`) or connects after
 * loading gets a patch too.
 */

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
