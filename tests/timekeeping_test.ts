/** SPEC rules 21 and 22: one injected clock, idempotent sweeps, business hours across daylight saving. */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import { scheduleDue } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import type { Conversation, Ticket } from "../domain/types.ts";
import { CLOSED_TIME, leaveMessage, OPEN_TIME, type TestDesk, testDesk } from "./helpers.ts";

/** A scenario with one of each timer: a pending chat, a YES/NO prompt, an intake, a closed ticket. */
async function scenario(): Promise<TestDesk> {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent, token } = await d.person("agent");
  const closing = await leaveMessage(d, "+27820000001");
  await d.json("POST", `/api/tickets/${closing}/accept`, { token });
  await d.json("POST", `/api/tickets/${closing}/close`, { token });
  await d.inbound({ channel: "sms", from: "+15550000002", text: "prompted" });
  await d.inbound({ channel: "sms", from: "+15550000003", text: "intake" });
  await d.inbound({ channel: "sms", from: "+15550000003", text: "yes" });
  await setStatus(d.kv, agent.id, "online");
  await d.inbound({ channel: "webchat", from: "visitor-4", text: "pending" });
  return d;
}

/** What the desk looks like, without random ids. */
async function snapshot(d: TestDesk) {
  const tickets: unknown[] = [];
  for await (const e of d.kv.list<Ticket>({ prefix: keys.tickets() })) {
    const t = e.value;
    tickets.push([
      t.from,
      t.status,
      t.createdAt,
      t.closedAt,
      t.archivedAt,
      t.history.map((h) => [h.action, h.at]),
    ]);
  }
  const conversations: unknown[] = [];
  for await (const e of d.kv.list<Conversation>({ prefix: ["conversations"] })) {
    conversations.push([e.value.state, e.value.deadline, e.value.lastActivityAt]);
  }
  let due = 0;
  for await (const _ of d.kv.list({ prefix: keys.dueAll() })) due++;
  let messages = 0;
  for await (const _ of d.kv.list({ prefix: ["messages"] })) messages++;
  return { tickets: tickets.sort(), conversations: conversations.sort(), due, messages };
}

Deno.test("[domain] rule 21: a sweep run twice, late or concurrently changes nothing more than once on time", async (t) => {
  const moments = [5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 91 * 24 * 60 * MINUTE];
  const onTime = await scenario();
  for (const m of moments) {
    onTime.clock.set(OPEN_TIME + m);
    await runDueSweeps(onTime.desk);
  }
  const expected = await snapshot(onTime);

  await t.step("twice at each moment", async () => {
    const d = await scenario();
    for (const m of moments) {
      d.clock.set(OPEN_TIME + m);
      await runDueSweeps(d.desk);
      await runDueSweeps(d.desk);
    }
    assert.deepEqual(await snapshot(d), expected);
    await d.close();
  });
  await t.step("concurrently, three at a time", async () => {
    const d = await scenario();
    for (const m of moments) {
      d.clock.set(OPEN_TIME + m);
      await Promise.all([runDueSweeps(d.desk), runDueSweeps(d.desk), runDueSweeps(d.desk)]);
    }
    assert.deepEqual(await snapshot(d), expected);
    await d.close();
  });
  await t.step("once, late, after every deadline has passed", async () => {
    const d = await scenario();
    d.clock.set(OPEN_TIME + moments.at(-1)!);
    await runDueSweeps(d.desk);
    assert.deepEqual(await snapshot(d), expected);
    await d.close();
  });
  assert.equal(expected.due, 0, "a due entry outlived its transition");
  await onTime.close();
});

Deno.test("[domain] rule 21: the due index makes a sweep touch only what is due", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  for (let i = 0; i < 5; i++) {
    await d.inbound({ channel: "sms", from: `+1555000010${i}`, text: "hi" });
  }
  d.clock.advance(MINUTE);
  assert.deepEqual(await runDueSweeps(d.desk), { conversations: 0, archived: 0, failed: 0 });
  d.clock.advance(9 * MINUTE);
  assert.deepEqual(await runDueSweeps(d.desk), { conversations: 5, archived: 0, failed: 0 });
  assert.deepEqual(await runDueSweeps(d.desk), { conversations: 0, archived: 0, failed: 0 });
  await d.close();
});

Deno.test("[domain] rule 37: a due time is a due entry and a bump of the key every instance watches", async () => {
  const kv = await Deno.openKv(":memory:");
  const now = Date.now();
  const before = await kv.get(keys.dueChanged());
  const op = kv.atomic();
  scheduleDue(op, now + 200, "conversation", "customer-1");
  assert.ok((await op.commit()).ok);
  assert.equal(
    (await kv.get(keys.due(now + 200, "conversation", "customer-1"))).value,
    "customer-1",
  );
  const after = await kv.get(keys.dueChanged());
  assert.notEqual(after.versionstamp, before.versionstamp);
  kv.close();
});

Deno.test("[domain] rule 22: opening hours follow local time across daylight saving", async (t) => {
  const d = await testDesk({ at: Date.parse("2026-10-30T13:30:00Z") });
  const admin = await d.person("admin");
  const weekday = [["09:00", "17:00"]];
  await d.json("PUT", "/api/settings", {
    token: admin.token,
    body: {
      hours: {
        timeZone: "America/New_York",
        weekly: { mon: weekday, tue: weekday, wed: weekday, thu: weekday, fri: weekday },
        closures: [],
      },
    },
  });
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");

  await t.step("Friday 13:30 UTC is 09:30 in New York (EDT): open", async () => {
    const r = await d.inbound({ channel: "sms", from: "+15550000301", text: "hi" });
    assert.equal(r.conversation.state, "pending");
  });
  await t.step("the Monday after the change, 13:30 UTC is 08:30 (EST): closed", async () => {
    d.clock.set(Date.parse("2026-11-02T13:30:00Z"));
    const r = await d.inbound({ channel: "sms", from: "+15550000302", text: "hi" });
    assert.equal(r.conversation.state, "awaiting_reply");
  });
  await t.step("and 14:00 UTC is 09:00 local: open again", async () => {
    d.clock.set(Date.parse("2026-11-02T14:00:00Z"));
    await setStatus(d.kv, agent.id, "online");
    const r = await d.inbound({ channel: "sms", from: "+15550000303", text: "hi" });
    assert.equal(r.conversation.state, "pending");
  });
  await t.step("a dated closure closes the whole local day", async () => {
    await d.json("PUT", "/api/settings", {
      token: await d.signIn(admin.agent),
      body: { hours: { closures: ["2026-11-02"] } },
    });
    const r = await d.inbound({ channel: "sms", from: "+15550000304", text: "hi" });
    assert.equal(r.conversation.state, "awaiting_reply");
  });
  await d.close();
});

Deno.test("[domain] restart: everything written through one KV handle is there after reopening", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/desk.sqlite3`;
  const first = await testDesk({ at: CLOSED_TIME, path });
  const { agent, token } = await first.person("agent");
  const a = await leaveMessage(first, "+27820000401", ["before restart"]);
  const b = await leaveMessage(first, "+27820000402");
  await first.json("POST", `/api/tickets/${a}/accept`, { token });
  await first.inbound({ channel: "sms", from: "+15550000403", text: "prompt pending" });
  await first.close();

  const second = await testDesk({ at: CLOSED_TIME + MINUTE, path });
  const again = await second.signIn(agent);
  const mine = await second.json<{ tickets: { id: string }[] }>(
    "GET",
    "/api/tickets?queue=assigned",
    { token: again },
  );
  assert.deepEqual(mine.body.tickets.map((x) => x.id), [a]);
  const open = await second.json<{ tickets: { id: string }[] }>(
    "GET",
    "/api/tickets?queue=unassigned",
    { token: again },
  );
  assert.deepEqual(open.body.tickets.map((x) => x.id), [b]);
  const ticket = await second.json<{ messages: { text: string }[] }>("GET", `/api/tickets/${a}`, {
    token: again,
  });
  assert.ok(ticket.body.messages.some((m) => m.text === "before restart"));
  // The YES/NO timer survives too: the sweep after restart ends the prompt on time.
  second.clock.advance(10 * MINUTE);
  assert.equal((await runDueSweeps(second.desk)).conversations, 1);
  await second.close();
  await Deno.remove(dir, { recursive: true });
});
