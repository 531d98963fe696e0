/** SPEC rule 35: internal notes on tickets and chats, staff only, never delivered. */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { archiveClosed } from "../domain/tickets.ts";
import { leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

type Note = { id: string; author: string; text: string; at: string };
type WithNotes = { status: string; messages: { id: string; text: string }[]; notes: Note[] };

/** A WhatsApp customer on Meta's route leaves a message: its auto-replies go through the outbox. */
async function leaveMessageOnMeta(d: TestDesk, from: string, department?: string) {
  const base = { channel: "whatsapp" as const, from, route: "meta" as const, department };
  await receiveInbound(d.desk, { ...base, text: "my order is late" });
  const yes = await receiveInbound(d.desk, { ...base, text: "yes" });
  await receiveInbound(d.desk, { ...base, text: "//end" });
  return yes.ticketId!;
}

Deno.test("[routes] rule 35: internal notes on tickets", async (t) => {
  const d = await testDesk();
  const api = d.json;
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const ana = await d.person("agent", { departments: [sales] });
  const bob = await d.person("agent", { departments: [sales] });
  const sam = await d.person("agent", { departments: [support] });
  const supervisor = await d.person("supervisor");
  const admin = await d.person("admin");
  const ticketId = await leaveMessageOnMeta(d, "+27820000601", sales);
  const note = (token: string, text: unknown, id = ticketId) =>
    api<Note>("POST", `/api/tickets/${id}/notes`, { token, body: { text } });
  const read = async (token = supervisor.token, id = ticketId) =>
    (await api<WithNotes>("GET", `/api/tickets/${id}`, { token })).body;

  await t.step(
    "staff who may read an open ticket add a note: 201 {id, author, text, at}",
    async () => {
      const res = await note(bob.token, "Customer called too; VIP.");
      assert.equal(res.status, 201);
      assert.deepEqual(Object.keys(res.body).sort(), ["at", "author", "id", "text"]);
      assert.equal(res.body.author, bob.agent.id);
      assert.equal(res.body.text, "Customer called too; VIP.");
      assert.equal(res.body.at, new Date(d.clock.now()).toISOString());
    },
  );

  await t.step("a note has 1 to 4,096 characters", async () => {
    assert.equal((await note(ana.token, "")).status, 400);
    assert.equal((await note(ana.token, "   ")).status, 400);
    assert.equal((await note(ana.token, 42)).status, 400);
    assert.equal((await note(ana.token, "x".repeat(4097))).status, 400);
    assert.equal((await note(ana.token, "x".repeat(4096))).status, 201);
  });

  await t.step("an agent who may not read the ticket gets 404", async () => {
    // Sam serves another department: the unassigned sales ticket is not his to read (rule 13).
    assert.equal((await note(sam.token, "hidden")).status, 404);
    assert.equal((await note(ana.token, "nothing", "NOSUCHTICKET")).status, 404);
    await d.json("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token });
    // Now Ana's assigned ticket: never another agent's to read (rule 23).
    assert.equal((await note(bob.token, "after accept")).status, 404);
    d.clock.advance(MINUTE);
    assert.equal((await note(ana.token, "I'm on it.")).status, 201);
  });

  await t.step(
    "the ticket answer carries its notes in time order, apart from messages",
    async () => {
      const ticket = await read(ana.token);
      assert.deepEqual(ticket.notes.map((n) => n.text), [
        "Customer called too; VIP.",
        "x".repeat(4096),
        "I'm on it.",
      ]);
      assert.ok(ticket.messages.length > 0);
      assert.ok(!ticket.messages.some((m) => ticket.notes.some((n) => n.text === m.text)));
    },
  );

  await t.step("notes are append-only: no route edits or deletes one", async () => {
    const [first] = (await read()).notes;
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      const res = await api(method, `/api/tickets/${ticketId}/notes/${first.id}`, {
        token: admin.token,
        body: method === "DELETE" ? undefined : { text: "rewritten" },
      });
      assert.ok(res.status === 404 || res.status === 405, `${method}: ${res.status}`);
      const whole = await api(method, `/api/tickets/${ticketId}/notes`, {
        token: admin.token,
        body: method === "DELETE" ? undefined : { text: "rewritten" },
      });
      assert.ok(whole.status === 404 || whole.status === 405, `${method} all: ${whole.status}`);
    }
    assert.deepEqual((await read()).notes[0], first);
    assert.equal((await read()).notes.length, 3);
  });

  await t.step(
    "notes are never delivered: nothing for them in the outbox or any thread",
    async () => {
      const outbox: { messageId: string }[] = [];
      for await (const e of d.kv.list<{ messageId: string }>({ prefix: keys.outboxAll() })) {
        outbox.push(e.value);
      }
      // The prefix finds the auto-replies this Meta customer was sent, so it is the right one.
      assert.ok(outbox.length >= 2, "the outbox holds the customer's auto-replies");
      const { notes, messages } = await read();
      for (const entry of outbox) {
        assert.ok(!notes.some((n) => n.id === entry.messageId));
        assert.ok(messages.some((m) => m.id === entry.messageId));
      }
      // A note's text lives under its own keys only: not a message, thread entry or delivery job.
      for await (const e of d.kv.list({ prefix: [] })) {
        if (e.key[0] === "notes") continue;
        const stored = JSON.stringify(e.value, (_, v) => typeof v === "bigint" ? String(v) : v);
        assert.ok(
          !notes.some((n) => stored.includes(n.text) || e.key.includes(n.id)),
          `a note leaked into ${JSON.stringify(e.key)}`,
        );
      }
    },
  );

  await t.step(
    "on a closed ticket an agent gets 403; supervisors and admins add notes",
    async () => {
      await d.json("POST", `/api/tickets/${ticketId}/close`, { token: ana.token });
      const refused = await note(ana.token, "one more thing");
      assert.equal(refused.status, 403);
      assert.equal(
        (refused.body as unknown as { error: { code: string } }).error.code,
        "forbidden",
      );
      assert.equal((await note(bob.token, "closed tickets are readable, not notable")).status, 403);
      assert.equal((await note(supervisor.token, "Reviewed.")).status, 201);
      assert.equal((await note(admin.token, "Audited.")).status, 201);
    },
  );

  await t.step("on an archived ticket too", async () => {
    assert.equal(await archiveClosed(d.desk, 0), 1);
    assert.equal((await read()).status, "archived");
    assert.equal((await note(ana.token, "late")).status, 403);
    assert.equal((await note(supervisor.token, "Archived and reviewed.")).status, 201);
    assert.deepEqual((await read()).notes.slice(-3).map((n) => n.text), [
      "Reviewed.",
      "Audited.",
      "Archived and reviewed.",
    ]);
  });

  await t.step("signed-out callers get 401", async () => {
    assert.equal((await note("", "anonymous")).status, 401);
  });

  await d.close();
});

Deno.test("[routes] rule 35: a chat's notes follow its conversation into the ticket", async (t) => {
  const d = await testDesk();
  const api = d.json;
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const ana = await d.person("agent", { departments: [sales] });
  const sam = await d.person("agent", { departments: [support] });
  const supervisor = await d.person("supervisor");
  await setStatus(d.kv, ana.agent.id, "online");
  const chat = await d.inbound({
    channel: "whatsapp",
    from: "+27820000701",
    text: "hello, anyone?",
    department: sales,
  });
  assert.equal(chat.conversation.state, "pending");
  const pending = await d.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: ana.token },
  );
  const chatId = pending.body.chats.find((c) => c.customerId === chat.customerId)!.id;
  const note = (token: string, text: string) =>
    api<Note>("POST", `/api/chats/${chatId}/notes`, { token, body: { text } });

  await t.step("staff who may see a pending chat add a note; others get 404", async () => {
    assert.equal((await note(ana.token, "Looks like the refund case.")).status, 201);
    assert.equal((await note(sam.token, "not mine")).status, 404);
    assert.equal(
      (await api("POST", "/api/chats/NOSUCHCHAT/notes", {
        token: ana.token,
        body: { text: "x" },
      })).status,
      404,
    );
  });

  await t.step("the chat answer carries its notes, apart from messages", async () => {
    const res = await api<WithNotes>("GET", `/api/chats/${chatId}`, { token: supervisor.token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.notes.map((n) => n.text), ["Looks like the refund case."]);
    assert.deepEqual(res.body.messages.map((m) => m.text), ["hello, anyone?"]);
  });

  await t.step("after the pending timeout (rule 5) the notes are on the ticket", async () => {
    d.clock.advance(5 * MINUTE + 1);
    await runDueSweeps(d.desk);
    const state = await d.json<{ openTicketId: string }>(
      "GET",
      `/api/customers/${chat.customerId}`,
      {
        token: supervisor.token,
      },
    );
    const ticketId = state.body.openTicketId;
    assert.ok(ticketId, "the chat became a ticket");
    d.clock.advance(MINUTE);
    assert.equal(
      (await api("POST", `/api/tickets/${ticketId}/notes`, {
        token: ana.token,
        body: { text: "Ticket note." },
      })).status,
      201,
    );
    const ticket = await api<WithNotes>("GET", `/api/tickets/${ticketId}`, { token: ana.token });
    assert.deepEqual(ticket.body.notes.map((n) => n.text), [
      "Looks like the refund case.",
      "Ticket note.",
    ]);
    assert.ok(!ticket.body.messages.some((m) => m.text === "Looks like the refund case."));
  });

  await t.step("a chat that has ended takes no more notes (409)", async () => {
    const res = await note(supervisor.token, "too late");
    assert.equal(res.status, 409);
  });

  await t.step("a live chat's notes are for its agent (and staff), not other agents", async () => {
    d.clock.advance(20 * MINUTE);
    await runDueSweeps(d.desk);
    const again = await d.inbound({
      channel: "whatsapp",
      from: "+27820000702",
      text: "new chat",
      department: sales,
    });
    assert.equal(again.conversation.state, "pending");
    const list = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token: ana.token },
    );
    const liveId = list.body.chats.find((c) => c.customerId === again.customerId)!.id;
    assert.equal(
      (await d.json("POST", `/api/chats/${liveId}/accept`, { token: ana.token })).status,
      200,
    );
    const other = await d.person("agent", { departments: [sales] });
    const post = (token: string) =>
      api("POST", `/api/chats/${liveId}/notes`, { token, body: { text: "live note" } });
    assert.equal((await post(other.token)).status, 404);
    assert.equal((await post(ana.token)).status, 201);
    assert.equal((await post(supervisor.token)).status, 201);
  });

  await d.close();
});

Deno.test("[routes] rule 35: notes on a ticket answer are readable by whoever reads the ticket", async () => {
  const d = await testDesk();
  const api = d.json;
  const ticketId = await leaveMessage(d, "+27820000801");
  const agent = await d.person("agent");
  assert.equal(
    (await api("POST", `/api/tickets/${ticketId}/notes`, {
      token: agent.token,
      body: { text: "seen" },
    })).status,
    201,
  );
  const res = await d.json<WithNotes>("GET", `/api/tickets/${ticketId}`, { token: agent.token });
  assert.deepEqual(res.body.notes.map((n) => [n.author, n.text]), [[agent.agent.id, "seen"]]);
  await d.close();
});
