/**
 * Rule 50: files are served only to whoever may read their message (rule 23), as private,
 * sandboxed downloads; raster images, audio and video inline. Rule 51: `/media/:id?token=…` serves
 * the same bytes without sign-in for a signed, unexpired token (providers and SMS customers).
 *
 * Mounted before the desk's own security headers, since a file answers with its own: `CSP:
 * sandbox` (an HTML or SVG file opened directly runs nothing), `nosniff`, and a disposition that
 * makes anything not inline a download.
 */
import { type Context, Hono } from "hono";
import { getCookie } from "hono/cookie";
import { messageAccess } from "../domain/access.ts";
import { type AttachmentPointer, isInlineType } from "../domain/attachments.ts";
import { NotFound } from "../domain/errors.ts";
import type { ByteRange, FileStore } from "../domain/file_store.ts";
import { keys } from "../domain/keys.ts";
import { verifyMediaToken } from "../domain/media_links.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Attachment, Message } from "../domain/types.ts";
import { SESSION_COOKIE, tokenOf } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

/** `GET /api/attachments/:id` (bearer token, or the page session for `<img>` and `<audio>`). */
export function attachmentRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    // A read: the page session may open it too (`SameSite=Lax` keeps other sites' pages out).
    const token = tokenOf(c) || getCookie(c, SESSION_COOKIE) || "";
    const agent = await authenticate(desk.kv, desk.clock, token);
    const found = await attachmentOf(desk.kv, id);
    if (!agent || !found) throw new NotFound("Attachment");
    const access = await messageAccess(desk, agent, found.message, found.pointer.customerId);
    if (!access.read) throw new NotFound("Attachment");
    return await serveFile(c, deps.media!.files, found.attachment);
  });
  return app;
}

/** `GET /media/:id?token=…`: rule 51's signed link. */
export function mediaLinkRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await verifyMediaToken(desk.kv, id, c.req.query("token"), desk.clock.now()))) {
      throw new NotFound("File");
    }
    const found = await attachmentOf(desk.kv, id);
    if (!found) throw new NotFound("File");
    return await serveFile(c, deps.media!.files, found.attachment);
  });
  return app;
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

/**
 * The bytes of a stored file with rule 50's headers; `Range` gives a part (audio and video seek
 * with it). A file not stored yet answers 409 with its status.
 */
export async function serveFile(c: Context, files: FileStore, attachment: Attachment) {
  const headers = new Headers({
    "cache-control": "private, max-age=86400",
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "no-referrer",
    "accept-ranges": "bytes",
  });
  if (attachment.status !== "stored") {
    headers.set("content-type", "application/json");
    headers.set("cache-control", "no-store");
    return new Response(
      JSON.stringify({
        error: {
          code: "file_not_stored",
          message: attachment.status === "fetching"
            ? "The file is still being fetched."
            : attachment.status === "too_large"
            ? "The file is larger than the desk keeps."
            : "The file could not be fetched.",
          status: attachment.status,
        },
      }),
      { status: 409, headers },
    );
  }
  const whole = await files.open(attachment.id);
  if (!whole) throw new NotFound("File");
  const { file } = whole;
  await whole.body.cancel();
  const inline = isInlineType(file.mime);
  headers.set("content-type", file.mime);
  headers.set("etag", `"${file.sha256}"`);
  headers.set("content-disposition", disposition(inline, attachment));
  if (c.req.header("if-none-match") === `"${file.sha256}"`) {
    return new Response(null, { status: 304, headers });
  }
  const range = parseRange(c.req.header("range"), file.size);
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${file.size}`);
    return new Response(null, { status: 416, headers });
  }
  const opened = await files.open(attachment.id, range ?? undefined);
  if (!opened) throw new NotFound("File");
  if (range) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${file.size}`);
    headers.set("content-length", String(range.end - range.start + 1));
    return new Response(c.req.method === "HEAD" ? null : opened.body, { status: 206, headers });
  }
  headers.set("content-length", String(file.size));
  return new Response(c.req.method === "HEAD" ? null : opened.body, { status: 200, headers });
}

/** `inline` for what a browser may show, else a download, with the file's name when known. */
function disposition(inline: boolean, attachment: Attachment): string {
  const name = attachment.filename ?? `${attachment.kind}-${attachment.id.slice(-6)}`;
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  return `${inline ? "inline" : "attachment"}; filename="${ascii}"; filename*=UTF-8''${
    encodeURIComponent(name)
  }`;
}

/** One `bytes=` range (the first of several); null for none or a header we do not honour. */
function parseRange(header: string | undefined, size: number): ByteRange | null | "unsatisfiable" {
  const match = /^bytes=(\d*)-(\d*)/.exec(header?.trim() ?? "");
  if (!match || (match[1] === "" && match[2] === "")) return null;
  let start: number, end: number;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
