/**
 * Rule 48: whoever may open an ended chat's page (`/chats/:id`) may read the same through the API
 * (`GET /api/chats/:id`, its messages `GET /api/messages/:id`, its customer
 * `GET /api/customers/:id`), and no one else.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, type TestDesk, testDesk } from "./helpers.ts";

type Person = Awaited<ReturnType<TestDesk["person"]>>;

interface Ended {
  chatId: string;
  customerId: string;
  messageIds: string[];
}

/** What one agent gets for an ended chat: the page, and the API's chat, messages and customer. */
async function whatEach(d: TestDesk, who: Person, ended: Ended) {
  const page = await d.call("GET", `/chats/${ended.chatId}`, {
    headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${who.token}` },
  });
  await page.body?.cancel();
  const status = async (path: string) => {
    const res = await d.call("GET", path, { token: who.token });
    await res.body?.cancel();
    return res.status;
  };
  return {
    page: page.status,
    chat: await status(`/api/chats/${ended.chatId}`),
    messages: await Promise.all(ended.messageIds.map((id) => status(`/api/messages/${id}`))),
    customer: await status(`/api/customers/${ended.customerId}`),
  };
}

function assertAll(got: Awaited<ReturnType<typeof whatEach>>, status: number, who: string) {
  assert.deepEqual(got, {
    page: status,
    chat: status,
    messages: got.messages.map(() => status),
    customer: status,
  }, who);
}

/** The chat's messages, as its page would list them (through a staff member). */
async function chatMessageIds(d: TestDesk, boss: Person, chatId: string): Promise<string[]> {
  const res = await d.json<{ state: string; messages: { id: string }[] }>(
    "GET",
    `/api/chats/${chatId}`,
    { token: boss.token },
  );
  assert.equal(res.status, 200);
  return res.body.messages.map((m) => m.id);
}

Deno.test("[routes] rule 48: an ended chat without a ticket: its agent reads it all, others nothing", async () => {
  const d = await testDesk();
  try {
    const ana = await d.person("agent", { name: "Ana" });
    const ben = await d.person("agent", { name: "Ben" });
    const boss = await d.person("supervisor");
    await setStatus(d.kv, ana.agent.id, "online");
    const first = await d.inbound({ channel: "whatsapp", from: "+27820004801", text: "Hello?" });
    assert.equal(first.conversation.state, "pending");
    const chats = await d.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
      token: ana.token,
    });
    const chatId = chats.body.chats[0].id;
    assert.equal(
      (await d.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token })).status,
      200,
    );
    const sent = await d.call("POST", `/api/chats/${chatId}/messages`, {
      token: ana.token,
      body: { text: "Hi, Ana here." },
    });
    assert.equal(sent.status, 201);
    await sent.body?.cancel();
    assert.equal(
      (await d.call("POST", `/api/chats/${chatId}/end`, { token: ana.token })).status,
      200,
    );
    // The customer's next message replaces the chat's record (nobody online: a YES/NO prompt).
    await setStatus(d.kv, ana.agent.id, "offline");
    d.clock.advance(60_000);
    const next = await d.inbound({ channel: "whatsapp", from: "+27820004801", text: "Me again" });
    assert.equal(next.conversation.state, "awaiting_reply");

    const ended = {
      chatId,
      customerId: first.customerId,
      messageIds: await chatMessageIds(d, boss, chatId),
    };
    assert.equal(ended.messageIds.length, 2);
    const chat = await d.json<{ state: string; agentIds: string[] }>(
      "GET",
      `/api/chats/${chatId}`,
      {
        token: ana.token,
      },
    );
    assert.equal(chat.body.state, "ended");
    assert.deepEqual(chat.body.agentIds, [ana.agent.id]);
    assertAll(await whatEach(d, ana, ended), 200, "its agent");
    assertAll(await whatEach(d, boss, ended), 200, "a supervisor");
    assertAll(await whatEach(d, ben, ended), 404, "another agent");
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 48: an ended chat that joined a ticket follows who may read the ticket", async () => {
  const d = await testDesk();
  try {
    await closeBusiness(d);
    const ana = await d.person("agent", { name: "Ana" });
    const ben = await d.person("agent", { name: "Ben" });
    const boss = await d.person("supervisor");
    const from = "+27820004802";
    await d.inbound({ channel: "whatsapp", from, text: "Order 7 is late" });
    const yes = await d.inbound({ channel: "whatsapp", from, text: "YES" });
    await d.inbound({ channel: "whatsapp", from, text: "//end" });
    const ticketId = yes.ticketId!;
    assert.equal(
      (await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token })).status,
      200,
    );
    const reply = await d.json<{ id: string }>("POST", `/api/tickets/${ticketId}/reply`, {
      token: ana.token,
      body: { text: "It ships today." },
    });
    assert.equal(reply.status, 201);
    const live = await d.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=live", {
      token: ana.token,
    });
    const chatId = live.body.chats[0].id;
    assert.equal(
      (await d.call("POST", `/api/chats/${chatId}/end`, { token: ana.token })).status,
      200,
    );
    d.clock.advance(60_000);
    await d.inbound({ channel: "whatsapp", from, text: "Thanks" });
    const ended = {
      chatId,
      customerId: yes.customerId,
      messageIds: await chatMessageIds(d, boss, chatId),
    };
    assert.ok(ended.messageIds.includes(reply.body.id));

    // Assigned to Ana: Ben may not read the ticket, so not the chat either.
    assertAll(await whatEach(d, ana, ended), 200, "its agent");
    assertAll(await whatEach(d, ben, ended), 404, "another agent, ticket assigned to Ana");
    // Closed tickets are everyone's to read (rule 23): the chat too, page and API alike.
    assert.equal(
      (await d.call("POST", `/api/tickets/${ticketId}/close`, { token: ana.token })).status,
      200,
    );
    assertAll(await whatEach(d, ben, ended), 200, "another agent, ticket closed");
  } finally {
    await d.close();
  }
});
