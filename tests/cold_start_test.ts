/**
 * Rule 38: a start reads a bounded number of keys whatever the store holds, and answers its first
 * request within a second, on a KV Connect store 90 ms away (Deno Deploy's round trip from Europe).
 */
import assert from "node:assert/strict";
import { keys } from "../domain/keys.ts";
import { ADMIN, INBOUND } from "./edge_cluster.ts";
import { type KvConnectServer, openKvConnect, startKvConnectServer } from "./kv_connect_server.ts";
import { freePort, startMain } from "./main_process.ts";

/** Writes `count` tickets straight into the store, 500 to a commit (2 keys each). */
async function seedTickets(server: KvConnectServer, count: number) {
  const kv = await openKvConnect(server);
  const base = Date.parse("2026-01-01T00:00:00Z");
  for (let i = 0; i < count; i += 500) {
    const op = kv.atomic();
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const id = `${(base + j).toString(36).padStart(10, "0")}t${j}`;
      const customerId = `c${j % 5000}`;
      op.set(keys.ticket(id), {
        id,
        customerId,
        channel: "sms",
        from: `+1555${String(j % 5000).padStart(7, "0")}`,
        department: null,
        status: "unassigned",
        createdAt: base + j,
        lastMessageAt: base + j,
        assignedTo: null,
        closedBy: null,
        closedAt: null,
        closeReason: null,
      });
      op.set(["unassigned", "none", id], id);
    }
    assert.ok((await op.commit()).ok);
  }
  return kv;
}

/** Starts main.ts on the store; returns the KV calls made before it listened and the first answer's time. */
async function coldStart(server: KvConnectServer) {
  server.calls = { reads: 0, writes: 0, watches: 0 };
  const port = freePort();
  const spawned = performance.now();
  const main = startMain({
    PORT: String(port),
    CHATDESK_KV_PATH: server.url,
    DENO_KV_ACCESS_TOKEN: server.token,
    CHATDESK_CLOCK: "system",
    CHATDESK_DEMO: "0",
    CHATDESK_ADMIN_EMAIL: ADMIN.email,
    CHATDESK_ADMIN_PASSWORD: ADMIN.password,
    CHATDESK_INBOUND_TOKEN: INBOUND,
  });
  try {
    await main.ready;
    const listening = performance.now();
    const onStart = server.calls.reads + server.calls.writes;
    const res = await fetch(`http://127.0.0.1:${port}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ADMIN),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const answered = performance.now();
    return {
      onStart,
      spawnToListen: listening - spawned,
      listenToAnswer: answered - listening,
      main,
    };
  } catch (error) {
    await main.kill("SIGKILL");
    throw error;
  }
}

Deno.test("[e2e] rule 38: a start reads as much on 100,000 tickets as on 1,000, and answers within 1 s", async (t) => {
  const results: {
    tickets: number;
    onStart: number;
    spawnToListen: number;
    listenToAnswer: number;
  }[] = [];
  for (const tickets of [1_000, 100_000]) {
    await t.step(`${tickets} tickets`, async () => {
      const server = await startKvConnectServer();
      const seeded = await seedTickets(server, tickets);
      server.delayMs = 90;
      // A first start: it also makes the admin, and migrates in the background after listening.
      const cold = await coldStart(server);
      await cold.main.kill("SIGKILL");
      const { main: _, ...measured } = cold;
      results.push({ tickets, ...measured });
      seeded.close();
      await server.close();
    });
  }
  console.table(results);
  const [small, large] = results;
  await t.step("the start path makes the same few KV calls whatever the store holds", () => {
    assert.equal(large.onStart, small.onStart);
    assert.ok(large.onStart <= 6, `${large.onStart} calls`);
  });
  await t.step("the first request is answered within 1 s of listening at 90 ms a call", () => {
    assert.ok(large.listenToAnswer <= 1_000, `${large.listenToAnswer} ms`);
  });
});
