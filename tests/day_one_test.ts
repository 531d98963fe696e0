/**
 * Rules 54–59 ("Day one with a real team") on the server: one name everywhere, what the web chat
 * and WhatsApp tell the customer, chat rows that show what was written, people managing their
 * own access, and a widget the desk refuses that can say so. The browser side of each rule is in
 * tests/browser_day_one_test.ts.
 */
import assert from "node:assert/strict";
import { displayName, formatAddress, hasOwnName, type Named } from "../domain/customer_names.ts";
import { InboundToken } from "../domain/inbound_token.ts";
import { keys } from "../domain/keys.ts";
import { metaProvider } from "../domain/providers/meta.ts";
import type { Outgoing } from "../domain/providers/provider.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import type { Message } from "../domain/types.ts";
import { closeBusiness, INBOUND_TOKEN, OPEN_TIME, type TestDesk, testDesk } from "./helpers.ts";
import { sessionJar, visit, type Visitor } from "./page_visits.ts";

/** A browser signed in with `token`. */
const visitorOf = (token: string): Visitor => ({ token, jar: sessionJar(token) });

/** A page (a form post when `form` is given) as that browser asks for it. */
const page = (t: TestDesk, who: Visitor, path: string, form?: Record<string, string>) =>
  visit(t, who, path, { form });

const SHOP = "https://shop.example";

/** A web chat visitor: its token, and a way to write like the widget does. */
async function visitor(t: TestDesk) {
  const made = await t.json<{ visitorId: string; token: string }>(
    "POST",
    "/webchat/api/visitors",
  );
  assert.equal(made.status, 201, JSON.stringify(made.body));
  let n = 0;
  return {
    ...made.body,
    async say(text: string) {
      const res = await t.json("POST", "/webchat/api/messages", {
        token: made.body.token,
        body: { text, clientId: `c${++n}` },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    },
    async thread() {
      const res = await t.json<VisitorPage>("GET", "/webchat/api/messages", {
        token: made.body.token,
      });
      assert.equal(res.status, 200);
      return res.body;
    },
  };
}

interface VisitorMessage {
  id: string;
  direction: string;
  author: string;
  authorName?: string;
  text: string;
  quickReplies?: string[];
}

interface VisitorPage {
  messages: VisitorMessage[];
  chat: { state: string; id: string | null; agent: string | null; sinceId: string | null };
}

async function withWebchat(at: number, fn: (t: TestDesk, admin: string) => Promise<void>) {
  const t = await testDesk({ at });
  try {
    const admin = await t.person("admin", { name: "Ada Admin" });
    const put = await t.json("PUT", "/api/channels/webchat", {
      token: admin.token,
      body: { enabled: true, allowedOrigins: [SHOP] },
    });
    assert.equal(put.status, 200);
    await fn(t, admin.token);
  } finally {
    await t.close();
  }
}

Deno.test("[domain] rule 54: a customer's name, else its address as people read it", () => {
  const visitorId = "wv_01M984MQDCEX3M15CAD9ZJ0PWW";
  const v = (name: string): Named => ({ name, from: visitorId, channel: "webchat" });
  assert.equal(formatAddress("webchat", visitorId), "Visitor J0PWW");
  assert.equal(hasOwnName(v("Visitor J0PWW")), false, "the generated label is no name");
  assert.equal(displayName(v("Visitor J0PWW")), "Visitor J0PWW");
  assert.equal(displayName(v(visitorId)), "Visitor J0PWW", "never the raw id");
  assert.equal(hasOwnName(v("Thabo Nkosi")), true);
  assert.equal(displayName(v("  Thabo Nkosi ")), "Thabo Nkosi");
  const phone: Named = { name: "+27820000001", from: "+27820000001", channel: "whatsapp" };
  assert.equal(hasOwnName(phone), false);
  assert.equal(displayName(phone), "+27820000001");
  // An address that only looks like a visitor's (sent through the API) is shown as it is.
  assert.equal(formatAddress("webchat", "visitor-22de"), "visitor-22de");
});

Deno.test("[routes] rule 54: a name edited in the profile is the name everywhere", async (s) => {
  await withWebchat(OPEN_TIME, async (t) => {
    await closeBusiness(t);
    const ana = await t.person("agent", { name: "Ana Silva" });
    const admin = await t.person("admin");
    const v = await visitor(t);
    // A first ticket, closed; then a second one open: the customer has two tickets.
    for (const text of ["My parcel is late", "YES", "//end"]) await v.say(text);
    const first = (await t.json<{ tickets: { id: string; customerId: string }[] }>(
      "GET",
      "/api/tickets?queue=unassigned",
      { token: ana.token },
    )).body.tickets[0];
    assert.ok(first, "the visitor's message became a ticket");
    await t.call("POST", `/api/tickets/${first.id}/accept`, { token: ana.token });
    await t.call("POST", `/api/tickets/${first.id}/close`, { token: ana.token });
    for (const text of ["Still waiting for it", "YES", "//end"]) await v.say(text);
    const second = (await t.json<{ tickets: { id: string }[] }>(
      "GET",
      "/api/tickets?queue=unassigned",
      { token: ana.token },
    )).body.tickets[0];
    const canned = await t.json<{ id: string }>("POST", "/api/canned-replies", {
      token: admin.token,
      body: { title: "Greeting", body: "Hi {{customer.name}}", department: null },
    });
    const render = async () =>
      (await t.json<{ text: string; missing: string[] }>(
        "GET",
        `/api/canned-replies/${canned.body.id}/render?ticketId=${second.id}`,
        { token: ana.token },
      )).body;

    await s.step("before a rename the visitor is its label, never its raw id", async () => {
      const html = await (await page(t, visitorOf(ana.token), "/tickets/unassigned")).text();
      const label = `Visitor ${v.visitorId.slice(-5)}`;
      assert.ok(html.includes(label), "the row names the visitor by its label");
      assert.ok(!html.includes(v.visitorId), "the raw visitor id is nowhere on the page");
      const ticket = await (await page(t, visitorOf(ana.token), `/tickets/unassigned/${second.id}`))
        .text();
      assert.ok(!ticket.includes(v.visitorId), "nor on the ticket's page");
      assert.equal(ticket.split(label).length - 1 >= 1, true);
    });

    await s.step(
      "rule 34: the generated label counts as missing for {{customer.name}}",
      async () => {
        assert.deepEqual(await render(), {
          text: "Hi {{customer.name}}",
          missing: ["customer.name"],
        });
      },
    );

    const customer = (await t.json<{ customerId: string }>("GET", `/api/tickets/${second.id}`, {
      token: ana.token,
    })).body.customerId;
    const renamed = await t.json("PATCH", `/api/customers/${customer}`, {
      token: ana.token,
      body: { name: "Thabo Nkosi" },
    });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));

    await s.step(
      "every ticket of the customer, open and closed, carries the new name",
      async () => {
        for (const queue of ["unassigned", "closed"]) {
          const list = await t.json<{ tickets: { id: string; name: string }[] }>(
            "GET",
            `/api/tickets?queue=${queue}`,
            { token: ana.token },
          );
          assert.deepEqual(list.body.tickets.map((x) => x.name), ["Thabo Nkosi"], queue);
        }
        const found = await t.json<{ tickets: { id: string }[] }>(
          "GET",
          "/api/tickets?queue=closed&q=thabo",
          { token: ana.token },
        );
        assert.deepEqual(found.body.tickets.map((x) => x.id), [first.id], "search finds it");
      },
    );

    await s.step("list rows and the ticket's header say it", async () => {
      const list = await (await page(t, visitorOf(ana.token), "/tickets/unassigned")).text();
      assert.ok(list.includes(">Thabo Nkosi</a>"), "the row");
      const closed = await (await page(t, visitorOf(ana.token), "/tickets/closed")).text();
      assert.ok(closed.includes(">Thabo Nkosi</a>"), "the closed row");
      const ticket = await (await page(t, visitorOf(ana.token), `/tickets/unassigned/${second.id}`))
        .text();
      assert.match(ticket, /<h1 id="detail-name" class="detail-name"\s*>Thabo Nkosi<\/h1>/);
      assert.ok(!ticket.includes(v.visitorId), "still no raw id");
    });

    await s.step(
      "the ticket's live thread carries the new name to pages already open",
      async () => {
        const res = await page(
          t,
          visitorOf(ana.token),
          `/tickets/unassigned/${second.id}?part=conversation&v=stale`,
        );
        const html = await res.text();
        assert.match(
          html,
          /<h1 id="detail-name" class="detail-name" hx-swap-oob="true">Thabo Nkosi/,
        );
      },
    );

    await s.step("transcripts and the canned reply use it", async () => {
      const csv = await (await t.call(
        "GET",
        "/api/transcripts?from=2026-11-01&to=2026-11-30&format=csv",
        { token: admin.token },
      )).text();
      const rows = csv.trim().split("\r\n").slice(1);
      assert.ok(rows.length >= 6, csv);
      for (const row of rows) assert.ok(row.split(",")[1] === "Thabo Nkosi", row);
      assert.deepEqual(await render(), { text: "Hi Thabo Nkosi", missing: [] });
    });
  });
});

Deno.test("[routes] rule 55: the web chat says who writes, who joined, that it ended, and asks with buttons", async (s) => {
  await withWebchat(OPEN_TIME, async (t) => {
    const ana = await t.person("agent", { name: "Ana Silva" });

    await s.step(
      "out of hours: the prompt comes with its two answers; the chat awaits them",
      async () => {
        await closeBusiness(t);
        const v = await visitor(t);
        await v.say("Hello?");
        const page = await v.thread();
        const prompt = page.messages.find((m) => m.text === DEFAULT_TEXTS.prompt);
        assert.ok(prompt, "the prompt is in the thread");
        assert.deepEqual(prompt.quickReplies, ["Yes", "No"]);
        assert.equal(prompt.authorName, undefined, "an automatic reply names no agent");
        assert.equal(page.chat.state, "awaiting_reply");
        // A tapped button sends its word, which routes like a typed one (rule 2).
        await v.say("Yes");
        const after = await v.thread();
        assert.equal(after.chat.state, "leaving_message");
        assert.equal(after.messages.at(-1)!.text, DEFAULT_TEXTS.yesAck);
      },
    );

    await s.step(
      "the JSON API's reply is still the prompt's text, and typed YES still works",
      async () => {
        const answer = await t.inbound({ channel: "sms", from: "+15550100077", text: "Hi" });
        assert.deepEqual(answer.replies.map((r) => r.text), [
          DEFAULT_TEXTS.outOfHours,
          DEFAULT_TEXTS.prompt,
        ]);
        const yes = await t.inbound({ channel: "sms", from: "+15550100077", text: " yes " });
        assert.equal(yes.conversation.state, "leaving_message");
      },
    );

    await s.step("open, an agent online: waiting, then the agent joins by name", async () => {
      await t.kv.delete(keys.settings());
      await t.json("PUT", "/api/agents/me/status", {
        token: ana.token,
        body: { status: "online" },
      });
      const v = await visitor(t);
      await v.say("Is anyone there?");
      const waiting = await v.thread();
      assert.equal(waiting.chat.state, "pending");
      const chats = await t.json<{ chats: { id: string; preview: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      );
      // Rule 56: a waiting chat shows the start of what the customer wrote.
      assert.equal(chats.body.chats[0].preview, "Is anyone there?");
      const chatId = chats.body.chats[0].id;
      t.clock.advance(20_000);
      assert.equal(
        (await t.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token })).status,
        200,
      );
      const live = await v.thread();
      assert.deepEqual(
        [live.chat.state, live.chat.agent, live.chat.id],
        ["live", "Ana Silva", chatId],
      );
      assert.ok(live.chat.sinceId && live.chat.sinceId > waiting.messages.at(-1)!.id);
      await t.call("POST", `/api/chats/${chatId}/messages`, {
        token: ana.token,
        body: { text: "Hi, I am Ana. How can I help?" },
      });
      const said = await v.thread();
      const reply = said.messages.at(-1)!;
      assert.deepEqual([reply.text, reply.authorName], [
        "Hi, I am Ana. How can I help?",
        "Ana Silva",
      ]);
      await t.call("POST", `/api/chats/${chatId}/end`, { token: ana.token });
      const ended = await v.thread();
      assert.deepEqual([ended.chat.state, ended.chat.agent], ["ended", "Ana Silva"]);
    });

    await s.step(
      "the stream tells an open widget the agent joined, with no message written",
      async () => {
        const v = await visitor(t);
        await v.say("Another question");
        const ticket = await t.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", {
          token: v.token,
        });
        const res = await t.call(
          "GET",
          `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
        );
        const events = chatEvents(res);
        assert.equal((await events.next()).state, "pending");
        const chats = await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
          token: ana.token,
        });
        await t.call("POST", `/api/chats/${chats.body.chats[0].id}/accept`, { token: ana.token });
        assert.deepEqual(await events.next(), {
          state: "live",
          id: chats.body.chats[0].id,
          agent: "Ana Silva",
          sinceId: (await v.thread()).chat.sinceId,
        });
        await events.close();
      },
    );
  });
});

/** The `chat` events of a web chat stream, one at a time. */
function chatEvents(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<VisitorPage["chat"]> {
      const deadline = Date.now() + 3000;
      while (true) {
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end).split("\n");
          buffer = buffer.slice(end + 2);
          if (!block.includes("event: chat")) continue;
          const data = block.find((l) => l.startsWith("data: "))!.slice(6);
          return JSON.parse(data);
        }
        if (Date.now() > deadline) throw new Error("no chat event in time");
        const chunk = await reader.read();
        if (chunk.done) throw new Error("stream ended");
        buffer += chunk.value;
      }
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

Deno.test("[domain] rule 55: on WhatsApp the prompt goes with two reply buttons inside the window", async (s) => {
  const now = Date.UTC(2026, 2, 9, 10, 0, 0);
  const settings = {
    enabled: true,
    phoneNumberId: "106540352242922",
    accessToken: "EAAG-test-token",
    appSecret: null,
    verifyToken: null,
  };
  const config = {
    publicUrl: null,
    whatsappApiBase: "https://graph.facebook.com/v23.0",
    twilioApiBase: "https://api.twilio.com",
    timeoutMs: 10_000,
  };
  const out = (message: Partial<Message>): Outgoing => ({
    message: {
      id: "01JQ0000000000000000000000",
      conversationId: "01JQ0000000000000000000001",
      direction: "out",
      author: "system",
      text: DEFAULT_TEXTS.prompt,
      quickReplies: ["Yes", "No"],
      at: now - 1000,
      ...message,
    },
    customerId: "C1",
    channel: "whatsapp",
    to: "+27820000001",
    routeTo: null,
    ticketId: null,
  });
  const body = async (o: Outgoing) =>
    JSON.parse((await metaProvider.request(o, settings as never, config, now)).body);

  await s.step(
    "inside the window: an interactive message with Yes and No as reply buttons",
    async () => {
      // The request's shape is Meta's "Interactive reply buttons messages" (WhatsApp Business
      // Platform docs, developers.facebook.com/documentation/business-messaging/whatsapp/messages/
      // interactive-reply-buttons-messages): type "interactive", interactive.type "button",
      // body.text ≤ 1,024, action.buttons of {type: "reply", reply: {id, title ≤ 20}}, at most 3.
      assert.deepEqual(await body(out({})), {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: "27820000001",
        type: "interactive",
        interactive: {
          type: "button",
          body: { text: DEFAULT_TEXTS.prompt },
          action: {
            buttons: [
              { type: "reply", reply: { id: "yes", title: "Yes" } },
              { type: "reply", reply: { id: "no", title: "No" } },
            ],
          },
        },
      });
    },
  );

  await s.step(
    "outside the 24 h window, or a prompt too long for buttons: plain text",
    async () => {
      const late = await body(out({ at: now - 25 * 3600_000 }));
      assert.deepEqual([late.type, late.text], ["text", { body: DEFAULT_TEXTS.prompt }]);
      const long = await body(out({ text: "x".repeat(1025) }));
      assert.equal(long.type, "text");
      const plain = await body(out({ quickReplies: undefined }));
      assert.equal(plain.type, "text");
    },
  );

  await s.step("a tapped reply button comes back as text and answers the prompt", async () => {
    const t = await testDesk();
    try {
      await closeBusiness(t);
      await t.inbound({ channel: "whatsapp", from: "+27820000002", text: "Hi" });
      // What the webhook makes of interactive.button_reply.title (providers_test.ts covers it).
      const yes = await t.inbound({ channel: "whatsapp", from: "+27820000002", text: "Yes" });
      assert.equal(yes.conversation.state, "leaving_message");
    } finally {
      await t.close();
    }
  });
});

Deno.test("[routes] rule 58: staff change their own password; other sessions end", async (s) => {
  const t = await testDesk();
  try {
    const ana = await t.person("agent", { name: "Ana Silva" });
    const other = await t.signIn(ana.agent);
    const change = (token: string, body: Record<string, unknown>) =>
      t.json("PUT", "/api/agents/me/password", { token, body });

    await s.step("the current password is required", async () => {
      const wrong = await change(ana.token, {
        currentPassword: "not-it-at-all",
        newPassword: "brand-new-pass",
      });
      assert.equal(wrong.status, 400);
      assert.equal((wrong.body as { error: { code: string } }).error.code, "wrong_password");
      const short = await change(ana.token, { currentPassword: "password-123", newPassword: "x" });
      assert.equal(short.status, 400);
    });

    await s.step("a change keeps this session and ends every other", async () => {
      const ok = await t.call("PUT", "/api/agents/me/password", {
        token: ana.token,
        body: { currentPassword: "password-123", newPassword: "brand-new-pass" },
      });
      assert.equal(ok.status, 204);
      assert.equal((await t.call("GET", "/api/agents/me", { token: ana.token })).status, 200);
      assert.equal((await t.call("GET", "/api/agents/me", { token: other })).status, 401);
      const old = await t.call("POST", "/api/session", {
        body: { email: ana.agent.email, password: "password-123" },
      });
      assert.equal(old.status, 401);
      const fresh = await t.call("POST", "/api/session", {
        body: { email: ana.agent.email, password: "brand-new-pass" },
      });
      assert.equal(fresh.status, 200);
    });

    await s.step("five wrong current passwords, then tries wait", async () => {
      for (let i = 0; i < 5; i++) {
        const res = await change(ana.token, {
          currentPassword: `guess-${i}-guess`,
          newPassword: "another-pass-1",
        });
        assert.equal(res.status, 400);
      }
      const blocked = await change(ana.token, {
        currentPassword: "brand-new-pass",
        newPassword: "another-pass-1",
      });
      assert.equal(blocked.status, 429);
      t.clock.advance(16 * 60_000);
      const later = await t.call("PUT", "/api/agents/me/password", {
        token: ana.token,
        body: { currentPassword: "brand-new-pass", newPassword: "another-pass-1" },
      });
      assert.equal(later.status, 204, "15 minutes later the right password passes again");
    });

    await s.step("the account page changes it too, with the new password typed twice", async () => {
      const bea = await t.person("supervisor", { name: "Bea Berg" });
      const me = visitorOf(bea.token);
      const pageHtml = await (await page(t, me, "/account")).text();
      assert.ok(pageHtml.includes("Change your password"));
      assert.ok(pageHtml.includes('href="/account"'), "the header links to it");
      const mismatch = await page(t, me, "/account/password", {
        currentPassword: "password-123",
        newPassword: "new-pass-1234",
        confirmPassword: "new-pass-9999",
      });
      assert.equal(mismatch.status, 400);
      assert.ok((await mismatch.text()).includes("Type the same new password twice."));
      const wrong = await page(t, me, "/account/password", {
        currentPassword: "password-000",
        newPassword: "new-pass-1234",
        confirmPassword: "new-pass-1234",
      });
      assert.equal(wrong.status, 400);
      assert.ok((await wrong.text()).includes("Not your current password."));
      const done = await page(t, me, "/account/password", {
        currentPassword: "password-123",
        newPassword: "new-pass-1234",
        confirmPassword: "new-pass-1234",
      });
      assert.equal(done.status, 303);
      const after = await (await page(t, me, done.headers.get("location")!)).text();
      assert.ok(after.includes("Password changed."), "the page says so, still signed in");
    });
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 58: an admin rotates the inbound token; the new one is shown once", async (s) => {
  const t = await testDesk();
  try {
    const admin = await t.person("admin", { name: "Ada Admin" });
    const agent = await t.person("agent");
    const inbound = (token: string) =>
      t.call("POST", "/api/inbound", {
        token,
        body: { channel: "sms", from: "+15550100123", text: "hello" },
      });
    let fresh = "";

    await s.step("only an admin may rotate it", async () => {
      assert.equal(
        (await t.call("POST", "/api/inbound-token", { token: agent.token })).status,
        403,
      );
      assert.equal((await inbound(INBOUND_TOKEN)).status, 200);
    });

    await s.step("a rotation: the old token stops at once, the new one works", async () => {
      const rotated = await t.json<{ token: string; rotatedAt: string }>(
        "POST",
        "/api/inbound-token",
        { token: admin.token },
      );
      assert.equal(rotated.status, 201);
      fresh = rotated.body.token;
      assert.ok(fresh.length >= 32);
      assert.equal((await inbound(INBOUND_TOKEN)).status, 401);
      assert.equal((await inbound(fresh)).status, 200);
      const stored = JSON.stringify((await t.kv.get(keys.inboundTokenRotation())).value);
      assert.ok(!stored.includes(fresh), "only its hash is kept");
    });

    await s.step("Integrations shows it on the rotation's answer only", async () => {
      const me = visitorOf(admin.token);
      const res = await page(t, me, "/admin/integrations/inbound-token", {});
      assert.equal(res.status, 200);
      const html = await res.text();
      const shown = /<code class="secret-once" data-token="true">([^<]+)<\/code>/.exec(html);
      assert.ok(shown, "the new token is on the page");
      assert.equal((await inbound(shown[1])).status, 200);
      assert.equal((await inbound(fresh)).status, 401, "the one before stopped");
      const later = await (await page(t, me, "/admin/integrations")).text();
      assert.ok(!later.includes(shown[1]), "never shown again");
      assert.ok(later.includes("Rotated") && later.includes("by Ada Admin"));
    });

    await s.step(
      "a rotation of another start token (a changed variable) no longer applies",
      async () => {
        const check = new InboundToken(t.kv, "a-new-token-from-the-environment");
        assert.equal(await check.verify("a-new-token-from-the-environment"), true);
        assert.equal(await check.rotation(), null);
      },
    );
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 59: any site may ask whether the desk takes its chats", async (s) => {
  await withWebchat(OPEN_TIME, async (t, admin) => {
    const ask = async (origin?: string) => {
      const res = await t.call("GET", "/webchat/api/availability", {
        headers: origin ? { origin } : {},
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      return await res.json() as { available: boolean; reason?: string; fix?: string };
    };

    await s.step("a listed origin and the desk itself: available", async () => {
      assert.deepEqual(await ask(SHOP), { available: true });
      assert.deepEqual(await ask(), { available: true });
    });

    await s.step("another origin: refused, and the fix names the origin to add", async () => {
      const answer = await ask("https://blog.example");
      assert.equal(answer.available, false);
      assert.equal(answer.reason, "origin_not_allowed");
      assert.ok(answer.fix!.includes("https://blog.example"));
      assert.ok(answer.fix!.includes("Admin › Integrations"));
      // Its other calls are still refused before they touch anything (rule 30).
      const visitors = await t.call("POST", "/webchat/api/visitors", {
        headers: { origin: "https://blog.example" },
      });
      assert.equal(visitors.status, 403);
    });

    await s.step("web chat turned off: refused, with what to turn on", async () => {
      await t.json("PUT", "/api/channels/webchat", { token: admin, body: { enabled: false } });
      const answer = await ask(SHOP);
      assert.deepEqual([answer.available, answer.reason], [false, "webchat_disabled"]);
      assert.ok(answer.fix!.includes("Admin › Integrations"));
    });
  });
});

// Rule 56's row: kept with the chats it lists.
Deno.test("[routes] rule 56: a waiting chat's row shows the start of what the customer wrote", async () => {
  const t = await testDesk();
  try {
    const ana = await t.person("agent");
    await t.json("PUT", "/api/agents/me/status", { token: ana.token, body: { status: "online" } });
    await t.inbound({
      channel: "whatsapp",
      from: "+27820000044",
      text: "My card was charged twice",
    });
    const html = await (await page(t, visitorOf(ana.token), "/chats")).text();
    const row = html.slice(
      html.indexOf('data-chat="'),
      html.indexOf("</li>", html.indexOf('data-chat="')),
    );
    assert.ok(row.includes('<div class="row-preview">My card was charged twice</div>'), row);
  } finally {
    await t.close();
  }
});
