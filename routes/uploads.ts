/**
 * Rule 51's request side, shared by the API and the ticket and chat pages: which requests may
 * carry a file (and so a body past the global 1 MiB), and how a reply's body becomes what the
 * domain reads (`{text}`, `{file, text}`, `{location}`, `{template, params}`).
 */
import type { Context } from "hono";
import { SEND_RULES } from "../domain/attachments.ts";
import { DeskError, Invalid } from "../domain/errors.ts";
import { readJson } from "./request.ts";

/** The reply and chat-message posts, API and pages: the only requests that take a file. */
const UPLOAD_PATHS = [
  /^\/api\/tickets\/[^/]+\/reply$/,
  /^\/api\/chats\/[^/]+\/messages$/,
  /^\/tickets\/[^/]+\/reply$/,
  /^\/chats\/[^/]+\/messages$/,
];

/** Room for a multipart body's boundaries, part headers and caption around the file. */
const MULTIPART_ROOM = 64 * 1024;

/** The largest file any route takes (WhatsApp documents, 16 MiB). */
export const MAX_UPLOAD_FILE_BYTES = Math.max(
  ...Object.values(SEND_RULES).flat().map((r) => r.maxBytes),
);
/** The largest body an upload may have: that file and the form around it. */
export const MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_FILE_BYTES + MULTIPART_ROOM;

export const isMultipart = (c: Context) =>
  (c.req.header("content-type") ?? "").toLowerCase().startsWith("multipart/form-data");

/**
 * The multipart form of a request (read once; Hono keeps it for later reads). A body that is not
 * one is a 400; a refusal while reading it (its size, its deadline) passes as it is.
 */
export async function readForm(c: Context): Promise<FormData> {
  try {
    return await c.req.formData();
  } catch (error) {
    if (error instanceof DeskError) throw error;
    throw new Invalid("invalid_body", "The body is not a valid multipart form.");
  }
}

/** A multipart post to one of the upload paths (its body may be larger than 1 MiB). */
export function isUpload(c: Context): boolean {
  return c.req.method === "POST" && isMultipart(c) && UPLOAD_PATHS.some((p) => p.test(c.req.path));
}

/**
 * The one file of a multipart form, or null. A browser sends an empty, nameless `file` part when
 * none was chosen: that is no file. Two files are refused (one file per message).
 */
export async function formFile(c: Context): Promise<File | null> {
  if (!isMultipart(c)) return null;
  const files = (await readForm(c)).getAll("file").filter((v): v is File =>
    v instanceof File && (v.size > 0 || v.name !== "")
  );
  if (files.length > 1) {
    throw new Invalid("too_many_files", "Send one file per message.", { file: "One file only." });
  }
  return files[0] ?? null;
}

/**
 * `POST /api/tickets/:id/reply` and `POST /api/chats/:id/messages`: JSON as before, or
 * multipart/form-data with `file` and an optional `text` (the caption).
 */
export async function readReply(c: Context): Promise<unknown> {
  if (!isMultipart(c)) return await readJson(c);
  const file = await formFile(c);
  const text = (await readForm(c)).get("text");
  return {
    ...(typeof text === "string" ? { text: text.replace(/\r\n?/g, "\n") } : {}),
    ...(file ? { file } : {}),
  };
}

/**
 * A page's reply form (rule 51 without JavaScript): the `file` part with `text` as its caption,
 * or a place from `latitude`, `longitude`, `place_name` and `place_address` (WhatsApp); null when
 * the form carries neither (a text or template reply, read as before).
 */
export async function pageMedia(
  c: Context,
  form: Record<string, string | string[]>,
  text: string,
): Promise<Record<string, unknown> | null> {
  const field = (name: string) => {
    const value = form[name];
    return typeof value === "string" ? value.trim() : "";
  };
  const file = await formFile(c);
  const latitude = field("latitude");
  const longitude = field("longitude");
  if (latitude || longitude) {
    const name = field("place_name");
    const address = field("place_address");
    return {
      text,
      location: {
        latitude,
        longitude,
        ...(name ? { name } : {}),
        ...(address ? { address } : {}),
      },
      ...(file ? { file } : {}),
    };
  }
  return file ? { text, file } : null;
}
