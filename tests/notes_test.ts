/**
 * SPEC rule 35: internal notes on tickets and chats, staff only, never delivered; live on every
 * open page of their ticket or chat for whoever may read it, and no one else.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { archiveClosed } from "../domain/tickets.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { readEventStream } from "./event_stream.ts";

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

// ---- Rule 35 live: a note reaches every open page of its ticket or chat -----------------------

/** An `/events` stream read as the browser reads it. */
async function openStream(d: TestDesk, token: string, address: string) {
  const res = await d.app.request(address, {
    headers: { cookie: `${SESSION_COOKIE}=${token}`, accept: "text/event-stream" },
  });
  assert.equal(res.status, 200);
  return readEventStream(res.body!, 1000);
}

/** The names of the SSE events in `text`. */
const eventNames = (text: string) => [...text.matchAll(/^event: (.*)$/gm)].map((m) => m[1]);

/** The data of the last event named `name` in `text`. */
function lastEvent(text: string, name: string): string {
  const blocks = text.split("\n\n").filter((b) => b.startsWith(`event: ${name}\n`));
  return (blocks.at(-1) ?? "").split("\n").slice(1).map((l) => l.replace(/^data: /, "")).join(
    "\n",
  );
}

/** A page as the browser gets it, and the address of its live stream. */
async function livePage(d: TestDesk, token: string, path: string) {
  const res = await d.app.request(path, {
    headers: { cookie: `${SESSION_COOKIE}=${token}`, accept: "text/html" },
  });
  assert.equal(res.status, 200, path);
  const html = await res.text();
  return { html, address: html.match(/sse-connect="([^"]+)"/)![1].replaceAll("&amp;", "&") };
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

Deno.test("[routes] rule 35 live: two people note one ticket at once; every reader's page gets both, no one else", async (t) => {
  const d = await testDesk();
  try {
    await closeBusiness(d);
    const sales = await d.department("Sales");
    const ana = await d.person("agent", { name: "Ana Silva", departments: [sales] });
    const ben = await d.person("agent", { name: "Ben Okafor", departments: [sales] });
    const sam = await d.person("supervisor", { name: "Sam Boss" });
    const ticketId = await leaveMessage(d, "+27820000901", ["parcel?"], { department: sales });
    assert.equal(
      (await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token }))
        .status,
      200,
    );
    const path = `/tickets/assigned/${ticketId}`;
    const anaPage = await livePage(d, ana.token, path);
    const samPage = await livePage(d, sam.token, path);
    assert.match(anaPage.html, /<div class="note-items" id="note-items" sse-swap="notes">/);
    const anaLive = await openStream(d, ana.token, anaPage.address);
    const samLive = await openStream(d, sam.token, samPage.address);
    // Ben may not read Ana's ticket (rule 23): a stream asking for it anyway, stale version.
    const benLive = await openStream(
      d,
      ben.token,
      `/events?view=assigned&selected=${ticketId}&v=x`,
    );

    await t.step("pages that are current get nothing at connect", async () => {
      await anaLive.until("event:", 300);
      await samLive.until("event:", 300);
      assert.deepEqual(eventNames(anaLive.seen), []);
      assert.deepEqual(eventNames(samLive.seen), []);
      assert.ok(await benLive.until("event: list"), "Ben's stream sends its own list");
      benLive.clear();
    });

    const counter = async () => (await d.kv.get<Deno.KvU64>(keys.notesChanged())).value?.value;
    const before = await counter();
    let anaAnswer = "";
    await t.step("Ana (htmx form) and Sam (API) add a note in the same instant", async () => {
      const started = performance.now();
      const [form, api] = await Promise.all([
        d.app.request(`/tickets/${ticketId}/notes`, {
          method: "POST",
          headers: {
            cookie: `${SESSION_COOKIE}=${ana.token}`,
            "content-type": "application/x-www-form-urlencoded",
            origin: "http://localhost",
            "hx-request": "true",
          },
          body: new URLSearchParams({ note: "Courier: Durban depot" }).toString(),
        }),
        d.json<Note>("POST", `/api/tickets/${ticketId}/notes`, {
          token: sam.token,
          body: { text: "VIP: call back today" },
        }),
      ]);
      assert.equal(form.status, 200);
      assert.equal(api.status, 201);
      anaAnswer = await form.text();
      // Both streams carry both notes within a second of the commits.
      for (const live of [anaLive, samLive]) {
        assert.ok(await live.until("Courier: Durban depot", 1000), live.seen);
        assert.ok(await live.until("VIP: call back today", 1000), live.seen);
      }
      assert.ok(performance.now() - started < 1500, "within ~1 s");
      assert.equal((await counter())! - (before ?? 0n), 2n, "each note bumped the counter");
    });

    await t.step("the note waves carry only the notes, never the thread or the lists", () => {
      for (const live of [anaLive, samLive]) {
        assert.deepEqual([...new Set(eventNames(live.seen))], ["notes"], live.seen);
      }
    });

    await t.step("the last event is the whole list, each note once, with its count", () => {
      for (const live of [anaLive, samLive]) {
        const last = lastEvent(live.seen, "notes");
        assert.equal(count(last, 'class="note"'), 2, last);
        assert.equal(count(last, '<p class="note-text">Courier: Durban depot'), 1);
        assert.equal(count(last, '<p class="note-text">VIP: call back today'), 1);
        assert.match(last, /<span class="count" id="notes-count" hx-swap-oob="true">2<\/span>/);
      }
      // Each reader sees its own notes as "You".
      assert.match(lastEvent(anaLive.seen, "notes"), /Durban depot<\/p><p class="note-meta">You/);
      assert.match(
        lastEvent(samLive.seen, "notes"),
        /call back today<\/p><p class="note-meta">You/,
      );
    });

    await t.step("the author's own htmx answer holds its note once (no double)", () => {
      assert.ok(anaAnswer.startsWith('<section class="notes" id="notes"'), anaAnswer.slice(0, 60));
      assert.equal(count(anaAnswer, "Courier: Durban depot"), 1);
      // The answer's list is a `#note-items` the stream replaces whole: never appended to.
      assert.equal(count(anaAnswer, 'sse-swap="notes"'), 1);
    });

    await t.step("Ben, who may not read the ticket, never gets the notes", async () => {
      await benLive.until("event: notes", 500);
      assert.ok(!benLive.seen.includes("event: notes"), benLive.seen.slice(0, 200));
      assert.ok(!benLive.seen.includes("Durban"));
    });

    await t.step("a closed ticket's readers still get a supervisor's note live", async () => {
      anaLive.clear();
      await d.call("POST", `/api/tickets/${ticketId}/close`, { token: ana.token });
      const closed = await livePage(d, ana.token, `/tickets/closed/${ticketId}`);
      const live = await openStream(d, ana.token, closed.address);
      await live.until("event:", 300);
      live.clear();
      await d.json("POST", `/api/tickets/${ticketId}/notes`, {
        token: sam.token,
        body: { text: "Reviewed after closing." },
      });
      assert.ok(await live.until("Reviewed after closing.", 1000), live.seen);
      await live.close();
    });

    await anaLive.close();
    await samLive.close();
    await benLive.close();
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 35 live: a note on a live chat reaches its agent's open chat, not other agents", async (t) => {
  const d = await testDesk();
  try {
    const sales = await d.department("Sales");
    const ana = await d.person("agent", { name: "Ana Silva", departments: [sales] });
    const ben = await d.person("agent", { name: "Ben Okafor", departments: [sales] });
    const sam = await d.person("supervisor", { name: "Sam Boss" });
    await setStatus(d.kv, ana.agent.id, "online");
    const inbound = await d.inbound({
      channel: "sms",
      from: "+15550100901",
      text: "charged twice",
      department: sales,
    });
    const pending = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token: ana.token },
    );
    const chatId = pending.body.chats.find((c) => c.customerId === inbound.customerId)!.id;
    assert.equal(
      (await d.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token }))
        .status,
      200,
    );
    const page = await livePage(d, ana.token, `/chats/${chatId}`);
    const anaLive = await openStream(d, ana.token, page.address);
    const benLive = await openStream(d, ben.token, `/events?view=chats&selected=${chatId}&v=x`);
    await anaLive.until("event:", 300);
    assert.deepEqual(eventNames(anaLive.seen), [], "a current page gets nothing at connect");
    await benLive.until("event: chats", 1000);
    benLive.clear();

    await t.step("the supervisor's note arrives on Ana's open chat, alone", async () => {
      const res = await d.json("POST", `/api/chats/${chatId}/notes`, {
        token: sam.token,
        body: { text: "Refund approved." },
      });
      assert.equal(res.status, 201);
      assert.ok(await anaLive.until("Refund approved.", 1000), anaLive.seen);
      assert.deepEqual([...new Set(eventNames(anaLive.seen))], ["notes"]);
      assert.match(
        lastEvent(anaLive.seen, "notes"),
        /Refund approved\.<\/p><p class="note-meta">Sam Boss/,
      );
    });

    await t.step("Ben, not the chat's agent, gets nothing of it", async () => {
      await benLive.until("event: notes", 500);
      assert.ok(!benLive.seen.includes("Refund approved."), benLive.seen.slice(0, 200));
    });
    await anaLive.close();
    await benLive.close();
  } finally {
    await d.close();
  }
});
