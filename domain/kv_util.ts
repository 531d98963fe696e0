/** Small helpers around Deno KV that every write path shares. */

/**
 * Runs `attempt` until it returns a value: `undefined` means "lost a check, read again".
 * Also retries `database is locked`, which a second handle on the same file can cause.
 */
export async function retryCommit<T>(
  attempt: () => Promise<T | undefined>,
  tries = 40,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      if (!(error instanceof TypeError && /database is locked/i.test(error.message))) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** i)));
  }
  throw new Error("KV commit kept conflicting; giving up");
}

/** `getMany` in chunks of 10 (the KV limit), keeping order. */
export async function getAll<T>(kv: Deno.Kv, list: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
  const chunks: Deno.KvKey[][] = [];
  for (let i = 0; i < list.length; i += 10) chunks.push(list.slice(i, i + 10));
  // The chunks go out together: one page of 50 tickets costs one round of reads, not five.
  return (await Promise.all(chunks.map((chunk) => kv.getMany<T[]>(chunk)))).flat();
}

/**
 * Walks several index prefixes as one list in key order of their last part (time-ordered ids),
 * so an agent's departments read as a single queue. Yields [lastKeyPart, value].
 */
export function mergeLists<T>(
  kv: Deno.Kv,
  prefixes: Deno.KvKey[],
  options: { reverse?: boolean; batchSize?: number; start?: Deno.KvKeyPart; end?: Deno.KvKeyPart } =
    {},
): AsyncGenerator<[Deno.KvKeyPart, T]> {
  const selectors = prefixes.map((prefix) => mergeSelector(prefix, options));
  return mergeRanges<T>(kv, selectors, options.reverse ?? false, options.batchSize);
}

/** `mergeLists` over ranges already chosen (`mergeSelector`). */
export async function* mergeRanges<T>(
  kv: Deno.Kv,
  selectors: Deno.KvListSelector[],
  reverse: boolean,
  batchSize = 50,
): AsyncGenerator<[Deno.KvKeyPart, T]> {
  const iterators = selectors.map((selector) =>
    kv.list<T>(selector, { reverse, batchSize })[Symbol.asyncIterator]()
  );
  const heads = await Promise.all(iterators.map((it) => it.next()));
  while (true) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i];
      if (head.done) continue;
      if (best === -1) best = i;
      else {
        const a = last(head.value.key) as string,
          b = last((heads[best] as IteratorYieldResult<Deno.KvEntry<T>>).value.key) as string;
        if (reverse ? a > b : a < b) best = i;
      }
    }
    if (best === -1) return;
    const entry = (heads[best] as IteratorYieldResult<Deno.KvEntry<T>>).value;
    yield [last(entry.key), entry.value];
    heads[best] = await iterators[best].next();
  }
}

/** What `mergeLists` lists under one prefix: from `start` up, or (reversed) from `end` down. */
export function mergeSelector(
  prefix: Deno.KvKey,
  options: { reverse?: boolean; start?: Deno.KvKeyPart; end?: Deno.KvKeyPart },
): Deno.KvListSelector {
  if (options.reverse && options.end !== undefined) {
    return { prefix, end: [...prefix, options.end] };
  }
  if (!options.reverse && options.start !== undefined) {
    return { prefix, start: [...prefix, options.start] };
  }
  return { prefix };
}

const last = (key: Deno.KvKey): Deno.KvKeyPart => key[key.length - 1];

/** What each commit already holds, by a caller-chosen id (see `onceInCommit`). */
const written = new WeakMap<Deno.AtomicOperation, Set<string>>();

/** True the first time `id` is asked about for this commit: a write several callers share. */
export function onceInCommit(op: Deno.AtomicOperation, id: string): boolean {
  const done = written.get(op) ?? new Set<string>();
  if (done.has(id)) return false;
  done.add(id);
  written.set(op, done);
  return true;
}

/**
 * Bumps a change marker (a `sum` counter that pages and instances `kv.watch`) once in the
 * caller's commit, however many of its writes touch what the marker stands for.
 */
export function bump(op: Deno.AtomicOperation, key: Deno.KvKey): Deno.AtomicOperation {
  return onceInCommit(op, JSON.stringify(key)) ? op.sum(key, 1n) : op;
}
