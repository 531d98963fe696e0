/**
 * Rule 28 and SPEC "Wire formats": the provider webhook routes. Meta requests are signed here with
 * node:crypto over the exact bytes sent, Twilio requests with the official `twilio` package (the
 * oracle), so a route that verified anything else, or stored before verifying, fails these.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import twilio from "twilio";
import { updateChannel } from "../domain/channel_settings.ts";
import { DAY, HOUR, MINUTE } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import type { Message } from "../domain/types.ts";
import { FakeProvider, metaAccepted, twilioAccepted } from "./fake_provider.ts";
import { closeBusiness, customerOf, type TestDesk, testDesk } from "./helpers.ts";

import {
  ACCOUNT_SID,
  APP_SECRET,
  AUTH_TOKEN,
  fixture,
  formFixture,
  metaBody,
  metaMessage,
  metaSignature,
  PHONE_NUMBER_ID,
  postMeta,
  postTwilio,
  PUBLIC_URL,
  SHEENA,
  twilioDesk,
  twilioSign,
  VERIFY_TOKEN,
  whatsappDesk,
} from "./provider_webhooks.ts";

// ---------------------------------------------------------------------------------------------
// Helpers of these tests.

/** Runs `fn` on a fresh desk and always closes it (and the fakes it was given). */
async function using(
  make: () => Promise<TestDesk>,
  fn: (t: TestDesk) => Promise<void>,
  ...fakes: FakeProvider[]
) {
  const t = await make();
  try {
    await fn(t);
  } finally {
    await t.close();
    for (const fake of fakes) await fake.close();
  }
}

const metaStatus = (id: string, status: string, extra: Record<string, unknown> = {}) =>
  metaBody({
    statuses: [{ id, status, timestamp: "1750263773", recipient_id: "16505551234", ...extra }],
  });

function sms(from: string, body: string, sid: string, over: [string, string][] = []) {
  const params: [string, string][] = [
    ["MessageSid", sid],
    ["AccountSid", ACCOUNT_SID],
    ["From", from],
    ["To", "+14155552671"],
    ["Body", body],
    ["NumMedia", "0"],
  ];
  for (const [name, value] of over) {
    const i = params.findIndex(([n]) => n === name);
    if (i >= 0) params[i] = [name, value];
    else params.push([name, value]);
  }
  return params;
}

async function assertEmptyTwiml(res: Response) {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/xml/);
  assert.equal(await res.text(), "<Response></Response>");
}

// ---------------------------------------------------------------------------------------------
// Reading what was stored.

/** The tables an inbound message or status writes to, as prefixes built from `keys`. */
const STORED_TABLES: Deno.KvKey[] = [
  keys.customer("x"),
  keys.conversation("x"),
  keys.messages("x"),
  keys.messageById("x"),
  keys.inboundSeen("whatsapp", "x", "y"),
  keys.outboxAll(),
  keys.customerMessage("x", "y"),
  keys.tickets(),
  keys.earlyStatus("meta", "x"),
].map((key) => key.slice(0, 1));

/** How many records the inbound tables hold in all. */
async function storedRows(kv: Deno.Kv): Promise<number> {
  let n = 0;
  for (const prefix of STORED_TABLES) {
    for await (const _ of kv.list({ prefix })) n++;
  }
  return n;
}

async function messageEntry(t: TestDesk, message: Message) {
  return await t.kv.get<Message>(keys.message(message.conversationId, message.id));
}

/** Polls until `probe` gives a value (real time: provider calls run on real time). */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Outbound messages of a customer once every one of them has left `queued`. */
function sentReplies(t: TestDesk, channel: "whatsapp" | "sms", from: string, count: number) {
  return eventually(`${count} replies to ${from} sent`, async () => {
    const { outbound } = await customerOf(t, channel, from);
    return outbound.length === count && outbound.every((m) => m.delivery?.status !== "queued") &&
      outbound;
  });
}

function captureWarnings() {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(" "));
  return { warnings, restore: () => (console.warn = original) };
}

// =============================================================================================
// Meta

Deno.test("[routes] rule 28: the Meta subscription handshake", async (t) => {
  const url = (token: string | null, mode = "subscribe") =>
    `/webhooks/whatsapp?hub.mode=${mode}&hub.challenge=1158201444` +
    (token === null ? "" : `&hub.verify_token=${encodeURIComponent(token)}`);

  await t.step("the configured verify token gets the challenge back as text/plain", async () => {
    await using(() => whatsappDesk(), async (d) => {
      const res = await d.call("GET", url(VERIFY_TOKEN));
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      assert.equal(await res.text(), "1158201444");
    });
  });

  await t.step("a wrong, partial or missing token, or another mode, is 403", async () => {
    await using(() => whatsappDesk(), async (d) => {
      for (const path of [url("wrong"), url(VERIFY_TOKEN + "x"), url(""), url(null)]) {
        const res = await d.call("GET", path);
        assert.equal(res.status, 403, path);
        assert.notEqual(await res.text(), "1158201444");
      }
      assert.equal((await d.call("GET", url(VERIFY_TOKEN, "unsubscribe"))).status, 403);
    });
  });

  await t.step("with no verify token configured every handshake is 403", async () => {
    await using(() => testDesk(), async (d) => {
      assert.equal((await d.call("GET", url(""))).status, 403);
      assert.equal((await d.call("GET", url("null"))).status, 403);
    });
  });
});

Deno.test("[routes] rule 28: a Meta webhook is verified over its raw bytes before anything is stored", async (t) => {
  const raw = fixture("meta_text.json");

  await t.step(
    "forged, missing, re-serialized or altered bodies are 401 and store nothing",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        const compact = JSON.stringify(JSON.parse(raw));
        assert.notEqual(compact, raw);
        const refused: [string, string, string | null][] = [
          ["another secret", raw, metaSignature("not-the-app-secret", raw)],
          ["no signature header", raw, null],
          ["an empty header", raw, ""],
          ["the hex without sha256=", raw, metaSignature(APP_SECRET, raw).slice(7)],
          [
            "a sha1 header",
            raw,
            "sha1=" + createHmac("sha1", APP_SECRET).update(raw).digest("hex"),
          ],
          ["same JSON re-serialized", compact, metaSignature(APP_SECRET, raw)],
          ["one byte changed", raw.replace("color", "colour"), metaSignature(APP_SECRET, raw)],
        ];
        for (const [why, body, signature] of refused) {
          const res = await postMeta(d, body, signature);
          assert.equal(res.status, 401, why);
          assert.equal((await res.json()).error.code, "invalid_signature", why);
        }
        assert.equal(await storedRows(d.kv), 0);
      });
    },
  );

  await t.step(
    "with no app secret configured nothing verifies (401), not even an empty key",
    async () => {
      await using(() => testDesk(), async (d) => {
        assert.equal((await postMeta(d, raw)).status, 401);
        assert.equal((await postMeta(d, raw, metaSignature("", raw))).status, 401);
        assert.equal(await storedRows(d.kv), 0);
      });
    },
  );

  await t.step(
    "the exact bytes signed with the app secret store the message, Meta's time and route",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        assert.equal(await storedRows(d.kv), 0);
        const res = await postMeta(d, raw);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { received: 1 });
        // The same prefixes the refusals were checked with do find what a stored message writes.
        assert.ok(await storedRows(d.kv) > 0);

        const s = await customerOf(d, "whatsapp", SHEENA);
        assert.equal(s.customer?.profileName, "Sheena Nelson");
        assert.equal(s.customer?.from, SHEENA);
        assert.equal(s.conversation?.route, "meta");
        assert.equal(s.conversation?.routeTo, PHONE_NUMBER_ID);
        assert.equal(s.inbound.length, 1);
        assert.equal(s.inbound[0].text, "Does it come in another color?");
        assert.equal(s.inbound[0].providerAt, 1749416383 * 1000);
        assert.equal(s.inbound[0].at, d.clock.now());

        const { token } = await d.person("supervisor");
        const api = await d.json("GET", `/api/customers/${s.id}`, { token });
        assert.equal(api.status, 200);
        assert.equal(api.body.name, "Sheena Nelson");
        assert.equal(api.body.from, SHEENA);
        assert.equal(api.body.channel, "whatsapp");
      });
    },
  );

  await t.step(
    "a disabled WhatsApp channel's webhooks are still verified and stored (rule 29)",
    async () => {
      await using(() => whatsappDesk({}, { enabled: false }), async (d) => {
        assert.equal((await postMeta(d, raw, metaSignature("wrong", raw))).status, 401);
        assert.equal(await storedRows(d.kv), 0);
        assert.equal((await postMeta(d, raw)).status, 200);
        assert.equal((await customerOf(d, "whatsapp", SHEENA)).inbound.length, 1);
      });
    },
  );
});

Deno.test("[routes] rule 27: a Meta webhook delivered twice stores one message and one set of replies", async (t) => {
  await t.step("the retry is 2xx and changes nothing", async () => {
    await using(() => whatsappDesk(), async (d) => {
      const raw = fixture("meta_text.json");
      assert.equal((await postMeta(d, raw)).status, 200);
      const first = await customerOf(d, "whatsapp", SHEENA);
      assert.equal(first.inbound.length, 1);
      // Open, but no agent online: the no-agent notice and the YES/NO prompt.
      assert.deepEqual(first.outbound.map((m) => m.text), [
        DEFAULT_TEXTS.noAgent,
        DEFAULT_TEXTS.prompt,
      ]);
      const rows = await storedRows(d.kv);

      assert.equal((await postMeta(d, raw)).status, 200);
      const again = await customerOf(d, "whatsapp", SHEENA);
      assert.equal(again.inbound.length, 1);
      assert.equal(again.outbound.length, 2);
      assert.equal(await storedRows(d.kv), rows);
    });
  });

  await t.step(
    "when storing throws the answer is 500 (Meta retries), and the retry stores once",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        const raw = fixture("meta_text.json");
        const kv = d.kv as Deno.Kv & { atomic: Deno.Kv["atomic"] };
        const atomic = kv.atomic;
        kv.atomic = () => {
          throw new Error("KV unavailable (test)");
        };
        const errors = console.error;
        console.error = () => {};
        try {
          assert.equal((await postMeta(d, raw)).status, 500);
        } finally {
          kv.atomic = atomic;
          console.error = errors;
        }
        assert.equal(await storedRows(d.kv), 0);
        assert.equal((await postMeta(d, raw)).status, 200);
        assert.equal((await postMeta(d, raw)).status, 200);
        const s = await customerOf(d, "whatsapp", SHEENA);
        assert.equal(s.inbound.length, 1);
        assert.equal(s.outbound.length, 2);
      });
    },
  );
});

Deno.test("[routes] Meta wire format: numbers, types and order", async (t) => {
  await t.step(
    "a change for another phone_number_id is answered 2xx and stores nothing",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        const body = metaBody(
          { messages: [metaMessage("16505551234", "hello")], statuses: [] },
          "999999999999999",
        );
        const res = await postMeta(d, body);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { received: 0 });
        assert.equal(await storedRows(d.kv), 0);
      });
    },
  );

  await t.step(
    "in a POST with several entries only our number's messages are stored, in order",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        await closeBusiness(d);
        // Pablo was asked YES/NO earlier; his tapped "Yes" button in the multi-entry POST opens intake.
        assert.equal(
          (await postMeta(d, metaBody({ messages: [metaMessage("27820000001", "hi")] })))
            .status,
          200,
        );
        assert.equal((await postMeta(d, fixture("meta_multi_entry.json"))).status, 200);

        const pablo = await customerOf(d, "whatsapp", "+27820000001");
        assert.deepEqual(pablo.inbound.map((m) => m.text), ["hi", "Yes"]);
        assert.equal(pablo.conversation?.state, "leaving_message");
        assert.ok(pablo.conversation?.ticketId);
        assert.ok((await d.kv.get(keys.ticket(pablo.conversation!.ticketId!))).value);
        assert.equal(pablo.customer?.profileName, "Pablo Morales");

        const sheena = await customerOf(d, "whatsapp", SHEENA);
        assert.deepEqual(sheena.inbound.map((m) => m.text), ["Hello"]);
        assert.equal(sheena.conversation?.state, "awaiting_reply");

        // The other desk's customer and status are ignored.
        assert.equal((await customerOf(d, "whatsapp", "+447700900123")).customer, null);
        assert.equal((await d.kv.get(keys.earlyStatus("meta", "wamid.multi.other.2"))).value, null);
      });
    },
  );

  await t.step("one customer's messages in one POST are stored in the order sent", async () => {
    await using(() => whatsappDesk(), async (d) => {
      await closeBusiness(d);
      const lines = ["order 1234", "it was due on Monday", "the box is blue", "thanks", "bye"];
      const yes = { type: "button", button: { payload: "YES", text: "Yes" }, text: undefined };
      const body = metaBody({
        contacts: [{ profile: { name: "Pablo" }, wa_id: "27820000001" }],
        messages: [
          metaMessage("27820000001", "my order is late"),
          metaMessage("27820000002", "hello from another customer"),
          metaMessage("27820000001", "", yes),
          ...lines.map((line) => metaMessage("27820000001", line)),
          metaMessage("27820000001", "//end"),
        ],
      });
      assert.deepEqual(await (await postMeta(d, body)).json(), { received: 9 });
      const pablo = await customerOf(d, "whatsapp", "+27820000001");
      assert.deepEqual(pablo.inbound.map((m) => m.text), [
        "my order is late",
        "Yes",
        ...lines,
        "//end",
      ]);
      assert.deepEqual(pablo.outbound.map((m) => m.text), [
        DEFAULT_TEXTS.outOfHours,
        DEFAULT_TEXTS.prompt,
        DEFAULT_TEXTS.yesAck,
        DEFAULT_TEXTS.endAck,
      ]);
      assert.equal(pablo.conversation?.state, "ended");
      const other = await customerOf(d, "whatsapp", "+27820000002");
      assert.equal(other.conversation?.state, "awaiting_reply");
    });
  });

  await t.step("a tapped interactive YES after the YES/NO prompt opens intake", async () => {
    await using(() => whatsappDesk(), async (d) => {
      await closeBusiness(d);
      assert.equal((await postMeta(d, fixture("meta_text.json"))).status, 200);
      assert.equal((await customerOf(d, "whatsapp", SHEENA)).conversation?.state, "awaiting_reply");
      assert.equal((await postMeta(d, fixture("meta_interactive_button_reply.json"))).status, 200);
      const s = await customerOf(d, "whatsapp", SHEENA);
      assert.equal(s.conversation?.state, "leaving_message");
      assert.equal(s.inbound.at(-1)?.text, "YES");
      assert.equal(s.outbound.at(-1)?.text, DEFAULT_TEXTS.yesAck);
      const open = (await d.kv.get<string>(keys.openTicketByCustomer(s.id))).value;
      assert.ok(open);
      assert.equal(open, s.conversation?.ticketId);
    });
  });

  await t.step(
    "a reaction joins the current conversation but starts nothing and sends nothing",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        await closeBusiness(d);
        // With no conversation there is nothing to join: 2xx, nothing stored.
        assert.equal((await postMeta(d, fixture("meta_reaction.json"))).status, 200);
        assert.equal(await storedRows(d.kv), 0);

        assert.equal((await postMeta(d, fixture("meta_text.json"))).status, 200);
        const before = await customerOf(d, "whatsapp", SHEENA);
        const reaction = fixture("meta_reaction.json").replace(
          "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ4MTZBRjAyNzlBRjM3QzlFMgA=",
          "wamid.reaction.2",
        );
        assert.equal((await postMeta(d, reaction)).status, 200);
        const after = await customerOf(d, "whatsapp", SHEENA);
        assert.equal(after.conversation?.id, before.conversation?.id);
        assert.equal(after.conversation?.state, "awaiting_reply");
        assert.deepEqual(after.inbound.map((m) => m.text), [
          "Does it come in another color?",
          "[reaction 👍]",
        ]);
        // No re-sent prompt: the reaction is not an answer to YES/NO.
        assert.equal(after.outbound.length, before.outbound.length);
      });
    },
  );

  await t.step("an image becomes [image] (with its caption when there is one)", async () => {
    await using(() => whatsappDesk(), async (d) => {
      assert.equal((await postMeta(d, fixture("meta_image_caption.json"))).status, 200);
      const bare = metaMessage("16505551234", "", {
        type: "image",
        text: undefined,
        image: { mime_type: "image/jpeg", id: "1003383421387257" },
      });
      assert.equal((await postMeta(d, metaBody({ messages: [bare] }))).status, 200);
      const s = await customerOf(d, "whatsapp", SHEENA);
      assert.deepEqual(s.inbound.map((m) => m.text), [
        "The crack is on the left side",
        "[image]",
      ]);
    });
  });

  await t.step(
    "a message with no phone number is 2xx, stores nothing and is logged as unroutable",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        const body = metaBody({
          messages: [
            metaMessage("not-a-number", "secret words"),
            { id: "wamid.nofrom", type: "text", text: { body: "secret words" } },
          ],
        });
        const log = captureWarnings();
        let res: Response;
        try {
          res = await postMeta(d, body);
        } finally {
          log.restore();
        }
        assert.equal(res.status, 200);
        assert.equal(await storedRows(d.kv), 0);
        const line = log.warnings.find((w) => w.includes("unroutable"));
        assert.ok(line, "an unroutable warning");
        assert.match(line, /\b2\b/);
        assert.ok(!/secret words|not-a-number|wamid/.test(line), "no personal data in the log");
      });
    },
  );
});

Deno.test("[routes] rule 31: a replaced app secret still verifies Meta webhooks for 24 hours", async (t) => {
  await t.step(
    "the old secret verifies until 24 h after the change on the desk clock, not after",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        await updateChannel(d.kv, "whatsapp", { appSecret: "meta-app-secret-2" }, {
          clock: d.clock,
          publicUrl: PUBLIC_URL,
        });
        const oldSigned = (text: string) => {
          const body = metaBody({ messages: [metaMessage("16505551234", text)] });
          return postMeta(d, body, metaSignature(APP_SECRET, body));
        };
        const newSigned = (text: string) => {
          const body = metaBody({ messages: [metaMessage("16505551234", text)] });
          return postMeta(d, body, metaSignature("meta-app-secret-2", body));
        };
        assert.equal((await newSigned("new secret")).status, 200);
        d.clock.advance(DAY - MINUTE);
        assert.equal((await oldSigned("old secret, 23:59 later")).status, 200);
        d.clock.advance(2 * MINUTE);
        assert.equal((await oldSigned("old secret, 24:01 later")).status, 401);
        assert.equal((await newSigned("new secret, 24:01 later")).status, 200);

        // Every conversation's messages: the clock moved past the session timeout meanwhile.
        const texts: string[] = [];
        for await (const e of d.kv.list<Message>({ prefix: keys.messages("x").slice(0, 1) })) {
          if (e.value.direction === "in") texts.push(e.value.text);
        }
        assert.deepEqual(texts.sort(), [
          "new secret",
          "new secret, 24:01 later",
          "old secret, 23:59 later",
        ]);
      });
    },
  );
});

Deno.test("[routes] rule 25: Meta status callbacks move a sent message's mark up, never down", async (t) => {
  const fake = FakeProvider.start(metaAccepted);
  const d = await whatsappDesk({ listen: true, providers: { whatsappApiBase: fake.url } });
  try {
    await closeBusiness(d);
    assert.equal((await postMeta(d, fixture("meta_text.json"))).status, 200);
    const requests = await fake.waitFor(2);
    assert.equal(requests[0].path, `/${PHONE_NUMBER_ID}/messages`);
    const [notice, prompt] = await sentReplies(d, "whatsapp", SHEENA, 2);
    assert.equal(notice.text, DEFAULT_TEXTS.outOfHours);
    assert.equal(notice.delivery?.status, "sent");
    assert.equal(notice.delivery?.providerId, "wamid.TEST000000");
    assert.equal(prompt.delivery?.providerId, "wamid.TEST000001");
    const { token } = await d.person("supervisor");
    const status = async (message: Message) =>
      (await d.json<{ delivery: { status: string; error?: { code: string } } }>(
        "GET",
        `/api/messages/${message.id}`,
        { token },
      )).body.delivery;

    await t.step("delivered then read move the mark up", async () => {
      assert.equal((await postMeta(d, metaStatus("wamid.TEST000000", "delivered"))).status, 200);
      assert.equal((await status(notice)).status, "delivered");
      assert.equal((await postMeta(d, metaStatus("wamid.TEST000000", "read"))).status, 200);
      assert.equal((await status(notice)).status, "read");
    });

    await t.step("a late delivered after read, and a repeated read, change nothing", async () => {
      const before = await messageEntry(d, notice);
      d.clock.advance(MINUTE);
      assert.equal((await postMeta(d, metaStatus("wamid.TEST000000", "delivered"))).status, 200);
      assert.equal((await postMeta(d, metaStatus("wamid.TEST000000", "read"))).status, 200);
      const after = await messageEntry(d, notice);
      assert.equal(after.versionstamp, before.versionstamp);
      assert.equal(after.value?.delivery?.status, "read");
    });

    await t.step(
      "failed (with Meta's code) applies from sent; a later delivered overrides it",
      async () => {
        const failed = fixture("meta_status_failed.json").replace(
          "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA",
          "wamid.TEST000001",
        );
        assert.equal((await postMeta(d, failed)).status, 200);
        const mark = await status(prompt);
        assert.equal(mark.status, "failed");
        assert.equal(mark.error?.code, "131026");
        const repeated = await messageEntry(d, prompt);
        assert.equal((await postMeta(d, failed)).status, 200);
        assert.equal((await messageEntry(d, prompt)).versionstamp, repeated.versionstamp);
        assert.equal((await postMeta(d, metaStatus("wamid.TEST000001", "delivered"))).status, 200);
        assert.equal((await status(prompt)).status, "delivered");
      },
    );

    await t.step(
      "a status that arrives before the message's sent commit is applied by it",
      async () => {
        // The fake holds its answer (wamid.EARLY) while Meta's read callback for it comes in.
        fake.script({
          status: 200,
          body: { messaging_product: "whatsapp", messages: [{ id: "wamid.EARLY" }] },
          delayMs: 1_500,
        });
        const body = metaBody({ messages: [metaMessage("27820000009", "hello")] });
        assert.equal((await postMeta(d, body)).status, 200);
        await fake.waitFor(3);
        const res = await postMeta(d, metaStatus("wamid.EARLY", "read"));
        assert.equal(res.status, 200);
        const waiting = await customerOf(d, "whatsapp", "+27820000009");
        assert.equal(waiting.outbound[0].delivery?.status, "queued");
        assert.ok((await d.kv.get(keys.earlyStatus("meta", "wamid.EARLY"))).value);

        const [first] = await sentReplies(d, "whatsapp", "+27820000009", 2);
        assert.equal(first.delivery?.providerId, "wamid.EARLY");
        assert.equal(first.delivery?.status, "read");
        assert.equal((await d.kv.get(keys.earlyStatus("meta", "wamid.EARLY"))).value, null);
      },
    );

    await t.step(
      "a status for an id the desk never sent is 2xx and touches no message",
      async () => {
        const res = await postMeta(d, metaStatus("wamid.UNKNOWN", "delivered"));
        assert.equal(res.status, 200);
        assert.equal((await messageEntry(d, notice)).value?.delivery?.status, "read");
      },
    );
  } finally {
    await d.close();
    await fake.close();
  }
});

Deno.test("[routes] rule 28: hostile Meta bodies that verify are 2xx or 400, never 500, never half-stored", async (t) => {
  const ours = { metadata: { phone_number_id: PHONE_NUMBER_ID } };
  const wrap = (value: unknown) =>
    JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{ changes: [{ field: "messages", value }] }],
    });
  const bodies: [string, string | Uint8Array<ArrayBuffer>][] = [
    ["an array", "[]"],
    ["an empty object", "{}"],
    ["null", "null"],
    ["a number", "42"],
    ["a string", '"whatsapp_business_account"'],
    ["not JSON", "{"],
    ["empty", ""],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ["entry a string", '{"entry":"x"}'],
    ["our object, entry a string", '{"object":"whatsapp_business_account","entry":"x"}'],
    [
      "entry items of every type",
      JSON.stringify({
        object: "whatsapp_business_account",
        entry: [null, 1, "x", [], {}, { changes: "x" }, { changes: [null, 2, [], {}] }],
      }),
    ],
    ["value of the wrong type", wrap([])],
    ["messages and statuses of the wrong type", wrap({ ...ours, messages: "x", statuses: {} })],
    [
      "messages with wrong fields",
      wrap({
        ...ours,
        contacts: "x",
        messages: [
          null,
          7,
          { from: 16505551234, id: { $: 1 }, timestamp: [], type: 7 },
          { id: "wamid.only-id" },
          { from: "16505551234" },
          { from: "16505551234", id: "w".repeat(5_000), type: "text", text: { body: "x" } },
          { from: "16505551234", id: "wamid.proto", type: "__proto__", __proto__: { body: "x" } },
        ],
        statuses: [
          null,
          { id: 1, status: "read" },
          { id: "wamid.s2", status: "bogus" },
          { id: "wamid.s3" },
          { id: "w".repeat(5_000), status: "read" },
        ],
      }),
    ],
    ["deeply nested arrays", "[".repeat(50_000) + "]".repeat(50_000)],
    [
      "deeply nested entry",
      JSON.stringify({
        object: "whatsapp_business_account",
        entry: JSON.parse("[".repeat(5_000) + "]".repeat(5_000)),
      }),
    ],
  ];

  await t.step("none of them is 5xx and none stores anything", async () => {
    await using(() => whatsappDesk(), async (d) => {
      const log = captureWarnings();
      try {
        for (const [why, body] of bodies) {
          const res = await postMeta(d, body);
          assert.ok(
            res.status === 400 || (res.status >= 200 && res.status < 300),
            `${why}: ${res.status}`,
          );
          await res.body?.cancel();
          assert.equal(await storedRows(d.kv), 0, why);
        }
      } finally {
        log.restore();
      }
    });
  });

  // With no phone number id configured, an over-long `phone_number_id` must not reach the
  // conversation record (KV values are capped at 64 KiB): it names no number of ours.
  await t.step({
    name: "an over-long phone_number_id, with no phone number id configured, is not a 500",
    fn: async () => {
      await using(async () => {
        const d = await testDesk();
        await updateChannel(d.kv, "whatsapp", { appSecret: APP_SECRET }, {
          clock: d.clock,
          publicUrl: PUBLIC_URL,
        });
        return d;
      }, async (d) => {
        const body = metaBody({ messages: [metaMessage("16505551234", "hi")] }, "9".repeat(70_000));
        const res = await postMeta(d, body);
        await res.body?.cancel();
        assert.ok(res.status < 500, `status ${res.status}`);
      });
    },
  });

  await t.step(
    "a routable message with odd fields is stored whole (customer, conversation, message)",
    async () => {
      await using(() => whatsappDesk(), async (d) => {
        const body = wrap({
          ...ours,
          contacts: [{ profile: { name: { first: "x" } }, wa_id: 16505551234 }],
          messages: [{
            from: "16505551234",
            id: "wamid.odd",
            timestamp: "not a time",
            type: "text",
            text: { body: "x".repeat(10_000) },
          }],
        });
        const res = await postMeta(d, body);
        assert.equal(res.status, 200);
        const s = await customerOf(d, "whatsapp", SHEENA);
        assert.ok(s.customer && s.conversation);
        assert.equal(s.customer.profileName, null);
        assert.equal(s.inbound.length, 1);
        assert.equal(s.inbound[0].text.length, 4096);
        assert.equal(s.inbound[0].providerAt, undefined);
      });
    },
  );
});

// =============================================================================================
// Twilio

Deno.test("[routes] rule 28: the Twilio inbound webhook", async (t) => {
  const inbound = formFixture("twilio_inbound.txt");
  const path = "/webhooks/twilio";

  await t.step(
    "forged, tampered, forwarded-host and unsigned requests are 403 and store nothing",
    async () => {
      await using(() => twilioDesk(), async (d) => {
        const tampered = inbound.map(([n, v]): [string, string] =>
          n === "Body" ? [n, "hacked"] : [n, v]
        );
        const refused: [string, Promise<Response>][] = [
          ["another token", postTwilio(d, path, inbound, { token: "not-the-auth-token" })],
          ["no header", postTwilio(d, path, inbound, { signature: null })],
          ["garbage header", postTwilio(d, path, inbound, { signature: "bm90IGEgc2lnbmF0dXJl" })],
          [
            "body changed after signing",
            postTwilio(d, path, tampered, {
              signature: twilioSign(AUTH_TOKEN, PUBLIC_URL + path, inbound),
            }),
          ],
          [
            "signed for the forwarded host",
            postTwilio(d, path, inbound, {
              signedUrl: "https://evil.example" + path,
              headers: { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
            }),
          ],
          [
            "signed for the address the request reached",
            postTwilio(d, path, inbound, {
              signedUrl: "http://localhost" + path,
            }),
          ],
          [
            "signed for another path",
            postTwilio(d, path, inbound, {
              signedUrl: PUBLIC_URL + "/webhooks/twilio/status",
            }),
          ],
        ];
        for (const [why, pending] of refused) {
          const res = await pending;
          assert.equal(res.status, 403, why);
          await res.body?.cancel();
        }
        assert.equal(await storedRows(d.kv), 0);
      });
    },
  );

  await t.step(
    "a request signed by Twilio's own library is stored on route twilio and answered with empty TwiML",
    async () => {
      await using(() => twilioDesk(), async (d) => {
        assert.equal(await storedRows(d.kv), 0);
        // The oracle agrees the signature is right for what we send.
        const signature = twilioSign(AUTH_TOKEN, PUBLIC_URL + path, inbound);
        assert.ok(
          twilio.validateRequest(
            AUTH_TOKEN,
            signature,
            PUBLIC_URL + path,
            Object.fromEntries(inbound),
          ),
        );
        await assertEmptyTwiml(await postTwilio(d, path, inbound));
        assert.ok(await storedRows(d.kv) > 0);
        const s = await customerOf(d, "sms", "+14017122661");
        assert.equal(s.customer?.channel, "sms");
        assert.equal(s.conversation?.route, "twilio");
        assert.equal(s.conversation?.routeTo, "+14155552671");
        assert.deepEqual(s.inbound.map((m) => m.text), ["Hi, is my order on its way? 📦"]);
      });
    },
  );

  await t.step("the signed URL includes the query string Twilio called", async () => {
    await using(() => twilioDesk(), async (d) => {
      const params = sms("+14017122662", "with a query", "SM" + "1".repeat(32));
      const withQuery = `${path}?desk=main&x=a%20b`;
      const bad = await postTwilio(d, withQuery, params, { signedUrl: PUBLIC_URL + path });
      assert.equal(bad.status, 403);
      await assertEmptyTwiml(await postTwilio(d, withQuery, params));
      assert.equal((await customerOf(d, "sms", "+14017122662")).inbound.length, 1);
    });
  });

  await t.step(
    "rule 43: a public URL with a port takes requests signed without it, and the other way round",
    async () => {
      // PUBLIC_URL is http://127.0.0.1:8000: Twilio may sign http://127.0.0.1/webhooks/twilio.
      await using(() => twilioDesk(), async (d) => {
        const params = sms("+14017122664", "signed without the port", "SM" + "7".repeat(32));
        await assertEmptyTwiml(
          await postTwilio(d, path, params, { signedUrl: "http://127.0.0.1" + path }),
        );
        await assertEmptyTwiml(
          await postTwilio(d, path, sms("+14017122664", "and with it", "SM" + "8".repeat(32))),
        );
        const wrongPort = await postTwilio(
          d,
          path,
          sms("+14017122664", "another port", "SM" + "9".repeat(32)),
          { signedUrl: "http://127.0.0.1:8001" + path },
        );
        assert.equal(wrongPort.status, 403);
        await wrongPort.body?.cancel();
        const texts = (await customerOf(d, "sms", "+14017122664")).inbound.map((m) => m.text);
        assert.deepEqual(texts, ["signed without the port", "and with it"]);
        // Status callbacks too (Twilio signs those with the port, TwiML webhooks without).
        const status = await postTwilio(
          d,
          path + "/status",
          formFixture("twilio_status_undelivered.txt"),
          { signedUrl: "http://127.0.0.1" + path + "/status" },
        );
        await assertEmptyTwiml(status);
      });
      // A public URL without a port takes a signature over the scheme's default port.
      const bare = "https://desk.example";
      await using(async () => {
        const d = await testDesk({ providers: { publicUrl: bare } });
        await updateChannel(d.kv, "twilio", { authToken: AUTH_TOKEN, enabled: false }, {
          clock: d.clock,
          publicUrl: bare,
        });
        return d;
      }, async (d) => {
        const params = sms("+14017122665", "signed with :443", "SM" + "a".repeat(32));
        await assertEmptyTwiml(
          await postTwilio(d, path, params, { signedUrl: bare + ":443" + path }),
        );
        assert.equal((await customerOf(d, "sms", "+14017122665")).inbound.length, 1);
      });
    },
  );

  await t.step(
    "a short-code or alphanumeric sender gets empty TwiML and nothing is stored",
    async () => {
      await using(() => twilioDesk(), async (d) => {
        await assertEmptyTwiml(
          await postTwilio(d, path, sms("12345", "PROMO", "SM" + "2".repeat(32))),
        );
        await assertEmptyTwiml(
          await postTwilio(d, path, sms("ACMEBANK", "PROMO", "SM" + "3".repeat(32))),
        );
        assert.equal(await storedRows(d.kv), 0);
      });
    },
  );

  await t.step(
    "a media-only message becomes [image] (rule 49: the first file's kind)",
    async () => {
      await using(() => twilioDesk(), async (d) => {
        await assertEmptyTwiml(await postTwilio(d, path, formFixture("twilio_media_only.txt")));
        const s = await customerOf(d, "sms", "+447700900123");
        assert.deepEqual(s.inbound.map((m) => m.text), ["[image]"]);
      });
    },
  );

  await t.step("a repeated MessageSid is stored once, with one set of replies", async () => {
    await using(() => twilioDesk(), async (d) => {
      await assertEmptyTwiml(await postTwilio(d, path, inbound));
      await assertEmptyTwiml(await postTwilio(d, path, inbound));
      const s = await customerOf(d, "sms", "+14017122661");
      assert.equal(s.inbound.length, 1);
      assert.equal(s.outbound.length, 2);
    });
  });

  await t.step("a replaced auth token verifies for 24 hours, not after", async () => {
    await using(() => twilioDesk(), async (d) => {
      await updateChannel(d.kv, "twilio", { authToken: "twilio-auth-token-2" }, {
        clock: d.clock,
        publicUrl: PUBLIC_URL,
      });
      d.clock.advance(23 * HOUR);
      await assertEmptyTwiml(
        await postTwilio(d, path, sms("+14017122663", "old token", "SM" + "4".repeat(32))),
      );
      d.clock.advance(HOUR + MINUTE);
      const late = await postTwilio(
        d,
        path,
        sms("+14017122663", "too late", "SM" + "5".repeat(32)),
      );
      assert.equal(late.status, 403);
      await assertEmptyTwiml(
        await postTwilio(d, path, sms("+14017122663", "new token", "SM" + "6".repeat(32)), {
          token: "twilio-auth-token-2",
        }),
      );
      const texts: string[] = [];
      for await (const e of d.kv.list<Message>({ prefix: keys.messages("x").slice(0, 1) })) {
        if (e.value.direction === "in") texts.push(e.value.text);
      }
      assert.deepEqual(texts.sort(), ["new token", "old token"]);
    });
  });

  await t.step("when storing throws the answer is 500 and nothing is stored", async () => {
    await using(() => twilioDesk(), async (d) => {
      const kv = d.kv as Deno.Kv & { atomic: Deno.Kv["atomic"] };
      const atomic = kv.atomic;
      kv.atomic = () => {
        throw new Error("KV unavailable (test)");
      };
      const errors = console.error;
      console.error = () => {};
      try {
        const res = await postTwilio(d, path, inbound);
        assert.equal(res.status, 500);
        await res.body?.cancel();
      } finally {
        kv.atomic = atomic;
        console.error = errors;
      }
      assert.equal(await storedRows(d.kv), 0);
    });
  });

  await t.step("with no public URL configured nothing can be verified: 403", async () => {
    await using(() => testDesk({ providers: { publicUrl: null } }), async (d) => {
      await updateChannel(d.kv, "twilio", { authToken: AUTH_TOKEN }, {
        clock: d.clock,
        publicUrl: null,
      });
      for (const base of ["http://localhost", PUBLIC_URL, "null", ""]) {
        const res = await postTwilio(d, path, inbound, { signedUrl: base + path });
        assert.equal(res.status, 403, base);
        await res.body?.cancel();
        const status = await postTwilio(
          d,
          path + "/status",
          formFixture("twilio_status_undelivered.txt"),
          {
            signedUrl: base + path + "/status",
          },
        );
        assert.equal(status.status, 403, base);
        await status.body?.cancel();
      }
      assert.equal(await storedRows(d.kv), 0);
    });
  });
});

Deno.test("[routes] rule 25: Twilio status callbacks", async (t) => {
  const fake = FakeProvider.start(twilioAccepted);
  const d = await twilioDesk({ listen: true, providers: { twilioApiBase: fake.url } });
  const path = "/webhooks/twilio/status";
  const statusOf = (sid: string, status: string, extra: [string, string][] = []) =>
    [
      ["MessageSid", sid],
      ["SmsSid", sid],
      ["AccountSid", ACCOUNT_SID],
      ["MessageStatus", status],
      ["SmsStatus", status],
      ["To", "+14017122661"],
      ["From", "+14155552671"],
      ["ApiVersion", "2010-04-01"],
      ...extra,
    ] as [string, string][];
  try {
    await closeBusiness(d);
    await assertEmptyTwiml(
      await postTwilio(d, "/webhooks/twilio", formFixture("twilio_inbound.txt")),
    );
    const requests = await fake.waitFor(2);
    const form = new URLSearchParams(requests[0].body);
    // What we told Twilio to call back is exactly the URL we verify status callbacks against.
    assert.equal(form.get("StatusCallback"), PUBLIC_URL + path);
    assert.equal(form.get("From"), "+14155552671");
    const [notice, prompt] = await sentReplies(d, "sms", "+14017122661", 2);
    const sid0 = "SM" + "0".repeat(32);
    const sid1 = "SM" + "0".repeat(31) + "1";
    assert.equal(notice.delivery?.providerId, sid0);
    assert.equal(prompt.delivery?.providerId, sid1);

    await t.step("a forged status callback is 403 and changes nothing", async () => {
      const before = await messageEntry(d, notice);
      const res = await postTwilio(d, path, statusOf(sid0, "delivered"), { token: "forged" });
      assert.equal(res.status, 403);
      await res.body?.cancel();
      assert.equal((await messageEntry(d, notice)).versionstamp, before.versionstamp);
    });

    await t.step(
      "sent changes nothing on a sent message; delivered maps to delivered",
      async () => {
        const before = await messageEntry(d, notice);
        await assertEmptyTwiml(await postTwilio(d, path, statusOf(sid0, "sent")));
        assert.equal((await messageEntry(d, notice)).versionstamp, before.versionstamp);
        await assertEmptyTwiml(await postTwilio(d, path, statusOf(sid0, "delivered")));
        assert.equal((await messageEntry(d, notice)).value?.delivery?.status, "delivered");
      },
    );

    await t.step(
      "undelivered with ErrorCode 30003 is failed with that code; a repeat changes nothing",
      async () => {
        const undelivered = formFixture("twilio_status_undelivered.txt").map((
          [n, v],
        ): [string, string] => n === "MessageSid" || n === "SmsSid" ? [n, sid1] : [n, v]);
        await assertEmptyTwiml(await postTwilio(d, path, undelivered));
        const failed = await messageEntry(d, prompt);
        assert.equal(failed.value?.delivery?.status, "failed");
        assert.equal(failed.value?.delivery?.error?.code, "30003");
        await assertEmptyTwiml(await postTwilio(d, path, undelivered));
        assert.equal((await messageEntry(d, prompt)).versionstamp, failed.versionstamp);
      },
    );

    await t.step(
      "statuses Twilio sends for inbound messages are ignored with empty TwiML",
      async () => {
        const before = await messageEntry(d, notice);
        await assertEmptyTwiml(await postTwilio(d, path, statusOf(sid0, "receiving")));
        await assertEmptyTwiml(await postTwilio(d, path, statusOf(sid0, "received")));
        assert.equal((await messageEntry(d, notice)).versionstamp, before.versionstamp);
      },
    );
  } finally {
    await d.close();
    await fake.close();
  }
});
