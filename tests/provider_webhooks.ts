/**
 * Provider webhooks as the providers send them, for tests: desks with the WhatsApp or Twilio
 * channel set up, Meta bodies signed with node:crypto over the exact bytes, Twilio forms signed
 * with the official `twilio` package (the oracle), and the fixtures of tests/fixtures/
 * (SOURCES.md names where each was written from).
 */
import { createHmac } from "node:crypto";
import twilio from "twilio";
import { updateChannel } from "../domain/channel_settings.ts";
import { type TestDesk, testDesk, type TestDeskOptions } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures (tests/fixtures/SOURCES.md names where each was written from) and constants.

export const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));

export const PUBLIC_URL = "http://127.0.0.1:8000";
export const PHONE_NUMBER_ID = "106540352242922";
export const APP_SECRET = "meta-app-secret-1";
export const VERIFY_TOKEN = "verify-token-1";
export const ACCOUNT_SID = "AC" + "a".repeat(32);
export const AUTH_TOKEN = "twilio-auth-token-1";
/** The customer of the Meta fixtures (meta_text.json, meta_reaction.json, …). */
export const SHEENA = "+16505551234";

// ---------------------------------------------------------------------------------------------
// Desks with channels set up.

export async function whatsappDesk(opts: TestDeskOptions = {}, over: Record<string, unknown> = {}) {
  const t = await testDesk(opts);
  await updateChannel(t.kv, "whatsapp", {
    phoneNumberId: PHONE_NUMBER_ID,
    accessToken: "EAAG-test-token",
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
    enabled: true,
    ...over,
  }, { clock: t.clock, publicUrl: PUBLIC_URL });
  return t;
}

export async function twilioDesk(opts: TestDeskOptions = {}) {
  const t = await testDesk(opts);
  await updateChannel(t.kv, "twilio", {
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    fromNumber: "+14155550000",
    enabled: true,
  }, { clock: t.clock, publicUrl: PUBLIC_URL });
  return t;
}

// ---------------------------------------------------------------------------------------------
// Meta requests.

export const metaSignature = (secret: string, raw: string | Uint8Array) =>
  "sha256=" + createHmac("sha256", secret).update(raw).digest("hex");

/** POSTs `raw` to the Meta webhook, signed with the app secret unless told otherwise. */
export function postMeta(
  t: TestDesk,
  raw: string | Uint8Array<ArrayBuffer>,
  signature: string | null = metaSignature(APP_SECRET, raw),
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  return Promise.resolve(
    t.app.request("/webhooks/whatsapp", { method: "POST", headers, body: raw }),
  );
}

/** A Meta webhook body with one change carrying `messages` and/or `statuses`. */
export function metaBody(
  value: { messages?: unknown[]; statuses?: unknown[]; contacts?: unknown[] },
  phoneNumberId = PHONE_NUMBER_ID,
): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550783881", phone_number_id: phoneNumberId },
          ...value,
        },
      }],
    }],
  });
}

let wamids = 0;
/** One incoming text message (or another type, given its part) from `from` (digits, no +). */
export function metaMessage(from: string, text: string, over: Record<string, unknown> = {}) {
  return {
    from,
    id: `wamid.test.${++wamids}`,
    timestamp: "1749416383",
    type: "text",
    text: { body: text },
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Twilio requests.

/** Signs like Twilio does, with the official library (the oracle). */
export const twilioSign = (token: string, url: string, params: [string, string][]) =>
  twilio.getExpectedTwilioSignature(token, url, Object.fromEntries(params));

export interface TwilioPost {
  /** The URL to sign (default: the public URL + the path). */
  signedUrl?: string;
  token?: string;
  /** Overrides the signature header (null: none). */
  signature?: string | null;
  headers?: Record<string, string>;
}

export function postTwilio(
  t: TestDesk,
  path: string,
  params: [string, string][],
  o: TwilioPost = {},
): Promise<Response> {
  const signature = o.signature !== undefined
    ? o.signature
    : twilioSign(o.token ?? AUTH_TOKEN, o.signedUrl ?? PUBLIC_URL + path, params);
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    ...o.headers,
  };
  if (signature !== null) headers["x-twilio-signature"] = signature;
  return Promise.resolve(
    t.app.request(path, {
      method: "POST",
      headers,
      body: new URLSearchParams(params).toString(),
    }),
  );
}

export const formFixture = (name: string): [string, string][] => [
  ...new URLSearchParams(fixture(name).trim()),
];
