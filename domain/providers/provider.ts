/**
 * What every provider module gives the generic sender (delivery.ts) and the webhook routes: how
 * our message becomes its HTTP request, how its answer is classed (rule 25), and how its
 * webhooks become our inbound messages and delivery statuses.
 */
import type {
  Attachment,
  AttachmentKind,
  Channel,
  DeliveryStatus,
  Message,
  MessageChange,
  OptOutKind,
  Place,
  Route,
} from "../types.ts";

/** Where a customer's file is fetched from: Meta by media id (bearer), Twilio by URL (Basic). */
export type MediaSource =
  | { route: "meta"; mediaId: string; sha256?: string }
  | { route: "twilio"; url: string };

/** Rule 49: a file a webhook announced, before its bytes are fetched. */
export interface InboundMedia {
  kind: AttachmentKind;
  mime: string;
  filename?: string;
  /** The size the provider gave, if any. */
  size?: number;
  source: MediaSource;
}

/** Start-up settings the senders need (from the environment; tests point them at 127.0.0.1). */
export interface ProviderConfig {
  /** `CHATDESK_PUBLIC_URL`, no trailing slash: webhook URLs, Twilio's StatusCallback. */
  publicUrl: string | null;
  whatsappApiBase: string;
  twilioApiBase: string;
  /** `CHATDESK_PROVIDER_TIMEOUT_MS`: no answer by then is a retryable failure. */
  timeoutMs: number;
  /** Rule 49: `CHATDESK_MEDIA_MAX_BYTES` (16 MiB when not given). */
  mediaMaxBytes?: number;
}

/** One HTTP request to a provider, built as a pure value (tests compare it with fixtures). */
export interface ProviderRequest {
  url: string;
  method: "POST";
  headers: Record<string, string>;
  body: string;
}

/** Everything a provider needs to send one message to one customer. */
export interface Outgoing {
  message: Message;
  customerId: string;
  channel: Channel;
  /** The customer's address as we keep it (`+27820000001`, a visitor id). */
  to: string;
  /** The desk's address the customer last wrote to (Twilio `To`), if known. */
  routeTo: string | null;
  ticketId: string | null;
  /** Rule 51: the id Meta gave the message's file when it was uploaded (sent by id). */
  mediaId?: string;
  /** Rule 51: the desk's signed link to the message's file (Twilio `MediaUrl`, or in the text). */
  mediaUrl?: string;
}

/** Rule 51: a file to hand to a provider before the message that names it (Meta's upload). */
export interface UploadFile {
  attachment: Attachment;
  /** The bytes, read from the file store (at most 16 MiB). */
  body: Blob;
}

/**
 * An upload request: like a send, with the file's bytes in a Blob, so it goes with a
 * Content-Length (an upload endpoint may refuse a chunked body).
 */
export interface ProviderUploadRequest {
  url: string;
  method: "POST";
  headers: Record<string, string>;
  body: Blob;
}

/** How a provider answered an upload: its media id, or a failure classed like a send's. */
export type UploadOutcome =
  | { kind: "uploaded"; mediaId: string }
  | Exclude<SendOutcome, { kind: "accepted" }>;

/** How a provider answered one attempt (rule 25). */
export type SendOutcome =
  | { kind: "accepted"; providerId: string | null }
  /** Network error, timeout, 408, 429, 5xx, or a code the provider marks temporary. */
  | { kind: "retry"; code: string; message: string; retryAfterMs?: number }
  /** Every other 4xx: failed at once with the provider's code and message. */
  | { kind: "permanent"; code: string; message: string }
  /** HTTP 401, Meta code 190, Twilio 20003: the channel pauses until its credentials change. */
  | { kind: "auth"; code: string; message: string };

/** One message a provider's webhook brought in, in our words. */
export interface ProviderInbound {
  channel: Channel;
  /** The customer's address with `+` (`+27820000001`). */
  from: string;
  text: string;
  /** The provider's message id: a repeat with the same id changes nothing (rule 27). */
  providerId: string;
  /** The desk's address it was sent to (Twilio `To`, Meta `phone_number_id`). */
  to: string | null;
  profileName?: string;
  /** The provider's own time of the message (epoch ms). */
  providerAt?: number;
  /**
   * Reactions, system notices, unsupported and error entries: stored on the current
   * conversation, but they never start one nor trigger an auto-reply.
   */
  passive?: boolean;
  /** Rule 44: an opt-out, opt-in or help keyword (Twilio's `OptOutType`, or the whole body). */
  optOut?: OptOutKind;
  /** Rule 46: an edit (`text` is the new text) or deletion of the customer's earlier message. */
  change?: MessageChange;
  /** Rule 49: files that came with it, to fetch after the webhook is answered. */
  media?: InboundMedia[];
  /** Rule 49: a shared place (WhatsApp `location`). */
  location?: Place;
}

/** A status a provider reported for a message we sent. */
export interface ProviderStatus {
  providerId: string;
  status: Exclude<DeliveryStatus, "queued">;
  error?: { code: string; message: string };
}

/** A parsed webhook body: what to store, and how much was deliberately ignored. */
export interface ProviderWebhook {
  messages: ProviderInbound[];
  statuses: ProviderStatus[];
  /** Messages without a phone number: answered 2xx and logged as `unroutable`. */
  unroutable: number;
  /** Entries for other phone numbers and unhandled types. */
  ignored: number;
  /** Rule 46: WhatsApp group messages, ignored (answered 2xx and logged). */
  groups?: number;
}

export type ProviderRoute = Extract<Route, "meta" | "twilio" | "api">;

/** One provider module: builds its request and classes its answer (the sender does the fetch). */
export interface Provider<S> {
  route: ProviderRoute;
  /** Builds the request for one attempt; `now` is the desk clock (epoch ms). */
  request(
    out: Outgoing,
    settings: S,
    config: ProviderConfig,
    now: number,
  ): Promise<ProviderRequest>;
  /** Classes the provider's HTTP answer (rule 25). `now` for Retry-After dates. */
  classify(status: number, headers: Headers, body: string, now: number): SendOutcome;
  /** Rule 51: the provider fetches a message's file itself, from a signed desk link (`mediaUrl`). */
  fetchesLinks?: boolean;
  /** Rule 51: the upload of a message's file, for providers that take files by id first. */
  upload?(file: UploadFile, settings: S, config: ProviderConfig): ProviderUploadRequest;
  /** Rule 51: classes the upload's answer (failures as a send's, rule 25). */
  uploaded?(status: number, headers: Headers, body: string, now: number): UploadOutcome;
}

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or bad. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The classes every provider shares for a bare HTTP status (rule 25). */
export function classifyHttpStatus(status: number): "ok" | "retry" | "auth" | "permanent" {
  if (status >= 200 && status < 300) return "ok";
  if (status === 401) return "auth";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  return "permanent";
}

/** Constant-time comparison of two byte strings (rule 28). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

const encoder = new TextEncoder();

/** HMAC of `data` with `key` (SHA-1 for Twilio, SHA-256 for Meta and the API channel). */
export async function hmac(
  hash: "SHA-1" | "SHA-256",
  key: string,
  data: Uint8Array | string,
): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  // A copy: WebCrypto takes only ArrayBuffer-backed views (a caller may hold a shared one).
  const bytes = typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, bytes));
}

export const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));

/** The JSON object an answer body holds, or null (not JSON, or not an object). */
export function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}

/** Cuts text to `max` UTF-16 units without splitting a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]) ? max - 1 : max;
  return text.slice(0, end);
}

/** A failed attempt's outcome; a retry honours the answer's `Retry-After` (rule 25). */
export function failedOutcome(
  kind: "retry" | "auth" | "permanent",
  code: string,
  message: string,
  headers: Headers,
  now: number,
): SendOutcome {
  if (kind !== "retry") return { kind, code, message };
  const after = retryAfterMs(headers.get("retry-after"), now);
  return after === undefined
    ? { kind, code, message }
    : { kind, code, message, retryAfterMs: after };
}

/** A provider's numeric error code as text (`131047`, `20003`), or `http_<status>` without one. */
export function errorCode(raw: unknown, status: number): string {
  const numeric = typeof raw === "number" && Number.isSafeInteger(raw)
    ? raw
    : typeof raw === "string" && /^\d{1,15}$/.test(raw)
    ? Number(raw)
    : null;
  return numeric !== null ? String(numeric) : `http_${status}`;
}

const CRLF = "\r\n";

/** A field or file name as a browser writes it in a part header (WHATWG "multipart/form-data"). */
const partName = (name: string) =>
  name.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");

/**
 * Rule 51: a multipart/form-data body (RFC 7578) of text fields and one file, as a browser's
 * `FormData` sends it. A Blob of Blobs: the file's bytes are not copied, and the length is known.
 */
export function multipartBody(
  fields: [string, string][],
  file: { field: string; filename: string; mime: string; body: Blob },
): { contentType: string; body: Blob } {
  const boundary = `----chatdesk${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
  const head =
    fields.map(([name, value]) =>
      `--${boundary}${CRLF}Content-Disposition: form-data; name="${partName(name)}"${CRLF}${CRLF}` +
      `${value}${CRLF}`
    ).join("") +
    `--${boundary}${CRLF}Content-Disposition: form-data; name="${partName(file.field)}"; ` +
    `filename="${partName(file.filename)}"${CRLF}Content-Type: ${file.mime}${CRLF}${CRLF}`;
  const tail = `${CRLF}--${boundary}--${CRLF}`;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: new Blob([head, file.body, tail]),
  };
}
