/**
 * Rules 49–53: attachments in the product's words: which kind a file is, how it appears in
 * answers, which types each route may send and how large (rule 51), which types a browser may
 * show inline (rule 50), and how an uploaded file becomes a stored attachment.
 */
import { TooLarge, UnsupportedType } from "./errors.ts";
import type { FileStore } from "./file_store.ts";
import { FileTooLarge } from "./file_store.ts";
import { keys } from "./keys.ts";
import type { Attachment, AttachmentKind, Message, Route } from "./types.ts";

/** Where an attachment's message is: access checks and status changes start from its id. */
export interface AttachmentPointer {
  conversationId: string;
  messageId: string;
  customerId: string;
}

/** Records which message an attachment belongs to, in the caller's commit. */
export function pointAttachment(
  op: Deno.AtomicOperation,
  attachmentId: string,
  pointer: AttachmentPointer,
) {
  // An upload stored ahead of this commit is no longer pending (storeUpload's mark).
  op.set(keys.attachment(attachmentId), pointer).delete(keys.uploadPending(attachmentId));
}

/** The media type alone, lower case (`image/jpeg`), for comparisons; codecs dropped. */
export function baseMime(mime: string): string {
  return mime.split(";")[0].trim().toLowerCase();
}

/** A media type as given, if it looks like one (`type/subtype` and parameters), else a default. */
export function cleanMime(mime: string | undefined | null, fallback = "application/octet-stream") {
  const text = (mime ?? "").trim();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}(\s*;\s*[a-z0-9_.-]+=("[^"\r\n]{0,100}"|[a-z0-9_.+-]{1,100}))*$/i
      .test(text)
    ? text.slice(0, 200)
    : fallback;
}

/** The kind a file of this type is shown as (rule 50). */
export function kindOfMime(mime: string): AttachmentKind {
  const base = baseMime(mime);
  if (base === "image/webp" || base.startsWith("image/")) return "image";
  if (base.startsWith("audio/")) return "audio";
  if (base.startsWith("video/")) return "video";
  return "document";
}

/** Rule 50: raster images, audio and video are shown inline; everything else is a download. */
const INLINE_IMAGES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);
export function isInlineType(mime: string): boolean {
  const base = baseMime(mime);
  return INLINE_IMAGES.has(base) || base.startsWith("audio/") || base.startsWith("video/");
}

/** The API shape of an attachment (rule 49). */
export function attachmentJson(a: Attachment) {
  return {
    id: a.id,
    kind: a.kind,
    mime: a.mime,
    size: a.size,
    ...(a.filename ? { filename: a.filename } : {}),
    status: a.status,
  };
}

/** A file name safe to show and to put in a header: one line, no path, at most 200 characters. */
export function cleanFilename(name: string | undefined | null): string | undefined {
  // deno-lint-ignore no-control-regex
  const text = (name ?? "").replace(/[\u0000-\u001f\u007f"\\/]+/g, " ").replace(/\s+/g, " ")
    .trim();
  return text ? [...text].slice(0, 200).join("") : undefined;
}

const MB = 1000 * 1000;
const MIB = 1024 * 1024;

/** One kind of file a route may send, and its largest size. */
export interface SendRule {
  kind: AttachmentKind;
  /** Base media types allowed; `*` for any (documents on WhatsApp). */
  types: readonly string[];
  maxBytes: number;
}

/**
 * Rule 51: what each route carries, after the providers' own limits: WhatsApp Cloud API
 * ("Supported media types", developers.facebook.com/docs/whatsapp/cloud-api/reference/media),
 * Twilio MMS (images and PDF, 5 MB a message: twilio.com/docs/messaging/guides/accepted-mime-types)
 * and our web chat (images and PDF, 10 MB).
 */
export const SEND_RULES: Record<"meta" | "twilio" | "webchat", readonly SendRule[]> = {
  meta: [
    { kind: "image", types: ["image/jpeg", "image/png"], maxBytes: 5 * MB },
    {
      kind: "audio",
      types: ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
      maxBytes: 16 * MB,
    },
    { kind: "video", types: ["video/mp4", "video/3gpp"], maxBytes: 16 * MB },
    { kind: "document", types: ["*"], maxBytes: 16 * MIB },
  ],
  twilio: [
    { kind: "image", types: ["image/jpeg", "image/png", "image/gif"], maxBytes: 5 * MB },
    { kind: "document", types: ["application/pdf"], maxBytes: 5 * MB },
  ],
  webchat: [
    {
      kind: "image",
      types: ["image/jpeg", "image/png", "image/gif", "image/webp"],
      maxBytes: 10 * MB,
    },
    { kind: "document", types: ["application/pdf"], maxBytes: 10 * MB },
  ],
};

/** The routes that carry files, in the words rule 51 uses for them. */
const ROUTE_LABEL = { meta: "WhatsApp", twilio: "SMS (MMS)", webchat: "Web chat" } as const;

/** The send route a customer's route stands for (the demo and API routes take web chat's rules). */
export function sendRoute(route: Route | null | undefined): "meta" | "twilio" | "webchat" {
  return route === "meta" ? "meta" : route === "twilio" ? "twilio" : "webchat";
}

const sizeText = (bytes: number) =>
  bytes >= MB ? `${Math.round(bytes / MB * 10) / 10} MB` : `${Math.ceil(bytes / 1000)} kB`;

/** A route's size limit as the providers state it: "5 MB", or "16 MiB" for a binary one. */
export const limitText = (bytes: number) =>
  bytes % MB === 0 ? `${bytes / MB} MB` : `${Math.round(bytes / MIB)} MiB`;

/**
 * Rule 51: the kind a file goes as on this route, or a refusal (415 for a type it cannot carry,
 * 413 past its size), before anything is stored. Audio on WhatsApp must be Opus in Ogg when Ogg.
 */
export function checkSendable(
  route: "meta" | "twilio" | "webchat",
  mime: string,
  size: number,
): SendRule {
  const base = baseMime(mime);
  const rule = SEND_RULES[route].find((r) =>
    r.types.includes(base) ||
    (r.types.includes("*") && !SEND_RULES[route].some((o) => o !== r && o.types.includes(base)))
  );
  const oggNotOpus = route === "meta" && base === "audio/ogg" && /codecs/i.test(mime) &&
    !/opus/i.test(mime);
  if (!rule || oggNotOpus) {
    const allowed = SEND_RULES[route].flatMap((r) => r.types.filter((t) => t !== "*"));
    throw new UnsupportedType(
      "unsupported_media_type",
      `${ROUTE_LABEL[route]} cannot carry ${base || "this type"} files; allowed: ${
        allowed.join(", ")
      }${SEND_RULES[route].some((r) => r.types.includes("*")) ? " and documents" : ""}.`,
    );
  }
  if (size > rule.maxBytes) {
    throw new TooLarge(
      "file_too_large",
      `${ROUTE_LABEL[route]} takes ${rule.kind} files up to ${
        limitText(rule.maxBytes)
      }; this one has ${sizeText(size)}.`,
    );
  }
  return rule;
}

/**
 * Stores an uploaded file (an agent's or a visitor's) under a new attachment id and answers the
 * attachment, `stored`. `maxBytes` bounds what is read whatever the file claims. With `kv`, the
 * file is marked pending first: the message's commit (`pointAttachment`) clears the mark, and a
 * mark left means the writer died between the two (`sweepOrphanUploads` removes the file).
 */
export async function storeUpload(
  files: FileStore,
  file: Blob & { name?: string },
  options: {
    id: string;
    kind: AttachmentKind;
    mime: string;
    maxBytes: number;
    at: number;
    kv?: Deno.Kv;
  },
): Promise<Attachment> {
  await options.kv?.set(keys.uploadPending(options.id), options.at);
  try {
    const stored = await files.save(options.id, file.stream(), {
      mime: options.mime,
      maxBytes: options.maxBytes,
      at: options.at,
    });
    const filename = cleanFilename(file.name);
    return {
      id: options.id,
      kind: options.kind,
      mime: options.mime,
      size: stored.size,
      ...(filename ? { filename } : {}),
      status: "stored",
    };
  } catch (error) {
    if (error instanceof FileTooLarge) {
      throw new TooLarge("file_too_large", `The file has more than ${options.maxBytes} bytes.`);
    }
    throw error;
  }
}

/** How long an upload may wait for its message's commit before it counts as left behind. */
export const UPLOAD_ORPHAN_MS = 3600_000;

/**
 * Removes uploads whose writer died between storing the file and committing its message: marks
 * older than an hour (desk clock) whose file no message points to. A mark whose file is pointed
 * to (a commit that cleared nothing, never expected) is only dropped. Answers the files removed.
 */
export async function sweepOrphanUploads(
  kv: Deno.Kv,
  files: FileStore,
  now: number,
): Promise<number> {
  let removed = 0;
  for await (const mark of kv.list<number>({ prefix: keys.uploadsPending() }, { limit: 500 })) {
    if (now - mark.value < UPLOAD_ORPHAN_MS) continue;
    const id = mark.key[1] as string;
    const pointed = (await kv.get(keys.attachment(id))).value !== null;
    if (!pointed) {
      await files.remove(id);
      removed++;
    }
    await kv.atomic().check(mark).delete(mark.key).commit();
  }
  return removed;
}

/** The text a message with a file and no caption routes and searches as (`[image]`). */
export function placeholderText(kind: AttachmentKind | "location", detail?: string): string {
  return detail?.trim() ? `[${kind}] ${detail.trim()}` : `[${kind}]`;
}

/** An attachment with its message, by attachment id; null when there is none. */
export async function attachmentOf(kv: Deno.Kv, id: string) {
  if (!/^[0-9A-Z]{26}$/.test(id)) return null;
  const pointer = (await kv.get<AttachmentPointer>(keys.attachment(id))).value;
  if (!pointer) return null;
  const message =
    (await kv.get<Message>(keys.message(pointer.conversationId, pointer.messageId))).value;
  const attachment = message?.attachments?.find((a) => a.id === id);
  if (!message || !attachment) return null;
  return { pointer, message, attachment };
}

/** File signatures of the types whose first bytes are certain: the bytes decide, not the claim. */
const SIGNATURES: readonly [string, (b: Uint8Array) => boolean][] = [
  ["image/png", (b) => ascii(b, 1, 4) === "PNG" && b[0] === 0x89],
  ["image/jpeg", (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ["image/gif", (b) => ascii(b, 0, 4) === "GIF8"],
  ["image/webp", (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP"],
  ["application/pdf", (b) => ascii(b, 0, 5) === "%PDF-"],
];
const ascii = (b: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...b.subarray(from, to));

/** What a file's first bytes say it is, among the types with a certain signature; else null. */
export async function sniffedType(file: Blob): Promise<string | null> {
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  return SIGNATURES.find(([, test]) => test(head))?.[0] ?? null;
}

/**
 * Rules 51 and 52: a file claimed as an image or PDF must start like one, so an HTML page named
 * `photo.png` never goes out or in as a picture (415). Other types are taken as claimed.
 */
export async function refuseDisguised(file: Blob, mime: string) {
  const base = baseMime(mime);
  if (!SIGNATURES.some(([type]) => type === base)) return;
  if ((await sniffedType(file)) !== base) {
    throw new UnsupportedType(
      "unsupported_media_type",
      `The file's contents are not ${base}, as its type claims.`,
    );
  }
}
