/**
 * Rule 41 end to end: the real app on a KV Connect store (Deno's remote client, as on Deno
 * Deploy), 90 ms per KV call, counting sequential round trips per action; and every commit within
 * the self-hosted KV Connect limits (the test server refuses more than 10 checks, 1,000 mutations
 * or 800 KiB, so every flow run here proves its commits fit).
 */
import assert from "node:assert/strict";
import { type Notice, takeNotices } from "../domain/alerts.ts";
import { keys } from "../domain/keys.ts";
import { openKvConnect, startKvConnectServer } from "./kv_connect_server.ts";
import {
  DELAY_MS,
  leaveTickets,
  LIMITS,
  measureActions,
  type Measured,
  roundTripDesk,
} from "./round_trip_actions.ts";

Deno.test(`[e2e] rule 41: each action's sequential KV round trips at ${DELAY_MS} ms stay within the rule`, async (t) => {
  const rows = await measureActions();
  const row = (action: string): Measured => {
    const found = rows.find((r) => r.action === action);
    assert.ok(found, `${action} was measured`);
    return found;
  };
  for (const r of rows) {
    const limit = LIMITS[r.action];
    if (limit === undefined) continue;
    await t.step(`${r.action}: at most ${limit} round trips`, () => {
      assert.ok(r.status < 400, `${r.action} answered ${r.status}`);
      assert.ok(r.rounds <= limit, `${r.action}: ${r.rounds} round trips (${Math.round(r.ms)} ms)`);
    });
  }
  await t.step("a page never reads ticket by ticket: 50 tickets cost the rounds of 5", () => {
    const five = row("queue page: GET /tickets/unassigned, 5 tickets");
    const fifty = row("queue page: GET /tickets/unassigned, 50 tickets");
    assert.equal(fifty.rounds, five.rounds);
  });
  await t.step("the first page a fresh instance serves costs one round more, no more", () => {
    const first = row("queue page: the first page a fresh instance serves");
    assert.ok(first.status < 400 && first.rounds <= 3, `${first.rounds} round trips`);
  });
});

Deno.test("[e2e] rule 41: a Quick Accept of 100 commits within 10 checks each, in a few rounds", async () => {
  const d = await roundTripDesk();
  try {
    const { t, measure } = d;
    const { token } = await t.person("agent");
    await leaveTickets(t, 105);
    let accepted: string[] = [];
    const r = await measure("Quick Accept of 100", async () => {
      const res = await t.call("POST", "/api/tickets/quick-accept", {
        token,
        body: { count: 100 },
      });
      accepted = (await res.json()).accepted ?? [];
      return res.status;
    });
    assert.equal(r.status, 200);
    assert.equal(accepted.length, 100);
    assert.equal(new Set(accepted).size, 100);
    assert.ok(r.rounds <= 12, `${r.rounds} round trips`);
    const assigned = await Array.fromAsync(t.kv.list({ prefix: keys.unassigned("none") }));
    assert.equal(assigned.length, 5, "the 5 newest are still waiting");
  } finally {
    await d.close();
  }
});

Deno.test("[e2e] rule 41: racing Quick Accepts on KV Connect never take one ticket twice", async () => {
  const d = await roundTripDesk();
  try {
    const { t, server } = d;
    const ana = await t.person("agent");
    const ben = await t.person("agent");
    await leaveTickets(t, 40);
    // Both commit side by side, so their checks meet: a few ms apart on the server.
    server.delayMs = 5;
    const take = (token: string) =>
      t.json<{ accepted: string[] }>("POST", "/api/tickets/quick-accept", {
        token,
        body: { count: 30 },
      });
    const [a, b] = await Promise.all([take(ana.token), take(ben.token)]);
    server.delayMs = 0;
    const all = [...a.body.accepted, ...b.body.accepted];
    assert.equal(new Set(all).size, all.length, "no ticket accepted twice");
    assert.equal(all.length, 40, "every ticket went to one of them");
  } finally {
    await d.close();
  }
});

Deno.test("[domain] rule 41: takeNotices removes 25 notices in commits of at most 10 checks", async (t) => {
  // The server refuses a commit of more than 10 checks, as self-hosted denokv does.
  const server = await startKvConnectServer({ maxChecks: 10 });
  const kv = await openKvConnect(server);
  try {
    const agentId = "01AGENT0000000000000000000";
    const write = async (count: number, from = 0) => {
      for (let i = from; i < from + count; i++) {
        const notice: Notice = { ticketId: `T${i}`, customer: `customer ${i}`, at: 1000 + i };
        await kv.set(keys.agentNotice(agentId, notice.at, notice.ticketId), notice);
      }
    };
    await write(25);
    await t.step("the 20 newest are taken, oldest first, then the 5 left", async () => {
      const first = await takeNotices(kv, agentId);
      assert.deepEqual(
        first.map((n) => n.ticketId),
        Array.from({ length: 20 }, (_, i) => `T${i + 5}`),
      );
      const rest = await takeNotices(kv, agentId);
      assert.deepEqual(rest.map((n) => n.ticketId), ["T0", "T1", "T2", "T3", "T4"]);
      assert.deepEqual(await takeNotices(kv, agentId), []);
    });
    await t.step("two desks taking at once show each notice exactly once", async () => {
      await write(20, 100);
      server.delayMs = 5;
      const [a, b] = await Promise.all([takeNotices(kv, agentId), takeNotices(kv, agentId)]);
      server.delayMs = 0;
      const shown = [...a, ...b].map((n) => n.ticketId).sort();
      assert.deepEqual(shown, Array.from({ length: 20 }, (_, i) => `T${i + 100}`).sort());
      assert.deepEqual(await takeNotices(kv, agentId), []);
    });
  } finally {
    kv.close();
    await server.close();
  }
});
