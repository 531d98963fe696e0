/** Slow and greedy clients: a body that trickles gets 408; one address has a cap on requests in flight. */
import assert from "node:assert/strict";
import { createApp } from "../routes/app.ts";
import { INBOUND_TOKEN, testDesk } from "./helpers.ts";

/** Asks `GET /api/agents/me` until it answers `want` or `ms` pass; the last status it got. */
async function statusOnceItIs(base: string, token: string, want: number, ms: number) {
  const end = Date.now() + ms;
  while (true) {
    const res = await fetch(`${base}/api/agents/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
    if (res.status === want || Date.now() > end) return res.status;
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("[routes] slow bodies time out and one address cannot hold every request slot", async (t) => {
  const d = await testDesk();
  const { token } = await d.person("admin");
  const app = createApp({
    desk: d.desk,
    config: { ...(await import("../domain/config.ts")).parseConfig({ CHATDESK_CLOCK: "manual" }) },
    manualClock: d.clock,
    inboundToken: INBOUND_TOKEN,
    courier: d.courier,
    // The deadline leaves the second step's held bodies time to be seen as held on a loaded
    // machine; the first step's trickle (a byte per 200 ms) outlasts it all the same.
    limits: { bodyDeadlineMs: 1500, perAddress: 2 },
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;

  await t.step("a body sent a byte at a time past the deadline is answered 408", async () => {
    let sent = 0;
    const trickle = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 200));
        if (sent++ > 20) controller.close();
        else controller.enqueue(new TextEncoder().encode(sent === 1 ? "{" : " "));
      },
    });
    const started = Date.now();
    const res = await fetch(`${base}/api/departments`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: trickle,
      duplex: "half",
    } as RequestInit);
    const body = await res.json();
    assert.equal(res.status, 408);
    assert.equal(body.error.code, "request_timeout");
    assert.ok(Date.now() - started < 3_000, "the server waited for the whole trickle");
    const departments = await d.json<{ departments: unknown[] }>("GET", "/api/departments", {
      token,
    });
    assert.equal(departments.body.departments.length, 0, "a timed-out body stored something");
  });

  await t.step(
    "a third request in flight from one address gets 429; inbound is never capped",
    async () => {
      const hanging: AbortController[] = [];
      const slowBody = () => {
        const controller = new AbortController();
        hanging.push(controller);
        const body = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
        return fetch(`${base}/api/departments`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body,
          duplex: "half",
          signal: controller.signal,
        } as RequestInit).catch(() => null);
      };
      const held = [slowBody(), slowBody()];
      // Once the server holds both (their bodies never come), a third is refused.
      assert.equal(await statusOnceItIs(base, token, 429, 1200), 429);
      const inbound = await fetch(`${base}/api/inbound`, {
        method: "POST",
        headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ channel: "sms", from: "+15550100001", text: "hi" }),
      });
      assert.equal(inbound.status, 200);
      await inbound.body?.cancel();
      for (const c of hanging) c.abort();
      await Promise.all(held);
      // The slots come back once those requests end.
      assert.equal(await statusOnceItIs(base, token, 200, 5000), 200);
    },
  );

  await server.shutdown();
  await d.close();
});
