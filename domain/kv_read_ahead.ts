/**
 * Rule 41's read-ahead: the reads a request will need, sent together at its start and answered
 * from memory when the request's own code asks for them. On a remote store every sequential read
 * costs a round trip (≈ 90 ms on Deno Deploy), and a page's code reads in many small steps
 * (session, agent, ticket, its conversations, its customer...); a read-ahead names those keys and
 * lists up front, from what the request says (its path, its token) and then from what the first
 * answers say, so the steps find their answers already there.
 *
 * Within such a request a key read twice is read once (a list is, when read ahead): the request
 * sees one snapshot of what it read. A read-ahead only ever answers with what the store said
 * during the same request, and forgets everything as soon as the request writes through the same
 * handle (a commit, a set, a delete), so a write path that reads again after a lost check reads
 * the store afresh. Outside a request that has one (a background task, a live stream, the
 * courier), the handle reads the store directly.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Desk } from "./desk.ts";

type Entry = Deno.KvEntryMaybe<unknown>;

/** A list as read ahead: its entries, the cursor after each, and whether it reached its end. */
interface Listed {
  entries: Deno.KvEntry<unknown>[];
  cursors: string[];
  complete: boolean;
}

const MAX_GET_MANY = 10;

/** One request's reads ahead, by key (gets) and by selector and direction (lists). */
export class ReadAhead {
  #gets = new Map<string, Promise<Entry>>();
  #lists = new Map<string, Promise<Listed>>();
  /** Grows with every write: a list begun before one is not kept. */
  generation = 0;
  /** Set once the request is answered. */
  closed = false;

  constructor(readonly kv: Deno.Kv) {}

  /** Reads these keys now (getMany calls of 10, sent together) unless already read ahead. */
  get<T extends unknown[]>(
    keys: readonly Deno.KvKey[],
  ): Promise<{ [K in keyof T]: Deno.KvEntryMaybe<T[K]> }> {
    if (this.closed) return settled(Promise.reject(new Error("The request was answered.")));
    const missing = [...new Map(keys.map((key) => [keyId(key), key])).entries()]
      .filter(([id]) => !this.#gets.has(id));
    for (let i = 0; i < missing.length; i += MAX_GET_MANY) {
      const chunk = missing.slice(i, i + MAX_GET_MANY);
      const read = this.kv.getMany(chunk.map(([, key]) => key));
      chunk.forEach(([id], j) => this.#gets.set(id, settled(read.then((entries) => entries[j]))));
    }
    return settled(Promise.all(keys.map((key) => this.#gets.get(keyId(key))!))) as Promise<
      { [K in keyof T]: Deno.KvEntryMaybe<T[K]> }
    >;
  }

  /**
   * Lists now (up to `limit` entries; the whole range without one) unless already read ahead.
   * A request's own list of the same selector and direction is answered from it, and goes on
   * reading the store past `limit` if it wants more.
   */
  list<T>(
    selector: Deno.KvListSelector,
    options: { reverse?: boolean; limit?: number } = {},
  ): Promise<Deno.KvEntry<T>[]> {
    if (this.closed) return settled(Promise.reject(new Error("The request was answered.")));
    const id = listId(selector, options.reverse ?? false);
    let listed = this.#lists.get(id);
    if (!listed) this.#lists.set(id, listed = settled(readList(this.kv, selector, options)));
    return settled(listed.then((read) => read.entries as Deno.KvEntry<T>[]));
  }

  /** What was read ahead for this key, if it was. */
  entry(key: Deno.KvKey): Promise<Entry> | undefined {
    return this.#gets.get(keyId(key));
  }

  /** Keeps a read the request made itself, for its next read of the same key. */
  keep(key: Deno.KvKey, entry: Promise<Entry>): void {
    if (!this.closed) this.#gets.set(keyId(key), settled(entry));
  }

  /** What was read ahead for this list, if it was. */
  listed(selector: Deno.KvListSelector, reverse: boolean): Promise<Listed> | undefined {
    return this.#lists.get(listId(selector, reverse));
  }

  /** Keeps a list the request read to its end itself, for its next list of the same range. */
  keepList(selector: Deno.KvListSelector, reverse: boolean, listed: Listed): void {
    const id = listId(selector, reverse);
    if (!this.closed && !this.#lists.has(id)) this.#lists.set(id, Promise.resolve(listed));
  }

  /** Forgets everything read so far (the request wrote). */
  clear(): void {
    this.generation++;
    this.#gets.clear();
    this.#lists.clear();
  }

  /** The request is answered: whatever it left running reads the store from now on. */
  close(): void {
    this.closed = true;
    this.clear();
  }
}

async function readList(
  kv: Deno.Kv,
  selector: Deno.KvListSelector,
  options: { reverse?: boolean; limit?: number },
): Promise<Listed> {
  const iterator = kv.list(selector, {
    reverse: options.reverse,
    limit: options.limit,
    batchSize: Math.min(options.limit ?? 500, 500),
  });
  const entries: Deno.KvEntry<unknown>[] = [];
  const cursors: string[] = [];
  for await (const entry of iterator) {
    entries.push(entry);
    cursors.push(iterator.cursor);
  }
  return {
    entries,
    cursors,
    complete: options.limit === undefined || entries.length < options.limit,
  };
}

/** A promise whose rejection is reported to whoever awaits it, never as unhandled. */
function settled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function keyId(key: Deno.KvKey): string {
  return JSON.stringify(key.map(partId));
}

function partId(part: Deno.KvKeyPart): string {
  switch (typeof part) {
    case "string":
      return `s${part}`;
    case "number":
      return `n${Object.is(part, -0) ? "-0" : String(part)}`;
    case "bigint":
      return `b${part}`;
    case "boolean":
      return `t${part}`;
    default:
      return part instanceof Uint8Array ? `u${Array.from(part).join(",")}` : `?${String(part)}`;
  }
}

function listId(selector: Deno.KvListSelector, reverse: boolean): string {
  const s = selector as { prefix?: Deno.KvKey; start?: Deno.KvKey; end?: Deno.KvKey };
  const part = (key: Deno.KvKey | undefined) => key === undefined ? "-" : keyId(key);
  return `${reverse ? "r" : "f"}|${part(s.prefix)}|${part(s.start)}|${part(s.end)}`;
}

const current = new AsyncLocalStorage<ReadAhead>();

/** Runs `fn` (a request) with `readAhead` answering its reads through `readAheadKv` handles. */
export function withReadAhead<T>(readAhead: ReadAhead, fn: () => Promise<T>): Promise<T> {
  return current.run(readAhead, fn);
}

const handles = new WeakMap<Deno.Kv, Deno.Kv>();

/**
 * The store as requests with a read-ahead see it: reads answered from the request's read-ahead
 * when it has them (strong reads only), every write clearing it; everything else as `kv` does.
 */
export function readAheadKv(kv: Deno.Kv): Deno.Kv {
  let handle = handles.get(kv);
  if (handle) return handle;
  const mine = () => {
    const ahead = current.getStore();
    return ahead?.kv === kv && !ahead.closed ? ahead : undefined;
  };
  const strong = (options?: { consistency?: Deno.KvConsistencyLevel }) =>
    (options?.consistency ?? "strong") === "strong";
  const methods: Partial<Record<keyof Deno.Kv, unknown>> = {
    get(key: Deno.KvKey, options?: { consistency?: Deno.KvConsistencyLevel }) {
      const ahead = strong(options) ? mine() : undefined;
      const known = ahead?.entry(key);
      if (known) return known;
      const read = kv.get(key, options);
      ahead?.keep(key, read);
      return read;
    },
    getMany(keys: Deno.KvKey[], options?: { consistency?: Deno.KvConsistencyLevel }) {
      const ahead = strong(options) ? mine() : undefined;
      if (!ahead) return kv.getMany(keys, options);
      const known = keys.map((key) => ahead.entry(key));
      const missing = keys.filter((_, i) => !known[i]);
      if (missing.length) {
        const read = kv.getMany(missing, options);
        missing.forEach((key, i) => ahead.keep(key, read.then((entries) => entries[i])));
      }
      return Promise.all(keys.map((key) => ahead.entry(key)!));
    },
    list(selector: Deno.KvListSelector, options: Deno.KvListOptions = {}) {
      const ahead = strong(options) && !options.cursor ? mine() : undefined;
      if (!ahead) return kv.list(selector, options);
      const listed = ahead.listed(selector, options.reverse ?? false);
      if (listed) return new ReadAheadList(kv, selector, options, listed);
      const generation = ahead.generation;
      return new KeptList(kv.list(selector, options), options.limit, (read) => {
        // Kept only while the request has not written since it began this list.
        if (mine() === ahead && ahead.generation === generation) {
          ahead.keepList(selector, options.reverse ?? false, read);
        }
      });
    },
    atomic() {
      const op = kv.atomic();
      const commit = op.commit.bind(op);
      // The same operation object (callers may key things by it); its commit clears what was read.
      op.commit = async () => {
        mine()?.clear();
        try {
          return await commit();
        } finally {
          mine()?.clear();
        }
      };
      return op;
    },
    async set(key: Deno.KvKey, value: unknown, options?: { expireIn?: number }) {
      mine()?.clear();
      try {
        return await kv.set(key, value, options);
      } finally {
        mine()?.clear();
      }
    },
    async delete(key: Deno.KvKey) {
      mine()?.clear();
      try {
        return await kv.delete(key);
      } finally {
        mine()?.clear();
      }
    },
  };
  handle = new Proxy(kv, {
    get(target, prop) {
      if (Object.hasOwn(methods, prop)) return methods[prop as keyof Deno.Kv];
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  handles.set(kv, handle);
  return handle;
}

/** The desk as requests with a read-ahead see it: the same desk, its store read through one. */
export function readAheadDesk(desk: Desk): Desk {
  const kv = readAheadKv(desk.kv);
  return new Proxy(desk, {
    get: (target, prop) => prop === "kv" ? kv : Reflect.get(target, prop, target),
  });
}

/**
 * A list answered from a read-ahead: its entries, then (when it stopped at its limit and more
 * are wanted) the store's, from the cursor after them.
 */
class ReadAheadList<T> implements AsyncIterableIterator<Deno.KvEntry<T>> {
  #served = 0;
  #rest: Deno.KvListIterator<T> | null = null;
  #cursor = "";

  constructor(
    readonly kv: Deno.Kv,
    readonly selector: Deno.KvListSelector,
    readonly options: Deno.KvListOptions,
    readonly ahead: Promise<Listed>,
  ) {}

  get cursor(): string {
    return this.#rest ? this.#rest.cursor : this.#cursor;
  }

  async next(): Promise<IteratorResult<Deno.KvEntry<T>, undefined>> {
    const limit = this.options.limit ?? Infinity;
    if (this.#served >= limit) return { done: true, value: undefined };
    if (!this.#rest) {
      const listed = await this.ahead;
      if (this.#served < listed.entries.length) {
        this.#cursor = listed.cursors[this.#served];
        return { done: false, value: listed.entries[this.#served++] as Deno.KvEntry<T> };
      }
      if (listed.complete) return { done: true, value: undefined };
      this.#rest = this.kv.list<T>(this.selector, {
        ...this.options,
        cursor: this.#cursor || undefined,
        limit: limit === Infinity ? undefined : limit - this.#served,
      });
    }
    const next = await this.#rest.next();
    if (!next.done) this.#served++;
    return next;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Deno.KvEntry<T>> {
    return this;
  }
}

/** A list read from the store, handed to `keep` once read to its end. */
class KeptList<T> implements AsyncIterableIterator<Deno.KvEntry<T>> {
  #entries: Deno.KvEntry<unknown>[] = [];
  #cursors: string[] = [];

  constructor(
    readonly iterator: Deno.KvListIterator<T>,
    readonly limit: number | undefined,
    readonly keep: (listed: Listed) => void,
  ) {}

  get cursor(): string {
    return this.iterator.cursor;
  }

  async next(): Promise<IteratorResult<Deno.KvEntry<T>, undefined>> {
    const next = await this.iterator.next();
    if (next.done) {
      const complete = this.limit === undefined || this.#entries.length < this.limit;
      this.keep({ entries: this.#entries, cursors: this.#cursors, complete });
    } else {
      this.#entries.push(next.value);
      this.#cursors.push(this.iterator.cursor);
    }
    return next;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Deno.KvEntry<T>> {
    return this;
  }
}
