/** SPEC rules 6, 7, 10–19, 23: tickets through the JSON API. */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { DAY, HOUR, MINUTE } from "../domain/clock.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { CLOSED_TIME, leaveMessage, OPEN_TIME, testDesk } from "./helpers.ts";

type T = {
  id: string;
  status: string;
  assignedTo: string | null;
  closedBy: string | null;
  closeReason: string | null;
  history: { action: string; by: string | null; from?: string | null; to?: string | null }[];
};
type Page = { tickets: T[]; nextCursor: string | null };

Deno.test("[domain] rule 6: one open ticket per customer; later conversations merge into it", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { token } = await d.person("supervisor");
  const first = await leaveMessage(d, "+27820000100", ["first problem"]);

  await t.step("a second YES while a ticket is open merges into it", async () => {
    d.clock.advance(HOUR);
    const second = await leaveMessage(d, "+27820000100", ["second problem"]);
    assert.equal(second, first);
    const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token });
    assert.equal(page.body.tickets.filter((x) => x.id === first).length, 1);
    assert.equal(page.body.tickets.length, 1);
    const ticket = await d.json<{ messages: { text: string }[]; history: { action: string }[] }>(
      "GET",
      `/api/tickets/${first}`,
      { token },
    );
    const texts = ticket.body.messages.map((m) => m.text);
    assert.ok(texts.includes("first problem") && texts.includes("second problem"));
    assert.ok(ticket.body.history.some((e) => e.action === "merged"));
  });

  await t.step("merging also happens when the open ticket is assigned", async () => {
    const agent = await d.person("agent");
    await d.json("POST", `/api/tickets/${first}/accept`, { token: agent.token });
    const third = await leaveMessage(d, "+27820000100", ["third problem"]);
    assert.equal(third, first);
    const ticket = await d.json<{ status: string; messages: { text: string }[] }>(
      "GET",
      `/api/tickets/${first}`,
      { token },
    );
    assert.equal(ticket.body.status, "assigned");
    assert.ok(ticket.body.messages.some((m) => m.text === "third problem"));
  });

  await t.step("after the ticket is closed, the next YES makes a new ticket", async () => {
    await d.json("POST", `/api/tickets/${first}/close`, { token });
    const fourth = await leaveMessage(d, "+27820000100", ["fourth problem"]);
    assert.notEqual(fourth, first);
  });

  await t.step("the same address on another channel is another customer", async () => {
    const sms = await leaveMessage(d, "+27820000100", ["by sms"], { channel: "sms" });
    const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token });
    assert.ok(page.body.tickets.some((x) => x.id === sms));
    assert.equal(page.body.tickets.length, 2);
  });
  await d.close();
});

Deno.test("[domain] rule 6 + 5: a pending chat that times out merges into the open ticket", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const ticketId = await leaveMessage(d, "+27820000200", ["out of hours question"]);
  d.clock.set(OPEN_TIME + DAY); // Thursday 10:00, open
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  const r = await d.inbound({
    channel: "whatsapp",
    from: "+27820000200",
    text: "anyone there now?",
  });
  assert.equal(r.conversation.state, "pending");
  d.clock.advance(5 * MINUTE);
  await runDueSweeps(d.desk);
  const { token } = await d.person("supervisor");
  const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token });
  assert.deepEqual(page.body.tickets.map((x) => x.id), [ticketId]);
  const ticket = await d.json<{ messages: { text: string }[] }>("GET", `/api/tickets/${ticketId}`, {
    token,
  });
  assert.ok(ticket.body.messages.some((m) => m.text === "anyone there now?"));
  await d.close();
});

Deno.test("[domain] rule 7: accepting a customer's pending chat closes their open ticket", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const ticketId = await leaveMessage(d, "+27820000300");
  d.clock.set(OPEN_TIME + DAY);
  const { agent, token } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  const r = await d.inbound({ channel: "whatsapp", from: "+27820000300", text: "hi again" });
  const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token },
  );
  const chat = chats.body.chats.find((c) => c.customerId === r.customerId)!;

  await t.step("the chat goes live and the ticket closes with reason live_chat", async () => {
    const accepted = await d.json<{ state: string; agentId: string }>(
      "POST",
      `/api/chats/${chat.id}/accept`,
      { token },
    );
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.state, "live");
    const ticket = await d.json<T>("GET", `/api/tickets/${ticketId}`, { token });
    assert.equal(ticket.body.status, "closed");
    assert.equal(ticket.body.closeReason, "live_chat");
  });

  await t.step("a second agent accepting the same chat gets 409", async () => {
    const other = await d.person("agent");
    const res = await d.json<{ error: { code: string } }>("POST", `/api/chats/${chat.id}/accept`, {
      token: other.token,
    });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, "chat_taken");
  });
  await d.close();
});

Deno.test("[domain] rule 7: a chat the agent starts from a ticket does not close it", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const ticketId = await leaveMessage(d, "+15550000400", ["question"], { channel: "sms" });
  const { token } = await d.person("agent");
  await d.json("POST", `/api/tickets/${ticketId}/accept`, { token });
  const reply = await d.json<{ text: string; direction: string }>(
    "POST",
    `/api/tickets/${ticketId}/reply`,
    { token, body: { text: "Hello, how can I help?" } },
  );
  assert.equal(reply.status, 201);
  const r = await d.inbound({ channel: "sms", from: "+15550000400", text: "thanks for answering" });
  assert.equal(r.conversation.state, "live");
  const ticket = await d.json<T & { messages: { text: string; direction: string }[] }>(
    "GET",
    `/api/tickets/${ticketId}`,
    { token },
  );
  assert.equal(ticket.body.status, "assigned");
  assert.deepEqual(ticket.body.messages.slice(-2).map((m) => [m.direction, m.text]), [[
    "out",
    "Hello, how can I help?",
  ], ["in", "thanks for answering"]]);
  await d.close();
});

Deno.test("[domain] rule 10: tickets never expire; closed ones are archived after 90 days", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { agent, token: first } = await d.person("agent");
  let token = first;
  const open = await leaveMessage(d, "+27820000500");
  const closing = await leaveMessage(d, "+27820000501");
  await d.json("POST", `/api/tickets/${closing}/accept`, { token });
  await d.json("POST", `/api/tickets/${closing}/close`, { token });

  await t.step("a year of sweeps leaves an open ticket open", async () => {
    for (let i = 0; i < 4; i++) {
      d.clock.advance(100 * DAY);
      await runDueSweeps(d.desk);
    }
    token = await d.signIn(agent);
    const ticket = await d.json<T>("GET", `/api/tickets/${open}`, { token });
    assert.equal(ticket.body.status, "unassigned");
  });

  await t.step(
    "the closed ticket is archived: out of Closed, readable and in the archive",
    async () => {
      const ticket = await d.json<T>("GET", `/api/tickets/${closing}`, { token });
      assert.equal(ticket.body.status, "archived");
      const closed = await d.json<Page>("GET", "/api/tickets?queue=closed", { token });
      assert.equal(closed.body.tickets.length, 0);
      const archived = await d.json<Page>("GET", "/api/tickets?queue=archived", { token });
      assert.deepEqual(archived.body.tickets.map((x) => x.id), [closing]);
    },
  );
  await d.close();
});

Deno.test("[domain] rule 10: archiving waits for the configured age exactly", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  await d.json("PUT", "/api/settings", {
    token: admin.token,
    body: { timeouts: { archiveDays: 30 } },
  });
  const id = await leaveMessage(d, "+27820000510");
  await d.json("POST", `/api/tickets/${id}/close`, { token: admin.token });
  d.clock.advance(30 * DAY - 1);
  await runDueSweeps(d.desk);
  const token = await d.signIn(admin.agent);
  assert.equal((await d.json<T>("GET", `/api/tickets/${id}`, { token })).body.status, "closed");
  d.clock.advance(1);
  await runDueSweeps(d.desk);
  assert.equal((await d.json<T>("GET", `/api/tickets/${id}`, { token })).body.status, "archived");
  await d.close();
});

Deno.test("[domain] rule 11: agents cannot transfer; supervisors reassign and it is logged", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  const sup = await d.person("supervisor");
  const id = await leaveMessage(d, "+27820000600");
  await d.json("POST", `/api/tickets/${id}/accept`, { token: a.token });

  await t.step("an agent calling reassign gets 403", async () => {
    const res = await d.json("POST", `/api/tickets/${id}/reassign`, {
      token: a.token,
      body: { agentId: b.agent.id },
    });
    assert.equal(res.status, 403);
  });
  await t.step("a supervisor moves it to another agent, recorded in history", async () => {
    const res = await d.json<T>("POST", `/api/tickets/${id}/reassign`, {
      token: sup.token,
      body: { agentId: b.agent.id },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.assignedTo, b.agent.id);
    const event = res.body.history.at(-1)!;
    assert.deepEqual([event.action, event.by, event.from, event.to], [
      "reassigned",
      sup.agent.id,
      a.agent.id,
      b.agent.id,
    ]);
    const mine = await d.json<Page>("GET", "/api/tickets?queue=assigned", { token: b.token });
    assert.deepEqual(mine.body.tickets.map((x) => x.id), [id]);
    const theirs = await d.json<Page>("GET", "/api/tickets?queue=assigned", { token: a.token });
    assert.equal(theirs.body.tickets.length, 0);
  });
  await t.step("back to Unassigned with agentId null", async () => {
    const res = await d.json<T>("POST", `/api/tickets/${id}/reassign`, {
      token: sup.token,
      body: { agentId: null },
    });
    assert.equal(res.body.status, "unassigned");
    const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token: a.token });
    assert.deepEqual(page.body.tickets.map((x) => x.id), [id]);
  });
  await d.close();
});

Deno.test("[routes] rule 12: Unassigned is newest first", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { token } = await d.person("agent");
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(await leaveMessage(d, `+2782000070${i}`));
    d.clock.advance(MINUTE);
  }
  const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token });
  assert.deepEqual(page.body.tickets.map((x) => x.id), ids.toReversed());
  const oldest = await d.json<Page>("GET", "/api/tickets?queue=unassigned&sort=oldest", { token });
  assert.deepEqual(oldest.body.tickets.map((x) => x.id), ids);
  await d.close();
});

Deno.test("[routes] rule 13: departments decide which unassigned tickets an agent sees", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  await t.step("with no departments every agent sees every ticket", async () => {
    const { token } = await d.person("agent");
    await leaveMessage(d, "+27820000800");
    const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token });
    assert.equal(page.body.tickets.length, 1);
  });
  await t.step(
    "with departments an agent sees its departments' tickets and those with none",
    async () => {
      const sales = await d.department("Sales");
      const support = await d.department("Support");
      const salesAgent = await d.person("agent", { departments: [sales] });
      const s = await leaveMessage(d, "+27820000801", ["buy"], { department: sales });
      const p = await leaveMessage(d, "+27820000802", ["broken"], { department: support });
      const page = await d.json<Page>("GET", "/api/tickets?queue=unassigned", {
        token: salesAgent.token,
      });
      const ids = page.body.tickets.map((x) => x.id);
      assert.ok(ids.includes(s));
      assert.ok(!ids.includes(p));
      assert.equal(ids.length, 2); // plus the no-department ticket
      const hidden = await d.json("GET", `/api/tickets/${p}`, { token: salesAgent.token });
      assert.equal(hidden.status, 404);
      const accept = await d.json("POST", `/api/tickets/${p}/accept`, { token: salesAgent.token });
      assert.equal(accept.status, 404);
      const sup = await d.person("supervisor");
      const all = await d.json<Page>("GET", "/api/tickets?queue=unassigned", { token: sup.token });
      assert.equal(all.body.tickets.length, 3);
    },
  );
  await d.close();
});

Deno.test("[routes] rule 14: accept assigns one ticket; a second accept is told it is taken", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  const id = await leaveMessage(d, "+27820000900");
  const first = await d.json<T>("POST", `/api/tickets/${id}/accept`, { token: a.token });
  assert.equal(first.status, 200);
  assert.equal(first.body.status, "assigned");
  assert.equal(first.body.assignedTo, a.agent.id);
  const second = await d.json<{ error: { code: string; message: string } }>(
    "POST",
    `/api/tickets/${id}/accept`,
    { token: b.token },
  );
  assert.equal(second.status, 409);
  assert.equal(second.body.error.code, "ticket_taken");
  await d.close();
});

Deno.test("[routes] rule 15: quick accept takes the N oldest visible tickets, whatever the filters", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const agent = await d.person("agent", { departments: [sales] });
  const mine: string[] = [];
  for (let i = 0; i < 6; i++) {
    const dept = i % 2 ? sales : undefined;
    mine.push(
      await leaveMessage(
        d,
        `+2782000100${i}`,
        ["x"],
        dept ? { department: dept, channel: i === 1 ? "sms" : "whatsapp" } : {},
      ),
    );
    await leaveMessage(d, `+2782000200${i}`, ["y"], { department: support });
    d.clock.advance(MINUTE);
  }
  await t.step("count 4 assigns the 4 oldest the agent may see, oldest first", async () => {
    const res = await d.json<{ accepted: string[] }>(
      "POST",
      "/api/tickets/quick-accept?channel=sms",
      { token: agent.token, body: { count: 4 } },
    );
    assert.deepEqual(res.body.accepted, mine.slice(0, 4));
  });
  await t.step("fewer are returned when fewer are available", async () => {
    const res = await d.json<{ accepted: string[] }>("POST", "/api/tickets/quick-accept", {
      token: agent.token,
      body: { count: 10 },
    });
    assert.deepEqual(res.body.accepted, mine.slice(4));
    const assigned = await d.json<Page>("GET", "/api/tickets?queue=assigned", {
      token: agent.token,
    });
    assert.equal(assigned.body.tickets.length, 6);
  });
  await t.step("count outside 1–100 is a 400", async () => {
    for (const count of [0, 101, 2.5, "3"]) {
      const res = await d.json<{ error: { code: string } }>("POST", "/api/tickets/quick-accept", {
        token: agent.token,
        body: { count },
      });
      assert.equal(res.status, 400);
    }
  });
  await d.close();
});

Deno.test("[routes] rule 16: Assigned shows only the agent's own tickets, without a limit", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  for (let i = 0; i < 60; i++) await leaveMessage(d, `+278200030${String(i).padStart(2, "0")}`);
  const res = await d.json<{ accepted: string[] }>("POST", "/api/tickets/quick-accept", {
    token: a.token,
    body: { count: 55 },
  });
  assert.equal(res.body.accepted.length, 55);
  await d.json("POST", "/api/tickets/quick-accept", { token: b.token, body: { count: 5 } });
  const first = await d.json<Page>("GET", "/api/tickets?queue=assigned&limit=50", {
    token: a.token,
  });
  const second = await d.json<Page>(
    "GET",
    `/api/tickets?queue=assigned&limit=50&cursor=${first.body.nextCursor}`,
    { token: a.token },
  );
  const all = [...first.body.tickets, ...second.body.tickets];
  assert.equal(all.length, 55);
  assert.ok(all.every((x) => x.assignedTo === a.agent.id));
  assert.equal(second.body.nextCursor, null);
  await d.close();
});

Deno.test("[routes] rule 17: replying starts a live chat; the ticket stays assigned", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  const id = await leaveMessage(d, "+27820000950");
  await t.step("an unassigned ticket must be accepted first", async () => {
    const res = await d.json("POST", `/api/tickets/${id}/reply`, {
      token: a.token,
      body: { text: "hi" },
    });
    assert.equal(res.status, 403);
  });
  await d.json("POST", `/api/tickets/${id}/accept`, { token: a.token });
  await t.step("another agent cannot reply on it", async () => {
    const res = await d.json("POST", `/api/tickets/${id}/reply`, {
      token: b.token,
      body: { text: "hi" },
    });
    assert.equal(res.status, 404);
  });
  await t.step(
    "the assignee's reply is sent and a live chat with the customer starts",
    async () => {
      const res = await d.json<{ direction: string; author: string; text: string }>(
        "POST",
        `/api/tickets/${id}/reply`,
        { token: a.token, body: { text: "We are on it" } },
      );
      assert.equal(res.status, 201);
      assert.deepEqual([res.body.direction, res.body.author, res.body.text], [
        "out",
        a.agent.id,
        "We are on it",
      ]);
      const live = await d.json<{ chats: { customerId: string; agentId: string }[] }>(
        "GET",
        "/api/chats?state=live",
        { token: a.token },
      );
      assert.equal(live.body.chats.length, 1);
      assert.equal(live.body.chats[0].agentId, a.agent.id);
      const ticket = await d.json<T>("GET", `/api/tickets/${id}`, { token: a.token });
      assert.equal(ticket.body.status, "assigned");
    },
  );
  await t.step("an empty reply is a 400", async () => {
    const res = await d.json<{ error: { code: string } }>("POST", `/api/tickets/${id}/reply`, {
      token: a.token,
      body: { text: "  " },
    });
    assert.equal(res.status, 400);
  });
  await d.close();
});

Deno.test("[routes] rule 18: WhatsApp free text is refused 24 hours after the last inbound message", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const tpl = await d.json<{ id: string }>("POST", "/api/templates", {
    token: admin.token,
    body: { name: "follow_up", body: "Hi {{1}}, about {{2}}" },
  });
  const { agent } = await d.person("agent");
  let token = await d.signIn(agent);
  const wa = await leaveMessage(d, "+27820000960");
  const sms = await leaveMessage(d, "+15550000961", ["x"], { channel: "sms" });
  await d.json("POST", "/api/tickets/quick-accept", { token, body: { count: 2 } });

  await t.step("within 24 hours free text is allowed", async () => {
    d.clock.advance(24 * HOUR - MINUTE);
    token = await d.signIn(agent);
    const res = await d.json("POST", `/api/tickets/${wa}/reply`, {
      token,
      body: { text: "still in window" },
    });
    assert.equal(res.status, 201);
  });
  await t.step("after 24 hours free text gets 422 whatsapp_window_closed", async () => {
    d.clock.advance(2 * MINUTE);
    const res = await d.json<{ error: { code: string } }>("POST", `/api/tickets/${wa}/reply`, {
      token,
      body: { text: "too late" },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, "whatsapp_window_closed");
  });
  await t.step("an approved template with its parameters is sent", async () => {
    const res = await d.json<{ text: string; template: string }>(
      "POST",
      `/api/tickets/${wa}/reply`,
      {
        token,
        body: { template: tpl.body.id, params: ["Thandi", "your order"] },
      },
    );
    assert.equal(res.status, 201);
    assert.equal(res.body.text, "Hi Thandi, about your order");
    assert.equal(res.body.template, "follow_up");
  });
  await t.step("a template with the wrong number of parameters is a 400", async () => {
    const res = await d.json("POST", `/api/tickets/${wa}/reply`, {
      token,
      body: { template: "follow_up", params: ["one"] },
    });
    assert.equal(res.status, 400);
  });
  await t.step("other channels always allow free text", async () => {
    const res = await d.json("POST", `/api/tickets/${sms}/reply`, {
      token,
      body: { text: "sms is fine" },
    });
    assert.equal(res.status, 201);
  });
  await t.step("a new inbound WhatsApp message reopens the window", async () => {
    await d.inbound({ channel: "whatsapp", from: "+27820000960", text: "hello?" });
    const res = await d.json("POST", `/api/tickets/${wa}/reply`, {
      token,
      body: { text: "window open again" },
    });
    assert.equal(res.status, 201);
  });
  await d.close();
});

Deno.test("[routes] rule 19: agents close their own tickets; Closed is newest closed first with Closed by me", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await leaveMessage(d, `+2782000097${i}`));
  await d.json("POST", `/api/tickets/${ids[0]}/accept`, { token: a.token });
  await d.json("POST", `/api/tickets/${ids[1]}/accept`, { token: b.token });
  await d.json("POST", `/api/tickets/${ids[2]}/accept`, { token: a.token });

  await t.step("an agent cannot close another agent's ticket or an unassigned one", async () => {
    assert.equal(
      (await d.json("POST", `/api/tickets/${ids[1]}/close`, { token: a.token })).status,
      404,
    );
    const fresh = await leaveMessage(d, "+27820000979");
    assert.equal(
      (await d.json("POST", `/api/tickets/${fresh}/close`, { token: a.token })).status,
      403,
    );
  });
  await t.step("closing records who and when; a second close is a 409", async () => {
    const res = await d.json<T>("POST", `/api/tickets/${ids[2]}/close`, { token: a.token });
    assert.equal(res.body.status, "closed");
    assert.equal(res.body.closedBy, a.agent.id);
    assert.equal(res.body.closeReason, "agent");
    assert.equal(
      (await d.json("POST", `/api/tickets/${ids[2]}/close`, { token: a.token })).status,
      409,
    );
  });
  await t.step("Closed lists newest closed first; Closed by me only mine", async () => {
    d.clock.advance(MINUTE);
    await d.json("POST", `/api/tickets/${ids[1]}/close`, { token: b.token });
    d.clock.advance(MINUTE);
    await d.json("POST", `/api/tickets/${ids[0]}/close`, { token: a.token });
    const all = await d.json<Page>("GET", "/api/tickets?queue=closed", { token: a.token });
    assert.deepEqual(all.body.tickets.map((x) => x.id), [ids[0], ids[1], ids[2]]);
    const mine = await d.json<Page>("GET", "/api/tickets?queue=closed&closedByMe=1", {
      token: a.token,
    });
    assert.deepEqual(mine.body.tickets.map((x) => x.id), [ids[0], ids[2]]);
  });
  await t.step("closed tickets are readable by any agent, read-only", async () => {
    const res = await d.json<T>("GET", `/api/tickets/${ids[1]}`, { token: a.token });
    assert.equal(res.status, 200);
    assert.equal(
      (await d.json("POST", `/api/tickets/${ids[1]}/reply`, {
        token: a.token,
        body: { text: "x" },
      })).status,
      409,
    );
  });
  await d.close();
});

Deno.test("[routes] rule 20: search, filters and sort on the lists", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const sales = await d.department("Sales");
  const old = await leaveMessage(d, "+27820000980", ["refund for order 77"], {
    name: "Thandi Nkosi",
  });
  d.clock.advance(2 * DAY);
  const { token } = await d.person("supervisor");
  const sms = await leaveMessage(d, "+15550000981", ["delivery address"], {
    channel: "sms",
    department: sales,
  });
  const web = await leaveMessage(d, "visitor-abc", ["password reset"], { channel: "webchat" });
  const ids = async (query: string) =>
    (await d.json<Page>("GET", `/api/tickets?queue=unassigned&${query}`, { token })).body.tickets
      .map((x) => x.id);
  await t.step("channel", async () => assert.deepEqual(await ids("channel=sms"), [sms]));
  await t.step("department", async () => assert.deepEqual(await ids(`department=${sales}`), [sms]));
  await t.step("search by customer name and by text", async () => {
    assert.deepEqual(await ids("q=thandi"), [old]);
    assert.deepEqual(await ids("q=PASSWORD"), [web]);
  });
  await t.step("age", async () => {
    assert.deepEqual(await ids("age=24h"), [web, sms]);
    assert.deepEqual(await ids("age=7d"), [web, sms, old]);
  });
  await t.step(
    "sort oldest first",
    async () => assert.deepEqual(await ids("sort=oldest"), [old, sms, web]),
  );
  await t.step("bad parameters are a 400", async () => {
    for (const q of ["queue=nope", "channel=fax", "age=3y", "sort=up", "limit=0"]) {
      assert.equal((await d.json("GET", `/api/tickets?${q}`, { token })).status, 400, q);
    }
  });
  await t.step("paging with a cursor walks the whole list once", async () => {
    const first = await d.json<Page>("GET", "/api/tickets?queue=unassigned&limit=2", { token });
    const second = await d.json<Page>(
      "GET",
      `/api/tickets?queue=unassigned&limit=2&cursor=${first.body.nextCursor}`,
      { token },
    );
    assert.deepEqual([...first.body.tickets, ...second.body.tickets].map((x) => x.id), [
      web,
      sms,
      old,
    ]);
    assert.equal(second.body.nextCursor, null);
  });
  await d.close();
});

Deno.test("[routes] rule 23: who reads what; status does not limit work", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const a = await d.person("agent");
  const b = await d.person("agent");
  const sup = await d.person("supervisor");
  const id = await leaveMessage(d, "+27820000990");
  await d.json("POST", `/api/tickets/${id}/accept`, { token: a.token });
  await t.step("another agent's assigned ticket is never readable by an agent", async () => {
    assert.equal((await d.json("GET", `/api/tickets/${id}`, { token: b.token })).status, 404);
    const theirs = await d.json<Page>("GET", `/api/tickets?queue=assigned&agent=${a.agent.id}`, {
      token: b.token,
    });
    assert.equal(theirs.body.tickets.length, 0);
  });
  await t.step("supervisors read everything, including others' Assigned", async () => {
    assert.equal((await d.json("GET", `/api/tickets/${id}`, { token: sup.token })).status, 200);
    const theirs = await d.json<Page>("GET", `/api/tickets?queue=assigned&agent=${a.agent.id}`, {
      token: sup.token,
    });
    assert.deepEqual(theirs.body.tickets.map((x) => x.id), [id]);
  });
  await t.step("an offline agent still accepts, replies and closes", async () => {
    await d.json("PUT", "/api/agents/me/status", { token: b.token, body: { status: "offline" } });
    const other = await leaveMessage(d, "+27820000991", ["x"], { channel: "sms" });
    assert.equal(
      (await d.json("POST", `/api/tickets/${other}/accept`, { token: b.token })).status,
      200,
    );
    assert.equal(
      (await d.json("POST", `/api/tickets/${other}/reply`, {
        token: b.token,
        body: { text: "hi" },
      })).status,
      201,
    );
    assert.equal(
      (await d.json("POST", `/api/tickets/${other}/close`, { token: b.token })).status,
      200,
    );
  });
  await d.close();
});
