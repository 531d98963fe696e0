/**
 * `deno task bench` view of the engine figures (bench/engine_report.ts prints the full report with
 * p50/p99, ratios and goals). Every store is a SQLite file in a temp dir, removed on unload.
 *   npx -y deno@2 bench --allow-all bench/engine_bench.ts
 */
import { listTickets } from "../domain/ticket_lists.ts";
import { quickAccept } from "../domain/tickets.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import {
  benchAgent,
  type BenchDesk,
  CLOSED_TIME,
  customerScript,
  DAY,
  fileDesk,
  inboundCaller,
  seedConversations,
  seedTickets,
} from "./engine_lib.ts";

const desks: BenchDesk[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of desks) {
    try {
      d.kv.close();
      Deno.removeSync(d.dir, { recursive: true });
    } catch {
      // already closed and removed
    }
  }
});

// ---------------------------------------------------------------- inbound vs raw commit

const inboundDesk = await fileDesk();
desks.push(inboundDesk);
const send = inboundCaller(inboundDesk.app);
let customer = 0;
let step = 0;
let script = customerScript("71", customer);
let rawNo = 0;
const rawValue = { text: "x".repeat(120), at: CLOSED_TIME, direction: "in", author: "customer" };

Deno.bench("raw 3-set atomic commit", { group: "inbound", baseline: true }, async () => {
  const i = rawNo++;
  await inboundDesk.kv.atomic()
    .set(["bench_raw", i, "a"], rawValue)
    .set(["bench_raw", i, "b"], rawValue)
    .set(["bench_raw", i, "c"], rawValue)
    .commit();
});

Deno.bench("POST /api/inbound (app.request; first/YES/intake/intake/end)", {
  group: "inbound",
}, async () => {
  inboundDesk.clock.advance(1);
  await send(script[step++]);
  if (step === script.length) {
    step = 0;
    script = customerScript("71", ++customer);
  }
});

// ---------------------------------------------------------------- store size

const now = CLOSED_TIME;
const seedAgents = Array.from({ length: 10 }, (_, i) => benchAgent(now - 40 * DAY, `seed${i}`));
const sized: Record<string, BenchDesk> = {};
for (const size of [1000, 10000]) {
  const d = await fileDesk(now);
  desks.push(d);
  await seedTickets(d.kv, 0, size, now - 30 * DAY, seedAgents);
  sized[`${size / 1000}k`] = d;
}
const viewer = benchAgent(now, "viewer");
let agentNo = 0;

for (const [label, d] of Object.entries(sized)) {
  Deno.bench(`first Unassigned page (limit 50), ${label} tickets`, {
    group: "list",
    baseline: label === "1k",
  }, async () => {
    await listTickets(d.kv, viewer, { queue: "unassigned", limit: 50 }, now);
  });
}

// 1k tickets hold 800 unassigned: 40 runs of 10 (plus warm-up) stay within them.
for (const [label, d] of Object.entries(sized)) {
  Deno.bench(`Quick Accept 10, ${label} tickets`, {
    group: "quick accept",
    baseline: label === "1k",
    n: 40,
    warmup: 5,
  }, async () => {
    const taken = await quickAccept(d.desk, benchAgent(now, `qa${++agentNo}`), 10);
    if (taken.length !== 10) throw new Error(`took ${taken.length}`);
  });
}

for (const [label, d] of Object.entries(sized)) {
  let rep = 0;
  Deno.bench(`sweep pass, 100 due, ${label} tickets`, {
    group: "sweep",
    baseline: label === "1k",
    n: 10,
    warmup: 2,
  }, async (b) => {
    d.clock.advance(1000);
    await seedConversations(d.desk, 100, d.clock.now() - 500, `r${rep++}`);
    b.start();
    const report = await runDueSweeps(d.desk);
    b.end();
    if (report.conversations !== 100) throw new Error(`settled ${report.conversations}`);
  });
}
