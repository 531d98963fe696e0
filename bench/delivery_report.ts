/**
 * Delivery benchmark (rules 24–26, 37), wired as main.ts wires it: a file KV, the in-process kick
 * after each commit, the wake-up timers on the delivery due entries (no KV queues), and the API
 * channel pointed at a gateway on 127.0.0.1.
 *
 *   npx -y deno@2 run -A bench/delivery_report.ts
 *
 * 1. Latency from commit to the provider's request, 1,000 messages queued in a burst (500
 *    customers × the out-of-hours notice and the prompt), gateway answering at once.
 * 2. Throughput with a gateway answering in 200 ms: 1,000 messages over 500 customers (the cap
 *    of 20 calls at once per route bounds it at 100/s), then 40 messages to one customer (its
 *    order makes them one at a time: 5/s at most).
 * 3. An agent's reply to the provider's request, against a raw commit + POST (rounds interleaved).
 */
import { createAgent } from "../domain/agents.ts";
import { updateChannel } from "../domain/channel_settings.ts";
import { replyToTicket } from "../domain/chats.ts";
import { acceptTicket } from "../domain/tickets.ts";
import { systemClock } from "../domain/clock.ts";
import { Courier } from "../domain/delivery.ts";
import { crossProcessPollMs, type Desk } from "../domain/desk.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { updateSettings } from "../domain/settings.ts";
import { Wakeups } from "../domain/wakeups.ts";
import { FakeProvider, type Recorded } from "../tests/fake_provider.ts";

async function deskWith(delayMs: number) {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/bench.sqlite3`);
  const desk: Desk = { kv, clock: systemClock };
  const gateway = FakeProvider.start(() => ({ status: 200, body: {}, delayMs }));
  const courier = new Courier(desk, {
    publicUrl: null,
    whatsappApiBase: "http://127.0.0.1:9",
    twilioApiBase: "http://127.0.0.1:9",
    timeoutMs: 10_000,
  });
  desk.kick = (id, likely) => void courier.deliver(id, likely).catch((e) => console.error(e));
  // As main.ts: retries and anything a kick missed wake from the delivery due entries.
  const wakeups = new Wakeups(kv, systemClock, [
    { name: "delivery", prefix: keys.deliveryDue(), run: () => courier.startDue() },
  ], { timers: true, pollMs: crossProcessPollMs("file", 1_000) });
  wakeups.start();
  await updateSettings(kv, { hours: { timeZone: "UTC", weekly: {}, closures: [] } });
  await updateChannel(kv, "api", {
    webhookUrl: `${gateway.url}/hook`,
    secret: "bench-secret",
    enabled: true,
  }, { clock: systemClock, publicUrl: null });
  return {
    desk,
    gateway,
    async close() {
      // The last outcomes are committed before the store closes (rule 39's stop).
      await wakeups.stop();
      await courier.stop();
      kv.close();
      await gateway.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function until(gateway: FakeProvider, n: number, limitMs: number) {
  const deadline = Date.now() + limitMs;
  while (gateway.requests.length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Writes `customers` first messages (two replies each), `parallel` writers at once. */
async function burst(desk: Desk, customers: number, parallel: number, offset = 0) {
  const committed = new Map<string, number>();
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < customers) {
      const i = next++;
      const r = await receiveInbound(desk, {
        channel: "sms",
        from: `+1555${String(offset + i).padStart(7, "0")}`,
        text: "hello",
        route: "api",
      });
      const at = performance.now() + performance.timeOrigin;
      for (const m of r.replies) committed.set(m.id, at);
    }
  }));
  return committed;
}

function latencies(committed: Map<string, number>, requests: Recorded[]) {
  const out: number[] = [];
  for (const r of requests) {
    const id = JSON.parse(r.body).id as string;
    const at = committed.get(id);
    if (at !== undefined) out.push(r.at - at);
  }
  return out.sort((a, b) => a - b);
}

// 1. Latency with 1,000 messages queued in a burst.
{
  const { desk, gateway, close } = await deskWith(0);
  const started = performance.now();
  const committed = await burst(desk, 500, 16);
  const writeMs = performance.now() - started;
  await until(gateway, committed.size, 60_000);
  const doneMs = performance.now() - started;
  const lat = latencies(committed, gateway.requests);
  console.log(
    `latency, ${committed.size} messages (500 customers, 16 writers): ` +
      `p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms, max ${
        lat.at(-1)!.toFixed(0)
      } ms; written in ${writeMs.toFixed(0)} ms, all handed over after ${doneMs.toFixed(0)} ms`,
  );
  await close();
}

// 1b. Latency at a steady 50 messages/s (25 customers/s), the provider answering at once.
{
  const { desk, gateway, close } = await deskWith(0);
  const committed = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const tick = new Promise((r) => setTimeout(r, 40));
    for (const [id, at] of await burst(desk, 1, 1, 10_000 + i)) committed.set(id, at);
    await tick;
  }
  await until(gateway, committed.size, 30_000);
  const lat = latencies(committed, gateway.requests);
  console.log(
    `latency at a steady 50 messages/s (${committed.size} messages): p50 ${
      pct(lat, 50).toFixed(1)
    } ms, p99 ${pct(lat, 99).toFixed(1)} ms`,
  );
  await close();
}

// 2a. Throughput, gateway answering in 200 ms, many customers.
{
  const { desk, gateway, close } = await deskWith(200);
  const started = performance.now();
  const committed = await burst(desk, 500, 16);
  await until(gateway, committed.size, 120_000);
  await new Promise((r) => setTimeout(r, 250));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `throughput, ${committed.size} messages over 500 customers, provider 200 ms: ` +
      `${(gateway.requests.length / seconds).toFixed(1)} messages/s ` +
      `(${gateway.requests.length} in ${seconds.toFixed(1)} s; bound: 20 calls at once → 100/s)`,
  );
  await close();
}

// 2b. One customer: its order makes its messages go one at a time.
{
  const { desk, gateway, close } = await deskWith(200);
  const started = performance.now();
  for (let i = 0; i < 20; i++) {
    // A first message, then re-prompts: each answer queues messages for the same customer.
    await receiveInbound(desk, {
      channel: "sms",
      from: "+15559999999",
      text: i === 0 ? "hello" : "?",
      route: "api",
    });
  }
  await until(gateway, 21, 60_000);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `one customer, 21 messages, provider 200 ms: ${
      (gateway.requests.length / seconds).toFixed(1)
    } messages/s (in order, one at a time)`,
  );
  await close();
}

// 3. An agent's reply to the provider's request, against the floor: a raw 3-set commit followed by
// a POST to the same gateway (issue 14: reply → provider ≤ 2× the floor). Rounds interleave.
{
  const { desk, gateway, close } = await deskWith(0);
  const agent = await createAgent(desk.kv, systemClock, {
    name: "Bench Agent",
    email: "bench@agent.local",
    password: "bench-password-1",
    role: "agent",
  });
  const ROUNDS = 200;
  const tickets: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const from = `+1556${String(i).padStart(7, "0")}`;
    await receiveInbound(desk, { channel: "sms", from, text: "hello", route: "api" });
    const yes = await receiveInbound(desk, { channel: "sms", from, text: "YES", route: "api" });
    await acceptTicket(desk, agent, yes.ticketId!);
    tickets.push(yes.ticketId!);
  }
  await until(gateway, ROUNDS * 3, 30_000);
  const floor: number[] = [], reply: number[] = [];
  const arrival = async (n: number) => {
    await until(gateway, n, 10_000);
    return gateway.requests[n - 1].at;
  };
  for (let i = 0; i < ROUNDS; i++) {
    let seen = gateway.requests.length;
    const now = () => performance.timeOrigin + performance.now();
    let t0 = now();
    await desk.kv.atomic().set(["bench", i, 1], "a".repeat(300)).set(["bench", i, 2], "b")
      .set(["bench", i, 3], "c").commit();
    await fetch(`${gateway.url}/hook`, {
      method: "POST",
      body: JSON.stringify({ id: `floor-${i}` }),
    })
      .then((r) => r.body?.cancel());
    floor.push((await arrival(seen + 1)) - t0);
    seen = gateway.requests.length;
    t0 = now();
    await replyToTicket(desk, agent, tickets[i], { text: `reply ${i}` });
    reply.push((await arrival(seen + 1)) - t0);
  }
  floor.sort((a, b) => a - b);
  reply.sort((a, b) => a - b);
  console.log(
    `reply → provider, ${ROUNDS} rounds: p50 ${pct(reply, 50).toFixed(2)} ms, p99 ${
      pct(reply, 99).toFixed(2)
    } ms; floor (3-set commit + POST): p50 ${pct(floor, 50).toFixed(2)} ms, p99 ${
      pct(floor, 99).toFixed(2)
    } ms; p50 ratio ${(pct(reply, 50) / pct(floor, 50)).toFixed(1)}×`,
  );
  await close();
}
