/**
 * Rule 44: Twilio's opt-out, opt-in and help keywords. Requests are signed with the official
 * `twilio` package, as in webhooks_test.ts; the STOP, START (a "Yes") and HELP bodies are Twilio's
 * own webhook form with `OptOutType` (tests/fixtures/SOURCES.md).
 */
import assert from "node:assert/strict";
import { keys } from "../domain/keys.ts";
import { twilioOptOut } from "../domain/providers/twilio.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import type { Message } from "../domain/types.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { FakeProvider, twilioAccepted } from "./fake_provider.ts";
import { closeBusiness, customerOf, type TestDesk, waitFor } from "./helpers.ts";
import { formFixture, postTwilio, twilioDesk } from "./provider_webhooks.ts";

/** The customer of twilio_inbound_stop.txt and twilio_inbound_start_yes.txt. */
const CUSTOMER = "+14017122670";

/** A fixture's form with another sender and a fresh MessageSid (each request is new). */
let sids = 0;
function variant(name: string, over: Record<string, string | null> = {}): [string, string][] {
  const sid = "SM" + String(++sids).padStart(32, "0");
  const params = formFixture(name).map(([n, v]): [string, string] =>
    n === "MessageSid" || n === "SmsSid" || n === "SmsMessageSid" ? [n, sid] : [n, v]
  );
  for (const [n, v] of Object.entries(over)) {
    const i = params.findIndex(([k]) => k === n);
    if (v === null) {
      if (i >= 0) params.splice(i, 1);
    } else if (i >= 0) params[i] = [n, v];
    else params.push([n, v]);
  }
  return params;
}

/** An ordinary SMS from `from`. */
const sms = (from: string, body: string) =>
  variant("twilio_inbound_stop.txt", { From: from, Body: body, OptOutType: null });

async function post(t: TestDesk, params: [string, string][]) {
  const res = await postTwilio(t, "/webhooks/twilio", params);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(await res.text(), "<Response></Response>");
}

/** Every message stored, in and out, for counting "nothing was stored". */
async function allMessages(t: TestDesk): Promise<Message[]> {
  const prefix = keys.messages("x").slice(0, 1);
  const found: Message[] = [];
  for await (const e of t.kv.list<Message>({ prefix })) found.push(e.value);
  assert.ok(found.length > 0, "the prefix finds messages");
  return found;
}

Deno.test("[domain] rule 44: Twilio's OptOutType decides; without it, the whole body", () => {
  assert.equal(twilioOptOut("STOP", "please stop texting me"), "stop");
  assert.equal(twilioOptOut("START", "Yes"), "start");
  assert.equal(twilioOptOut("HELP", "help"), "help");
  assert.equal(twilioOptOut("stop", "arret"), "stop");
  for (
    const word of ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"]
  ) {
    assert.equal(twilioOptOut(undefined, word), "stop", word);
    assert.equal(twilioOptOut(undefined, `  ${word.toLowerCase()}\n`), "stop", word);
    assert.equal(twilioOptOut("", word[0] + word.slice(1).toLowerCase()), "stop", word);
  }
  for (const word of ["START", "UNSTOP", "YES"]) {
    assert.equal(twilioOptOut(undefined, word), "start");
  }
  for (const word of ["HELP", "INFO"]) assert.equal(twilioOptOut(undefined, word), "help");
  for (const text of ["stop please", "STOP!", "S T O P", "yes please", "//end", "no", ""]) {
    assert.equal(twilioOptOut(undefined, text), null, text);
  }
});

Deno.test("[routes] rule 44: STOP, HELP and START over the Twilio webhook", async (t) => {
  await t.step(
    "STOP (OptOutType) out of hours: no auto-reply, no conversation, the customer marked with the time",
    async () => {
      const d = await twilioDesk();
      try {
        await closeBusiness(d);
        await post(d, formFixture("twilio_inbound_stop.txt"));
        const s = await customerOf(d, "sms", CUSTOMER);
        assert.equal(s.customer?.optedOutAt, d.clock.now());
        assert.equal(s.conversation, null);
        const outbox = await Array.fromAsync(d.kv.list({ prefix: keys.outboxAll() }));
        assert.equal(outbox.length, 0);
        // The profile says so, with the time (API and the panel).
        const sup = await d.person("supervisor");
        const profile = await d.json<{ optedOut: boolean; optedOutAt: string }>(
          "GET",
          `/api/customers/${s.id}`,
          { token: sup.token },
        );
        assert.equal(profile.status, 200);
        assert.equal(profile.body.optedOut, true);
        assert.equal(profile.body.optedOutAt, new Date(d.clock.now()).toISOString());
        // A repeat (Twilio retries nothing, but a second STOP may come) keeps the first time.
        d.clock.advance(60_000);
        await post(d, variant("twilio_inbound_stop.txt"));
        const again = await customerOf(d, "sms", CUSTOMER);
        assert.equal(again.customer?.optedOutAt, d.clock.now() - 60_000);
        assert.equal(again.conversation, null);
      } finally {
        await d.close();
      }
    },
  );

  await t.step(
    "without OptOutType, a body that is exactly an opt-out word (any case, trimmed) opts out; a sentence does not",
    async () => {
      const d = await twilioDesk();
      try {
        await closeBusiness(d);
        await post(d, sms("+14017122680", "  unsubscribe \n"));
        const out = await customerOf(d, "sms", "+14017122680");
        assert.ok(out.customer?.optedOutAt);
        assert.equal(out.conversation, null);
        await post(d, sms("+14017122681", "stop sending me the invoice twice"));
        const sentence = await customerOf(d, "sms", "+14017122681");
        assert.equal(sentence.customer?.optedOutAt ?? null, null);
        assert.equal(sentence.conversation?.state, "awaiting_reply");
        assert.equal(sentence.outbound.length, 2);
      } finally {
        await d.close();
      }
    },
  );

  await t.step(
    "HELP gets no desk auto-reply and starts nothing; in a waiting prompt it is not re-prompted",
    async () => {
      const d = await twilioDesk();
      try {
        await closeBusiness(d);
        await post(d, formFixture("twilio_inbound_help.txt"));
        const fresh = await customerOf(d, "sms", "+14017122671");
        assert.equal(fresh.conversation, null);
        assert.equal(fresh.customer?.optedOutAt ?? null, null);
        // Without the field too, and while a YES/NO prompt waits: stored, not answered.
        await post(d, sms("+14017122682", "Where is my parcel?"));
        await post(d, sms("+14017122682", "HELP"));
        const waiting = await customerOf(d, "sms", "+14017122682");
        assert.equal(waiting.conversation?.state, "awaiting_reply");
        assert.deepEqual(waiting.inbound.map((m) => m.text), ["Where is my parcel?", "HELP"]);
        assert.equal(waiting.outbound.length, 2, "the notice and the prompt, nothing more");
      } finally {
        await d.close();
      }
    },
  );

  await t.step(
    "a YES with OptOutType=START both opts back in and answers the waiting YES/NO prompt",
    async () => {
      const d = await twilioDesk();
      try {
        await closeBusiness(d);
        await post(d, sms(CUSTOMER, "My order never came"));
        await post(d, formFixture("twilio_inbound_stop.txt"));
        const stopped = await customerOf(d, "sms", CUSTOMER);
        assert.ok(stopped.customer?.optedOutAt);
        // STOP while the prompt waits: stored on the conversation, which stays as it was.
        assert.equal(stopped.conversation?.state, "awaiting_reply");
        assert.deepEqual(stopped.inbound.map((m) => m.text), ["My order never came", "STOP"]);
        assert.equal(stopped.outbound.length, 2);
        await post(d, formFixture("twilio_inbound_start_yes.txt"));
        const back = await customerOf(d, "sms", CUSTOMER);
        assert.equal(back.customer?.optedOutAt, null);
        assert.equal(back.conversation?.state, "leaving_message");
        assert.ok(back.conversation?.ticketId);
        assert.deepEqual(back.outbound.map((m) => m.text).at(-1), DEFAULT_TEXTS.yesAck);
      } finally {
        await d.close();
      }
    },
  );
});

Deno.test("[routes] rule 44: replies to an opted-out customer are refused at once, 422", async (t) => {
  const d = await twilioDesk();
  try {
    await closeBusiness(d);
    const from = "+14017122690";
    await post(d, sms(from, "I need a refund"));
    await post(d, sms(from, "yes"));
    const { conversation, id: customerId } = await customerOf(d, "sms", from);
    const ticketId = conversation!.ticketId!;
    const me = await d.person("agent");
    assert.equal(
      (await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: me.token })).status,
      200,
    );
    await post(d, variant("twilio_inbound_stop.txt", { From: from, Body: "Stop" }));
    assert.ok((await customerOf(d, "sms", from)).customer?.optedOutAt);

    await t.step("a ticket reply is 422 customer_opted_out and stores nothing", async () => {
      const before = (await allMessages(d)).length;
      const res = await d.json<{ error: { code: string; message: string } }>(
        "POST",
        `/api/tickets/${ticketId}/reply`,
        { token: me.token, body: { text: "We sent the refund." } },
      );
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, "customer_opted_out");
      assert.match(res.body.error.message, /STOP/);
      assert.equal((await allMessages(d)).length, before);
    });

    await t.step(
      "the ticket page shows the opt-out, with its time, instead of the box",
      async () => {
        const res = await d.call("GET", `/tickets/assigned/${ticketId}`, {
          headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${me.token}` },
        });
        assert.equal(res.status, 200);
        const html = await res.text();
        assert.match(html, /<strong>Opted out\.<\/strong> The customer texted STOP/);
        assert.match(html, /<dt>Opted out<\/dt>/);
        assert.doesNotMatch(html, /id="reply-text"/);
      },
    );

    await t.step("the page's form gets the same refusal", async () => {
      const before = (await allMessages(d)).length;
      const res = await d.call("POST", `/tickets/${ticketId}/reply`, {
        raw: new URLSearchParams({ text: "Hello?" }).toString(),
        headers: {
          accept: "text/html",
          cookie: `${SESSION_COOKIE}=${me.token}`,
          "content-type": "application/x-www-form-urlencoded",
          origin: "http://localhost",
        },
      });
      assert.ok(res.status === 422 || res.status === 303, `status ${res.status}`);
      await res.body?.cancel();
      assert.equal((await allMessages(d)).length, before);
    });

    await t.step("START clears it: the reply then goes out", async () => {
      await post(
        d,
        variant("twilio_inbound_stop.txt", { From: from, Body: "START", OptOutType: "START" }),
      );
      assert.equal((await customerOf(d, "sms", from)).customer?.optedOutAt, null);
      const res = await d.call("POST", `/api/tickets/${ticketId}/reply`, {
        token: me.token,
        body: { text: "Welcome back." },
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      const profile = await d.json<{ optedOut: boolean; optedOutAt: null }>(
        "GET",
        `/api/customers/${customerId}`,
        { token: me.token },
      );
      assert.equal(profile.body.optedOut, false);
      assert.equal(profile.body.optedOutAt, null);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 44: STOP in a live chat joins it; the agent's next message is refused", async () => {
  const d = await twilioDesk();
  try {
    const me = await d.person("agent");
    await d.call("PUT", "/api/agents/me/status", { token: me.token, body: { status: "online" } });
    const from = "+14017122691";
    await post(d, sms(from, "Hi, quick question"));
    const pending = await customerOf(d, "sms", from);
    assert.equal(pending.conversation?.state, "pending");
    const chatId = pending.conversation!.id;
    const accepted = await d.call("POST", `/api/chats/${chatId}/accept`, { token: me.token });
    assert.equal(accepted.status, 200);
    await accepted.body?.cancel();
    await post(d, variant("twilio_inbound_stop.txt", { From: from }));
    const s = await customerOf(d, "sms", from);
    assert.ok(s.customer?.optedOutAt);
    assert.equal(s.conversation?.state, "live");
    assert.deepEqual(s.inbound.map((m) => m.text), ["Hi, quick question", "STOP"]);
    assert.equal(s.outbound.length, 0);
    const res = await d.json<{ error: { code: string } }>("POST", `/api/chats/${chatId}/messages`, {
      token: me.token,
      body: { text: "Still there?" },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, "customer_opted_out");
    assert.equal((await customerOf(d, "sms", from)).outbound.length, 0);
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 44: a queued message fails customer_opted_out before its next attempt", async () => {
  // Twilio is down for the first attempt; the STOP comes while the notice waits for its retry.
  const fake = FakeProvider.start(twilioAccepted);
  fake.script({
    status: 503,
    body: { code: 20500, message: "Internal Server Error", status: 503 },
  });
  const d = await twilioDesk({ listen: true, providers: { twilioApiBase: fake.url } });
  try {
    await closeBusiness(d);
    const admin = await d.person("admin");
    const from = "+14017122692";
    await post(d, sms(from, "Is anyone there?"));
    await fake.waitFor(1);
    await waitFor(
      async () => {
        const [notice] = (await customerOf(d, "sms", from)).outbound;
        return notice?.delivery?.nextAttemptAt !== undefined;
      },
      10_000,
      "the notice's retry to be scheduled",
    );
    await post(d, variant("twilio_inbound_stop.txt", { From: from }));
    const res = await d.call("POST", "/api/test/clock", {
      token: admin.token,
      body: { advanceMs: 60_000 },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    await waitFor(
      async () =>
        (await customerOf(d, "sms", from)).outbound.every((m) => m.delivery?.status === "failed"),
      10_000,
      "both auto-replies to fail",
    );
    const { outbound } = await customerOf(d, "sms", from);
    assert.equal(outbound.length, 2);
    for (const m of outbound) assert.equal(m.delivery?.error?.code, "customer_opted_out");
    // Nothing more reached Twilio after the first (refused) attempt.
    assert.equal(fake.requests.length, 1);
    // Retry is refused at once too.
    const retry = await d.json<{ error: { code: string } }>(
      "POST",
      `/api/messages/${outbound[0].id}/retry`,
      { token: admin.token },
    );
    assert.equal(retry.status, 422);
    assert.equal(retry.body.error.code, "customer_opted_out");
  } finally {
    await d.close();
    await fake.close();
  }
});
