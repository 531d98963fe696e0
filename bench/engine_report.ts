/**
 * Engine benchmarks (issue 2, "Benchmarks"), printed as Markdown tables:
 *   1. POST /api/inbound messages per second on a file-backed KV store, next to the raw rate of
 *      one 3-mutation atomic commit on the same store in the same run (goal: ≥ 50%).
 *   2. Quick Accept 10 and the first Unassigned page (listTickets, limit 50) with 1k, 10k and
 *      100k tickets stored (goal: 100k within 1.5× of 1k).
 *   3. One sweep pass (runDueSweeps) settling 100 due conversations among 1k / 10k / 100k
 *      tickets (goal: 100k within 1.5× of 1k).
 *
 *   npx -y deno@2 run -A bench/engine_report.ts            # full run (≈ 2–3 min on 2 cores)
 *   npx -y deno@2 run -A bench/engine_report.ts --quick    # smaller counts, for a smoke test
 *   … --only=inbound | --only=size                          # one part
 */
import { quickAccept } from "../domain/tickets.ts";
import { listTickets } from "../domain/ticket_lists.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import {
  benchAgent,
  type BenchDesk,
  type CallStat,
  CLOSED_TIME,
  combine,
  customerScript,
  DAY,
  drive,
  fileDesk,
  inboundCaller,
  median,
  MINUTE,
  profiledKv,
  rawCommits,
  seedConversations,
  seedTickets,
  timeIt,
  type Timing,
} from "./engine_lib.ts";

const quick = Deno.args.includes("--quick");
/** `--only=inbound` or `--only=size` runs one part. */
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7);
const scale = quick ? 0.2 : 1;
const CONCURRENCY = 16;
const lines: string[] = [];
const out = (line = "") => {
  lines.push(line);
  console.log(line);
};
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const ms = (n: number) => n < 10 ? n.toFixed(2) : n.toFixed(1);
const progress = (text: string) => console.error(`… ${text}`);

/** The least KV work one inbound message needs, as plain KV calls on the same store. */
async function kvFloor(kv: Deno.Kv, n: number) {
  const value = { text: "x".repeat(150), at: Date.now(), author: "customer", direction: "in" };
  for (let i = 0; i < 50; i++) await kv.set(["bench_floor_read", i], value);
  const commit = (i: number, entries: Deno.KvEntryMaybe<unknown>[]) => {
    const op = kv.atomic();
    for (const e of entries.slice(0, 5)) op.check(e);
    for (let j = 0; j < 8; j++) op.set(["bench_floor", i, j], value);
    op.sum(["bench_floor_count"], 1n).delete(["bench_floor_due", i]);
    return op.commit();
  };
  const readKeys = (i: number, count: number) =>
    Array.from({ length: count }, (_, j) => ["bench_floor_read", (i + j) % 50]);
  const jobs = (tag: number) => Array.from({ length: n }, (_, i) => [i + tag * n]);
  const one = await drive(jobs(0), 1, async (i) => {
    const entries = await kv.getMany(readKeys(i, 5));
    if (!(await commit(i, entries)).ok) throw new Error("floor commit failed");
  });
  const three = await drive(jobs(1), 1, async (i) => {
    const a = await kv.getMany(readKeys(i, 3));
    const b = await kv.getMany(readKeys(i + 3, 3));
    const c = await kv.get(["bench_floor_read", (i + 7) % 50]);
    if (!(await commit(i, [...a, ...b.slice(0, 1), c])).ok) {
      throw new Error("floor commit failed");
    }
  });
  return { one, three };
}

/** The commit measured, and whether domain/ or routes/ had uncommitted changes. */
async function gitState(): Promise<string> {
  const git = async (...args: string[]) => {
    try {
      const res = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
      return new TextDecoder().decode(res.stdout).trim();
    } catch {
      return "";
    }
  };
  const head = await git("rev-parse", "--short", "HEAD");
  const dirty = await git("status", "--porcelain", "--", "domain", "routes");
  return head
    ? `git ${head}${
      dirty ? " + uncommitted changes in domain/ or routes/" : ", clean domain/ and routes/"
    }`
    : "unknown (no git)";
}

const runStart = performance.now();
out(`# chatdesk engine benchmarks`);
out();
out(`- date: ${new Date().toISOString()}`);
out(`- deno ${Deno.version.deno}, v8 ${Deno.version.v8}, ${Deno.build.target}`);
out(`- cores: ${navigator.hardwareConcurrency}${quick ? " (--quick run: reduced counts)" : ""}`);
out(`- engine: ${await gitState()}`);
out(`- load average at start (1/5/15 min): ${Deno.loadavg().map(f2).join(" / ")}`);
out();

// ================================================================ 1. inbound vs raw commits
if (only !== "size") {
  const d = await fileDesk();
  let run = 0;
  const customers = (count: number) => {
    const tag = String(++run).padStart(2, "0");
    return Array.from({ length: count }, (_, k) => customerScript(tag, k));
  };
  const tick = () => d.clock.advance(1);
  const direct = inboundCaller(d.app);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    d.app.fetch,
  );
  const http = inboundCaller(d.app, `http://127.0.0.1:${server.addr.port}`);

  progress("inbound: warm-up");
  await rawCommits(d.kv, 300, 1, "warm");
  await drive(customers(60), 1, direct, tick);
  await drive(customers(20), 1, http, tick);

  // Measurements alternate in rounds, so drift and other load on the machine hit all alike.
  const ROUNDS = 12;
  const rawN = Math.round(300 * scale); // per round
  const seqCustomers = Math.round(50 * scale); // per round, × 5 messages
  const httpCustomers = Math.round(30 * scale);
  const parts: Record<string, Timing[]> = {};
  const add = (name: string, t: Timing) => (parts[name] ??= []).push(t);
  const RAW = "raw 3-set atomic commit, sequential";
  const SEQ = "**POST /api/inbound via app.request, sequential**";
  const SEQ_HTTP = "POST /api/inbound via HTTP 127.0.0.1, sequential";
  const RAW_C = `raw 3-set atomic commit, ${CONCURRENCY} concurrent`;
  const CONC = `**POST /api/inbound via app.request, ${CONCURRENCY} concurrent**`;
  const CONC_HTTP = `POST /api/inbound via HTTP 127.0.0.1, ${CONCURRENCY} concurrent`;
  for (let round = 0; round < ROUNDS; round++) {
    progress(`inbound: round ${round + 1}/${ROUNDS}`);
    add(RAW, await rawCommits(d.kv, rawN, 1, `seq${round}`));
    add(SEQ, await drive(customers(seqCustomers), 1, direct, tick));
    add(SEQ_HTTP, await drive(customers(httpCustomers), 1, http, tick));
    add(RAW_C, await rawCommits(d.kv, rawN, CONCURRENCY, `conc${round}`));
    add(CONC, await drive(customers(seqCustomers), CONCURRENCY, direct, tick));
    add(CONC_HTTP, await drive(customers(httpCustomers), CONCURRENCY, http, tick));
  }
  const rows: [string, Timing][] = Object.entries(parts).map(([name, t]) => [name, combine(t)]);
  const raw = combine(parts[RAW]);
  const seq = combine(parts[SEQ]);
  const seqHttp = combine(parts[SEQ_HTTP]);
  const rawC = combine(parts[RAW_C]);
  const conc = combine(parts[CONC]);
  const concHttp = combine(parts[CONC_HTTP]);

  // Context rows: what the framework costs alone, and what the least KV work a message needs
  // (read its records once, one checked commit of its writes) costs on this store.
  progress("inbound: context rows");
  const refused = await drive(
    Array.from({ length: Math.round(2000 * scale) }, () => [0]),
    1,
    async () => {
      const res = await d.app.request("/api/inbound", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(customerScript("00", 0)[0]),
      });
      await res.text();
      if (res.status !== 401) throw new Error(`expected 401, got ${res.status}`);
    },
  );
  rows.push(["(context) POST /api/inbound refused 401: Hono + JSON, no KV", refused]);
  const floor = await kvFloor(d.kv, Math.round(2000 * scale));
  rows.push([
    "(context) KV floor: 1 getMany(5) + commit (5 checks, 10 mutations)",
    floor.one,
  ]);
  rows.push([
    "(context) KV floor: 2 getMany + 1 get + the same commit",
    floor.three,
  ]);
  await server.shutdown();
  await d.close();

  // A separate, smaller pass on a counting KV wrapper: which KV calls one message costs.
  progress("inbound: KV call profile");
  const p = await (async () => {
    let prof!: ReturnType<typeof profiledKv>;
    const pd = await fileDesk(CLOSED_TIME, (kv) => (prof = profiledKv(kv)).kv);
    const call = inboundCaller(pd.app);
    await drive(
      Array.from({ length: 60 }, (_, k) => customerScript("90", k)),
      1,
      call,
      () => pd.clock.advance(1),
    );
    prof.start();
    const n = Math.round(300 * scale);
    const timing = await drive(
      Array.from({ length: n }, (_, k) => customerScript("91", k)),
      1,
      call,
      () => pd.clock.advance(1),
    );
    prof.stop();
    await pd.close();
    return {
      timing,
      profile: new Map(prof.profile),
      sites: new Map(prof.sites),
      size: { ...prof.size },
    };
  })();

  const rawRate = raw.perSec;
  out(`## 1. Inbound messages vs raw atomic commits (file-backed KV, same store, same run)`);
  out();
  out(
    `Traffic: distinct customers (whatsapp / sms / webchat in turn), each sending first message → ` +
      `YES → two intake messages → //end, each with a provider message id, business closed ` +
      `(so every first message gets the auto-reply and YES/NO prompt).`,
  );
  out();
  out(`| measurement | ops | ops/s | p50 ms | p99 ms | vs raw commit (same concurrency) |`);
  out(`| --- | ---: | ---: | ---: | ---: | ---: |`);
  for (const [name, t] of rows) {
    out(
      `| ${name} | ${t.n} | ${f1(t.perSec)} | ${ms(t.p50)} | ${ms(t.p99)} | ${
        Math.round(100 * t.perSec / (name.includes("concurrent") ? rawC.perSec : rawRate))
      }% |`,
    );
  }
  out();
  // Each round's inbound rate against the raw rate measured just before it: the median of these
  // is robust to bursts of other load on the machine, which the totals are not.
  const roundRatios = (a: string, b: string) =>
    parts[a].map((t, i) => t.perSec / parts[b][i].perSec).sort((x, y) => x - y);
  const seqRatios = roundRatios(SEQ, RAW);
  const ratio = median(seqRatios);
  const ratioC = median(roundRatios(CONC, RAW_C));
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  out(
    `Goal (sequential, in-process): inbound ${f1(seq.perSec)}/s vs raw commit ${f1(rawRate)}/s = ${
      pct(seq.perSec / rawRate)
    } of the totals; median of the ${ROUNDS} per-round ratios ` +
      `**${pct(ratio)}** (range ${pct(seqRatios[0])}–${pct(seqRatios[seqRatios.length - 1])}) → ${
        ratio >= 0.5 ? "**met**" : "**NOT met**"
      } (≥ 50%).`,
  );
  out(
    `By median latency (robust to load bursts, which mostly stretch commit tails): raw p50 ${
      ms(raw.p50)
    } ms / inbound p50 ${ms(seq.p50)} ms = ${pct(raw.p50 / seq.p50)}.`,
  );
  out(
    `Concurrent (${CONCURRENCY} clients, in-process): inbound ${f1(conc.perSec)}/s vs raw ${
      f1(rawC.perSec)
    }/s; median per-round ratio ${pct(ratioC)}. HTTP sequential: ${
      Math.round(100 * seqHttp.perSec / rawRate)
    }% of raw; HTTP ${CONCURRENCY} concurrent: ${
      Math.round(100 * concHttp.perSec / rawC.perSec)
    }% of raw concurrent.`,
  );
  out();
  out(
    `KV calls per inbound message (separate profiled pass, ${p.timing.n} messages, ` +
      `${f1(p.timing.perSec)}/s with the wrapper):`,
  );
  out();
  out(`| KV call | calls / message | ms / message | share of KV time |`);
  out(`| --- | ---: | ---: | ---: |`);
  const total = [...p.profile.values()].reduce((s, c) => s + c.ms, 0);
  const byTime = [...p.profile.entries()].sort((a, b) => b[1].ms - a[1].ms);
  for (const [name, s] of byTime as [string, CallStat][]) {
    out(
      `| ${name} | ${f2(s.calls / p.timing.n)} | ${(s.ms / p.timing.n).toFixed(3)} | ${
        Math.round(100 * s.ms / total)
      }% |`,
    );
  }
  out(
    `| **all KV** | ${
      f2([...p.profile.values()].reduce((s, c) => s + c.calls, 0) / p.timing.n)
    } | ${(total / p.timing.n).toFixed(3)} | of ${
      (p.timing.totalMs / p.timing.n).toFixed(3)
    } ms per message in all |`,
  );
  out();
  out(
    `Commit size: ${f1(p.size.mutations / p.size.commits)} mutations and ${
      f1(p.size.checks / p.size.commits)
    } checks per commit on average (the raw baseline: 3 sets, no check).`,
  );
  out();
  out(`KV calls per inbound message by call site (domain file:line, function):`);
  out();
  out(`| call @ site | calls / message | ms / message |`);
  out(`| --- | ---: | ---: |`);
  for (const [name, s] of [...p.sites.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    out(`| ${name} | ${f2(s.calls / p.timing.n)} | ${(s.ms / p.timing.n).toFixed(3)} |`);
  }
  out();
}

// ================================================================ 2 + 3. store size
if (only !== "inbound") {
  const sizes = quick ? [1000, 10000] : [1000, 10000, 100000];
  const now = CLOSED_TIME;
  const seedAgents = Array.from({ length: 20 }, (_, i) => benchAgent(now - 40 * DAY, `seed${i}`));
  const base = now - 30 * DAY;
  const QA_REPS = 15;
  const LIST_REPS = 41;
  const SWEEP_REPS = 9;
  // One store per size, all open at once; every measurement's reps alternate between them.
  const stores: {
    size: number;
    d: BenchDesk;
    seedMs: number;
    qa: number[];
    list: number[];
    sweep: number[];
    fileMb: number;
  }[] = [];
  for (const size of sizes) {
    progress(`store: seeding ${size} tickets`);
    const d = await fileDesk(now);
    const seedMs = await timeIt(async () => {
      await seedTickets(d.kv, 0, size, base, seedAgents);
      // Live traffic: 1% of the store has a conversation whose timer is not due yet.
      await seedConversations(d.desk, size / 100, now + 6 * 60 * MINUTE, "f");
    });
    stores.push({ size, d, seedMs, qa: [], list: [], sweep: [], fileMb: 0 });
  }
  let agentNo = 0;
  progress(`stores: quick accept 10 × ${QA_REPS}`);
  for (let r = 0; r < QA_REPS + 1; r++) {
    for (const st of stores) {
      const agent = benchAgent(now, `qa${++agentNo}`);
      let accepted: string[] = [];
      const t = await timeIt(async () => accepted = await quickAccept(st.d.desk, agent, 10));
      if (accepted.length !== 10) throw new Error(`quick accept took ${accepted.length}`);
      if (r > 0) st.qa.push(t); // the first rep warms up
    }
  }
  progress(`stores: first Unassigned page × ${LIST_REPS}`);
  const viewer = benchAgent(now, "viewer");
  for (let r = 0; r < LIST_REPS + 1; r++) {
    for (const st of stores) {
      let count = 0;
      const t = await timeIt(async () => {
        const page = await listTickets(st.d.kv, viewer, { queue: "unassigned", limit: 50 }, now);
        count = page.tickets.length;
      });
      if (count !== 50) throw new Error(`page had ${count} tickets`);
      if (r > 0) st.list.push(t);
    }
  }
  progress(`stores: sweep of 100 due conversations × ${SWEEP_REPS}`);
  for (let r = 0; r < SWEEP_REPS + 1; r++) {
    for (const st of stores) {
      // 100 conversations due 1 s before the clock; not timed.
      await seedConversations(st.d.desk, 100, st.d.clock.now() - 1000, `s${r}`);
      let settled = 0;
      const t = await timeIt(async () => {
        settled = (await runDueSweeps(st.d.desk)).conversations;
      });
      if (settled !== 100) throw new Error(`sweep settled ${settled}, expected 100`);
      if (r > 0) st.sweep.push(t);
      st.d.clock.advance(1000);
    }
  }
  // Where the time goes, per size: a few extra reps on the same stores with every KV call timed.
  progress("stores: KV call profile of Quick Accept 10");
  const PROFILE_REPS = 8;
  const qaProfiles: Map<string, CallStat>[] = [];
  const prof = stores.map((st) => profiledKv(st.d.kv));
  for (let r = 0; r < PROFILE_REPS; r++) {
    for (const [i, st] of stores.entries()) {
      prof[i].resume();
      await quickAccept(st.d.desk, benchAgent(now, `qp${++agentNo}`), 10);
      prof[i].stop();
    }
  }
  for (const pr of prof) qaProfiles.push(new Map(pr.sites));
  for (const st of stores) {
    st.fileMb = (await Deno.stat(st.d.path)).size / 1e6;
    await st.d.close();
  }
  const results = stores;

  const first = results[0];
  const last = results[results.length - 1];
  const row = (name: string, pick: (r: typeof first) => number[]) => {
    const cells = results.map((r) => ms(median(pick(r))));
    const ratio = median(pick(last)) / median(pick(first));
    return { line: `| ${name} | ${cells.join(" | ")} | ${f2(ratio)}× |`, ratio };
  };
  const qaRow = row(`Quick Accept 10 (median of ${QA_REPS})`, (r) => r.qa);
  const listRow = row(`first Unassigned page, limit 50 (median of ${LIST_REPS})`, (r) => r.list);
  const sweepRow = row(`sweep pass, 100 due (median of ${SWEEP_REPS})`, (r) => r.sweep);
  const header = results.map((r) => `${r.size / 1000}k tickets, ms`).join(" | ");
  out(`## 2–3. Cost against store size (file-backed KV, one store per size)`);
  out();
  out(
    `Store: per ticket its customer, an ended conversation and 3 messages; 80% unassigned, ` +
      `10% assigned, 10% closed recently; plus 1% of the store in live conversations whose ` +
      `timers are not due. Each Quick Accept rep uses a fresh agent (the 10 oldest unassigned ` +
      `are taken, then the next 10); each sweep rep first writes 100 conversations due 1 s ago ` +
      `(half awaiting_reply, half leaving_message). Reps alternate between the stores; the first rep of each is a discarded warm-up.`,
  );
  out();
  out(`| measurement | ${header} | ${last.size / 1000}k / ${first.size / 1000}k |`);
  out(`| --- | ${results.map(() => "---:").join(" | ")} | ---: |`);
  out(qaRow.line);
  out(listRow.line);
  out(sweepRow.line);
  out(
    `| (KV file size, MB) | ${results.map((r) => f1(r.fileMb)).join(" | ")} | |`,
  );
  out(
    `| (seeding time, s, not measured) | ${
      results.map((r) => f1(r.seedMs / 1000)).join(" | ")
    } | |`,
  );
  out();
  const verdict = (name: string, ratio: number) =>
    out(
      `- ${name}: ${last.size / 1000}k / ${first.size / 1000}k = ${f2(ratio)}× → ${
        ratio <= 1.5 ? "**met**" : "**NOT met**"
      } (≤ 1.5×)`,
    );
  verdict("Quick Accept 10", qaRow.ratio);
  verdict("first Unassigned page", listRow.ratio);
  verdict("sweep pass with 100 due", sweepRow.ratio);
  out();
  out(
    `Quick Accept 10, KV calls by call site (${PROFILE_REPS} extra reps per store, timed wrapper; ` +
      `ms per call, and calls per Quick Accept):`,
  );
  out();
  const siteNames = [...new Set(qaProfiles.flatMap((m) => [...m.keys()]))].sort((a, b) =>
    (qaProfiles[qaProfiles.length - 1].get(b)?.ms ?? 0) -
    (qaProfiles[qaProfiles.length - 1].get(a)?.ms ?? 0)
  );
  out(`| call @ site | ${results.map((r) => `${r.size / 1000}k: ms/call (calls)`).join(" | ")} |`);
  out(`| --- | ${results.map(() => "---:").join(" | ")} |`);
  for (const site of siteNames) {
    const cells = qaProfiles.map((m) => {
      const st = m.get(site);
      return st ? `${(st.ms / st.calls).toFixed(3)} (${f1(st.calls / PROFILE_REPS)})` : "–";
    });
    out(`| ${site} | ${cells.join(" | ")} |`);
  }
  out();
  out(
    `Spread (min–max ms) — Quick Accept: ${
      results.map((r) => `${f1(Math.min(...r.qa))}–${f1(Math.max(...r.qa))}`).join(", ")
    }; page: ${
      results.map((r) => `${f2(Math.min(...r.list))}–${f2(Math.max(...r.list))}`).join(", ")
    }; sweep: ${
      results.map((r) => `${f1(Math.min(...r.sweep))}–${f1(Math.max(...r.sweep))}`).join(", ")
    }.`,
  );
  out();
}

out(
  `Total run time: ${f1((performance.now() - runStart) / 1000)} s; load average at end: ${
    Deno.loadavg().map(f2).join(" / ")
  }.`,
);
