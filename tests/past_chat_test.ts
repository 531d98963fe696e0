/**
 * [routes] A past chat can be read: `/chats/:id` shows a chat that has ended, read-only (its
 * messages in order with their marks, its notes, who had it and when; no message box, no accept
 * or end), to supervisors and admins, the agent who had it, and an agent who may read the ticket
 * its messages joined (rule 23); everyone else gets the 404 an unknown chat gets. The customer
 * panel links past chats there for whoever may open them.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import type { Customer } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, type TestDesk, testDesk } from "./helpers.ts";

interface Person {
  id: string;
  token: string;
}

/** A page request as a browser sends it: the session cookie, forms from our own origin. */
async function visit(t: TestDesk, who: Person, path: string, form?: Record<string, string>) {
  const res = await t.app.request(path, {
    method: form ? "POST" : "GET",
    headers: {
      accept: "text/html",
      cookie: `${SESSION_COOKIE}=${who.token}`,
      ...(form
        ? { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" }
        : {}),
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, location: res.headers.get("location"), html: await res.text() };
}

/** The customer panel's part of a page. */
const panelOf = (html: string) => html.slice(html.indexOf('id="customer-panel"'));

const TEXTS = {
  first: "mark-first-question-3a1",
  reply: "mark-ana-answer-7c2",
  second: "mark-second-question-9d4",
  last: "mark-ana-goodbye-1f5",
  note: "mark-note-on-chat-5e8",
  unanswered: "mark-nobody-answered-2b6",
};

async function world() {
  const t = await testDesk(); // the business is open: customers get live chats
  const sales = await t.department("Sales");
  const support = await t.department("Support");
  const people: Record<string, Person> = {};
  for (
    const [key, role, name, departments] of [
      ["ana", "agent", "Ana Silva", [sales]],
      ["ben", "agent", "Ben Okafor", [sales]],
      ["carol", "agent", "Carol Moyo", [support]],
      ["boss", "supervisor", "Sam Boss", []],
      ["admin", "admin", "Ada Admin", []],
    ] as const
  ) {
    const { agent, token } = await t.person(role, { name, departments: [...departments] });
    people[key] = { id: agent.id, token };
  }
  const { ana } = people;
  await setStatus(t.kv, ana.id, "online");
  const pendingOf = async (customerId: string) =>
    (await t.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token: ana.token },
    )).body.chats.find((c) => c.customerId === customerId)!.id;

  // 1. Ana takes a chat, answers twice, notes it and ends it: it never joins a ticket.
  const from = "+27820000777";
  const write = (text: string) =>
    t.inbound({ channel: "whatsapp", from, text, department: sales, name: "Thandi Nkosi" });
  const customerId = (await write(TEXTS.first)).customerId;
  const chat = await pendingOf(customerId);
  assert.equal(
    (await t.call("POST", `/api/chats/${chat}/accept`, { token: ana.token })).status,
    200,
  );
  const say = async (text: string) => {
    t.clock.advance(MINUTE);
    const res = await t.call("POST", `/api/chats/${chat}/messages`, {
      token: ana.token,
      body: { text },
    });
    assert.equal(res.status, 201);
  };
  await say(TEXTS.reply);
  t.clock.advance(MINUTE);
  await write(TEXTS.second);
  await say(TEXTS.last);
  const note = await t.call("POST", `/api/chats/${chat}/notes`, {
    token: ana.token,
    body: { text: TEXTS.note },
  });
  assert.equal(note.status, 201);
  assert.equal((await t.call("POST", `/api/chats/${chat}/end`, { token: ana.token })).status, 200);

  // 2. Another customer's pending chat nobody takes becomes an unassigned ticket (rule 5).
  t.clock.advance(MINUTE);
  const other = await t.inbound({
    channel: "sms",
    from: "+15550100777",
    text: TEXTS.unanswered,
    department: sales,
  });
  const unanswered = await pendingOf(other.customerId);
  t.clock.advance(6 * MINUTE);
  await runDueSweeps(t.desk);
  const unansweredTicket = (await t.kv.get<string>(keys.openTicketByCustomer(other.customerId)))
    .value!;
  assert.ok(unansweredTicket, "rule 5 made it a ticket");
  return { t, sales, people, chat, customerId, write, unanswered, unansweredTicket };
}

/** What must never be on an ended chat's page: a message box, Accept, End, a note form. */
function assertReadOnly(html: string, chat: string) {
  assert.ok(html.includes("This chat has ended."), "the state is said");
  assert.ok(!html.includes(`action="/chats/${chat}/messages"`), "no message box");
  assert.ok(!html.includes('id="reply-text"'), "no reply textarea");
  assert.ok(!html.includes(`action="/chats/${chat}/end"`), "no End chat");
  assert.ok(!html.includes(`action="/chats/${chat}/accept"`), "no Accept");
  assert.ok(!html.includes(`action="/chats/${chat}/notes"`), "no note form");
  assert.ok(!html.includes('hx-trigger="every 3s"'), "no poller: nothing more is written in it");
}

Deno.test("[routes] a past chat can be read: /chats/:id once the chat has ended", async (s) => {
  const w = await world();
  const { t, people, chat } = w;
  const { ana, ben, carol, boss, admin } = people;
  try {
    await s.step("its agent reads it right after ending it: messages in order, notes", async () => {
      const { status, html } = await visit(t, ana, `/chats/${chat}`);
      assert.equal(status, 200);
      assertReadOnly(html, chat);
      const at = [TEXTS.first, TEXTS.reply, TEXTS.second, TEXTS.last].map((x) => html.indexOf(x));
      assert.ok(at.every((i) => i > 0), `every message is shown: ${at}`);
      assert.deepEqual([...at].sort((a, b) => a - b), at, "oldest first");
      const notes = html.slice(html.indexOf('id="notes"'), html.indexOf('id="customer-panel"'));
      assert.ok(notes.includes(TEXTS.note), "its note, in the notes section");
      assert.ok(notes.includes("This chat has ended: no more notes can be added."));
      assert.match(html, /id="notes-count"[^>]*>1<\/span>/, "one note counted");
      assert.match(html, /<dt>Handled by<\/dt>\s*<dd>You<\/dd>/);
      assert.match(html, /<dt>Started<\/dt>\s*<dd><time datetime="[^"]+"/);
      assert.match(html, /<dt>Last message<\/dt>/);
      assert.ok(html.includes('<span class="badge badge-muted">Ended</span>'));
    });

    await s.step("delivery marks are shown as in a live chat", async () => {
      const { html } = await visit(t, ana, `/chats/${chat}`);
      const answer = html.slice(html.indexOf(TEXTS.reply));
      assert.match(answer.slice(0, 2000), /class="mark mark-/, "the answer carries its mark");
    });

    // The customer writes again later (out of hours): a ticket; the chat's record is replaced.
    await closeBusiness(t);
    t.clock.advance(60 * MINUTE);
    await w.write("Hello again");
    const ticket = (await w.write("YES")).ticketId!;
    await w.write("//end");

    await s.step("after the customer's next conversation it is still readable", async () => {
      const { status, html } = await visit(t, ana, `/chats/${chat}`);
      assert.equal(status, 200);
      assertReadOnly(html, chat);
      assert.ok(html.includes(TEXTS.last) && html.includes(TEXTS.note));
      assert.match(html, /<dt>Handled by<\/dt>\s*<dd>You<\/dd>/);
    });

    await s.step("supervisors and admins read it, with no note form either", async () => {
      for (const who of [boss, admin]) {
        const { status, html } = await visit(t, who, `/chats/${chat}`);
        assert.equal(status, 200);
        assertReadOnly(html, chat);
        assert.ok(html.includes(TEXTS.first) && html.includes(TEXTS.note));
        assert.match(html, /<dt>Handled by<\/dt>\s*<dd>Ana Silva<\/dd>/);
      }
    });

    await s.step("others get the 404 an unknown chat gets, even seeing the customer", async () => {
      // Ben may see the customer (its new ticket is unassigned in his department), not the chat.
      const profile = await t.call("GET", `/api/customers/${w.customerId}`, { token: ben.token });
      assert.equal(profile.status, 200);
      await profile.body?.cancel();
      for (const who of [ben, carol]) {
        const ended = await visit(t, who, `/chats/${chat}`);
        const unknown = await visit(t, who, "/chats/01ZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert.equal(ended.status, 404);
        assert.equal(unknown.status, 404);
        assert.equal(ended.html, unknown.html, "nothing tells the two apart");
        assert.ok(!ended.html.includes(TEXTS.first) && !ended.html.includes(TEXTS.note));
        const part = await visit(t, who, `/chats/${chat}?part=messages`);
        assert.equal(part.status, 286, "its messages are not served either");
        assert.ok(!part.html.includes(TEXTS.first));
      }
    });

    await s.step("rule 48: the JSON API reads it too, for whoever may open its page", async () => {
      const res = await t.json<{ state: string }>("GET", `/api/chats/${chat}`, {
        token: ana.token,
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.state, "ended");
    });

    await s.step(
      "a chat that joined a ticket: whoever may read the ticket reads it",
      async () => {
        const { status, html } = await visit(t, ben, `/chats/${w.unanswered}`);
        assert.equal(status, 200);
        assertReadOnly(html, w.unanswered);
        assert.ok(html.includes(TEXTS.unanswered));
        assert.match(html, /<dt>Handled by<\/dt>\s*<dd>No agent answered<\/dd>/);
        assert.ok(
          html.includes(`<a href="/tickets/unassigned/${w.unansweredTicket}">Open its ticket</a>`),
        );
        assert.ok(html.includes("This chat has ended: notes go on its ticket now."));
        const outsider = await visit(t, carol, `/chats/${w.unanswered}`);
        assert.equal(outsider.status, 404, "not another department's agent");
      },
    );

    await s.step("the customer panel links the past chat for whoever may open it", async () => {
      const link = new RegExp(`<a href="/chats/${chat}">Chat with (you|Ana Silva)</a>`);
      for (const who of [ana, boss]) {
        const { html } = await visit(t, who, `/tickets/unassigned/${ticket}`);
        assert.match(panelOf(html), link);
      }
      const { html } = await visit(t, ben, `/tickets/unassigned/${ticket}`);
      const panel = panelOf(html);
      assert.ok(panel.includes("<span>Chat with Ana Silva</span>"), "listed, not linked");
      assert.ok(!panel.includes(`href="/chats/${chat}"`));
    });

    await s.step("on the chat's own page the panel marks it, unlinked", async () => {
      const { html } = await visit(t, boss, `/chats/${chat}`);
      const panel = panelOf(html);
      assert.match(
        panel,
        /<li aria-current="true"><span>Chat with Ana Silva<\/span> \(this chat\)/,
      );
    });

    await s.step("the panel's edit works from the ended chat's page", async () => {
      const res = await visit(t, boss, `/chats/${chat}/customer`, { about: "Called back" });
      assert.equal(res.status, 303);
      assert.equal(res.location, `/chats/${chat}`);
      const saved = (await t.kv.get<Customer>(keys.customer(w.customerId))).value!;
      assert.equal(saved.about, "Called back");
      const refused = await visit(t, carol, `/chats/${chat}/customer`, { about: "x" });
      assert.equal(refused.status, 404);
    });

    await s.step("nothing can be sent or ended from it", async () => {
      const sent = await visit(t, ana, `/chats/${chat}/messages`, { text: "too late" });
      assert.equal(sent.status, 303, "refused with a message");
      const { html } = await visit(t, ana, `/chats/${chat}`);
      assert.ok(!html.includes("too late"));
    });
  } finally {
    await t.close();
  }
});

Deno.test("[routes] an agent who had a chat but never wrote in it can still read it later", async () => {
  const t = await testDesk(); // open: customers get live chats
  const sales = await t.department("Sales");
  const { agent, token } = await t.person("agent", { name: "Ben Okafor", departments: [sales] });
  const other = await t.person("agent", { name: "Dee Other", departments: [sales] });
  const ben: Person = { id: agent.id, token };
  await setStatus(t.kv, ben.id, "online");
  const from = "+27820000888";
  const { customerId } = await t.inbound({ channel: "sms", from, text: "Hi", department: sales });
  const chats = await t.json<{ chats: { id: string; customerId: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: ben.token },
  );
  const chat = chats.body.chats.find((c) => c.customerId === customerId)!.id;
  assert.equal((await t.call("POST", `/api/chats/${chat}/accept`, { token })).status, 200);
  assert.equal((await t.call("POST", `/api/chats/${chat}/end`, { token })).status, 200);
  // Ben wrote nothing. The customer comes back out of hours: a new conversation replaces the
  // chat's record, so only what the accept wrote can still say the chat was Ben's.
  await closeBusiness(t);
  t.clock.advance(60 * MINUTE);
  await t.inbound({ channel: "sms", from, text: "Hello again" });
  await t.inbound({ channel: "sms", from, text: "YES" });
  const page = await visit(t, ben, `/chats/${chat}`);
  assert.equal(page.status, 200);
  assertReadOnly(page.html, chat);
  assert.match(page.html, /<dt>Handled by<\/dt>\s*<dd>You<\/dd>/);
  const stranger = await visit(t, { id: other.agent.id, token: other.token }, `/chats/${chat}`);
  assert.equal(stranger.status, 404, "a colleague who never had it still may not");
  await t.close();
});
