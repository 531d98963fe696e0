/**
 * Twilio Programmable Messaging (SMS): the send request, how its answer is classed (rule 25), its
 * webhook signature (rule 28), and its inbound and status webhooks in our words.
 */
import { CHANNEL_FACTS, MAX_MESSAGE_LENGTH } from "../channels.ts";
import type { TwilioSettings } from "../channel_settings.ts";
import type { Message, OptOutKind } from "../types.ts";
import { cleanMime, kindOfMime } from "../attachments.ts";
import { secureUrl } from "../config.ts";
import { captionOf } from "../agent_media.ts";
import {
  classifyHttpStatus,
  cutText,
  errorCode,
  failedOutcome,
  hmac,
  type InboundMedia,
  jsonObject,
  type Provider,
  type ProviderStatus,
  type ProviderWebhook,
  timingSafeEqual,
  toBase64,
} from "./provider.ts";

/** Twilio's "Authenticate" error: bad account SID or auth token, like a 401. */
const TWILIO_AUTH_CODE = 20003;
/** Twilio's "Too Many Requests". */
const TWILIO_RATE_CODE = 20429;
/** Inbound text is kept whole up to what the desk stores (the 1,600 limit is for sending). */
const MAX_TEXT = MAX_MESSAGE_LENGTH;
const MAX_ERROR = 300;

const encoder = new TextEncoder();

export const twilioProvider: Provider<TwilioSettings> = {
  route: "twilio",
  // Rule 51: MMS files are fetched by Twilio from the `MediaUrl` it is given.
  fetchesLinks: true,
  request(out, settings, config) {
    const { accountSid, authToken } = settings;
    // The number the customer last wrote to answers them; else the configured sender.
    const sender: [string, string] | null = out.routeTo
      ? ["From", out.routeTo]
      : settings.fromNumber
      ? ["From", settings.fromNumber]
      : settings.messagingServiceSid
      ? ["MessagingServiceSid", settings.messagingServiceSid]
      : null;
    if (!accountSid || !authToken || !sender) {
      return Promise.reject(new Error("The Twilio channel has no account, token or sender."));
    }
    const form = new URLSearchParams([["To", out.to], sender]);
    if (out.mediaUrl && hasMms(out.to)) {
      // Rule 51: MMS. `MediaUrl` is repeatable (twilio-node 5.13.1 sends `mediaUrl: string[]` as
      // repeated `MediaUrl` fields: lib/rest/api/v2010/account/message.js, qs `arrayFormat:
      // "repeat"`); `Body` is the caption, left out when there is none (media alone is allowed).
      const caption = captionOf(out.message);
      if (caption.trim()) form.set("Body", caption);
      form.append("MediaUrl", out.mediaUrl);
    } else if (out.mediaUrl) {
      form.set("Body", withLink(out.message, out.mediaUrl));
    } else {
      // Templates go out as their filled text on SMS.
      form.set("Body", out.message.text);
    }
    if (config.publicUrl) {
      form.set("StatusCallback", `${config.publicUrl.replace(/\/+$/, "")}/webhooks/twilio/status`);
    }
    return Promise.resolve({
      url: `${config.twilioApiBase.replace(/\/+$/, "")}/2010-04-01/Accounts/${
        encodeURIComponent(accountSid)
      }/Messages.json`,
      method: "POST",
      headers: {
        "authorization": `Basic ${toBase64(encoder.encode(`${accountSid}:${authToken}`))}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: form.toString(),
    });
  },
  classify(status, headers, body, now) {
    const json = jsonObject(body);
    const kind = classifyHttpStatus(status);
    if (kind === "ok") {
      const sid = json?.sid;
      return { kind: "accepted", providerId: typeof sid === "string" && sid ? sid : null };
    }
    const code = errorCode(json?.code, status);
    const given = typeof json?.message === "string" && json.message ? json.message : null;
    const message = given
      ? cutText(given, MAX_ERROR)
      : cutText(body.trim() || `HTTP ${status}`, 200);
    if (kind === "auth" || code === String(TWILIO_AUTH_CODE)) {
      return failedOutcome("auth", code, message, headers, now);
    }
    if (kind === "retry" || code === String(TWILIO_RATE_CODE)) {
      return failedOutcome("retry", code, message, headers, now);
    }
    return failedOutcome("permanent", code, message, headers, now);
  },
};

/**
 * Rule 51: whether a number gets MMS: US and Canadian numbers (`+1`, the countries Twilio's MMS
 * serves; elsewhere the picture would not arrive as one), so every other number gets a link.
 */
export const hasMms = (to: string): boolean => /^\+1\d{10}$/.test(to.trim());

/**
 * Rule 51, SMS without MMS: the caption (or the `[document] name` placeholder) and the desk's
 * signed link on its own line, within Twilio's 1,600 characters (the text is cut, never the link).
 */
export function withLink(message: Pick<Message, "text" | "noCaption">, link: string): string {
  const text = captionOf(message).trim() ? captionOf(message) : message.text;
  return `${cutText(text, Math.max(0, CHANNEL_FACTS.sms.maxLength - link.length - 1))}\n${link}`;
}

/** Code-unit order, as JavaScript's default sort and twilio-node use. */
const compare = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;

/**
 * `X-Twilio-Signature`: base64 HMAC-SHA1 with the auth token over the URL followed by every POST
 * field's name and value, sorted by name then value. Rule 28 keeps repeated names, and repeated
 * identical values too (twilio-node's helper drops those; see tests/providers_test.ts).
 */
export async function twilioSignature(
  authToken: string,
  url: string,
  params: [string, string][],
): Promise<string> {
  const sorted = [...params].sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]));
  const data = sorted.reduce((acc, [name, value]) => acc + name + value, url);
  return toBase64(await hmac("SHA-1", authToken, data));
}

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

/**
 * Rule 43: the URLs Twilio may have signed for one webhook URL: as given, without its port, and
 * with its port (the explicit one, else the scheme's default). Twilio signs some requests without
 * the port and others with it, so its own validators try both (twilio-node's `validateRequest`:
 * `removePort` and `addPort`). Only the authority changes; path and query stay as Twilio called
 * them.
 */
export function twilioSignedUrls(url: string): string[] {
  const match = /^(https?:)\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!match) return [url];
  const [, scheme, authority, rest] = match;
  const at = authority.lastIndexOf("@");
  const user = authority.slice(0, at + 1);
  // A bracketed IPv6 host keeps its colons; the port is what follows the host's last colon.
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority.slice(at + 1));
  if (!hostPort) return [url];
  const [, host, port] = hostPort;
  const base = `${scheme}//${user}${host}`;
  const withPort = `${base}:${port || DEFAULT_PORTS[scheme.toLowerCase()]}${rest}`;
  return [...new Set([url, base + rest, withPort])];
}

/**
 * Rule 28: the signature over `url` (`CHATDESK_PUBLIC_URL` + the path and query Twilio called)
 * and the decoded form, checked against the current and recently replaced auth tokens, each in
 * constant time; rule 43: with and without the URL's port (`twilioSignedUrls`).
 */
export async function verifyTwilioSignature(
  url: string,
  params: [string, string][],
  header: string | null,
  authTokens: string[],
): Promise<boolean> {
  const given = header?.trim();
  if (!given) return false;
  const givenBytes = encoder.encode(given);
  let ok = false;
  for (const token of authTokens) {
    if (!token) continue;
    for (const signed of twilioSignedUrls(url)) {
      const expected = encoder.encode(await twilioSignature(token, signed, params));
      if (timingSafeEqual(expected, givenBytes)) ok = true;
    }
  }
  return ok;
}

/** The first value of each field: Twilio sends each of these once. */
function fields(params: [string, string][]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of params) if (!map.has(name)) map.set(name, value);
  return map;
}

/**
 * Rule 44: Twilio's default keywords, matched against the whole body (trimmed, any case): it
 * answers them itself, blocks a number that sent an opt-out word (error 21610 on every later
 * message) until it sends an opt-in word, and forwards them to the webhook. Sources: "Twilio
 * support for opt-out keywords (SMS STOP filtering)", help.twilio.com/hc/en-us/articles/223134027,
 * and "Customize users' opt-in and opt-out experience with Advanced Opt-Out",
 * twilio.com/docs/messaging/tutorials/advanced-opt-out.
 */
const KEYWORDS: Record<string, OptOutKind> = {
  STOP: "stop",
  STOPALL: "stop",
  UNSUBSCRIBE: "stop",
  CANCEL: "stop",
  END: "stop",
  QUIT: "stop",
  OPTOUT: "stop",
  REVOKE: "stop",
  START: "start",
  UNSTOP: "start",
  YES: "start",
  HELP: "help",
  INFO: "help",
};

/**
 * Rule 44: what an inbound SMS says about opting out. With Advanced Opt-Out, Twilio sends
 * `OptOutType` (`STOP`, `START` or `HELP`) for its own and custom keywords ("How to Track
 * Opt-Out, Opt-In and Help Messages Using the OptOutType Parameter", help.twilio.com/hc/en-us/
 * articles/31560110671259): it decides. Without the field, a body that is one of the default keywords.
 */
export function twilioOptOut(optOutType: string | undefined, body: string): OptOutKind | null {
  const given = optOutType?.trim().toUpperCase();
  if (given) {
    return given === "STOP"
      ? "stop"
      : given === "START"
      ? "start"
      : given === "HELP"
      ? "help"
      : null;
  }
  const word = body.trim().toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word] : null;
}

const SID = /^[A-Za-z]{2}[0-9A-Za-z]{1,62}$/;
const empty = (): ProviderWebhook => ({ messages: [], statuses: [], unroutable: 0, ignored: 0 });

/**
 * `POST /webhooks/twilio`: one SMS. A sender that is not `+digits` (short code, alphanumeric
 * sender, another channel such as `whatsapp:`) is ignored, and so is a message with neither text
 * nor media. Rule 49: each `MediaUrl{i}` (with `MediaContentType{i}`, i < `NumMedia`, at most 10)
 * is a file to fetch; media without text is `[image]` (the first file's kind). Twilio's
 * "Messaging webhook request" parameters: twilio.com/docs/messaging/guides/webhook-request.
 */
export function parseTwilioInbound(params: [string, string][]): ProviderWebhook {
  const f = fields(params);
  const out = empty();
  const sid = f.get("MessageSid") || f.get("SmsSid");
  const from = f.get("From")?.trim() ?? "";
  if (!sid || !SID.test(sid) || !/^\+\d+$/.test(from) || !CHANNEL_FACTS.sms.address.test(from)) {
    out.ignored++;
    return out;
  }
  const body = f.get("Body") ?? "";
  const media = twilioMedia(f);
  const text = body.trim() ? body : media.length ? `[${media[0].kind}]` : "";
  if (!text) {
    out.ignored++;
    return out;
  }
  const to = f.get("To")?.trim() || null;
  const profileName = f.get("ProfileName")?.trim();
  const optOut = twilioOptOut(f.get("OptOutType"), body);
  out.messages.push({
    channel: "sms",
    from,
    text: cutText(text, MAX_TEXT),
    providerId: sid,
    to: to ? cutText(to, 64) : null,
    ...(profileName ? { profileName: cutText(profileName, 256) } : {}),
    ...(optOut ? { optOut } : {}),
    ...(media.length ? { media } : {}),
  });
  return out;
}

/** Rule 49: the files of an MMS, each an `https://` URL Twilio serves behind Basic auth. */
function twilioMedia(f: Map<string, string>): InboundMedia[] {
  const count = Number(f.get("NumMedia") ?? "0");
  if (!Number.isInteger(count) || count <= 0) return [];
  const media: InboundMedia[] = [];
  for (let i = 0; i < Math.min(count, 10); i++) {
    const url = f.get(`MediaUrl${i}`)?.trim();
    // The account's credentials go with the fetch: only over TLS (or to this machine, in tests).
    if (!url || url.length > 2048 || /\s/.test(url) || !secureUrl(url)) continue;
    const mime = cleanMime(f.get(`MediaContentType${i}`));
    media.push({ kind: kindOfMime(mime), mime, source: { route: "twilio", url } });
  }
  return media;
}

const STATUS_MAP: Record<string, ProviderStatus["status"]> = {
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
};

/**
 * `POST /webhooks/twilio/status`: `MessageStatus` in our words; a failure's reason is its
 * `ErrorCode` (else the status) and `ErrorMessage` when Twilio sends one (else the status).
 * Other statuses (`receiving`, `received`, `partially_delivered`…) are ignored.
 */
export function parseTwilioStatus(params: [string, string][]): ProviderWebhook {
  const f = fields(params);
  const out = empty();
  const sid = f.get("MessageSid") || f.get("SmsSid");
  const raw = (f.get("MessageStatus") || f.get("SmsStatus") || "").trim();
  const status = Object.hasOwn(STATUS_MAP, raw) ? STATUS_MAP[raw] : undefined;
  if (!sid || !SID.test(sid) || !status) {
    out.ignored++;
    return out;
  }
  if (status !== "failed") {
    out.statuses.push({ providerId: sid, status });
    return out;
  }
  const code = f.get("ErrorCode")?.trim() || raw;
  const message = f.get("ErrorMessage")?.trim() || raw;
  out.statuses.push({
    providerId: sid,
    status,
    error: { code: cutText(code, 64), message: cutText(message, MAX_ERROR) },
  });
  return out;
}
