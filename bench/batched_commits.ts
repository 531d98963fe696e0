/**
 * Seeding many records fast without passing a commit's limits (rule 41): at most 1,000 mutations
 * and 800 KiB per commit (Deno KV), and 10 checks (the self-hosted denokv server). Each record is
 * first written to a recorder that counts what it adds; a commit goes out before the next record
 * would pass a limit, so the number of records per commit follows whatever the domain writes.
 */

export const COMMIT_LIMITS = { mutations: 1_000, checks: 10, bytes: 800 * 1024 };

/** Room left under the byte limit: the estimate below is JSON, not KV's own encoding. */
const BYTE_HEADROOM = 0.75;

type Call = [method: string, args: unknown[]];

interface Recorded {
  calls: Call[];
  mutations: number;
  checks: number;
  bytes: number;
}

const MUTATIONS = new Set(["set", "delete", "sum", "min", "max", "enqueue"]);

/** An `AtomicOperation` that only records what is written to it (nothing can be committed). */
function recorder(): { op: Deno.AtomicOperation; recorded: Recorded } {
  const recorded: Recorded = { calls: [], mutations: 0, checks: 0, bytes: 0 };
  const op: Deno.AtomicOperation = new Proxy({} as Deno.AtomicOperation, {
    get(_, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      return (...args: unknown[]) => {
        if (method === "commit") throw new Error("a seed writes records; commitInBatches commits");
        recorded.calls.push([method, args]);
        if (method === "check") recorded.checks += args.length;
        else if (method === "mutate") recorded.mutations += args.length;
        else if (MUTATIONS.has(method)) recorded.mutations++;
        recorded.bytes += JSON.stringify(args, (_, v) => typeof v === "bigint" ? String(v) : v)
          .length;
        return op;
      };
    },
  });
  return { op, recorded };
}

function replay(op: Deno.AtomicOperation, calls: Call[]) {
  const target = op as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const [method, args] of calls) target[method](...args);
}

/**
 * Writes records `0..count-1` (each by `write(op, i)`) in as few commits as the limits allow, in
 * order; returns how many commits it took. A record that alone passes a limit is an error.
 */
export async function commitInBatches(
  kv: Deno.Kv,
  count: number,
  write: (op: Deno.AtomicOperation, i: number) => void | Promise<void>,
  limits = COMMIT_LIMITS,
): Promise<number> {
  const maxBytes = limits.bytes * BYTE_HEADROOM;
  let batch: Recorded[] = [];
  let mutations = 0, checks = 0, bytes = 0, commits = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const op = kv.atomic();
    for (const record of batch) replay(op, record.calls);
    const result = await op.commit();
    if (!result.ok) throw new Error(`seed commit ${commits + 1} failed a check`);
    commits++;
    batch = [];
    mutations = checks = bytes = 0;
  };
  for (let i = 0; i < count; i++) {
    const { op, recorded } = recorder();
    await write(op, i);
    if (
      recorded.mutations > limits.mutations || recorded.checks > limits.checks ||
      recorded.bytes > maxBytes
    ) {
      throw new Error(
        `record ${i} alone passes a commit limit (${recorded.mutations} mutations, ` +
          `${recorded.checks} checks, ≈${recorded.bytes} bytes)`,
      );
    }
    if (
      mutations + recorded.mutations > limits.mutations ||
      checks + recorded.checks > limits.checks || bytes + recorded.bytes > maxBytes
    ) await flush();
    batch.push(recorded);
    mutations += recorded.mutations;
    checks += recorded.checks;
    bytes += recorded.bytes;
  }
  await flush();
  return commits;
}
