/**
 * Rule 45: channel limits at the reply box. An SMS reply over Twilio's 1,600 characters is refused
 * with 422 `too_long` before anything is stored; other channels keep their own limits, all from
 * CHANNEL_FACTS; the reply box counts characters left and, on SMS, segments.
 */
import assert from "node:assert/strict";
import { CHANNEL_FACTS, GSM_BASIC, GSM_EXTENDED, smsSegments } from "../domain/channels.ts";
import { keys } from "../domain/keys.ts";
import type { Message } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { countText } from "../views/reply_box.tsx";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

Deno.test("[domain] rule 45: SMS segments, GSM-7 160/153 and UCS-2 70/67", () => {
  const gsm = (n: number) => smsSegments("a".repeat(n));
  assert.deepEqual(gsm(0), { encoding: "GSM-7", units: 0, segments: 1 });
  assert.equal(gsm(160).segments, 1);
  assert.equal(gsm(161).segments, 2);
  assert.equal(gsm(306).segments, 2);
  assert.equal(gsm(307).segments, 3);
  assert.equal(gsm(1600).segments, 11);
  // The extension table takes two septets a character (escape + character).
  assert.deepEqual(smsSegments("€".repeat(80)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.equal(smsSegments("€".repeat(81)).segments, 2);
  assert.equal(smsSegments("{[~]}|^\\\f").units, 18);
  // GSM's own accented letters stay GSM-7; anything else makes the whole text UCS-2.
  assert.equal(smsSegments("Ça coûte 5 £, répondez à Åsa").encoding, "UCS-2"); // û is not GSM
  assert.equal(smsSegments("Ça coute 5 £, répondez à Åsa").encoding, "GSM-7");
  const ucs = (n: number) => smsSegments("ж".repeat(n));
  assert.deepEqual(ucs(70), { encoding: "UCS-2", units: 70, segments: 1 });
  assert.equal(ucs(71).segments, 2);
  assert.equal(ucs(134).segments, 2);
  assert.equal(ucs(135).segments, 3);
  // An emoji is two UTF-16 units.
  assert.deepEqual(smsSegments("😀".repeat(35)), { encoding: "UCS-2", units: 70, segments: 1 });
  assert.equal(smsSegments("ok 😀" + "a".repeat(66)).segments, 2);
});

Deno.test("[domain] rule 45: static/compose.js counts with the same GSM alphabet", () => {
  const js = Deno.readTextFileSync(new URL("../static/compose.js", import.meta.url));
  assert.ok(js.includes(`const GSM = ${GSM_BASIC};`));
  assert.ok(js.includes(`const GSM_EXT = ${GSM_EXTENDED};`));
  assert.ok(js.includes("text.length <= 70 ? 1 : Math.ceil(text.length / 67)"));
  assert.ok(js.includes("septets <= 160 ? 1 : Math.ceil(septets / 153)"));
});

Deno.test("[domain] rule 45: one table of limits, and the counter's words", () => {
  assert.equal(CHANNEL_FACTS.sms.maxLength, 1600);
  assert.equal(CHANNEL_FACTS.whatsapp.maxLength, 4096);
  assert.equal(CHANNEL_FACTS.webchat.maxLength, 4096);
  assert.equal(countText("sms", ""), "1,600 characters left · 1 SMS segment (GSM-7)");
  assert.equal(countText("sms", "a".repeat(161)), "1,439 characters left · 2 SMS segments (GSM-7)");
  assert.equal(countText("sms", "hi 😀"), "1,595 characters left · 1 SMS segment (UCS-2)");
  assert.equal(
    countText("sms", "a".repeat(1993)),
    "393 characters over the limit · 14 SMS segments (GSM-7)",
  );
  assert.equal(countText("whatsapp", "hello"), "4,091 characters left");
  assert.equal(countText("webchat", ""), "4,096 characters left");
});

async function allMessages(t: TestDesk): Promise<Message[]> {
  const found: Message[] = [];
  for await (const e of t.kv.list<Message>({ prefix: keys.messages("x").slice(0, 1) })) {
    found.push(e.value);
  }
  assert.ok(found.length > 0, "the prefix finds messages");
  return found;
}

Deno.test("[routes] rule 45: an SMS reply over 1,600 characters is 422 too_long, nothing stored", async (t) => {
  const d = await testDesk();
  try {
    await closeBusiness(d);
    const me = await d.person("agent");
    const tickets: Record<string, string> = {};
    for (
      const [channel, from] of [["sms", "+14155550101"], ["whatsapp", "+27820000101"], [
        "webchat",
        "visitor-101",
      ]]
    ) {
      tickets[channel] = await leaveMessage(d, from, ["Where is my order?"], { channel });
      const res = await d.call("POST", `/api/tickets/${tickets[channel]}/accept`, {
        token: me.token,
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const reply = (channel: string, text: string) =>
      d.json<{ error?: { code: string; message: string } }>(
        "POST",
        `/api/tickets/${tickets[channel]}/reply`,
        { token: me.token, body: { text } },
      );

    await t.step(
      "1,993 characters on SMS: 422 naming the limit, before anything is stored",
      async () => {
        const before = (await allMessages(d)).length;
        const res = await reply("sms", "x".repeat(1993));
        assert.equal(res.status, 422);
        assert.equal(res.body.error?.code, "too_long");
        assert.match(res.body.error!.message, /1,600/);
        assert.match(res.body.error!.message, /1,993/);
        assert.equal((await allMessages(d)).length, before);
      },
    );

    await t.step("a filled template over the limit on SMS is refused the same way", async () => {
      const admin = await d.person("admin");
      const made = await d.call("POST", "/api/templates", {
        token: admin.token,
        body: { name: "long_notice", body: "Notice: {{1}} {{2}}" },
      });
      assert.equal(made.status, 201);
      await made.body?.cancel();
      const res = await d.json<{ error: { code: string } }>(
        "POST",
        `/api/tickets/${tickets.sms}/reply`,
        {
          token: me.token,
          body: { template: "long_notice", params: ["y".repeat(1000), "z".repeat(1000)] },
        },
      );
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, "too_long");
    });

    await t.step(
      "exactly 1,600 on SMS goes out; 1,993 on WhatsApp and web chat too (4,096)",
      async () => {
        assert.equal((await reply("sms", "x".repeat(1600))).status, 201);
        assert.equal((await reply("whatsapp", "x".repeat(1993))).status, 201);
        assert.equal((await reply("webchat", "x".repeat(1993))).status, 201);
      },
    );

    await t.step("in the live chat the reply started, the same limit holds", async () => {
      const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=live",
        { token: me.token },
      );
      const ticket = await d.json<{ customerId: string }>("GET", `/api/tickets/${tickets.sms}`, {
        token: me.token,
      });
      const chat = chats.body.chats.find((c) => c.customerId === ticket.body.customerId)!;
      const res = await d.json<{ error: { code: string } }>(
        "POST",
        `/api/chats/${chat.id}/messages`,
        {
          token: me.token,
          body: { text: "y".repeat(1601) },
        },
      );
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, "too_long");
    });

    await t.step("the page's box: the channel's maxlength and its counter", async () => {
      const page = async (channel: string) => {
        const res = await d.call("GET", `/tickets/assigned/${tickets[channel]}`, {
          headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${me.token}` },
        });
        assert.equal(res.status, 200);
        return await res.text();
      };
      const sms = await page("sms");
      assert.match(sms, /<textarea[^>]*maxlength="1600"/);
      assert.match(
        sms,
        /data-count="sms" data-limit="1600">1,600 characters left · 1 SMS segment \(GSM-7\)</,
      );
      const whatsapp = await page("whatsapp");
      assert.match(whatsapp, /<textarea[^>]*maxlength="4096"/);
      assert.match(whatsapp, /data-count="chars" data-limit="4096">4,096 characters left</);
    });
  } finally {
    await d.close();
  }
});
