import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fc from "fast-check";
import twilio from "twilio";
import { CHANNEL_FACTS, MAX_MESSAGE_LENGTH } from "../domain/channels.ts";
import type {
  ApiChannelSettings,
  TwilioSettings,
  WhatsAppSettings,
} from "../domain/channel_settings.ts";
import type { Message } from "../domain/types.ts";
import { apiChannelProvider, apiChannelSignature } from "../domain/providers/api_channel.ts";
import {
  META_TEMPORARY_CODES,
  metaChallenge,
  metaProvider,
  parseMetaWebhook,
  verifyMetaSignature,
} from "../domain/providers/meta.ts";
import type {
  Outgoing,
  ProviderConfig,
  ProviderInbound,
  ProviderStatus,
  ProviderWebhook,
  SendOutcome,
} from "../domain/providers/provider.ts";
import {
  parseTwilioInbound,
  parseTwilioStatus,
  twilioProvider,
  twilioSignature,
  twilioSignedUrls,
  verifyTwilioSignature,
} from "../domain/providers/twilio.ts";

/** Fixtures written from the providers' documentation (tests/fixtures/SOURCES.md names each). */
const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const jsonFixture = (name: string): unknown => JSON.parse(fixture(name));
const formFixture = (name: string): [string, string][] => [
  ...new URLSearchParams(fixture(name).trim()),
];

const NOW = Date.UTC(2026, 2, 9, 10, 0, 0);
const PHONE_NUMBER_ID = "106540352242922";
const CONFIG: ProviderConfig = {
  publicUrl: "https://desk.example",
  whatsappApiBase: "https://graph.facebook.com/v23.0",
  twilioApiBase: "https://api.twilio.com",
  timeoutMs: 10_000,
};
const common = { enabled: true, authFailed: null, credentialsVersion: 1 };
const WHATSAPP: WhatsAppSettings = {
  ...common,
  phoneNumberId: PHONE_NUMBER_ID,
  accessToken: "EAAG-test-token",
  appSecret: "app-secret",
  verifyToken: "verify-me",
  retiredAppSecrets: [],
};
const ACCOUNT_SID = "AC" + "a".repeat(32);
const TWILIO: TwilioSettings = {
  ...common,
  accountSid: ACCOUNT_SID,
  authToken: "twilio-auth-token",
  fromNumber: "+14155550000",
  messagingServiceSid: null,
  retiredAuthTokens: [],
};
const API: ApiChannelSettings = {
  ...common,
  webhookUrl: "https://gateway.example/chatdesk",
  secret: "api-secret",
  retiredSecrets: [],
};

function message(over: Partial<Message> = {}): Message {
  return {
    id: "msg_01",
    conversationId: "conv_01",
    direction: "out",
    author: "agent_01",
    text: "Hello, how can we help?",
    at: NOW - 1000,
    ...over,
  };
}

function outgoing(over: Partial<Outgoing> = {}, msg: Partial<Message> = {}): Outgoing {
  return {
    message: message(msg),
    customerId: "cust_01",
    channel: "whatsapp",
    to: "+27820000001",
    routeTo: null,
    ticketId: null,
    ...over,
  };
}

const headers = (init: Record<string, string> = {}) => new Headers(init);
const hex = (key: string, data: string | Uint8Array) =>
  createHmac("sha256", key).update(data).digest("hex");

/** Every inbound message a parser returns must be storable as it is. */
function assertValidWebhook(result: ProviderWebhook) {
  for (const n of [result.unroutable, result.ignored]) assert.ok(Number.isInteger(n) && n >= 0);
  for (const m of result.messages) assertValidInbound(m);
  for (const s of result.statuses) assertValidStatus(s);
}

function assertValidInbound(m: ProviderInbound) {
  assert.ok(m.channel === "whatsapp" || m.channel === "sms", `channel ${m.channel}`);
  assert.ok(CHANNEL_FACTS[m.channel].address.test(m.from), `from ${m.from}`);
  assert.ok(m.from.startsWith("+"));
  assert.equal(typeof m.text, "string");
  // Inbound text is kept up to what the desk stores; the channel's limit is for sending (rule 45).
  assert.ok(m.text.length > 0 && m.text.length <= MAX_MESSAGE_LENGTH);
  assert.ok(!/^[\uDC00-\uDFFF]/.test(m.text) && !/[\uD800-\uDBFF]$/.test(m.text));
  assert.equal(typeof m.providerId, "string");
  assert.ok(m.providerId.length > 0 && m.providerId.length <= 256);
  assert.ok(m.to === null || typeof m.to === "string");
  if (m.profileName !== undefined) {
    assert.ok(typeof m.profileName === "string" && m.profileName.length > 0);
  }
  if (m.providerAt !== undefined) assert.ok(Number.isSafeInteger(m.providerAt));
  if (m.passive !== undefined) assert.equal(m.passive, true);
}

function assertValidStatus(s: ProviderStatus) {
  assert.ok(typeof s.providerId === "string" && s.providerId.length > 0);
  assert.ok(["sent", "delivered", "read", "failed"].includes(s.status));
  if (s.error) {
    assert.ok(typeof s.error.code === "string" && s.error.code.length > 0);
    assert.ok(typeof s.error.message === "string" && s.error.message.length > 0);
  }
  assert.equal(s.error !== undefined, s.status === "failed");
}

const retry = (code: string, message: string, retryAfterMs?: number): SendOutcome =>
  retryAfterMs === undefined
    ? { kind: "retry", code, message }
    : { kind: "retry", code, message, retryAfterMs };

Deno.test("[domain] providers: WhatsApp Cloud API requests and answers (rule 25)", async (t) => {
  await t.step(
    "a text goes to {base}/{phoneNumberId}/messages as the number without +",
    async () => {
      const req = await metaProvider.request(outgoing(), WHATSAPP, CONFIG, NOW);
      assert.equal(req.url, `https://graph.facebook.com/v23.0/${PHONE_NUMBER_ID}/messages`);
      assert.equal(req.method, "POST");
      assert.equal(req.headers["authorization"], "Bearer EAAG-test-token");
      assert.equal(req.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(req.body), {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: "27820000001",
        type: "text",
        text: { body: "Hello, how can we help?" },
      });
    },
  );

  await t.step(
    "a template with parameters goes by name and language with one body component",
    async () => {
      const out = outgoing({}, {
        text: "Hi Ann, your order 42 has shipped.",
        template: "order_shipped",
        language: "en_US",
        params: ["Ann", "42"],
      });
      const req = await metaProvider.request(out, WHATSAPP, CONFIG, NOW);
      assert.deepEqual(JSON.parse(req.body), {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: "27820000001",
        type: "template",
        template: {
          name: "order_shipped",
          language: { code: "en_US" },
          components: [{
            type: "body",
            parameters: [{ type: "text", text: "Ann" }, { type: "text", text: "42" }],
          }],
        },
      });
    },
  );

  await t.step(
    "a template without parameters has no components and its language defaults to en",
    async () => {
      for (const params of [undefined, []]) {
        const out = outgoing({}, { text: "We are closed.", template: "closed_notice", params });
        const body = JSON.parse((await metaProvider.request(out, WHATSAPP, CONFIG, NOW)).body);
        assert.deepEqual(body.template, { name: "closed_notice", language: { code: "en" } });
        assert.equal(body.type, "template");
        assert.equal(body.text, undefined);
      }
    },
  );

  await t.step("a channel without phone number id or token builds no request", async () => {
    await assert.rejects(
      metaProvider.request(outgoing(), { ...WHATSAPP, accessToken: null }, CONFIG, NOW),
    );
    await assert.rejects(
      metaProvider.request(outgoing(), { ...WHATSAPP, phoneNumberId: null }, CONFIG, NOW),
    );
  });

  await t.step("200 with messages[0].id is accepted with that id", () => {
    assert.deepEqual(
      metaProvider.classify(200, headers(), fixture("meta_send_success.json"), NOW),
      {
        kind: "accepted",
        providerId: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
      },
    );
    assert.deepEqual(metaProvider.classify(200, headers(), "", NOW), {
      kind: "accepted",
      providerId: null,
    });
  });

  await t.step("every temporary Meta code arriving as HTTP 400 is retried", () => {
    const documented = [1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131048, 131056, 133004];
    for (const code of documented) assert.ok(META_TEMPORARY_CODES.has(code), `${code}`);
    for (const code of META_TEMPORARY_CODES) {
      const body = JSON.stringify({ error: { message: `(#${code}) temporary`, code } });
      assert.deepEqual(
        metaProvider.classify(400, headers(), body, NOW),
        retry(String(code), `(#${code}) temporary`),
      );
    }
    assert.deepEqual(
      metaProvider.classify(400, headers(), fixture("meta_error_130429.json"), NOW),
      retry("130429", "(#130429) Rate limit hit"),
    );
  });

  await t.step("131047 (re-engagement) fails at once with Meta's code and message", () => {
    assert.deepEqual(
      metaProvider.classify(400, headers(), fixture("meta_error_131047.json"), NOW),
      {
        kind: "permanent",
        code: "131047",
        message: "(#131047) Re-engagement message",
      },
    );
  });

  await t.step("HTTP 401, and code 190 under any status, pause the channel", () => {
    const expired = fixture("meta_error_190.json");
    for (const status of [400, 401, 403]) {
      const outcome = metaProvider.classify(status, headers(), expired, NOW);
      assert.equal(outcome.kind, "auth");
      assert.equal(outcome.kind === "auth" && outcome.code, "190");
    }
    assert.deepEqual(metaProvider.classify(401, headers(), "Unauthorized", NOW), {
      kind: "auth",
      code: "http_401",
      message: "Unauthorized",
    });
  });

  await t.step(
    "rule 47: 368 (temporarily blocked) is retried, also as the HTTP 403 it comes in",
    () => {
      const blocked = fixture("meta_error_368.json");
      for (const status of [400, 403]) {
        assert.deepEqual(
          metaProvider.classify(status, headers(), blocked, NOW),
          retry("368", "(#368) Temporarily blocked for policies violations"),
        );
      }
    },
  );

  await t.step("rule 47: 102 (API session expired) pauses the channel like 190 and 401", () => {
    const session = fixture("meta_error_102.json");
    for (const status of [400, 401, 403]) {
      assert.deepEqual(metaProvider.classify(status, headers(), session, NOW), {
        kind: "auth",
        code: "102",
        message: "(#102) Session key invalid or no longer valid",
      });
    }
  });

  await t.step("Retry-After in seconds or as an HTTP date replaces the next delay", () => {
    const throttled = JSON.stringify({ error: { message: "Too many", code: 130429 } });
    assert.deepEqual(
      metaProvider.classify(429, headers({ "Retry-After": "7" }), throttled, NOW),
      retry("130429", "Too many", 7000),
    );
    const date = new Date(NOW + 30_000).toUTCString();
    assert.deepEqual(
      metaProvider.classify(503, headers({ "Retry-After": date }), "", NOW),
      retry("http_503", "HTTP 503", 30_000),
    );
  });

  await t.step("500, 503 and 408 are retried, with http_<status> when the body has no code", () => {
    for (const status of [500, 503, 408]) {
      assert.deepEqual(
        metaProvider.classify(status, headers(), "", NOW),
        retry(`http_${status}`, `HTTP ${status}`),
      );
    }
  });

  await t.step(
    "a non-JSON error body fails with http_<status> and the body cut to 200 characters",
    () => {
      const html = "<html>" + "x".repeat(500) + "</html>";
      const outcome = metaProvider.classify(404, headers(), html, NOW);
      assert.equal(outcome.kind, "permanent");
      assert.equal(outcome.kind === "permanent" && outcome.code, "http_404");
      assert.equal(outcome.kind === "permanent" && outcome.message, html.slice(0, 200));
      assert.deepEqual(metaProvider.classify(502, headers(), "<h1>Bad gateway</h1>", NOW), {
        kind: "retry",
        code: "http_502",
        message: "<h1>Bad gateway</h1>",
      });
    },
  );
});

Deno.test("[domain] providers: WhatsApp webhook handshake and signature (rule 28)", async (t) => {
  const query = (q: string) => new URLSearchParams(q);

  await t.step(
    "the handshake echoes hub.challenge only for subscribe with the verify token",
    () => {
      const ok = "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444";
      assert.equal(metaChallenge(query(ok), "verify-me"), "1158201444");
      assert.equal(metaChallenge(query(ok), "verify-mf"), null);
      assert.equal(metaChallenge(query(ok), "verify-me-too"), null);
      assert.equal(metaChallenge(query(ok), null), null);
      assert.equal(metaChallenge(query(ok), ""), null);
      assert.equal(
        metaChallenge(
          query("hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1"),
          "verify-me",
        ),
        null,
      );
      assert.equal(
        metaChallenge(query("hub.mode=subscribe&hub.verify_token=verify-me"), "verify-me"),
        null,
      );
      assert.equal(metaChallenge(query("hub.mode=subscribe&hub.challenge=1"), "verify-me"), null);
    },
  );

  const raw = new TextEncoder().encode(fixture("meta_text.json"));
  const header = `sha256=${hex("app-secret", raw)}`;

  await t.step(
    "an HMAC-SHA256 of the raw bytes with the app secret verifies (node:crypto oracle)",
    async () => {
      assert.equal(await verifyMetaSignature(raw, header, ["app-secret"]), true);
      assert.equal(
        await verifyMetaSignature(raw, header.toUpperCase().replace("SHA256=", "sha256="), [
          "app-secret",
        ]),
        true,
      );
      const unicode = new TextEncoder().encode('{"text":"héllo 👍 مرحبا"}');
      assert.equal(
        await verifyMetaSignature(unicode, `sha256=${hex("s3cr3t ✓", unicode)}`, ["s3cr3t ✓"]),
        true,
      );
    },
  );

  await t.step("a forged, absent or malformed header is refused", async () => {
    const flipped = header.slice(0, -1) + (header.endsWith("0") ? "1" : "0");
    const bad = [
      null,
      "",
      flipped,
      header.slice("sha256=".length),
      `sha1=${header.slice(7)}`,
      `sha256=${header.slice(7, -2)}`,
      `sha256=${header.slice(7)}00`,
      `sha256=${"z".repeat(64)}`,
      `sha256= ${header.slice(7)}`,
      `${header},${header}`,
      `sha256=${hex("other-secret", raw)}`,
    ];
    for (const h of bad) {
      assert.equal(await verifyMetaSignature(raw, h, ["app-secret"]), false, `${h}`);
    }
    assert.equal(await verifyMetaSignature(raw, header, []), false);
    assert.equal(await verifyMetaSignature(raw, `sha256=${hex("", raw)}`, [""]), false);
  });

  await t.step("a replaced (retired) secret still verifies while it is in the list", async () => {
    const byOld = `sha256=${hex("old-secret", raw)}`;
    assert.equal(await verifyMetaSignature(raw, byOld, ["app-secret", "old-secret"]), true);
    assert.equal(await verifyMetaSignature(raw, header, ["app-secret", "old-secret"]), true);
    assert.equal(await verifyMetaSignature(raw, byOld, ["app-secret"]), false);
  });

  await t.step(
    "the raw bytes matter: the same JSON re-serialized with other spacing fails",
    async () => {
      const reserialized = new TextEncoder().encode(
        JSON.stringify(JSON.parse(fixture("meta_text.json"))),
      );
      assert.notDeepEqual(reserialized, raw);
      assert.equal(await verifyMetaSignature(reserialized, header, ["app-secret"]), false);
    },
  );
});

Deno.test("[domain] providers: WhatsApp webhooks in our words (SPEC wire formats)", async (t) => {
  const parse = (name: string, id: string | null = PHONE_NUMBER_ID) => {
    const result = parseMetaWebhook(jsonFixture(name), id);
    assertValidWebhook(result);
    return result;
  };
  const wrap = (value: Record<string, unknown>, field = "messages") => ({
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field,
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550783881", phone_number_id: PHONE_NUMBER_ID },
          ...value,
        },
      }],
    }],
  });
  const one = (msg: Record<string, unknown>) => {
    const result = parseMetaWebhook(
      wrap({ messages: [{ from: "27820000001", id: "wamid.x", timestamp: "1", ...msg }] }),
      PHONE_NUMBER_ID,
    );
    assertValidWebhook(result);
    return result;
  };

  await t.step(
    "a text message: customer +<from>, profile name, Meta's time, our phone number id",
    () => {
      assert.deepEqual(parse("meta_text.json"), {
        messages: [{
          channel: "whatsapp",
          from: "+16505551234",
          text: "Does it come in another color?",
          providerId: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
          to: PHONE_NUMBER_ID,
          profileName: "Sheena Nelson",
          providerAt: 1749416383000,
        }],
        statuses: [],
        unroutable: 0,
        ignored: 0,
      });
    },
  );

  await t.step("an image names its type and keeps its caption", () => {
    const [m] = parse("meta_image_caption.json").messages;
    assert.equal(m.text, "The crack is on the left side");
    assert.equal(m.passive, undefined);
  });

  await t.step("a tapped reply button routes as its title, so a tapped YES is a YES", () => {
    const [m] = parse("meta_interactive_button_reply.json").messages;
    assert.equal(m.text, "YES");
    assert.equal(m.passive, undefined);
    const list = one({
      type: "interactive",
      interactive: {
        type: "list_reply",
        list_reply: { id: "r1", title: "Billing", description: "d" },
      },
    });
    assert.equal(list.messages[0].text, "Billing");
    assert.equal(
      one({ type: "button", button: { payload: "p", text: "No" } }).messages[0].text,
      "No",
    );
  });

  await t.step("rule 46: an edit names the message it changes and carries its new text", () => {
    const [m] = parse("meta_edit.json").messages;
    assert.deepEqual(m.change, {
      kind: "edit",
      of: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    });
    assert.equal(m.text, "Does it come in another colour, like blue?");
    assert.equal(m.passive, true);
    assert.equal(m.from, "+16505551234");
    // An edited caption (pywa's edit_caption): the new text reads as its type does.
    const caption = one({
      type: "edit",
      edit: {
        original_message_id: "wamid.zzzzzz",
        message: {
          type: "image",
          image: {
            caption: "caption",
            mime_type: "image/jpeg",
            sha256: "4654+8g=",
            id: "65463453",
          },
        },
      },
    }).messages[0];
    assert.deepEqual([caption.text, caption.change?.kind], ["caption", "edit"]);
  });

  await t.step("rule 46: a revoke names the message deleted; malformed ones stay passive", () => {
    const [m] = parse("meta_revoke.json").messages;
    assert.deepEqual(m.change, {
      kind: "revoke",
      of: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    });
    assert.equal(m.passive, true);
    for (const broken of [{ type: "edit", edit: {} }, { type: "revoke" }]) {
      const [b] = one(broken).messages;
      assert.equal(b.change, undefined);
      assert.equal(b.passive, true);
    }
  });

  await t.step("rule 46: a group message is counted apart and never becomes a customer's", () => {
    const result = parse("meta_group_text.json");
    assert.deepEqual(result.messages, []);
    assert.equal(result.groups, 1);
  });

  await t.step("a reaction is stored as passive text", () => {
    const [m] = parse("meta_reaction.json").messages;
    assert.equal(m.text, "[reaction 👍]");
    assert.equal(m.passive, true);
    const removed = one({ type: "reaction", reaction: { message_id: "wamid.y" } }).messages[0];
    assert.equal(removed.text, "[reaction removed]");
    assert.equal(removed.passive, true);
  });

  await t.step(
    "system, unsupported and error entries are passive; other types name their type",
    () => {
      const system = one({
        type: "system",
        system: {
          body: "User A changed from 27820000001 to 27820000002",
          type: "user_changed_number",
        },
      }).messages[0];
      assert.deepEqual([system.text, system.passive], [
        "[system] User A changed from 27820000001 to 27820000002",
        true,
      ]);
      const unsupported = one({
        type: "unsupported",
        errors: [{ code: 131051, title: "Message type unknown" }],
      }).messages[0];
      assert.deepEqual([unsupported.text, unsupported.passive], ["[unsupported]", true]);
      const withErrors = one({ type: "audio", audio: {}, errors: [{ code: 131052 }] }).messages[0];
      assert.deepEqual([withErrors.text, withErrors.passive], ["[audio]", true]);
      const texts = [
        [{ type: "sticker", sticker: { mime_type: "image/webp" } }, "[sticker]"],
        [{ type: "document", document: { filename: "invoice.pdf" } }, "[document] invoice.pdf"],
        [
          { type: "location", location: { latitude: -33.9, longitude: 18.4 } },
          "[location] -33.9,18.4",
        ],
        [
          { type: "location", location: { name: "Shop", address: "1 Main Rd" } },
          "[location] Shop, 1 Main Rd",
        ],
        [
          { type: "contacts", contacts: [{ name: { formatted_name: "Ann Lee" } }] },
          "[contacts] Ann Lee",
        ],
        [{ type: "order", order: {} }, "[order]"],
        [{ type: "video" }, "[video]"],
      ] as const;
      for (const [msg, text] of texts) {
        const [m] = one(msg).messages;
        assert.equal(m.text, text);
        assert.equal(m.passive, undefined, text);
      }
    },
  );

  await t.step("a message without a phone number is unroutable, not stored", () => {
    const result = parseMetaWebhook(
      wrap({
        messages: [
          { id: "wamid.nofrom", timestamp: "1", type: "text", text: { body: "hi" } },
          { id: "wamid.badfrom", from: "not-a-number", type: "text", text: { body: "hi" } },
        ],
      }),
      PHONE_NUMBER_ID,
    );
    assert.deepEqual(result, { messages: [], statuses: [], unroutable: 2, ignored: 0 });
  });

  await t.step("a delivered status and a failed one with Meta's error code and title", () => {
    assert.deepEqual(parse("meta_status_delivered.json").statuses, [{
      providerId: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA",
      status: "delivered",
    }]);
    assert.deepEqual(parse("meta_status_failed.json").statuses, [{
      providerId: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA",
      status: "failed",
      error: { code: "131026", message: "Message undeliverable" },
    }]);
  });

  await t.step("unknown status values are ignored and counted", () => {
    const result = parseMetaWebhook(
      wrap({
        statuses: [
          { id: "wamid.a", status: "deleted" },
          { id: "wamid.b", status: "warning" },
          { id: "wamid.c", status: "read" },
          { id: "wamid.d", status: "failed" },
        ],
      }),
      PHONE_NUMBER_ID,
    );
    assert.deepEqual(result.statuses, [
      { providerId: "wamid.c", status: "read" },
      {
        providerId: "wamid.d",
        status: "failed",
        error: { code: "failed", message: "Delivery failed." },
      },
    ]);
    assert.equal(result.ignored, 2);
  });

  await t.step("several entries in one POST: another phone number id's change is ignored", () => {
    const result = parse("meta_multi_entry.json");
    assert.deepEqual(
      result.messages.map((m) => [m.from, m.text, m.profileName, m.providerId]),
      [
        ["+16505551234", "Hello", "Sheena Nelson", "wamid.multi.ours.1"],
        ["+27820000001", "Yes", "Pablo Morales", "wamid.multi.ours.2"],
      ],
    );
    assert.deepEqual(result.statuses, []);
    assert.equal(result.ignored, 2);
    const unfiltered = parse("meta_multi_entry.json", null);
    assert.equal(unfiltered.messages.length, 3);
    assert.equal(unfiltered.statuses.length, 1);
    assert.equal(unfiltered.messages[2].to, "199999999999999");
  });

  await t.step(
    "fields other than messages and objects other than a WhatsApp account are ignored",
    () => {
      const other = parseMetaWebhook(
        wrap({ event: "APPROVED" }, "message_template_status_update"),
        PHONE_NUMBER_ID,
      );
      assert.deepEqual(other, { messages: [], statuses: [], unroutable: 0, ignored: 1 });
      const page = parseMetaWebhook({ object: "page", entry: [] }, PHONE_NUMBER_ID);
      assert.deepEqual(page, { messages: [], statuses: [], unroutable: 0, ignored: 1 });
    },
  );

  await t.step("text is capped at 4096 characters without splitting an emoji", () => {
    const long = "a".repeat(4095) + "👍" + "b".repeat(100);
    const [m] = one({ type: "text", text: { body: long } }).messages;
    assert.equal(m.text, "a".repeat(4095));
    const [n] = one({ type: "text", text: { body: "c".repeat(10_000) } }).messages;
    assert.equal(n.text.length, 4096);
  });
});

Deno.test("[domain] providers: hostile WhatsApp webhook bodies never throw", async (t) => {
  await t.step("a body that is not a JSON object is refused", () => {
    for (const body of [null, undefined, [], [{}], "x", 42, true]) {
      assert.throws(() => parseMetaWebhook(body, PHONE_NUMBER_ID), /invalid payload/);
    }
  });

  await t.step("wrong types and missing fields at every level are skipped and counted", () => {
    const hostile: unknown[] = [
      {},
      { object: "whatsapp_business_account" },
      { object: "whatsapp_business_account", entry: null },
      { object: "whatsapp_business_account", entry: "x".repeat(100_000) },
      { object: "whatsapp_business_account", entry: { 0: {} } },
      {
        object: "whatsapp_business_account",
        entry: [null, 1, "a", [], {}, { changes: null }, { changes: {} }, {
          changes: [null, 7, [], {}, { field: "messages" }, { field: "messages", value: [] }, {
            field: "messages",
            value: {
              metadata: { phone_number_id: PHONE_NUMBER_ID },
              contacts: [null, { profile: null, wa_id: 5 }, { profile: { name: 12 } }],
              messages: [
                null,
                1,
                [],
                {},
                { id: 5, from: "27820000001" },
                { id: "", from: "27820000001" },
                { id: "x".repeat(100_000), from: "27820000001", type: "text" },
                { id: "w1", from: 27820000001, type: "text" },
                { id: "w2", from: "+", type: "text" },
                { id: "w3", from: "0" + "1".repeat(40), type: "text" },
                { id: "w4", from: "27820000001", type: { evil: true }, timestamp: {} },
                {
                  id: "w5",
                  from: "27820000001",
                  type: "text",
                  text: { body: 42 },
                  timestamp: "-1",
                },
                { id: "w6", from: "27820000001", type: "text", text: "plain", timestamp: 1e300 },
                {
                  id: "w7",
                  from: "27820000001",
                  type: "interactive",
                  interactive: { nfm_reply: null },
                },
                { id: "w8", from: "27820000001", type: "__proto__", errors: "x" },
                { id: "w9", from: "27820000001", type: "text", text: { body: "   " } },
                { id: "w10", from: "27820000001", type: "x".repeat(5000) },
                { id: "w11", from: "27820000001", type: "text", text: { body: "\u0000 ok" } },
              ],
              statuses: [
                null,
                { id: 1, status: "read" },
                { id: "s1", status: {} },
                { id: "s2", status: "failed", errors: "x" },
                { id: "s3", status: "failed", errors: [null, { code: {}, title: 5 }] },
                {
                  id: "s4",
                  status: "failed",
                  errors: [{ code: "x".repeat(1000), title: "t".repeat(5000) }],
                },
              ],
              errors: [{ code: 131000 }],
            },
          }],
        }],
      },
    ];
    for (const body of hostile) assertValidWebhook(parseMetaWebhook(body, PHONE_NUMBER_ID));
    const result = parseMetaWebhook(hostile.at(-1), PHONE_NUMBER_ID);
    assert.deepEqual(result.messages.map((m) => m.providerId), [
      "w4",
      "w5",
      "w6",
      "w7",
      "w8",
      "w9",
      "w10",
      "w11",
    ]);
    assert.deepEqual(result.messages.map((m) => m.text), [
      "[unknown]",
      "[text]",
      "[text]",
      "[interactive]",
      "[unknown]",
      "[text]",
      "[unknown]",
      "\u0000 ok",
    ]);
    assert.equal(result.unroutable, 3);
    assert.equal(result.statuses.length, 3);
    assert.ok(
      result.statuses.every((s) => s.status === "failed" && s.error!.message.length <= 300),
    );
  });

  await t.step(
    "random JSON anywhere in the envelope never throws nor yields an invalid message",
    () => {
      const json = fc.jsonValue({ maxDepth: 3 });
      const message = fc.record({
        id: fc.oneof(fc.string(), json),
        from: fc.oneof(fc.constant("27820000001"), fc.string({ unit: "grapheme" }), json),
        type: fc.oneof(fc.constantFrom("text", "image", "interactive", "reaction", "system"), json),
        text: fc.oneof(fc.record({ body: fc.oneof(fc.string({ unit: "binary" }), json) }), json),
        image: json,
        interactive: fc.oneof(fc.record({ button_reply: fc.record({ title: json }) }), json),
        reaction: json,
        timestamp: json,
        errors: json,
      }, { requiredKeys: [] });
      const value = fc.record({
        metadata: fc.oneof(fc.constant({ phone_number_id: PHONE_NUMBER_ID }), json),
        contacts: fc.oneof(
          fc.array(fc.record({ profile: fc.record({ name: json }), wa_id: json })),
          json,
        ),
        messages: fc.oneof(fc.array(fc.oneof(message, json)), json),
        statuses: fc.oneof(
          fc.array(
            fc.record({ id: json, status: fc.oneof(fc.constantFrom("read", "failed"), json) }),
          ),
          json,
        ),
      }, { requiredKeys: [] });
      const body = fc.record({
        object: fc.oneof(fc.constant("whatsapp_business_account"), json),
        entry: fc.oneof(
          fc.array(fc.record({
            changes: fc.oneof(fc.array(fc.record({ field: fc.constant("messages"), value })), json),
          })),
          json,
        ),
      });
      fc.assert(
        fc.property(body, (b) => assertValidWebhook(parseMetaWebhook(b, PHONE_NUMBER_ID))),
        {
          numRuns: 300,
        },
      );
    },
  );
});

Deno.test("[domain] providers: Twilio requests and answers (rule 25)", async (t) => {
  const sms = (over: Partial<Outgoing> = {}, msg: Partial<Message> = {}) =>
    outgoing({ channel: "sms", to: "+15558675310", ...over }, msg);

  await t.step(
    "a text goes to Messages.json with Basic auth, To, From, Body and StatusCallback",
    async () => {
      const req = await twilioProvider.request(sms(), TWILIO, CONFIG, NOW);
      assert.equal(
        req.url,
        `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
      );
      assert.equal(req.method, "POST");
      assert.equal(req.headers["content-type"], "application/x-www-form-urlencoded");
      const [scheme, token] = req.headers["authorization"].split(" ");
      assert.equal(scheme, "Basic");
      assert.equal(atob(token), `${ACCOUNT_SID}:twilio-auth-token`);
      assert.deepEqual([...new URLSearchParams(req.body)], [
        ["To", "+15558675310"],
        ["From", "+14155550000"],
        ["Body", "Hello, how can we help?"],
        ["StatusCallback", "https://desk.example/webhooks/twilio/status"],
      ]);
    },
  );

  await t.step(
    "the number the customer wrote to wins; else fromNumber; else the messaging service",
    async () => {
      const form = async (out: Outgoing, settings: TwilioSettings) =>
        Object.fromEntries(
          new URLSearchParams((await twilioProvider.request(out, settings, CONFIG, NOW)).body),
        );
      const routed = await form(sms({ routeTo: "+14155552671" }), TWILIO);
      assert.equal(routed.From, "+14155552671");
      assert.equal(routed.MessagingServiceSid, undefined);
      const service = { ...TWILIO, fromNumber: null, messagingServiceSid: "MG" + "b".repeat(32) };
      const viaService = await form(sms(), service);
      assert.equal(viaService.MessagingServiceSid, "MG" + "b".repeat(32));
      assert.equal(viaService.From, undefined);
      assert.equal((await form(sms({ routeTo: "+14155552671" }), service)).From, "+14155552671");
      await assert.rejects(
        twilioProvider.request(sms(), { ...service, messagingServiceSid: null }, CONFIG, NOW),
      );
      await assert.rejects(
        twilioProvider.request(sms(), { ...TWILIO, authToken: null }, CONFIG, NOW),
      );
    },
  );

  await t.step(
    "a template goes as its filled text; no StatusCallback without a public URL",
    async () => {
      const out = sms({}, {
        text: "Hi Ann, order 42 shipped ✓",
        template: "order_shipped",
        params: ["Ann", "42"],
      });
      const req = await twilioProvider.request(out, TWILIO, { ...CONFIG, publicUrl: null }, NOW);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
        To: "+15558675310",
        From: "+14155550000",
        Body: "Hi Ann, order 42 shipped ✓",
      });
    },
  );

  await t.step("201 with a sid is accepted with that sid", () => {
    assert.deepEqual(
      twilioProvider.classify(201, headers(), fixture("twilio_send_success.json"), NOW),
      {
        kind: "accepted",
        providerId: "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
      },
    );
  });

  await t.step("a 400 with Twilio's code fails at once with that code and message", () => {
    assert.deepEqual(
      twilioProvider.classify(400, headers(), fixture("twilio_error_21211.json"), NOW),
      {
        kind: "permanent",
        code: "21211",
        message: "The 'To' number 5551234567 is not a valid phone number.",
      },
    );
  });

  await t.step("401 and code 20003 pause the channel", () => {
    assert.deepEqual(
      twilioProvider.classify(401, headers(), fixture("twilio_error_20003.json"), NOW),
      {
        kind: "auth",
        code: "20003",
        message: "Authenticate",
      },
    );
    const forbidden = JSON.stringify({ code: 20003, message: "Authenticate", status: 403 });
    assert.equal(twilioProvider.classify(403, headers(), forbidden, NOW).kind, "auth");
    assert.equal(twilioProvider.classify(401, headers(), "", NOW).kind, "auth");
  });

  await t.step("429 (20429) honours Retry-After; 408 and 5xx are retried", () => {
    assert.deepEqual(
      twilioProvider.classify(
        429,
        headers({ "Retry-After": "7" }),
        fixture("twilio_error_20429.json"),
        NOW,
      ),
      retry("20429", "Too Many Requests", 7000),
    );
    const date = new Date(NOW + 120_000).toUTCString();
    assert.deepEqual(
      twilioProvider.classify(503, headers({ "retry-after": date }), "", NOW),
      retry("http_503", "HTTP 503", 120_000),
    );
    for (const status of [500, 503, 408]) {
      assert.equal(twilioProvider.classify(status, headers(), "oops", NOW).kind, "retry");
    }
  });

  await t.step("a non-JSON error body gives http_<status> and a short message", () => {
    assert.deepEqual(twilioProvider.classify(404, headers(), "Not Found", NOW), {
      kind: "permanent",
      code: "http_404",
      message: "Not Found",
    });
    assert.deepEqual(twilioProvider.classify(400, headers(), "   ", NOW), {
      kind: "permanent",
      code: "http_400",
      message: "HTTP 400",
    });
  });
});

Deno.test("[domain] providers: Twilio signature (rule 28)", async (t) => {
  const url = "https://desk.example/webhooks/twilio";
  const params = formFixture("twilio_inbound.txt");

  await t.step(
    "matches the official twilio library for random fields with unicode and empty values",
    async () => {
      const name = fc.oneof(
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 12 }),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }),
      );
      const value = fc.oneof(
        fc.constant(""),
        fc.string({ unit: "grapheme", maxLength: 20 }),
        fc.string(),
      );
      const fields = fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 12 });
      const query = fc.constantFrom("", "?a=1&b=%C3%A9", "?x=hello%20world");
      await fc.assert(
        fc.asyncProperty(fields, query, fc.string({ minLength: 1 }), async (pairs, q, token) => {
          const target = url + q;
          const object = Object.fromEntries(pairs);
          const ours = await twilioSignature(token, target, pairs);
          assert.equal(ours, twilio.getExpectedTwilioSignature(token, target, object));
          assert.equal(twilio.validateRequest(token, ours, target, object), true);
        }),
        { numRuns: 200 },
      );
      const fixed = await twilioSignature("twilio-auth-token", url, params);
      assert.equal(
        fixed,
        twilio.getExpectedTwilioSignature("twilio-auth-token", url, Object.fromEntries(params)),
      );
    },
  );

  await t.step(
    "repeated names are kept and sorted by value (twilio-node drops repeated identical values)",
    async () => {
      const distinct: [string, string][] = [["MediaUrl", "b"], ["Body", "hi"], ["MediaUrl", "a"]];
      // With different values both agree: name, then value order.
      assert.equal(
        await twilioSignature("tok", url, distinct),
        twilio.getExpectedTwilioSignature("tok", url, { Body: "hi", MediaUrl: ["b", "a"] }),
      );
      // twilio-node puts an array's values through a Set, so `A=x&A=x` signs as one `Ax`.
      // The SPEC keeps every repeated field: we sign `Ax` twice, as the oracle below.
      const repeated: [string, string][] = [["A", "x"], ["A", "x"]];
      const expected = createHmac("sha1", "tok").update(url + "AxAx").digest("base64");
      assert.equal(await twilioSignature("tok", url, repeated), expected);
      assert.equal(
        twilio.getExpectedTwilioSignature("tok", url, { A: ["x", "x"] }),
        await twilioSignature("tok", url, [["A", "x"]]),
      );
      assert.notEqual(expected, twilio.getExpectedTwilioSignature("tok", url, { A: ["x", "x"] }));
    },
  );

  await t.step("the order fields arrive in does not matter", async () => {
    const shuffled = [...params].reverse();
    assert.equal(
      await twilioSignature("t", url, shuffled),
      await twilioSignature("t", url, params),
    );
  });

  await t.step(
    "verification takes any current or retired token and refuses any change",
    async () => {
      const header = twilio.getExpectedTwilioSignature(
        "old-token",
        url,
        Object.fromEntries(params),
      );
      assert.equal(
        await verifyTwilioSignature(url, params, header, ["new-token", "old-token"]),
        true,
      );
      assert.equal(await verifyTwilioSignature(url, params, header, ["new-token"]), false);
      assert.equal(await verifyTwilioSignature(url, params, header, []), false);
      assert.equal(await verifyTwilioSignature(url, params, null, ["old-token"]), false);
      assert.equal(await verifyTwilioSignature(url, params, "", ["old-token"]), false);
      assert.equal(await verifyTwilioSignature(url, params, header + "=", ["old-token"]), false);
      const tampered = params.map(([n, v]): [string, string] => [n, n === "Body" ? v + "!" : v]);
      assert.equal(await verifyTwilioSignature(url, tampered, header, ["old-token"]), false);
      assert.equal(
        await verifyTwilioSignature(url, [...params, ["Extra", ""]], header, ["old-token"]),
        false,
      );
      assert.equal(await verifyTwilioSignature(url + "/", params, header, ["old-token"]), false);
      // Another port is another URL (rule 43 adds only the default or the configured one).
      const otherPort = twilio.getExpectedTwilioSignature(
        "old-token",
        "https://desk.example:8443/webhooks/twilio",
        Object.fromEntries(params),
      );
      assert.equal(await verifyTwilioSignature(url, params, otherPort, ["old-token"]), false);
    },
  );

  await t.step(
    "rule 43: signed with or without the port, as twilio-node's validateRequest accepts",
    async () => {
      const form = Object.fromEntries(params);
      const token = "port-token";
      const path = "/webhooks/twilio?desk=main&x=a%20b";
      for (
        const [publicUrl, defaultPort] of [
          ["http://127.0.0.1:8000", "80"],
          ["https://desk.example", "443"],
          ["https://desk.example:8443/support", "443"],
          ["http://localhost:80", "80"],
          ["https://[2001:db8::1]:9443", "443"],
        ]
      ) {
        const configured = publicUrl + path;
        const parsed = new URL(configured);
        const host = parsed.hostname;
        const tail = parsed.pathname + parsed.search;
        // The two ways Twilio signs: the URL without any port, and with one (explicit or default).
        const withoutPort = `${parsed.protocol}//${host}${tail}`;
        const withPort = `${parsed.protocol}//${host}:${parsed.port || defaultPort}${tail}`;
        for (const signedAs of [configured, withoutPort, withPort]) {
          const header = twilio.getExpectedTwilioSignature(token, signedAs, form);
          // The oracle takes it for the configured URL, and so do we.
          assert.equal(twilio.validateRequest(token, header, configured, form), true, signedAs);
          assert.equal(
            await verifyTwilioSignature(configured, params, header, [token]),
            true,
            `${publicUrl}: signed as ${signedAs}`,
          );
        }
        for (
          const other of [`${parsed.protocol}//${host}:1234${tail}`, `https://evil.example${tail}`]
        ) {
          const header = twilio.getExpectedTwilioSignature(token, other, form);
          assert.equal(twilio.validateRequest(token, header, configured, form), false, other);
          assert.equal(await verifyTwilioSignature(configured, params, header, [token]), false);
        }
      }
      assert.deepEqual(twilioSignedUrls("https://desk.example/webhooks/twilio"), [
        "https://desk.example/webhooks/twilio",
        "https://desk.example:443/webhooks/twilio",
      ]);
      assert.deepEqual(twilioSignedUrls("http://user@127.0.0.1:8000/webhooks/twilio?a=1"), [
        "http://user@127.0.0.1:8000/webhooks/twilio?a=1",
        "http://user@127.0.0.1/webhooks/twilio?a=1",
      ]);
    },
  );
});

Deno.test("[domain] providers: Twilio webhooks in our words (SPEC wire formats)", async (t) => {
  await t.step(
    "an inbound SMS: customer sms/From, its text, MessageSid, the number it was sent to",
    () => {
      const result = parseTwilioInbound(formFixture("twilio_inbound.txt"));
      assertValidWebhook(result);
      assert.deepEqual(result, {
        messages: [{
          channel: "sms",
          from: "+14017122661",
          text: "Hi, is my order on its way? 📦",
          providerId: "SM1f0e8ae6ade43cb3c0ce4525424e404f",
          to: "+14155552671",
        }],
        statuses: [],
        unroutable: 0,
        ignored: 0,
      });
    },
  );

  await t.step("a media-only message becomes [image] (rule 49: the first file's kind)", () => {
    const [m] = parseTwilioInbound(formFixture("twilio_media_only.txt")).messages;
    assert.equal(m.text, "[image]");
    assert.equal(m.from, "+447700900123");
    assert.equal(m.providerId, "MM8dc0a3b1e2f4c5d6e7f8091a2b3c4d5e");
  });

  await t.step(
    "a sender that is not +digits (short code, alphanumeric, whatsapp:) is ignored",
    () => {
      const base = formFixture("twilio_inbound.txt").filter(([n]) => n !== "From");
      for (const from of ["12345", "ACME", "whatsapp:+14017122661", "+1 401 712", "", "+"]) {
        assert.deepEqual(parseTwilioInbound([...base, ["From", from]]), {
          messages: [],
          statuses: [],
          unroutable: 0,
          ignored: 1,
        });
      }
    },
  );

  await t.step("a status callback: undelivered with ErrorCode 30003 fails with that code", () => {
    const result = parseTwilioStatus(formFixture("twilio_status_undelivered.txt"));
    assertValidWebhook(result);
    assert.deepEqual(result.statuses, [{
      providerId: "SM5f7b1c2e8a1d4e0012c3b4a5d6e7f809",
      status: "failed",
      error: { code: "30003", message: "undelivered" },
    }]);
  });

  await t.step("every Twilio status maps as the SPEC says; others are ignored", () => {
    const sid = "SM" + "c".repeat(32);
    const mapping: Record<string, string | null> = {
      queued: "sent",
      accepted: "sent",
      scheduled: "sent",
      sending: "sent",
      sent: "sent",
      delivered: "delivered",
      read: "read",
      undelivered: "failed",
      failed: "failed",
      canceled: "failed",
      receiving: null,
      received: null,
      partially_delivered: null,
      constructor: null,
      "": null,
    };
    for (const [status, expected] of Object.entries(mapping)) {
      const result = parseTwilioStatus([["MessageSid", sid], ["MessageStatus", status]]);
      assertValidWebhook(result);
      assert.equal(result.statuses[0]?.status ?? null, expected, status);
      assert.equal(result.ignored, expected ? 0 : 1);
    }
    const canceled = parseTwilioStatus([["MessageSid", sid], ["MessageStatus", "canceled"]]);
    assert.deepEqual(canceled.statuses[0].error, { code: "canceled", message: "canceled" });
  });

  await t.step("hostile forms never throw nor yield an invalid message", () => {
    assert.deepEqual(parseTwilioInbound([]).ignored, 1);
    assert.deepEqual(parseTwilioStatus([]).ignored, 1);
    const huge = parseTwilioInbound([
      ["MessageSid", "SM" + "d".repeat(32)],
      ["From", "+14017122661"],
      ["Body", "x".repeat(100_000)],
    ]);
    assert.equal(huge.messages[0].text.length, 4096);
    const noText = parseTwilioInbound([["MessageSid", "SM" + "d".repeat(32)], [
      "From",
      "+14017122661",
    ]]);
    assert.equal(noText.ignored, 1);
    const field = fc.constantFrom(
      "MessageSid",
      "SmsSid",
      "From",
      "To",
      "Body",
      "NumMedia",
      "ProfileName",
      "MessageStatus",
      "ErrorCode",
    );
    const pairs = fc.array(
      fc.tuple(
        fc.oneof(field, fc.string()),
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.constantFrom("+14017122661", "SM" + "e".repeat(32), "failed", "3"),
        ),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(pairs, (p) => {
        assertValidWebhook(parseTwilioInbound(p));
        assertValidWebhook(parseTwilioStatus(p));
      }),
      { numRuns: 300 },
    );
  });
});

Deno.test("[domain] providers: API channel webhook (rule 24)", async (t) => {
  const api = (over: Partial<Outgoing> = {}, msg: Partial<Message> = {}) =>
    outgoing({ channel: "webchat", to: "visitor_123", ...over }, msg);

  await t.step(
    'a text is POSTed as JSON, timestamped and signed over "<timestamp>.<raw body>"',
    async () => {
      const req = await apiChannelProvider.request(api(), API, CONFIG, NOW + 999);
      assert.equal(req.url, "https://gateway.example/chatdesk");
      assert.equal(req.method, "POST");
      assert.equal(req.headers["content-type"], "application/json");
      const timestamp = String(Math.floor((NOW + 999) / 1000));
      assert.equal(req.headers["X-Chatdesk-Timestamp"], timestamp);
      assert.equal(
        req.headers["X-Chatdesk-Signature"],
        `sha256=${hex("api-secret", `${timestamp}.${req.body}`)}`,
      );
      assert.deepEqual(JSON.parse(req.body), {
        id: "msg_01",
        customerId: "cust_01",
        channel: "webchat",
        to: "visitor_123",
        text: "Hello, how can we help?",
        at: new Date(NOW - 1000).toISOString(),
      });
    },
  );

  await t.step(
    "a template carries its name and parameters, and the ticket id when there is one",
    async () => {
      const out = api({ ticketId: "tkt_9" }, {
        text: "Hi Ann",
        template: "greet",
        params: ["Ann"],
      });
      const req = await apiChannelProvider.request(out, API, CONFIG, NOW);
      assert.deepEqual(Object.keys(JSON.parse(req.body)), [
        "id",
        "customerId",
        "channel",
        "to",
        "text",
        "template",
        "params",
        "ticketId",
        "at",
      ]);
      const body = JSON.parse(req.body);
      assert.deepEqual([body.template, body.params, body.ticketId], ["greet", ["Ann"], "tkt_9"]);
      await assert.rejects(apiChannelProvider.request(out, { ...API, secret: null }, CONFIG, NOW));
      await assert.rejects(
        apiChannelProvider.request(out, { ...API, webhookUrl: null }, CONFIG, NOW),
      );
    },
  );

  await t.step("the signature matches node:crypto for unicode bodies and secrets", async () => {
    for (
      const [secret, ts, body] of [["s", 0, ""], [
        "sécret ✓",
        1773050400,
        '{"text":"héllo 👍"}',
      ]] as const
    ) {
      assert.equal(
        await apiChannelSignature(secret, ts, body),
        `sha256=${hex(secret, `${ts}.${body}`)}`,
      );
    }
  });

  await t.step("any 2xx is accepted, with the answer's providerId when it is a string", () => {
    const c = (status: number, body: string) =>
      apiChannelProvider.classify(status, headers(), body, NOW);
    assert.deepEqual(c(200, '{"providerId":"gw-1"}'), { kind: "accepted", providerId: "gw-1" });
    assert.deepEqual(c(202, '{"providerId":12}'), { kind: "accepted", providerId: null });
    assert.deepEqual(c(204, ""), { kind: "accepted", providerId: null });
    assert.deepEqual(c(200, "OK"), { kind: "accepted", providerId: null });
  });

  await t.step(
    "401 pauses; 408, 429 and 5xx are retried with Retry-After; other 4xx fail at once",
    () => {
      const c = (status: number, body = "", h: Record<string, string> = {}) =>
        apiChannelProvider.classify(status, headers(h), body, NOW);
      assert.deepEqual(c(401, "bad signature"), {
        kind: "auth",
        code: "http_401",
        message: "bad signature",
      });
      assert.deepEqual(c(429, "", { "Retry-After": "7" }), retry("http_429", "HTTP 429", 7000));
      for (const status of [408, 500, 503]) {
        assert.deepEqual(
          c(status),
          retry(`http_${status}`, `HTTP ${status}`),
        );
      }
      const long = "e".repeat(1000);
      assert.deepEqual(c(422, long), {
        kind: "permanent",
        code: "http_422",
        message: "e".repeat(200),
      });
      assert.deepEqual(c(404), { kind: "permanent", code: "http_404", message: "HTTP 404" });
    },
  );
});

Deno.test("[domain] providers: each module names its route", () => {
  assert.deepEqual(
    [metaProvider.route, twilioProvider.route, apiChannelProvider.route],
    ["meta", "twilio", "api"],
  );
});
