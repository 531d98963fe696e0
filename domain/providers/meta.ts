/**
 * WhatsApp Cloud API (Meta): the send request, how its answer is classed (rule 25), the webhook
 * handshake and signature (rule 28), and its webhooks in our words (SPEC "Wire formats").
 */
import { CHANNEL_FACTS } from "../channels.ts";
import type { WhatsAppSettings } from "../channel_settings.ts";
import {
  classifyHttpStatus,
  cutText,
  errorCode,
  failedOutcome,
  hmac,
  type InboundMedia,
  jsonObject,
  multipartBody,
  type Provider,
  type ProviderInbound,
  type ProviderStatus,
  type ProviderWebhook,
  timingSafeEqual,
} from "./provider.ts";
import type { Attachment, AttachmentKind, Message, MessageChange, Place } from "../types.ts";
import { baseMime, cleanFilename, cleanMime } from "../attachments.ts";
import { captionOf } from "../agent_media.ts";
import { oneLineName } from "../validate.ts";

/**
 * Meta's throttling and temporary error codes: they arrive as HTTP 400 but a later try may pass
 * (WhatsApp error codes, developers.facebook.com/documentation/business-messaging/whatsapp/
 * support/error-codes): 1 API Unknown, 2 API Service, 4 API Too Many Calls, 17 API User Too Many
 * Calls, 341 Application limit reached, 368 Temporarily blocked for policies violations (rule
 * 47; it arrives as HTTP 403), 80007 Rate limit issues, 130429 Rate limit hit, 131000 Something
 * went wrong, 131016 Service unavailable, 131048 Spam rate limit hit, 131056 Pair rate limit hit,
 * 131057 Account in maintenance mode, 133004 Server temporarily unavailable.
 */
export const META_TEMPORARY_CODES: ReadonlySet<number> = new Set([
  1,
  2,
  4,
  17,
  341,
  368,
  80007,
  130429,
  131000,
  131016,
  131048,
  131056,
  131057,
  133004,
]);

/**
 * Rule 47: Meta's 102 API Session (the session or token expired or was revoked) and 190 Access
 * token expired or invalid (Graph API error handling, developers.facebook.com/docs/graph-api/
 * guides/error-handling): they pause the channel like a 401, whatever the HTTP status.
 */
export const META_AUTH_CODES: ReadonlySet<number> = new Set([102, 190]);
const MAX_TEXT = CHANNEL_FACTS.whatsapp.maxLength;
const MAX_ERROR = 300;
const MAX_ID = 256;

export const metaProvider: Provider<WhatsAppSettings> = {
  route: "meta",
  request(out, settings, config, now) {
    if (!settings.phoneNumberId || !settings.accessToken) {
      return Promise.reject(new Error("The WhatsApp channel has no phone number id or token."));
    }
    const { message } = out;
    const base = {
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: out.to.replace(/^\+/, ""),
    };
    const attachment = message.attachments?.[0];
    if (attachment && !out.mediaId) {
      return Promise.reject(new Error("A file goes to Meta by its media id: upload it first."));
    }
    const body = message.template
      ? {
        ...base,
        type: "template",
        template: {
          name: message.template,
          language: { code: message.language ?? "en" },
          ...(message.params?.length
            ? {
              components: [{
                type: "body",
                parameters: message.params.map((text) => ({ type: "text", text })),
              }],
            }
            : {}),
        },
      }
      : attachment
      ? { ...base, ...mediaMessage(message, attachment, out.mediaId!) }
      : message.location
      ? { ...base, type: "location", location: placeMessage(message.location) }
      : replyButtons(message, now)
      ? { ...base, type: "interactive", interactive: replyButtons(message, now) }
      : { ...base, type: "text", text: { body: message.text } };
    return Promise.resolve({
      url: `${config.whatsappApiBase.replace(/\/+$/, "")}/${
        encodeURIComponent(settings.phoneNumberId)
      }/messages`,
      method: "POST",
      headers: {
        "authorization": `Bearer ${settings.accessToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
  },
  upload({ attachment, body }, settings, config) {
    if (!settings.phoneNumberId || !settings.accessToken) {
      throw new Error("The WhatsApp channel has no phone number id or token.");
    }
    // Meta's "Upload media": `POST /{phone-number-id}/media`, multipart with `messaging_product`,
    // `type` and `file` (developers.facebook.com/docs/whatsapp/cloud-api/reference/media, and
    // SPEC "Media" wire formats), answered `{id}`.
    const form = multipartBody(
      [["messaging_product", "whatsapp"], ["type", baseMime(attachment.mime)]],
      {
        field: "file",
        filename: attachment.filename ?? `${attachment.kind}.${extensionOf(attachment.mime)}`,
        mime: attachment.mime,
        body,
      },
    );
    return {
      url: `${config.whatsappApiBase.replace(/\/+$/, "")}/${
        encodeURIComponent(settings.phoneNumberId)
      }/media`,
      method: "POST",
      headers: {
        "authorization": `Bearer ${settings.accessToken}`,
        "content-type": form.contentType,
      },
      body: form.body,
    };
  },
  uploaded(status, headers, body, now) {
    // Success is `200 {id}`; failures have a send's `{error: {message, code}}` and its classes.
    const outcome = metaProvider.classify(status, headers, body, now);
    if (outcome.kind !== "accepted") return outcome;
    const id = jsonObject(body)?.id;
    return typeof id === "string" && /^[A-Za-z0-9_.:-]{1,128}$/.test(id)
      ? { kind: "uploaded", mediaId: id }
      : {
        kind: "permanent",
        code: "upload_no_id",
        message: "Meta accepted the file but gave no id.",
      };
  },
  classify(status, headers, body, now) {
    const json = jsonObject(body);
    const kind = classifyHttpStatus(status);
    if (kind === "ok") {
      const first = Array.isArray(json?.messages) ? json.messages[0] : undefined;
      const id = isRecord(first) ? first.id : undefined;
      return { kind: "accepted", providerId: typeof id === "string" && id ? id : null };
    }
    const error = isRecord(json?.error) ? json.error : null;
    const code = errorCode(error?.code, status);
    const text = typeof error?.message === "string" && error.message
      ? error.message
      : body.trim()
      ? body.trim()
      : `HTTP ${status}`;
    const message = cutText(text, error ? MAX_ERROR : 200);
    const numeric = /^\d+$/.test(code) ? Number(code) : null;
    if (kind === "auth" || (numeric !== null && META_AUTH_CODES.has(numeric))) {
      return failedOutcome("auth", code, message, headers, now);
    }
    if (kind === "retry" || (numeric !== null && META_TEMPORARY_CODES.has(numeric))) {
      return failedOutcome("retry", code, message, headers, now);
    }
    return failedOutcome("permanent", code, message, headers, now);
  },
};

/**
 * Rule 55: a message that offers answers (the YES/NO prompt) goes as an interactive message with
 * reply buttons, the shape of Meta's "Interactive reply buttons messages" (WhatsApp Business
 * Platform docs, developers.facebook.com/documentation/business-messaging/whatsapp/messages/
 * interactive-reply-buttons-messages): `{type: "button", body: {text}, action: {buttons: [{type:
 * "reply", reply: {id, title}}]}}`, body ≤ 1,024 characters, 1–3 buttons, titles ≤ 20 characters
 * and unique. A tapped button comes back as `interactive.button_reply.title`, which routes as
 * text (rule 2). Only inside the free-text window: the prompt answers the customer's message of
 * the same moment, so its own time starts the window; older, or too long, it goes as text.
 */
function replyButtons(message: { text: string; at: number; quickReplies?: string[] }, now: number) {
  const answers = [...new Set(message.quickReplies ?? [])].filter((a) => a.trim() !== "");
  if (!answers.length || answers.length > 3 || answers.some((a) => a.length > 20)) return null;
  if (message.text.length > 1024 || now - message.at >= WINDOW_MS) return null;
  return {
    type: "button",
    body: { text: message.text },
    action: {
      buttons: answers.map((title) => ({
        type: "reply",
        reply: { id: title.trim().toLowerCase(), title },
      })),
    },
  };
}

/**
 * Rule 51: a file sent by the media id its upload gave, in Meta's media message shapes ("Image
 * messages", "Document messages", … developers.facebook.com/docs/whatsapp/cloud-api/messages):
 * `{type: "image", image: {id, caption?}}`; a document also takes `filename`; audio and stickers
 * take no caption. The caption is only what the agent typed, never the `[image]` placeholder.
 */
function mediaMessage(message: Message, attachment: Attachment, mediaId: string) {
  const kind = attachment.kind;
  const caption = captionOf(message).trim() ? captionOf(message) : "";
  return {
    type: kind,
    [kind]: {
      id: mediaId,
      ...(caption && kind !== "audio" && kind !== "sticker" ? { caption } : {}),
      ...(kind === "document" && attachment.filename ? { filename: attachment.filename } : {}),
    },
  };
}

/** Rule 51: a place, Meta's "Location messages" object (`latitude`, `longitude`, `name?`, `address?`). */
function placeMessage(place: Place) {
  return {
    latitude: place.latitude,
    longitude: place.longitude,
    ...(place.name ? { name: place.name } : {}),
    ...(place.address ? { address: place.address } : {}),
  };
}

/** A file name's extension for an upload without a name (`image/png` → `png`). */
const extensionOf = (mime: string) =>
  (baseMime(mime).split("/")[1] ?? "bin").replace(/[^a-z0-9]+/g, "").slice(0, 8) || "bin";

/** Meta's customer service window: free-form messages (interactive ones too) within 24 hours. */
const WINDOW_MS = 24 * 3600_000;

const encoder = new TextEncoder();

/**
 * `GET /webhooks/whatsapp` handshake: the challenge to echo when the mode is `subscribe` and the
 * verify token matches (constant time), else null (answer 403).
 */
export function metaChallenge(params: URLSearchParams, verifyToken: string | null): string | null {
  const token = params.get("hub.verify_token");
  const challenge = params.get("hub.challenge");
  if (!verifyToken || token === null || challenge === null) return null;
  if (params.get("hub.mode") !== "subscribe") return null;
  return timingSafeEqual(encoder.encode(token), encoder.encode(verifyToken)) ? challenge : null;
}

/**
 * Rule 28: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` with the app secret
 * (or a replaced one still in its 24 h). Every secret is tried, each compared in constant time.
 */
export async function verifyMetaSignature(
  raw: Uint8Array,
  header: string | null,
  secrets: string[],
): Promise<boolean> {
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header?.trim() ?? "");
  if (!match) return false;
  const given = fromHex(match[1]);
  let ok = false;
  for (const secret of secrets) {
    if (!secret) continue;
    if (timingSafeEqual(await hmac("SHA-256", secret, raw), given)) ok = true;
  }
  return ok;
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

type Rec = Record<string, unknown>;
const isRecord = (v: unknown): v is Rec => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v: unknown): string | undefined => typeof v === "string" && v ? v : undefined;
const list = (v: unknown): unknown[] => Array.isArray(v) ? v : [];

/**
 * Types that are stored but never start a conversation nor trigger an auto-reply; an `edit` or
 * `revoke` changes the message it names instead (rule 46), or is kept like these when it names
 * none the desk knows.
 */
const PASSIVE_TYPES = new Set([
  "reaction",
  "system",
  "unsupported",
  "unknown",
  "request_welcome",
  "edit",
  "revoke",
]);
const STATUSES = new Set(["sent", "delivered", "read", "failed"]);

/**
 * `POST /webhooks/whatsapp` body in our words. Changes for another phone number id, fields other
 * than `messages`, malformed items and unknown statuses are counted in `ignored`; a message with
 * no usable phone number in `unroutable`. Only a body that is not a JSON object throws.
 */
export function parseMetaWebhook(body: unknown, phoneNumberId: string | null): ProviderWebhook {
  if (!isRecord(body)) throw new Error("invalid payload");
  const out: ProviderWebhook = { messages: [], statuses: [], unroutable: 0, ignored: 0 };
  if (body.object !== "whatsapp_business_account") {
    out.ignored++;
    return out;
  }
  if (body.entry !== undefined && !Array.isArray(body.entry)) out.ignored++;
  for (const entry of list(body.entry)) {
    if (!isRecord(entry) || (entry.changes !== undefined && !Array.isArray(entry.changes))) {
      out.ignored++;
      continue;
    }
    for (const change of list(entry.changes)) parseChange(change, phoneNumberId, out);
  }
  return out;
}

function parseChange(change: unknown, phoneNumberId: string | null, out: ProviderWebhook) {
  const value = isRecord(change) ? change.value : undefined;
  if (!isRecord(change) || change.field !== "messages" || !isRecord(value)) {
    out.ignored++;
    return;
  }
  const messages = list(value.messages);
  const statuses = list(value.statuses);
  const rawTo = isRecord(value.metadata) ? str(value.metadata.phone_number_id) ?? null : null;
  // A phone number id is a short run of digits; anything else names no number of ours.
  const to = rawTo !== null && /^\d{1,32}$/.test(rawTo) ? rawTo : null;
  if (phoneNumberId !== null && to !== phoneNumberId) {
    out.ignored += Math.max(1, messages.length + statuses.length);
    return;
  }
  // Change-level errors (`value.errors`) carry no message of a customer.
  out.ignored += list(value.errors).length;
  const contacts = list(value.contacts).filter(isRecord);
  for (const item of messages) {
    const parsed = parseMessage(item, contacts, to);
    if (parsed === "ignored") out.ignored++;
    else if (parsed === "unroutable") out.unroutable++;
    else if (parsed === "group") out.groups = (out.groups ?? 0) + 1;
    else out.messages.push(parsed);
  }
  for (const item of statuses) {
    const parsed = parseStatus(item);
    if (parsed) out.statuses.push(parsed);
    else out.ignored++;
  }
}

function parseMessage(
  item: unknown,
  contacts: Rec[],
  to: string | null,
): ProviderInbound | "ignored" | "unroutable" | "group" {
  if (!isRecord(item)) return "ignored";
  // Rule 46: a message in a WhatsApp group ("Group messages webhook reference": `group_id`) is
  // no customer's conversation with the desk, so nobody is answered privately for it.
  if (item.group_id !== undefined && item.group_id !== null) return "group";
  const id = str(item.id);
  if (!id || id.length > MAX_ID) return "ignored";
  const digits = str(item.from)?.replace(/^\+/, "");
  const from = digits !== undefined ? `+${digits}` : undefined;
  if (!from || !CHANNEL_FACTS.whatsapp.address.test(from)) return "unroutable";
  const type = typeof item.type === "string" && /^[a-z][a-z_]{0,39}$/.test(item.type)
    ? item.type
    : "unknown";
  const errors = list(item.errors);
  const changed = messageChange(item, type);
  const media = changed ? null : mediaOf(item, type);
  const place = changed ? null : placeOf(item, type);
  const text = cutText(changed?.text ?? (messageText(item, type).trim() || `[${type}]`), MAX_TEXT);
  const contact = contacts.find((c) => c.wa_id === digits) ?? contacts[0];
  const name = isRecord(contact?.profile) ? str(contact.profile.name)?.trim() : undefined;
  const seconds = typeof item.timestamp === "string" && /^\d{1,11}$/.test(item.timestamp)
    ? Number(item.timestamp)
    : typeof item.timestamp === "number" && Number.isSafeInteger(item.timestamp) &&
        item.timestamp >= 0 && item.timestamp < 1e11
    ? item.timestamp
    : undefined;
  return {
    channel: "whatsapp",
    from,
    text,
    providerId: id,
    to,
    ...(name && oneLineName(name) ? { profileName: cutText(oneLineName(name), 256) } : {}),
    ...(seconds !== undefined ? { providerAt: seconds * 1000 } : {}),
    ...(PASSIVE_TYPES.has(type) || errors.length > 0 ? { passive: true } : {}),
    ...(changed ? { change: changed.change } : {}),
    ...(media ? { media: [media] } : {}),
    ...(place ? { location: place } : {}),
  };
}

const MEDIA_TYPES: ReadonlySet<string> = new Set([
  "image",
  "audio",
  "video",
  "document",
  "sticker",
]);

/**
 * Rule 49: the file of an `image`, `audio` (voice notes have `voice: true`), `video`, `document`
 * or `sticker` message: its media id, type, Meta's SHA-256 and a document's file name (WhatsApp
 * Cloud API "Messages webhook reference", developers.facebook.com/docs/whatsapp/cloud-api/
 * webhooks/components). The bytes are fetched later by the id (media_fetch.ts).
 */
function mediaOf(item: Rec, type: string): InboundMedia | null {
  if (!MEDIA_TYPES.has(type) || !isRecord(item[type])) return null;
  const part = item[type] as Rec;
  const mediaId = str(part.id);
  if (!mediaId || !/^[A-Za-z0-9_.:-]{1,128}$/.test(mediaId)) return null;
  const sha256 = str(part.sha256);
  const filename = cleanFilename(str(part.filename));
  return {
    kind: type as AttachmentKind,
    mime: cleanMime(str(part.mime_type), type === "sticker" ? "image/webp" : undefined),
    ...(filename ? { filename } : {}),
    source: {
      route: "meta",
      mediaId,
      ...(sha256 && sha256.length <= 128 ? { sha256 } : {}),
    },
  };
}

/** Rule 49: a `location` message's place, when its coordinates are numbers in range. */
function placeOf(item: Rec, type: string): Place | null {
  if (type !== "location" || !isRecord(item.location)) return null;
  const part = item.location;
  const { latitude, longitude } = part;
  if (typeof latitude !== "number" || typeof longitude !== "number") return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  const name = str(part.name)?.trim();
  const address = str(part.address)?.trim();
  return {
    latitude,
    longitude,
    ...(name ? { name: cutText(name, 256) } : {}),
    ...(address ? { address: cutText(address, 512) } : {}),
  };
}

/**
 * Rule 46: an `edit` (its new text, read like any message of its type) or a `revoke` of the
 * customer's earlier message `original_message_id`; null when it names none. Meta's "Edit
 * messages" and "Revoke messages" webhook references (developers.facebook.com/documentation/
 * business-messaging/whatsapp/webhooks/reference/messages/edit and …/revoke).
 */
function messageChange(item: Rec, type: string): { change: MessageChange; text: string } | null {
  if (type !== "edit" && type !== "revoke") return null;
  const part = isRecord(item[type]) ? item[type] as Rec : {};
  const of = str(part.original_message_id);
  if (!of || of.length > MAX_ID) return null;
  if (type === "revoke") return { change: { kind: "revoke", of }, text: "[revoke]" };
  const edited = isRecord(part.message) ? part.message : {};
  const editedType = typeof edited.type === "string" && /^[a-z][a-z_]{0,39}$/.test(edited.type)
    ? edited.type
    : "unknown";
  const text = messageText(edited, editedType).trim() || `[${editedType}]`;
  return { change: { kind: "edit", of }, text };
}

/**
 * The text a message routes as: text, button and interactive replies as the customer's words (a
 * tapped YES is a YES); other types as `[type]`, followed by the caption, file name, place or
 * contact name when there is one, so an agent reading the ticket knows what came in.
 */
function messageText(item: Rec, type: string): string {
  const part = Object.hasOwn(item, type) && isRecord(item[type]) ? item[type] as Rec : {};
  switch (type) {
    case "text":
      return str(part.body) ?? "";
    case "button":
      return str(part.text) ?? str(part.payload) ?? "";
    case "interactive": {
      for (const [key, reply] of Object.entries(part)) {
        const title = key.endsWith("_reply") && isRecord(reply) ? str(reply.title) : undefined;
        if (title) return title;
      }
      return "[interactive]";
    }
    case "reaction":
      return str(part.emoji) ? `[reaction ${part.emoji}]` : "[reaction removed]";
    case "system":
      return withDetail("[system]", str(part.body));
    // Rule 49: the caption is the message's text; without one, `[image]` (and a document's name).
    case "image":
    case "video":
    case "audio":
    case "sticker":
      return str(part.caption) ?? `[${type}]`;
    case "document":
      return str(part.caption) ?? withDetail("[document]", str(part.filename));
    case "location": {
      const place = [str(part.name), str(part.address)].filter(Boolean).join(", ");
      const where = typeof part.latitude === "number" && typeof part.longitude === "number"
        ? `${part.latitude},${part.longitude}`
        : undefined;
      return withDetail("[location]", place || where);
    }
    case "contacts": {
      const first = list(item.contacts).find(isRecord);
      return withDetail(
        "[contacts]",
        isRecord(first?.name) ? str(first.name.formatted_name) : undefined,
      );
    }
    default:
      return `[${type}]`;
  }
}

const withDetail = (label: string, detail: string | undefined) =>
  detail?.trim() ? `${label} ${detail.trim()}` : label;

function parseStatus(item: unknown): ProviderStatus | null {
  if (!isRecord(item)) return null;
  const id = str(item.id);
  const status = item.status;
  if (!id || id.length > MAX_ID || typeof status !== "string" || !STATUSES.has(status)) {
    return null;
  }
  const providerStatus = status as ProviderStatus["status"];
  if (providerStatus !== "failed") return { providerId: id, status: providerStatus };
  const error = list(item.errors).find(isRecord);
  const code = typeof error?.code === "number" || (typeof error?.code === "string" && error.code)
    ? String(error.code)
    : "failed";
  const details = isRecord(error?.error_data) ? str(error.error_data.details) : undefined;
  const message = str(error?.title) ?? str(error?.message) ?? details ?? "Delivery failed.";
  return {
    providerId: id,
    status: "failed",
    error: { code: cutText(code, 64), message: cutText(message, MAX_ERROR) },
  };
}
