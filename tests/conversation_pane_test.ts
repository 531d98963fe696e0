/**
 * [routes] The Agent Desk's conversation pane without a browser (rules 34–36, issue points 3–5
 * and 8): canned replies in the reply box (a plain select with Insert), the server's refusal of
 * an unfilled placeholder, internal notes on tickets and chats, the customer panel and its edit,
 * collapsed auto-replies, business-zone times and the reply hint.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { HOUR } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { updateSettings } from "../domain/settings.ts";
import type { Customer, Message, Ticket } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

interface Person {
  id: string;
  token: string;
}

/** A page request as a browser sends it: the session cookie, forms from our own origin. */
async function visit(
  t: TestDesk,
  who: Person,
  path: string,
  form?: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const res = await t.app.request(path, {
    method: form ? "POST" : "GET",
    headers: {
      accept: "text/html",
      cookie: `${SESSION_COOKIE}=${who.token}`,
      ...(form
        ? { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" }
        : {}),
      ...headers,
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, location: res.headers.get("location"), html: await res.text() };
}

const htmx = { "hx-request": "true" };

async function person(
  t: TestDesk,
  role: "agent" | "supervisor" | "admin",
  name: string,
  departments: string[] = [],
) {
  const { agent, token } = await t.person(role, { name, departments });
  return { id: agent.id, token };
}

/** What the agent would send, as stored: every message of a ticket (as an admin reads it). */
async function messagesOf(t: TestDesk, admin: Person, ticketId: string): Promise<Message[]> {
  const res = await t.json<{ messages: Message[] }>("GET", `/api/tickets/${ticketId}`, {
    token: admin.token,
  });
  return res.body.messages;
}

/** The text of the reply box's textarea in a page. */
const replyDraft = (html: string, id = "reply-text") =>
  html.match(new RegExp(`<textarea id="${id}"[^>]*>([^<]*)</textarea>`))?.[1] ?? null;

const unescape = (s: string) =>
  s.replaceAll("&#39;", "'").replaceAll("&quot;", '"').replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">").replaceAll("&amp;", "&");

async function world() {
  const t = await testDesk();
  await closeBusiness(t);
  const sales = await t.department("Sales");
  const support = await t.department("Support");
  const ana = await person(t, "agent", "Ana Silva", [sales]);
  const ben = await person(t, "agent", "Ben Okafor", [sales]);
  const admin = await person(t, "admin", "Ada Admin");
  const canned = async (title: string, body: string, department: string | null) =>
    (await t.json<{ id: string }>("POST", "/api/canned-replies", {
      token: admin.token,
      body: { title, body, department },
    })).body.id;
  const replies = {
    shipping: await canned(
      "Shipping update",
      "Hi {{customer.name}}, {{agent.name}} here about ticket {{ticket.id}}.",
      null,
    ),
    order: await canned("Order number", "Your order number is {{order.number}}.", sales),
    support: await canned("Support only", "Support text", support),
  };
  const named = await leaveMessage(t, "+27820000001", ["Where is my order?"], {
    department: sales,
    name: "Thandi Nkosi",
  });
  const nameless = await leaveMessage(t, "+27820000002", ["Hello?"], { department: sales });
  for (const id of [named, nameless]) {
    assert.equal((await visit(t, ana, `/tickets/${id}/accept`, {})).status, 303);
  }
  return { t, sales, ana, ben, admin, replies, named, nameless };
}

Deno.test("[routes] rule 34 in the reply box: offered replies, Insert without JavaScript, unfilled placeholders refused", async (s) => {
  const w = await world();
  const { t, ana, admin, replies, named, nameless } = w;
  try {
    await s.step(
      "the box offers all-department and the agent's department's replies only",
      async () => {
        const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
        assert.match(
          html,
          new RegExp(`<option value="${replies.shipping}">Shipping update</option>`),
        );
        assert.match(html, new RegExp(`<option value="${replies.order}">Order number</option>`));
        assert.ok(!html.includes("Support only"), "another department's reply is not offered");
        assert.match(html, /data-canned="\/tickets\/[0-9A-Z]+\/canned-replies\/"/);
      },
    );

    await s.step("Insert adds the filled reply after the draft and sends nothing", async () => {
      const before = (await messagesOf(t, admin, named)).length;
      const res = await visit(t, ana, `/tickets/${named}/reply`, {
        text: "Hello.",
        canned: replies.shipping,
        insert: "1",
      });
      assert.equal(res.status, 200);
      assert.equal(
        unescape(replyDraft(res.html) ?? ""),
        `Hello.\nHi Thandi Nkosi, Ana Silva here about ticket ${named}.`,
      );
      assert.equal((await messagesOf(t, admin, named)).length, before, "nothing was sent");
    });

    await s.step(
      "a nameless customer's {{customer.name}} stays as typed and is listed",
      async () => {
        const res = await visit(t, ana, `/tickets/${nameless}/reply`, {
          text: "",
          canned: replies.shipping,
          insert: "1",
        });
        const draft = unescape(replyDraft(res.html) ?? "");
        assert.ok(draft.startsWith("Hi {{customer.name}}, Ana Silva"), draft);
        assert.match(
          res.html,
          /<p class="unfilled"[^>]*>Replace <mark class="placeholder">\{\{customer\.name\}\}<\/mark>/,
        );
      },
    );

    await s.step(
      "the server refuses a reply with a placeholder left, keeping the draft",
      async () => {
        const before = (await messagesOf(t, admin, named)).length;
        const text = "Your order number is {{order.number}}.";
        const res = await visit(t, ana, `/tickets/${named}/reply`, { text });
        assert.equal(res.status, 422);
        // The page comes back with the form, the draft as typed and the reason.
        assert.match(res.html, new RegExp(`<form method="post" action="/tickets/${named}/reply"`));
        assert.equal(unescape(replyDraft(res.html) ?? ""), text);
        assert.match(res.html, /role="alert">Not sent: \{\{order\.number\}\} still needs a value/);
        assert.equal((await messagesOf(t, admin, named)).length, before, "nothing was sent");
      },
    );

    await s.step(
      "the picker's route fills a reply for this ticket; others' tickets are 404",
      async () => {
        const res = await t.app.request(`/tickets/${named}/canned-replies/${replies.shipping}`, {
          headers: { cookie: `${SESSION_COOKIE}=${ana.token}` },
        });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), {
          text: `Hi Thandi Nkosi, Ana Silva here about ticket ${named}.`,
          missing: [],
        });
        const theirs = await t.app.request(`/tickets/${named}/canned-replies/${replies.shipping}`, {
          headers: { cookie: `${SESSION_COOKIE}=${w.ben.token}` },
        });
        assert.equal(theirs.status, 404);
      },
    );

    await s.step("in a live chat: no ticket id to fill, and the same refusal", async () => {
      await updateSettings(t.kv, {
        hours: { timeZone: "UTC", weekly: { wed: [["00:00", "24:00"]] }, closures: [] },
      });
      await setStatus(t.kv, ana.id, "online");
      const inbound = await t.inbound({
        channel: "sms",
        from: "+15550100003",
        text: "Anyone there?",
        department: w.sales,
      });
      const chatId = (await t.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      )).body.chats.find((c) => c.customerId === inbound.customerId)!.id;
      await visit(t, ana, `/chats/${chatId}/accept`, {});
      const page = await visit(t, ana, `/chats/${chatId}`);
      assert.match(page.html, /data-canned="\/chats\/[0-9A-Z]+\/canned-replies\/"/);
      const inserted = await visit(t, ana, `/chats/${chatId}/messages`, {
        text: "",
        canned: replies.shipping,
        insert: "1",
      });
      assert.equal(
        unescape(replyDraft(inserted.html, "chat-text") ?? ""),
        "Hi {{customer.name}}, Ana Silva here about ticket {{ticket.id}}.",
      );
      const refused = await visit(t, ana, `/chats/${chatId}/messages`, { text: "Hi {{x}}" });
      assert.equal(refused.status, 422);
      assert.equal(unescape(replyDraft(refused.html, "chat-text") ?? ""), "Hi {{x}}");
      assert.match(refused.html, /role="alert">Not sent: \{\{x\}\} still needs a value/);
      const chat = await t.json<{ messages: Message[] }>("GET", `/api/chats/${chatId}`, {
        token: ana.token,
      });
      assert.ok(!chat.body.messages.some((m) => m.text.includes("{{")), "nothing was sent");
      await setStatus(t.kv, ana.id, "offline");
    });
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 35 on the pages: notes on tickets and chats, apart from messages, never delivered", async (s) => {
  const w = await world();
  const { t, ana, ben, admin, named } = w;
  try {
    await s.step(
      "a note is added by a plain form, shown in the notes, not in the thread",
      async () => {
        const before = (await messagesOf(t, admin, named)).length;
        const res = await visit(t, ana, `/tickets/${named}/notes`, {
          note: "Courier says <b>Durban</b> depot",
        });
        assert.equal(res.status, 303);
        assert.equal(res.location, `/tickets/assigned/${named}#notes`);
        const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
        const notes = html.slice(html.indexOf('id="notes"'), html.indexOf('id="customer-panel"'));
        assert.ok(notes.includes("Courier says &lt;b&gt;Durban&lt;/b&gt; depot"), "escaped note");
        assert.ok(notes.includes("Staff only: never sent to the customer."));
        const thread = html.slice(html.indexOf('id="conversation"'), html.indexOf('id="reply"'));
        assert.ok(!thread.includes("Courier says"), "not among the messages");
        assert.equal((await messagesOf(t, admin, named)).length, before, "no message, no delivery");
      },
    );

    await s.step("with htmx the answer is the notes section alone, in place", async () => {
      const res = await visit(t, ana, `/tickets/${named}/notes`, { note: "Second" }, htmx);
      assert.equal(res.status, 200);
      assert.ok(res.html.startsWith('<section class="notes" id="notes"'), res.html.slice(0, 80));
      assert.ok(res.html.includes("Second") && !res.html.includes("<html"));
      assert.match(res.html, /Internal notes <span class="count" id="notes-count"\s*>2<\/span>/);
      const empty = await visit(t, ana, `/tickets/${named}/notes`, { note: "" }, htmx);
      assert.match(empty.html, /role="alert">Write a note of 1 to 4,096 characters\./);
      const plain = await visit(t, ana, `/tickets/${named}/notes`, { note: "" });
      assert.equal(plain.status, 400, "without htmx the page comes back with the message");
    });

    await s.step("an agent who may not read the ticket gets 404 and adds nothing", async () => {
      const res = await visit(t, ben, `/tickets/${named}/notes`, { note: "sneaky" });
      assert.equal(res.status, 404);
    });

    await s.step("closed: agents read the notes; only supervisors and admins add one", async () => {
      await visit(t, ana, `/tickets/${named}/close`, {});
      const page = await visit(t, ana, `/tickets/closed/${named}`);
      assert.ok(page.html.includes("Courier says") && !page.html.includes('name="note"'));
      assert.ok(page.html.includes("Only supervisors and admins add notes to closed tickets."));
      const refused = await visit(t, ana, `/tickets/${named}/notes`, { note: "late" }, htmx);
      assert.match(refused.html, /Only supervisors and admins/);
      const ok = await visit(t, admin, `/tickets/${named}/notes`, { note: "Reviewed." });
      assert.equal(ok.status, 303);
    });
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 36 on the pages: the customer panel shows the profile; edits are versioned", async (s) => {
  const w = await world();
  const { t, ana, ben, named, nameless } = w;
  const customerId = (await t.kv.get<Ticket>(keys.ticket(named))).value!.customerId;
  try {
    await s.step("the panel: name, channel and address, first seen, tickets", async () => {
      const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
      const panel = html.slice(html.indexOf('id="customer-panel"'));
      assert.match(panel, /id="customer-name" name="name" value="Thandi Nkosi"/);
      assert.ok(panel.includes("+27820000001") && panel.includes("First seen"));
      assert.match(panel, /Open, assigned to you<\/a> \(this ticket\)/);
      assert.match(panel, /name="ifVersion" value="1"/);
    });

    await s.step("a nameless customer's number is shown once in the header", async () => {
      const { html } = await visit(t, ana, `/tickets/assigned/${nameless}`);
      const head = html.slice(
        html.indexOf('id="detail-name"'),
        html.indexOf('class="detail-body"'),
      );
      assert.equal(head.split("+27820000002").length - 1, 1, head);
      assert.match(html, /id="customer-name" name="name" value=""/);
    });

    await s.step("saving sets the name and about; the agent's name wins from then on", async () => {
      const res = await visit(t, ana, `/tickets/${named}/customer`, {
        name: "Thandi N.",
        about: "VIP\r\nPrefers WhatsApp",
        ifVersion: "1",
      });
      assert.equal(res.status, 303);
      const saved = (await t.kv.get<Customer>(keys.customer(customerId))).value!;
      assert.equal(saved.name, "Thandi N.");
      assert.equal(saved.about, "VIP\nPrefers WhatsApp", "line breaks as typed");
      assert.equal(saved.nameSetByAgent, true);
      const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
      assert.match(html, /<h1 id="detail-name" class="detail-name"\s*>Thandi N\.<\/h1>/);
      assert.ok(html.includes(">Reply to Thandi N.</label>"), "the reply box follows the name");
    });

    await s.step("an edit from a stale page is refused, the typed text kept", async () => {
      const res = await visit(t, ana, `/tickets/${named}/customer`, {
        name: "Someone else",
        about: "Typed meanwhile",
        ifVersion: "1",
      });
      assert.equal(res.status, 409);
      assert.match(res.html, /Someone else changed this customer meanwhile/);
      assert.match(res.html, /value="Someone else"/);
      assert.ok(res.html.includes("Typed meanwhile"));
      assert.equal((await t.kv.get<Customer>(keys.customer(customerId))).value!.name, "Thandi N.");
    });

    await s.step("with htmx the panel comes back in place with the heading", async () => {
      const res = await visit(t, ana, `/tickets/${named}/customer`, {
        name: "Thandi Nkosi",
        about: "VIP",
        ifVersion: "2",
      }, htmx);
      assert.equal(res.status, 200);
      assert.ok(res.html.startsWith('<section class="customer-panel" id="customer-panel"'));
      assert.ok(res.html.includes("Customer saved."));
      assert.match(
        res.html,
        /<h1 id="detail-name" class="detail-name" hx-swap-oob="true">Thandi Nkosi/,
      );
    });

    await s.step("an agent who may not see the customer gets 404", async () => {
      const res = await visit(t, ben, `/tickets/${named}/customer`, { about: "x" });
      assert.equal(res.status, 404);
      assert.equal((await t.kv.get<Customer>(keys.customer(customerId))).value!.about, "VIP");
    });

    await s.step(
      "the panel lists the customer's chats: the live one, linked both ways",
      async () => {
        const before = await visit(t, ana, `/tickets/assigned/${named}`);
        assert.match(before.html, /Chats <span class="count">0<\/span>/);
        assert.ok(before.html.includes("No chats."));
        await visit(t, ana, `/tickets/${named}/reply`, { text: "Hello Thandi" });
        const chatId = (await t.json<{ conversation: { chatId: string } }>(
          "GET",
          `/api/customers/${customerId}`,
          { token: ana.token },
        )).body.conversation.chatId;
        const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
        const panel = html.slice(html.indexOf('id="customer-panel"'));
        assert.match(panel, /Chats <span class="count">1<\/span>/);
        assert.match(
          panel,
          new RegExp(`<a href="/chats/${chatId}">Live with you</a><span class="muted"> · since `),
        );
        assert.ok(panel.includes(" · in this ticket</span>"), "started from this ticket");
        const chat = await visit(t, ana, `/chats/${chatId}`);
        const chatPanel = chat.html.slice(chat.html.indexOf('id="customer-panel"'));
        assert.match(
          chatPanel,
          /<li aria-current="true"><span>Live with you<\/span> \(this chat\)/,
        );
        assert.match(
          chatPanel,
          new RegExp(`in <a href="/tickets/assigned/${named}">its ticket</a>`),
        );
      },
    );
  } finally {
    await t.close();
  }
});

Deno.test("[routes] the thread: auto-replies collapsed, business-zone times labelled, a hint that follows the state", async (s) => {
  const w = await world();
  const { t, ana, admin, named } = w;
  try {
    await updateSettings(t.kv, {
      hours: { timeZone: "Africa/Johannesburg", weekly: {}, closures: [] },
    });
    await s.step(
      "auto-replies are in collapsed groups; times are Johannesburg's, labelled",
      async () => {
        const { html } = await visit(t, ana, `/tickets/assigned/${named}`);
        const thread = html.slice(html.indexOf('id="conversation"'), html.indexOf('id="reply"'));
        assert.match(
          thread,
          /<details class="msg-group" data-group="[0-9A-Z]+"\s*><summary>2 automatic messages<\/summary><div class="msg msg-system"/,
        );
        // Collapsed, all but the thread's last word (rule 56: the newest message is shown).
        const open = [...thread.matchAll(/<details class="msg-group"[^>]* open[^>]*>/g)];
        assert.ok(open.length <= 1, "collapsed");
        if (open.length) {
          const last = thread.lastIndexOf('<details class="msg-group"');
          assert.equal(thread.indexOf(open[0][0]), last, "only the newest group is open");
        }
        // OPEN_TIME is 10:00 UTC: 12:00 in Johannesburg.
        assert.match(
          thread,
          /<time datetime="2026-11-25T10:00:00.000Z" title="2026-11-25 12:00 \(Africa\/Johannesburg\)">2026-11-25 12:00<\/time>/,
        );
        assert.ok(html.includes("<dt>Times</dt><dd>Africa/Johannesburg (business time zone)</dd>"));
        assert.match(html, /role="log" aria-label="Conversation" tabindex="0" data-thread="true"/);
      },
    );

    await s.step("the hint says Start Chat starts a chat, then that the chat is open", async () => {
      const first = await visit(t, ana, `/tickets/assigned/${named}`);
      assert.ok(first.html.includes("Sending starts a live chat with the customer"));
      await visit(t, ana, `/tickets/${named}/reply`, { text: "Hello Thandi" });
      const then = await visit(t, ana, `/tickets/assigned/${named}`);
      assert.ok(then.html.includes("This goes to your live chat with the customer"));
      assert.match(then.html, /data-send="true">Send<\/button>/);
    });

    await s.step("after 24 h and a template: the picker says the template went out", async () => {
      t.clock.advance(25 * HOUR);
      const fresh = await t.signIn((await t.kv.get(keys.agent(ana.id))).value as never);
      const anaNow = { ...ana, token: fresh };
      const tpl = await t.json<{ id: string }>("POST", "/api/templates", {
        token: await t.signIn((await t.kv.get(keys.agent(admin.id))).value as never),
        body: { name: "follow_up", body: "Hi {{1}}" },
      });
      const closed = await visit(t, anaNow, `/tickets/assigned/${named}`);
      assert.ok(closed.html.includes("WhatsApp window closed."));
      await visit(t, anaNow, `/tickets/${named}/reply`, {
        template: tpl.body.id,
        params: "Thandi",
      });
      const sent = await visit(t, anaNow, `/tickets/assigned/${named}`);
      assert.match(sent.html, /<strong>Template sent<\/strong>/);
      assert.ok(sent.html.includes("once the customer replies"));
    });
  } finally {
    await t.close();
  }
});
