/**
 * Rule 39: an instance told to stop takes no new head, lets the provider calls in flight finish,
 * records their outcome and releases their leases, so the next instance repeats nothing.
 */
import assert from "node:assert/strict";
import { Courier } from "../domain/delivery.ts";
import { keys } from "../domain/keys.ts";
import { FakeProvider } from "./fake_provider.ts";
import { CLOSED_TIME, testDesk } from "./helpers.ts";

Deno.test("[domain] rule 39: a graceful stop finishes the calls in flight and repeats nothing", async (t) => {
  // Slow enough that the stop finds three calls in flight.
  const gateway = FakeProvider.start(() => ({ status: 200, body: {}, delayMs: 400 }));
  const d = await testDesk({ at: CLOSED_TIME, listen: true });
  const { token: admin } = await d.person("admin");
  const put = await d.json("PUT", "/api/channels/api", {
    token: admin,
    body: { webhookUrl: `${gateway.url}/hook`, secret: "stop-secret", enabled: true },
  });
  assert.equal(put.status, 200);
  const replies: string[] = [];
  for (const n of [1, 2, 3]) {
    // Out of hours: two auto-replies each (the notice, then the YES/NO prompt), in that order.
    const answer = await d.inbound({ channel: "sms", from: `+1555000000${n}`, text: "hello" });
    replies.push(...answer.replies.map((r) => r.id));
  }
  const status = async (id: string) =>
    (await d.json<{ delivery: { status: string } }>("GET", `/api/messages/${id}`, {
      token: admin,
    })).body.delivery.status;

  await t.step("the stop waits for the three calls in flight and records them sent", async () => {
    await gateway.waitFor(3);
    const { unfinished } = await d.courier.stop(4_000);
    assert.equal(unfinished, 0);
    const heads = replies.filter((_, i) => i % 2 === 0);
    assert.deepEqual(await Promise.all(heads.map(status)), ["sent", "sent", "sent"]);
  });

  await t.step("no new head was handed over after the stop; the leases are released", async () => {
    assert.equal(gateway.requests.length, 3);
    const seconds = replies.filter((_, i) => i % 2 === 1);
    assert.deepEqual(await Promise.all(seconds.map(status)), ["queued", "queued", "queued"]);
    const leases = await Array.fromAsync(d.kv.list({ prefix: ["send_lease"] }));
    assert.equal(leases.length, 0);
  });

  await t.step("the queues it stopped short of are due now, for whoever runs next", async () => {
    const now = d.clock.now();
    const due = await Array.fromAsync(
      d.kv.list<string>({ prefix: keys.deliveryDue(), end: [...keys.deliveryDue(), now + 1] }),
    );
    assert.equal(new Set(due.map((e) => e.value)).size, 3);
  });

  await t.step("the next instance sends the rest, each message exactly once", async () => {
    const next = new Courier(d.desk, d.courier.config);
    await next.runDue();
    await gateway.waitFor(6);
    const ids = gateway.json<{ id: string }>().map((b) => b.id);
    assert.equal(ids.length, 6);
    assert.deepEqual(new Set(ids), new Set(replies));
    assert.deepEqual(await Promise.all(replies.map(status)), Array(6).fill("sent"));
    await next.stop(0);
  });

  await d.close();
  await gateway.close();
});
