/**
 * Rule 51: agents send media. A reply or chat message may carry one file (with an optional
 * caption) or, on WhatsApp, a place. Everything that can refuse it (who may write, the ticket or
 * chat state, rule 18's window, rule 44's opt-out, the route's types and sizes) is checked before
 * any byte is stored; then the file is stored; then the message is committed with its attachment
 * and the attachment's pointer. A commit refused after that (the ticket closed meanwhile) takes
 * the stored file away again, so a refused send leaves nothing behind.
 */
import {
  checkSendable,
  cleanFilename,
  cleanMime,
  placeholderText,
  refuseDisguised,
  sendRoute,
  type SendRule,
  storeUpload,
} from "./attachments.ts";
import type { Desk } from "./desk.ts";
import { Invalid, Unprocessable } from "./errors.ts";
import type { FileStore } from "./file_store.ts";
import { newId } from "./ids.ts";
import { retryCommit } from "./kv_util.ts";
import type { Body } from "./validate.ts";
import type { Attachment, Customer, Message, Place, Route } from "./types.ts";

/** An agent's file as the request brought it, not stored yet. */
export interface OutgoingFile {
  blob: Blob & { name?: string };
  filename?: string;
  mime: string;
  size: number;
}

/** What an outgoing message carries besides text (rule 51). */
export interface OutgoingMedia {
  /** The caption (may be empty) for a file; the `[location] …` text for a place. */
  text: string;
  file?: OutgoingFile;
  location?: Place;
  /** A file without a caption: the message text becomes its placeholder (`[image]`). */
  noCaption?: boolean;
}

/**
 * Meta's limit for a media caption ("Media messages": `caption`, maximum 1,024 characters,
 * developers.facebook.com/docs/whatsapp/cloud-api/messages/image-messages).
 */
export const WHATSAPP_CAPTION_MAX = 1024;
/** WhatsApp's kinds that take no caption (Meta's audio and sticker message objects have none). */
const NO_CAPTION_KINDS = new Set(["audio", "sticker"]);

const isBlob = (value: unknown): value is Blob & { name?: string } => value instanceof Blob;

/**
 * Reads a file (`file`, with the optional caption `text`) or a place (`location`) from a parsed
 * body; null when the body has neither (a text or template message).
 */
export function parseOutgoingMedia(body: Body): OutgoingMedia | null {
  const hasFile = body.file !== undefined && body.file !== null && body.file !== "";
  const hasPlace = body.location !== undefined && body.location !== null;
  if (!hasFile && !hasPlace) return null;
  if (body.template !== undefined) {
    throw new Invalid("invalid_body", "A template goes on its own, without a file or a place.");
  }
  if (hasFile && hasPlace) {
    throw new Invalid("invalid_body", "Send one file or one place in a message, not both.");
  }
  if (hasPlace) {
    const text = typeof body.text === "string" ? body.text.trim() : "";
    if (text) {
      throw new Invalid(
        "invalid_body",
        "A place goes on its own: send the text as a message of its own.",
        { text: "Send the text separately, or clear the place." },
      );
    }
    const location = parsePlace(body.location);
    const where = [location.name, location.address].filter(Boolean).join(", ") ||
      `${location.latitude},${location.longitude}`;
    return { text: placeholderText("location", where), location };
  }
  if (!isBlob(body.file)) {
    throw new Invalid(
      "invalid_field",
      'Send the file as the "file" part of a multipart/form-data body.',
      { file: "Choose a file." },
    );
  }
  const file = body.file;
  if (file.size === 0) throw new Invalid("invalid_field", "The file is empty.", { file: "Empty." });
  if (body.text !== undefined && typeof body.text !== "string") {
    throw new Invalid("invalid_field", '"text" (the caption) must be text.');
  }
  const caption = (body.text as string | undefined) ?? "";
  const filename = cleanFilename(file.name);
  return {
    text: caption,
    file: {
      blob: file,
      ...(filename ? { filename } : {}),
      mime: cleanMime(file.type),
      size: file.size,
    },
    ...(caption.trim() === "" ? { noCaption: true } : {}),
  };
}

const PLACE_NAME_MAX = 256;
const PLACE_ADDRESS_MAX = 512;

/** A coordinate given as a JSON number or a form's decimal text; NaN when it is neither. */
function coordinate(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$/.test(value)) {
    return Number(value);
  }
  return NaN;
}

/** Rule 51: a place: latitude −90…90, longitude −180…180, optional one-line name and address. */
export function parsePlace(value: unknown): Place {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Invalid(
      "invalid_field",
      '"location" must be {latitude, longitude, name?, address?}.',
    );
  }
  const place = value as Record<string, unknown>;
  const latitude = coordinate(place.latitude);
  const longitude = coordinate(place.longitude);
  if (!Number.isFinite(latitude) || Math.abs(latitude) > 90) {
    throw new Invalid("invalid_field", "The latitude must be a number from -90 to 90.", {
      latitude: "From -90 to 90.",
    });
  }
  if (!Number.isFinite(longitude) || Math.abs(longitude) > 180) {
    throw new Invalid("invalid_field", "The longitude must be a number from -180 to 180.", {
      longitude: "From -180 to 180.",
    });
  }
  const line = (field: "name" | "address", max: number) => {
    const v = place[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v.length > max) {
      throw new Invalid("invalid_field", `The place's ${field} must be text of at most ${max}.`);
    }
    // deno-lint-ignore no-control-regex
    return v.replace(/[\u0000-\u001f\u007f]+/g, " ").trim() || undefined;
  };
  const name = line("name", PLACE_NAME_MAX);
  const address = line("address", PLACE_ADDRESS_MAX);
  return { latitude, longitude, ...(name ? { name } : {}), ...(address ? { address } : {}) };
}

/**
 * Rule 51 for one customer on one route, before anything is stored: a place only on WhatsApp
 * (422 `location_not_supported` elsewhere); a file of a type and size the route carries (415,
 * 413), and on WhatsApp a caption the kind takes. Answers the file's send rule (null: no file).
 */
export function checkOutgoingMedia(
  customer: Customer,
  route: Route | null | undefined,
  media: OutgoingMedia,
): SendRule | null {
  if (media.location && customer.channel !== "whatsapp") {
    throw new Unprocessable(
      "location_not_supported",
      "Places can be sent on WhatsApp only; write the address as text instead.",
    );
  }
  if (!media.file) return null;
  const on = sendRoute(route);
  const rule = checkSendable(on, media.file.mime, media.file.size);
  if (on === "meta" && !media.noCaption) {
    if (NO_CAPTION_KINDS.has(rule.kind)) {
      throw new Unprocessable(
        "caption_not_supported",
        `WhatsApp sends ${rule.kind} files without a caption: send the text as its own message.`,
      );
    }
    if (media.text.length > WHATSAPP_CAPTION_MAX) {
      throw new Unprocessable(
        "too_long",
        `WhatsApp captions may have at most ${WHATSAPP_CAPTION_MAX.toLocaleString("en-US")} ` +
          `characters; this one has ${media.text.length.toLocaleString("en-US")}.`,
      );
    }
  }
  return rule;
}

/** The message fields of a file or place: the text (caption or placeholder) and what it carries. */
export function mediaFields(
  media: OutgoingMedia,
  attachment: Attachment | null,
): Pick<Message, "text"> & Partial<Message> {
  if (media.location) return { text: media.text, location: media.location };
  if (!attachment) return { text: media.text };
  if (!media.noCaption) return { text: media.text, attachments: [attachment] };
  const detail = attachment.kind === "document" ? attachment.filename : undefined;
  return {
    text: placeholderText(attachment.kind, detail),
    attachments: [attachment],
    noCaption: true,
  };
}

/** Where a write stands: the checks alone, or the commit (with the stored file, if any). */
export type SendStage = { check: true } | { check: false; attachment: Attachment | null };
/** What the check stage answers: the file's send rule. */
export interface Checked {
  checked: SendRule | null;
}

/**
 * Rule 51's order around a write that checks, then commits (`write`, run under retryCommit):
 * with a file, `write({check: true})` runs every check and writes nothing of the message, the file
 * is stored, then `write({check: false, attachment})` checks again and commits, and the file goes
 * away if that throws. Without a file, the write simply runs once.
 */
export async function sendWithMedia(
  desk: Desk,
  files: FileStore | undefined,
  media: OutgoingMedia | null,
  write: (stage: SendStage) => Promise<Message | Checked | undefined>,
): Promise<Message> {
  const commit = (attachment: Attachment | null) =>
    retryCommit(() => write({ check: false, attachment })) as Promise<Message>;
  if (!media?.file) return await commit(null);
  if (!files) throw new Error("No file store to keep the agent's file in.");
  const { checked: rule } = await retryCommit(() => write({ check: true })) as Checked;
  if (!rule) throw new Error("The checks gave no send rule for the file.");
  await refuseDisguised(media.file.blob, media.file.mime);
  const now = desk.clock.now();
  const attachment = await storeUpload(
    files,
    media.file.blob,
    {
      id: newId(now),
      kind: rule.kind,
      mime: media.file.mime,
      maxBytes: rule.maxBytes,
      at: now,
      kv: desk.kv,
    },
  );
  try {
    return await commit(attachment);
  } catch (error) {
    await files.remove(attachment.id).catch((e) =>
      console.error(`media: could not remove refused upload ${attachment.id}`, e)
    );
    throw error;
  }
}

/** The caption an agent typed for a file (empty when the text is the placeholder). */
export function captionOf(message: Pick<Message, "text" | "noCaption">): string {
  return message.noCaption ? "" : message.text;
}
