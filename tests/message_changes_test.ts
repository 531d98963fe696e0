/**
 * Rule 46: WhatsApp edits, deletions and group messages over the signed Meta webhook. The edit,
 * revoke and group bodies are Meta's documented shapes (tests/fixtures/SOURCES.md); the edit
 * and revoke name the message of meta_text.json.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { setStatus } from "../domain/agents.ts";
import { updateChannel } from "../domain/channel_settings.ts";
import { customerIdFor } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import type { Conversation, Message } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { readEventStream } from "./event_stream.ts";
import { closeBusiness, type TestDesk, testDesk } from "./helpers.ts";

const APP_SECRET = "meta-app-secret-46";
const PHONE_NUMBER_ID = "106540352242922";
const SHEENA = "+16505551234";
const FIRST_TEXT = "Does it come in another color?";
const EDITED_TEXT = "Does it come in another colour, like blue?";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** A fixture with another message id (a fresh event) and, for edits, another new text. */
function variant(name: string, id: string, text?: string): string {
  const body = JSON.parse(fixture(name));
  const message = body.entry[0].changes[0].value.messages[0];
  message.id = id;
  if (text !== undefined) message.edit.message.text.body = text;
  return JSON.stringify(body);
}

/** Sheena's text message with this id and body. */
function text(id: string, body: string): string {
  const json = JSON.parse(fixture("meta_text.json"));
  const message = json.entry[0].changes[0].value.messages[0];
  message.id = id;
  message.text.body = body;
  return JSON.stringify(json);
}

async function postMeta(t: TestDesk, raw: string) {
  const signature = "sha256=" + createHmac("sha256", APP_SECRET).update(raw).digest("hex");
  const res = await t.app.request("/webhooks/whatsapp", {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body: raw,
  });
  assert.equal(res.status, 200, await res.clone().text());
  await res.body?.cancel();
}

async function whatsappDesk() {
  const t = await testDesk();
  await updateChannel(t.kv, "whatsapp", {
    phoneNumberId: PHONE_NUMBER_ID,
    accessToken: "EAAG-test-token",
    appSecret: APP_SECRET,
    verifyToken: "verify",
    enabled: true,
  }, { clock: t.clock, publicUrl: "http://127.0.0.1:8000" });
  return t;
}

async function sheena(t: TestDesk) {
  const id = await customerIdFor("whatsapp", SHEENA);
  const conversation = (await t.kv.get<Conversation>(keys.conversation(id))).value;
  const messages: Message[] = [];
  if (conversation) {
    for await (const e of t.kv.list<Message>({ prefix: keys.messages(conversation.id) })) {
      messages.push(e.value);
    }
  }
  return {
    conversation,
    inbound: messages.filter((m) => m.direction === "in"),
    outbound: messages.filter((m) => m.direction === "out"),
  };
}

Deno.test("[routes] rule 46: a WhatsApp edit changes the message it names, and nothing else", async (t) => {
  const d = await whatsappDesk();
  try {
    await closeBusiness(d);
    await postMeta(d, fixture("meta_text.json"));
    const before = await sheena(d);
    assert.equal(before.conversation?.state, "awaiting_reply");
    assert.equal(before.outbound.length, 2);
    const original = before.inbound[0];

    await t.step(
      "the text is replaced, the first kept in its history, the message marked",
      async () => {
        d.clock.advance(60_000);
        await postMeta(d, fixture("meta_edit.json"));
        const after = await sheena(d);
        assert.equal(after.inbound.length, 1, "no new message");
        const [m] = after.inbound;
        assert.equal(m.id, original.id);
        assert.equal(m.text, EDITED_TEXT);
        assert.equal(m.editedAt, d.clock.now());
        assert.deepEqual(m.edits, [{ text: FIRST_TEXT, at: original.at }]);
      },
    );

    await t.step("no conversation is moved, no prompt or reply is sent", async () => {
      const after = await sheena(d);
      assert.deepEqual(after.conversation, before.conversation);
      assert.equal(after.outbound.length, 2);
      const outbox = await Array.fromAsync(d.kv.list({ prefix: keys.outboxAll() }));
      assert.ok(outbox.length <= 2);
    });

    await t.step(
      "the same edit again changes nothing; a second edit keeps the first text first",
      async () => {
        const entry = await d.kv.get<Message>(keys.message(original.conversationId, original.id));
        await postMeta(d, fixture("meta_edit.json"));
        assert.equal(
          (await d.kv.get(keys.message(original.conversationId, original.id))).versionstamp,
          entry.versionstamp,
        );
        d.clock.advance(60_000);
        await postMeta(d, variant("meta_edit.json", "wamid.second-edit", "Blue, please."));
        const [m] = (await sheena(d)).inbound;
        assert.equal(m.text, "Blue, please.");
        assert.deepEqual(m.edits?.map((e) => e.text), [FIRST_TEXT, EDITED_TEXT]);
      },
    );

    await t.step("the API shows it edited, with its history", async () => {
      const boss = await d.person("supervisor");
      const res = await d.json<{ text: string; editedAt: string; history: { text: string }[] }>(
        "GET",
        `/api/messages/${original.id}`,
        { token: boss.token },
      );
      assert.equal(res.status, 200);
      assert.equal(res.body.text, "Blue, please.");
      assert.equal(res.body.editedAt, new Date(d.clock.now()).toISOString());
      assert.deepEqual(res.body.history.map((h) => h.text), [FIRST_TEXT, EDITED_TEXT]);
    });

    await t.step(
      "a revoke marks it deleted by the customer; staff still read the text",
      async () => {
        d.clock.advance(60_000);
        await postMeta(d, fixture("meta_revoke.json"));
        const after = await sheena(d);
        assert.equal(after.inbound.length, 1);
        const [m] = after.inbound;
        assert.equal(m.deletedAt, d.clock.now());
        assert.equal(m.text, "Blue, please.");
        assert.equal(after.outbound.length, 2);
        assert.deepEqual(after.conversation, before.conversation);
      },
    );

    await t.step(
      "the ticket page marks it edited and deleted, earlier texts included",
      async () => {
        await postMeta(d, text("wamid.yes", "YES"));
        const ticketId = (await sheena(d)).conversation?.ticketId;
        assert.ok(ticketId, "YES opened intake");
        const me = await d.person("agent");
        const accepted = await d.call("POST", `/api/tickets/${ticketId}/accept`, {
          token: me.token,
        });
        assert.equal(accepted.status, 200);
        await accepted.body?.cancel();
        const res = await d.call("GET", `/tickets/assigned/${ticketId}`, {
          headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${me.token}` },
        });
        const html = await res.text();
        assert.equal(res.status, 200);
        assert.match(html, /Deleted by the customer/);
        assert.match(html, /<details class="msg-edits" data-edited[^>]*>/);
        assert.ok(html.includes(FIRST_TEXT) && html.includes("Blue, please."));
      },
    );
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 46: an edit reaches the open chat's stream", async () => {
  const d = await whatsappDesk();
  try {
    const me = await d.person("agent");
    await setStatus(d.kv, me.agent.id, "online");
    await postMeta(d, fixture("meta_text.json"));
    const chatId = (await sheena(d)).conversation!.id;
    const accepted = await d.call("POST", `/api/chats/${chatId}/accept`, { token: me.token });
    assert.equal(accepted.status, 200);
    await accepted.body?.cancel();
    const headers = { accept: "text/html", cookie: `${SESSION_COOKIE}=${me.token}` };
    const page = await (await d.call("GET", `/chats/${chatId}`, { headers })).text();
    const address = page.match(/sse-connect="([^"]+)"/)![1].replaceAll("&amp;", "&");
    const res = await d.app.request(address, {
      headers: { ...headers, accept: "text/event-stream" },
    });
    assert.equal(res.status, 200);
    const live = readEventStream(res.body!, 3000);
    try {
      await live.settle();
      live.clear();
      await postMeta(d, fixture("meta_edit.json"));
      assert.ok(await live.until(EDITED_TEXT), "the edited text arrives on the stream");
      assert.match(live.seen, /data-edited/);
    } finally {
      await live.close();
    }
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 46: a group message is ignored (2xx, logged); an unknown edit is kept passive", async () => {
  const d = await whatsappDesk();
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  try {
    await closeBusiness(d);
    await postMeta(d, fixture("meta_group_text.json"));
    assert.equal((await sheena(d)).conversation, null);
    const customers = await Array.fromAsync(d.kv.list({ prefix: keys.customer("x").slice(0, 1) }));
    assert.equal(customers.length, 0);
    assert.ok(warnings.some((w) => /1 group message\(s\) ignored/.test(w)), warnings.join("\n"));

    // An edit of a message the desk never stored starts nothing either.
    await postMeta(d, fixture("meta_edit.json"));
    assert.equal((await sheena(d)).conversation, null);
    await postMeta(d, text("wamid.other", FIRST_TEXT));
    await postMeta(d, variant("meta_edit.json", "wamid.unknown-edit"));
    const s = await sheena(d);
    assert.deepEqual(s.inbound.map((m) => m.text), [FIRST_TEXT, `[edit] ${EDITED_TEXT}`]);
    assert.equal(s.outbound.length, 2, "the notice and the prompt for the first message only");
  } finally {
    console.warn = warn;
    await d.close();
  }
});
