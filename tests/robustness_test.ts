/** Fixes from the engine review: bounded records, isolated sweep failures, races and edge timing. */
import assert from "node:assert/strict";
import { getAgent, setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import type { Desk } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { HISTORY_LIMIT, withEvent } from "../domain/tickets.ts";
import type { Conversation, Ticket, TicketEvent } from "../domain/types.ts";
import { CLOSED_TIME, leaveMessage, OPEN_TIME, testDesk } from "./helpers.ts";

Deno.test("[domain] a ticket record stays small however long it lives", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { token } = await d.person("agent");
  const id = await leaveMessage(d, "+27820010001");
  await d.json("POST", `/api/tickets/${id}/accept`, { token });
  await t.step("300 replies in one chat log one event, not 300", async () => {
    for (let i = 0; i < 300; i++) {
      assert.equal(
        (await d.call("POST", `/api/tickets/${id}/reply`, { token, body: { text: `r${i}` } }))
          .status,
        201,
      );
    }
    const ticket = (await d.kv.get<Ticket>(keys.ticket(id))).value!;
    assert.equal(ticket.history.filter((e) => e.action === "replied").length, 1);
  });
  await t.step("history keeps its first event and the latest ones", () => {
    let history: TicketEvent[] = [{ at: 0, action: "created", by: null }];
    for (let i = 1; i <= 1000; i++) {
      history = withEvent(history, { at: i, action: "merged", by: null });
    }
    assert.equal(history.length, HISTORY_LIMIT);
    assert.equal(history[0].action, "created");
    assert.equal(history.at(-1)!.at, 1000);
  });
  await d.close();
});

Deno.test("[domain] rule 21: one customer's failing timer does not stop the others", async () => {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  const broken = await d.inbound({ channel: "sms", from: "+15550010001", text: "hi" });
  const fine = await d.inbound({ channel: "sms", from: "+15550010002", text: "hi" });
  // A store that fails every read of the broken customer's conversation.
  const failing = new Proxy(d.kv, {
    get(target, prop) {
      if (prop === "getMany") {
        return (list: Deno.KvKey[]) => {
          if (list.some((k) => k[0] === "conversations" && k[1] === broken.customerId)) {
            return Promise.reject(new Error("disk error"));
          }
          return target.getMany(list);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const desk: Desk = { ...d.desk, kv: failing };
  d.clock.advance(5 * MINUTE);
  const report = await runDueSweeps(desk);
  assert.ok(report.failed >= 1);
  assert.equal(
    (await d.kv.get<Conversation>(keys.conversation(fine.customerId))).value!.state,
    "leaving_message",
  );
  // The next healthy sweep picks the failed one up.
  assert.equal((await runDueSweeps(d.desk)).conversations, 1);
  assert.equal(
    (await d.kv.get<Conversation>(keys.conversation(broken.customerId))).value!.state,
    "leaving_message",
  );
  await d.close();
});

Deno.test("[domain] rule 5: replying while a timed-out pending chat awaits its sweep keeps its messages", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+27820010010";
  const ticketId = await leaveMessage(d, from);
  d.clock.set(OPEN_TIME + 24 * 60 * MINUTE);
  const a = await d.person("agent");
  await d.json("POST", `/api/tickets/${ticketId}/accept`, { token: a.token });
  await setStatus(d.kv, a.agent.id, "online");
  assert.equal(
    (await d.inbound({ channel: "whatsapp", from, text: "URGENT: card stolen" })).conversation
      .state,
    "pending",
  );
  d.clock.advance(6 * MINUTE); // past the pending timeout, no sweep has run
  assert.equal(
    (await d.call("POST", `/api/tickets/${ticketId}/reply`, {
      token: a.token,
      body: { text: "On it" },
    })).status,
    201,
  );
  const ticket = await d.json<{ messages: { text: string }[] }>("GET", `/api/tickets/${ticketId}`, {
    token: a.token,
  });
  assert.ok(ticket.body.messages.some((m) => m.text === "URGENT: card stolen"));
  await d.close();
});

Deno.test("[routes] parallel wrong passwords cannot slip past the sign-in limit", async () => {
  const d = await testDesk();
  const { agent } = await d.person("agent");
  const results = await Promise.all(
    Array.from(
      { length: 30 },
      () =>
        d.call("POST", "/api/session", { body: { email: agent.email, password: "wrong-pass" } }),
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.ok(
    statuses.filter((s) => s === 401).length <= 5,
    `${statuses.filter((s) => s === 401).length} guesses were checked`,
  );
  assert.equal(
    (await d.call("POST", "/api/session", {
      body: { email: agent.email, password: "password-123" },
    })).status,
    429,
  );
  await d.close();
});

Deno.test("[routes] provider message ids are per customer", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.inbound({
    channel: "webchat",
    from: "visitor-a",
    text: "hello from A",
    id: "1",
  });
  const b = await d.inbound({
    channel: "webchat",
    from: "visitor-b",
    text: "hello from B",
    id: "1",
  });
  assert.notEqual(a.customerId, b.customerId);
  assert.equal(b.replies.length, 2, "B's message was taken for a repeat of A's");
  await d.close();
});

Deno.test("[domain] rule 9: a re-sent YES/NO prompt gets its full timeout again", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+15550010020";
  await d.inbound({ channel: "sms", from, text: "hi" });
  d.clock.advance(9 * MINUTE);
  await d.inbound({ channel: "sms", from, text: "what?" });
  d.clock.advance(5 * MINUTE);
  await runDueSweeps(d.desk);
  const r = await d.inbound({ channel: "sms", from, text: "yes" });
  assert.equal(r.conversation.state, "leaving_message");
  await d.close();
});

Deno.test("[domain] rule 21: an archive run late records the time the ticket came due", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const id = await leaveMessage(d, "+27820010030");
  const closed = await d.json<{ closedAt: string }>("POST", `/api/tickets/${id}/close`, {
    token: admin.token,
  });
  d.clock.advance(93 * 24 * 60 * MINUTE);
  await runDueSweeps(d.desk);
  const ticket = (await d.kv.get<Ticket>(keys.ticket(id))).value!;
  assert.equal(ticket.archivedAt, Date.parse(closed.body.closedAt) + 90 * 24 * 60 * MINUTE);
  await d.close();
});

Deno.test("[domain] ending a chat started from a ticket brings the ticket's lastMessageAt up to date", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const from = "+15550010040";
  const id = await leaveMessage(d, from, ["x"], { channel: "sms" });
  await d.json("POST", `/api/tickets/${id}/accept`, { token: a.token });
  await d.json("POST", `/api/tickets/${id}/reply`, { token: a.token, body: { text: "hello" } });
  d.clock.advance(MINUTE);
  await d.inbound({ channel: "sms", from, text: "thanks!" });
  const chats = await d.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=live", {
    token: a.token,
  });
  await d.json("POST", `/api/chats/${chats.body.chats[0].id}/end`, { token: a.token });
  const ticket = await d.json<{ lastMessageAt: string }>("GET", `/api/tickets/${id}`, {
    token: a.token,
  });
  assert.equal(ticket.body.lastMessageAt, new Date(d.clock.now()).toISOString());
  await d.close();
});

Deno.test("[routes] oversized input is a 400, never a 500", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const closures = Array.from(
    { length: 8000 },
    (_, i) => new Date(Date.UTC(2027, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
  );
  assert.equal(
    (await d.call("PUT", "/api/settings", { token: admin.token, body: { hours: { closures } } }))
      .status,
    400,
  );
  const tpl = await d.json<{ id: string }>("POST", "/api/templates", {
    token: admin.token,
    body: { name: "big", body: "{{1}}".repeat(200) },
  });
  const id = await leaveMessage(d, "+27820010050");
  await d.json("POST", `/api/tickets/${id}/accept`, { token: admin.token });
  const reply = await d.json<{ error: { code: string } }>("POST", `/api/tickets/${id}/reply`, {
    token: admin.token,
    body: { template: tpl.body.id, params: ["x".repeat(1000)] },
  });
  assert.equal(reply.status, 400);
  assert.equal(reply.body.error.code, "text_too_long");
  assert.equal(
    (await d.call("GET", `/api/tickets?queue=assigned&agent=${"a".repeat(3000)}`, {
      token: admin.token,
    })).status,
    400,
  );
  assert.equal(
    (await d.call("POST", "/api/test/clock", { token: admin.token, body: { advanceMs: 1e16 } }))
      .status,
    400,
  );
  assert.ok(Number.isFinite(d.clock.now()));
  await d.close();
});

Deno.test("[race] status changes through two KV handles on one file all succeed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/two.sqlite3`;
  const a = await testDesk({ path });
  const b = await testDesk({ path });
  const people = await Promise.all(Array.from({ length: 5 }, () => a.person("agent")));
  const results = await Promise.all(
    people.flatMap((p, i) =>
      Array.from({ length: 4 }, (_, j) =>
        (j % 2 ? a : b).call("PUT", "/api/agents/me/status", {
          token: p.token,
          body: { status: (i + j) % 2 ? "online" : "offline" },
        }))
    ),
  );
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  // Record and online index agree for every agent, whichever write won; then a last, known
  // status per agent is exactly what both handles read back.
  const online = async () => {
    const ids = new Set<string>();
    for await (const e of a.kv.list({ prefix: keys.agentsOnline() })) ids.add(e.key[1] as string);
    return ids;
  };
  const agree = async () => {
    const index = await online();
    for (const p of people) {
      const status = (await getAgent(a.kv, p.agent.id)).status;
      assert.equal(index.has(p.agent.id), status === "online", `${p.agent.id}: ${status} vs index`);
    }
  };
  await agree();
  for (const [i, p] of people.entries()) {
    const status = i % 2 ? "online" : "offline";
    const res = await (i % 2 ? a : b).call("PUT", "/api/agents/me/status", {
      token: p.token,
      body: { status },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }
  for (const [i, p] of people.entries()) {
    for (const d of [a, b]) {
      assert.equal((await getAgent(d.kv, p.agent.id)).status, i % 2 ? "online" : "offline");
    }
  }
  await agree();
  assert.equal((await online()).size, 2, "the online index does not list the two online agents");
  await a.close();
  await b.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("[domain] rule 6: merges add link keys, not record growth; older records still read", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { token } = await d.person("supervisor");
  const from = "+27820010060";
  const id = await leaveMessage(d, from, ["first"]);
  for (let i = 0; i < 30; i++) await leaveMessage(d, from, [`again ${i}`]);
  await t.step(
    "30 merges: every message readable, the record holds no conversation list",
    async () => {
      const ticket = await d.json<{ messages: { text: string }[] }>("GET", `/api/tickets/${id}`, {
        token,
      });
      for (let i = 0; i < 30; i++) {
        assert.ok(
          ticket.body.messages.some((m) => m.text === `again ${i}`),
        );
      }
      const record = (await d.kv.get<Record<string, unknown>>(keys.ticket(id))).value!;
      assert.equal("conversationIds" in record, false);
    },
  );
  await t.step(
    "a ticket stored with its conversation list on the record still shows those messages",
    async () => {
      const record = (await d.kv.get<Ticket>(keys.ticket(id))).value!;
      const links: string[] = [];
      for await (const e of d.kv.list<string>({ prefix: keys.ticketConversations(id) })) {
        links.push(e.value);
      }
      const op = d.kv.atomic().set(keys.ticket(id), { ...record, conversationIds: [links[0]] });
      for (const link of links) op.delete(keys.ticketConversation(id, link));
      await op.commit();
      const ticket = await d.json<{ messages: { text: string }[] }>("GET", `/api/tickets/${id}`, {
        token,
      });
      assert.ok(ticket.body.messages.some((m) => m.text === "first"));
    },
  );
  await d.close();
});
