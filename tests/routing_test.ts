/** SPEC rules 1–5, 8, 9: routing an inbound message and the conversation's timeouts. */
import assert from "node:assert/strict";
import { routeInbound } from "../domain/conversations.ts";
import { setStatus } from "../domain/agents.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import { closeBusiness, CLOSED_TIME, OPEN_TIME, testDesk } from "./helpers.ts";

const MIN = 60_000;

Deno.test("[domain] rule 1: during intake every message joins the ticket; //end ends intake", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+27820000001";
  await d.inbound({ channel: "whatsapp", from, text: "my parcel is late" });
  const yes = await d.inbound({ channel: "whatsapp", from, text: "yes" });
  const { token } = await d.person("supervisor");

  await t.step("a message during intake is appended to the ticket", async () => {
    const r = await d.inbound({ channel: "whatsapp", from, text: "order #4411" });
    assert.equal(r.conversation.state, "leaving_message");
    assert.equal(r.ticketId, yes.ticketId);
    assert.deepEqual(r.replies, []);
    const ticket = await d.json<{ messages: { text: string }[] }>(
      "GET",
      `/api/tickets/${yes.ticketId}`,
      { token },
    );
    assert.ok(ticket.body.messages.some((m) => m.text === "order #4411"));
  });

  await t.step('"No" during intake is an ordinary message, not a goodbye', async () => {
    const r = await d.inbound({ channel: "whatsapp", from, text: "No" });
    assert.equal(r.conversation.state, "leaving_message");
    assert.deepEqual(r.replies, []);
    const ticket = await d.json<{ messages: { text: string }[] }>(
      "GET",
      `/api/tickets/${yes.ticketId}`,
      { token },
    );
    assert.ok(ticket.body.messages.some((m) => m.text === "No"));
  });

  await t.step("//end (trimmed, any case) ends intake and is acknowledged", async () => {
    const r = await d.inbound({ channel: "whatsapp", from, text: "  //END " });
    assert.equal(r.conversation.state, "ended");
    assert.deepEqual(r.replies.map((x) => x.text), [DEFAULT_TEXTS.endAck]);
  });

  await t.step("the ticket stays open after //end", async () => {
    const ticket = await d.json<{ status: string }>("GET", `/api/tickets/${yes.ticketId}`, {
      token,
    });
    assert.equal(ticket.body.status, "unassigned");
  });
  await d.close();
});

Deno.test("[domain] rule 2: the YES/NO answer", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });

  await t.step(
    "yes (trimmed, any case) opens intake, creates a ticket and is acknowledged",
    async () => {
      await d.inbound({ channel: "sms", from: "+15550001", text: "hi" });
      const r = await d.inbound({ channel: "sms", from: "+15550001", text: "  YeS\n" });
      assert.equal(r.conversation.state, "leaving_message");
      assert.ok(r.ticketId);
      assert.deepEqual(r.replies.map((x) => x.text), [DEFAULT_TEXTS.yesAck]);
    },
  );

  await t.step("no ends the conversation at once with a goodbye and makes no ticket", async () => {
    await d.inbound({ channel: "sms", from: "+15550002", text: "hi" });
    const r = await d.inbound({ channel: "sms", from: "+15550002", text: "NO" });
    assert.equal(r.conversation.state, "ended");
    assert.equal(r.ticketId, null);
    assert.deepEqual(r.replies.map((x) => x.text), [DEFAULT_TEXTS.noGoodbye]);
  });

  await t.step("anything else re-sends the YES/NO prompt", async () => {
    await d.inbound({ channel: "sms", from: "+15550003", text: "hi" });
    const r = await d.inbound({ channel: "sms", from: "+15550003", text: "maybe later" });
    assert.equal(r.conversation.state, "awaiting_reply");
    assert.deepEqual(r.replies.map((x) => x.text), [DEFAULT_TEXTS.prompt]);
  });
  await d.close();
});

Deno.test("[domain] rules 3 and 4: new conversations and live chats", async (t) => {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent, token } = await d.person("agent");

  await t.step("open hours with nobody online: the no-agent notice, then the prompt", async () => {
    const r = await d.inbound({ channel: "webchat", from: "v-1", text: "hello" });
    assert.equal(r.conversation.state, "awaiting_reply");
    assert.deepEqual(r.replies.map((x) => x.text), [DEFAULT_TEXTS.noAgent, DEFAULT_TEXTS.prompt]);
  });

  await t.step("open hours with an agent online: a pending live chat", async () => {
    await setStatus(d.kv, agent.id, "online");
    const r = await d.inbound({ channel: "webchat", from: "v-2", text: "hello" });
    assert.equal(r.conversation.state, "pending");
    assert.deepEqual(r.replies, []);
    const chats = await d.json<{ chats: { customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token },
    );
    assert.ok(chats.body.chats.some((c) => c.customerId === r.customerId));
  });

  await t.step("a message in a pending chat goes to that chat", async () => {
    const r = await d.inbound({ channel: "webchat", from: "v-2", text: "are you there?" });
    assert.equal(r.conversation.state, "pending");
    const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token },
    );
    const chat = chats.body.chats.find((c) => c.customerId === r.customerId)!;
    const messages = await d.json<{ messages: { text: string }[] }>(
      "GET",
      `/api/chats/${chat.id}`,
      { token: (await d.person("admin")).token },
    );
    assert.deepEqual(messages.body.messages.map((m) => m.text), ["hello", "are you there?"]);
  });

  await t.step("a message in a live chat goes to that chat", async () => {
    const r0 = await d.inbound({ channel: "webchat", from: "v-3", text: "hi" });
    const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token },
    );
    const chat = chats.body.chats.find((c) => c.customerId === r0.customerId)!;
    const accepted = await d.json<{ state: string }>("POST", `/api/chats/${chat.id}/accept`, {
      token,
    });
    assert.equal(accepted.body.state, "live");
    const r = await d.inbound({ channel: "webchat", from: "v-3", text: "thanks" });
    assert.equal(r.conversation.state, "live");
    const messages = await d.json<{ messages: { text: string }[] }>(
      "GET",
      `/api/chats/${chat.id}`,
      { token },
    );
    assert.deepEqual(messages.body.messages.map((m) => m.text), ["hi", "thanks"]);
  });

  await t.step(
    "outside business hours: the out-of-hours notice even with agents online",
    async () => {
      d.clock.set(CLOSED_TIME);
      const r = await d.inbound({ channel: "webchat", from: "v-4", text: "hello" });
      assert.equal(r.conversation.state, "awaiting_reply");
      assert.deepEqual(r.replies.map((x) => x.text), [
        DEFAULT_TEXTS.outOfHours,
        DEFAULT_TEXTS.prompt,
      ]);
    },
  );

  await t.step("a closure day is closed even inside weekly hours", async () => {
    d.clock.set(OPEN_TIME);
    await d.json("PUT", "/api/settings", {
      token: (await d.person("admin")).token,
      body: { hours: { closures: ["2026-11-25"] } },
    });
    const r = await d.inbound({ channel: "webchat", from: "v-5", text: "hello" });
    assert.equal(r.replies[0].text, DEFAULT_TEXTS.outOfHours);
  });
  await d.close();
});

Deno.test("[domain] rule 4: only an online agent who serves the customer's department makes a chat pending", async () => {
  const d = await testDesk({ at: OPEN_TIME });
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const { agent } = await d.person("agent", { departments: [sales] });
  await setStatus(d.kv, agent.id, "online");
  const toSupport = await d.inbound({
    channel: "sms",
    from: "+15550010",
    text: "hi",
    department: support,
  });
  assert.equal(toSupport.conversation.state, "awaiting_reply");
  const toSales = await d.inbound({
    channel: "sms",
    from: "+15550011",
    text: "hi",
    department: sales,
  });
  assert.equal(toSales.conversation.state, "pending");
  await d.close();
});

Deno.test("[domain] routeInbound is a pure function of state and text", () => {
  assert.deepEqual(routeInbound("leaving_message", " //End "), {
    kind: "intake_message",
    endsIntake: true,
  });
  assert.deepEqual(routeInbound("leaving_message", "no"), {
    kind: "intake_message",
    endsIntake: false,
  });
  assert.deepEqual(routeInbound("awaiting_reply", "Yes "), { kind: "open_intake" });
  assert.deepEqual(routeInbound("awaiting_reply", " nO"), { kind: "decline" });
  assert.deepEqual(routeInbound("awaiting_reply", "yes please"), { kind: "reprompt" });
  assert.deepEqual(routeInbound("pending", "yes"), { kind: "chat_message" });
  assert.deepEqual(routeInbound("live", "//end"), { kind: "chat_message" });
  assert.deepEqual(routeInbound("ended", "yes"), { kind: "start" });
  assert.deepEqual(routeInbound(null, "hello"), { kind: "start" });
});

Deno.test("[domain] rule 5: an unaccepted pending chat becomes a ticket after the pending timeout", async (t) => {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  const r = await d.inbound({ channel: "webchat", from: "v-9", text: "need help with billing" });
  assert.equal(r.conversation.state, "pending");

  await t.step("one minute before the timeout it is still pending", async () => {
    d.clock.advance(4 * MIN);
    await runDueSweeps(d.desk);
    const c = await d.json<{ conversation: { state: string }; openTicketId: string | null }>(
      "GET",
      `/api/customers/${r.customerId}`,
      {
        token: (await d.person("admin")).token,
      },
    );
    assert.equal(c.body.conversation.state, "pending");
    assert.equal(c.body.openTicketId, null);
  });

  await t.step(
    "at the timeout the sweep converts it into an unassigned ticket holding its messages",
    async () => {
      d.clock.advance(1 * MIN);
      await runDueSweeps(d.desk);
      const { token } = await d.person("supervisor");
      const c = await d.json<{ conversation: { state: string }; openTicketId: string }>(
        "GET",
        `/api/customers/${r.customerId}`,
        { token },
      );
      assert.ok(c.body.openTicketId);
      const ticket = await d.json<
        { status: string; messages: { text: string }[]; createdAt: string }
      >(
        "GET",
        `/api/tickets/${c.body.openTicketId}`,
        { token },
      );
      assert.equal(ticket.body.status, "unassigned");
      assert.equal(ticket.body.messages[0].text, "need help with billing");
      assert.equal(ticket.body.createdAt, new Date(OPEN_TIME + 5 * MIN).toISOString());
      const chats = await d.json<{ chats: unknown[] }>("GET", "/api/chats?state=pending", {
        token,
      });
      assert.equal(chats.body.chats.length, 0);
    },
  );
  await d.close();
});

Deno.test("[domain] rule 8: intake ends 10 minutes after the customer's last message", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+27820000008";
  await d.inbound({ channel: "whatsapp", from, text: "hi" });
  const yes = await d.inbound({ channel: "whatsapp", from, text: "yes" });
  d.clock.advance(9 * MIN);
  await d.inbound({ channel: "whatsapp", from, text: "still typing" });

  await t.step("each message restarts the 10 minutes", async () => {
    d.clock.advance(9 * MIN);
    await runDueSweeps(d.desk);
    const r = await d.inbound({ channel: "whatsapp", from, text: "one more" });
    assert.equal(r.conversation.state, "leaving_message");
    assert.equal(r.ticketId, yes.ticketId);
  });

  await t.step("10 minutes of silence end intake; the ticket stays open", async () => {
    d.clock.advance(10 * MIN);
    await runDueSweeps(d.desk);
    const { token } = await d.person("supervisor");
    const c = await d.json<{ conversation: { state: string }; openTicketId: string }>(
      "GET",
      `/api/customers/${yes.customerId}`,
      { token },
    );
    assert.equal(c.body.conversation.state, "ended");
    assert.equal(c.body.openTicketId, yes.ticketId);
  });

  await t.step("a later message starts a new conversation (rule 4) with the prompt", async () => {
    const r = await d.inbound({ channel: "whatsapp", from, text: "hello again" });
    assert.equal(r.conversation.state, "awaiting_reply");
    assert.equal(r.replies.at(-1)!.text, DEFAULT_TEXTS.prompt);
  });

  await t.step("the intake timeout is configurable", async () => {
    const admin = await d.person("admin");
    await d.json("PUT", "/api/settings", {
      token: admin.token,
      body: { timeouts: { intakeMinutes: 2 } },
    });
    await d.inbound({ channel: "whatsapp", from, text: "yes" });
    d.clock.advance(2 * MIN);
    const r = await d.inbound({ channel: "whatsapp", from, text: "late" });
    assert.equal(r.conversation.state, "awaiting_reply");
  });
  await d.close();
});

Deno.test("[domain] rule 8: a message after the deadline starts afresh even if no sweep ran", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+27820000018";
  await d.inbound({ channel: "whatsapp", from, text: "hi" });
  await d.inbound({ channel: "whatsapp", from, text: "yes" });
  d.clock.advance(11 * MIN);
  const r = await d.inbound({ channel: "whatsapp", from, text: "later" });
  assert.equal(r.conversation.state, "awaiting_reply");
  await d.close();
});

Deno.test("[domain] rule 9: an unanswered YES/NO prompt expires after the session timeout", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+15550020";
  const first = await d.inbound({ channel: "sms", from, text: "hi" });
  await t.step("before the timeout the prompt is still waiting", async () => {
    d.clock.advance(9 * MIN);
    await runDueSweeps(d.desk);
    const { token } = await d.person("admin");
    const c = await d.json<{ conversation: { state: string } }>(
      "GET",
      `/api/customers/${first.customerId}`,
      { token },
    );
    assert.equal(c.body.conversation.state, "awaiting_reply");
  });
  await t.step("after it the conversation has ended and yes starts afresh", async () => {
    d.clock.advance(1 * MIN);
    await runDueSweeps(d.desk);
    const { token } = await d.person("admin");
    const c = await d.json<{ conversation: { state: string } }>(
      "GET",
      `/api/customers/${first.customerId}`,
      { token },
    );
    assert.equal(c.body.conversation.state, "ended");
    const r = await d.inbound({ channel: "sms", from, text: "yes" });
    assert.equal(r.conversation.state, "awaiting_reply");
    assert.equal(r.ticketId, null);
  });
  await d.close();
});

Deno.test("[domain] closing business hours routes everyone to the prompt", async () => {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  await closeBusiness(d);
  const r = await d.inbound({ channel: "sms", from: "+15550030", text: "hi" });
  assert.equal(r.conversation.state, "awaiting_reply");
  assert.equal(r.replies[0].text, DEFAULT_TEXTS.outOfHours);
  await d.close();
});
