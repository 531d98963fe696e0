/**
 * Rules 37–41 end to end, the way Deno Deploy runs the desk: three `main.ts` instances on the
 * system clock, one store behind a KV Connect server (Deno's own remote client, which refuses
 * any commit carrying `enqueue`), customers writing through any instance, couriers on all.
 */
import assert from "node:assert/strict";
import { EdgeCluster, INBOUND, type Sent, tally } from "./edge_cluster.ts";
import { readEventStream } from "./event_stream.ts";

const CUSTOMERS = 12;

/** Out of hours, each customer's first message gets two replies and each later one a re-prompt. */
async function burst(cluster: EdgeCluster, customers: number, messagesEach: number, tag: string) {
  const expected = new Map<string, string[]>();
  await Promise.all(Array.from({ length: customers }, async (_, c) => {
    const from = `+1555${tag}${String(c).padStart(4, "0")}`;
    const ids: string[] = [];
    for (let m = 0; m < messagesEach; m++) {
      const live = cluster.instances.flatMap((x, i) => x ? [i] : []);
      ids.push(...await cluster.inbound(live[(c + m) % live.length], from, `message ${m}`));
    }
    expected.set(from, ids);
  }));
  return expected;
}

function percentile(values: number[], p: number) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

Deno.test("[e2e] rules 37–39 on KV Connect: three instances, kills and stops lose and repeat nothing", async (t) => {
  // The gateway is slow enough that kills and stops find calls in flight and full outboxes.
  const cluster = await EdgeCluster.start(() => ({ status: 200, body: {}, delayMs: 150 }));
  try {
    await Promise.all([0, 1, 2].map((i) => cluster.launch(i)));
    await cluster.setUp();

    await t.step("every inbound message is stored and answered through any instance", async () => {
      const expected = await burst(cluster, CUSTOMERS, 2, "10");
      assert.equal([...expected.values()].flat().length, CUSTOMERS * 3);
      await cluster.drained([...expected.values()].flat(), 20_000);
      assert.deepEqual(tally(expected, cluster.sent()), { lost: 0, repeated: 0, reordered: 0 });
    });

    await t.step(
      "SIGKILL of every instance mid-burst, then one start: all drained ≤ 20 s, only in-flight heads repeat",
      async () => {
        cluster.gateway.requests.length = 0;
        const expected = await burst(cluster, CUSTOMERS, 3, "20");
        // Calls are in flight now (150 ms each, 4 a customer): kill everything at once.
        await cluster.gateway.waitFor(CUSTOMERS);
        const inFlight = new Set(cluster.sent().map((s) => s.id));
        await Promise.all([0, 1, 2].map((i) => cluster.kill(i, "SIGKILL")));
        const before = cluster.sent().length;
        await cluster.launch(0);
        const drain = await cluster.drained([...expected.values()].flat(), 20_000);
        const counts = tally(expected, cluster.sent());
        console.log(
          `SIGKILL ×3 after ${before} of ${
            CUSTOMERS * 4
          } sent: drained in ${drain} ms after the restart;`,
          counts,
        );
        assert.equal(counts.lost, 0);
        assert.equal(counts.reordered, 0);
        // Only a head whose call was in flight at the kill can go twice, at most one per customer.
        assert.ok(counts.repeated <= CUSTOMERS, `${counts.repeated} repeats`);
        const repeats = new Map<string, number>();
        for (const s of cluster.sent()) repeats.set(s.id, (repeats.get(s.id) ?? 0) + 1);
        for (const [id, n] of repeats) if (n > 1) assert.ok(inFlight.has(id) || n === 2);
        assert.ok(drain <= 20_000);
      },
    );

    await t.step("SIGINT with calls in flight: a graceful stop repeats nothing", async () => {
      await Promise.all([1, 2].map((i) => cluster.launch(i)));
      cluster.gateway.requests.length = 0;
      const expected = await burst(cluster, CUSTOMERS, 3, "30");
      await cluster.gateway.waitFor(CUSTOMERS);
      await Promise.all([0, 1, 2].map((i) => cluster.kill(i, "SIGINT")));
      await cluster.launch(1);
      const drain = await cluster.drained([...expected.values()].flat(), 20_000);
      const counts = tally(expected, cluster.sent());
      console.log(`SIGINT ×3: drained in ${drain} ms after the restart;`, counts);
      assert.deepEqual(counts, { lost: 0, repeated: 0, reordered: 0 });
    });
  } finally {
    await cluster.close();
  }
});

Deno.test("[e2e] rules 27 and 37 on KV Connect: instances killed at random mid-burst while the others serve", async () => {
  const cluster = await EdgeCluster.start(() => ({ status: 200, body: {}, delayMs: 100 }));
  try {
    await Promise.all([0, 1, 2].map((i) => cluster.launch(i)));
    await cluster.setUp();
    cluster.gateway.requests.length = 0;
    const expected = new Map<string, string[]>();
    let kills = 0;
    // Customers write through whichever instance is up; every 700 ms one instance is SIGKILLed
    // and started again, so one is always serving.
    const writing = (async () => {
      for (let round = 0; round < 6; round++) {
        const more = await burst(cluster, 6, 1, `5${round}`);
        for (const [from, ids] of more) expected.set(from, ids);
      }
    })();
    const killing = (async () => {
      for (let k = 0; k < 4; k++) {
        await new Promise((r) => setTimeout(r, 700));
        const victim = Math.floor(Math.random() * 3);
        await cluster.kill(victim, "SIGKILL");
        kills++;
        await cluster.launch(victim);
      }
    })();
    await Promise.all([writing, killing]);
    // What the desk stored is what must arrive: answers cut by a kill carried no reply ids.
    for (const from of expected.keys()) expected.set(from, await cluster.storedReplies(from));
    const drain = await cluster.drained([...expected.values()].flat(), 30_000);
    const counts = tally(expected, cluster.sent());
    console.log(
      `${kills} random SIGKILLs, ${
        [...expected.values()].flat().length
      } messages: drained ${drain} ms after the burst;`,
      counts,
    );
    assert.equal(counts.lost, 0);
    assert.equal(counts.reordered, 0);
    // A repeat is only a head whose call was in flight in the killed instance: one per kill at
    // most per customer it was sending to, never more than the calls that kill could cut.
    assert.ok(counts.repeated <= kills * 20, `${counts.repeated} repeats`);
  } finally {
    await cluster.close();
  }
});

Deno.test("[e2e] rule 37 on KV Connect: a first retry comes 5 s ± 2 s later, from whichever instance", async () => {
  // Each message's first attempt gets a 503, every later one a 200.
  const attempts = new Map<string, number>();
  const cluster = await EdgeCluster.start((r) => {
    const { id } = JSON.parse(r.body) as { id: string };
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    return n === 1 ? { status: 503, body: { error: "busy" } } : { status: 200, body: {} };
  });
  try {
    await Promise.all([0, 1, 2].map((i) => cluster.launch(i)));
    await cluster.setUp();
    cluster.gateway.requests.length = 0;
    attempts.clear();
    // One reply each (a re-prompt would follow the first two): 6 customers, first message only.
    const expected = await burst(cluster, 6, 1, "40");
    const heads = [...expected.values()].map((ids) => ids[0]);
    await cluster.drained([...expected.values()].flat(), 40_000);
    const byId = new Map<string, Sent[]>();
    for (const s of cluster.sent()) byId.set(s.id, [...(byId.get(s.id) ?? []), s]);
    const gaps = heads.map((id) => byId.get(id)![1].at - byId.get(id)![0].at);
    console.log(`first-retry gaps (ms): ${gaps.join(", ")}`);
    for (const gap of gaps) assert.ok(gap >= 3_000 && gap <= 7_000, `gap ${gap} ms`);
  } finally {
    await cluster.close();
  }
});

Deno.test("[e2e] rule 40 on KV Connect: a ticket made through A reaches an agent on B within 1 s (p95)", async () => {
  const cluster = await EdgeCluster.start(() => ({ status: 200, body: {} }));
  try {
    await Promise.all([0, 1].map((i) => cluster.launch(i)));
    await cluster.setUp();
    const made = await cluster.call(0, "POST", "/api/agents", cluster.admin, {
      name: "Edge Agent",
      email: "agent@edge.local",
      password: "agent-password-1",
      role: "agent",
      departments: [],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const session = await cluster.call(1, "POST", "/api/session", "", {
      email: "agent@edge.local",
      password: "agent-password-1",
    });
    const token = (session.body as { token: string }).token;
    const res = await fetch(`${cluster.instances[1]!.base}/events?view=unassigned&v=x`, {
      headers: { cookie: `chatdesk_session=${token}`, accept: "text/event-stream" },
    });
    assert.equal(res.status, 200);
    const live = readEventStream(res.body!, 5_000);
    try {
      assert.ok(await live.until("event: list"), "the page's first wave");
      await live.settle();
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const from = `+1555500${String(i).padStart(4, "0")}`;
        await cluster.inbound(0, from, "hello");
        const started = performance.now();
        const yes = await cluster.call(0, "POST", "/api/inbound", INBOUND, {
          channel: "sms",
          from,
          text: "YES",
        });
        const ticketId = (yes.body as { ticketId: string }).ticketId;
        assert.ok(await live.until(ticketId, 5_000), `ticket ${i} reached B`);
        latencies.push(performance.now() - started);
      }
      const p50 = percentile(latencies, 0.5), p95 = percentile(latencies, 0.95);
      console.log(`A → B row latency: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms`);
      assert.ok(p95 <= 1_000, `p95 ${p95} ms`);
    } finally {
      await live.close();
    }
  } finally {
    await cluster.close();
  }
});
