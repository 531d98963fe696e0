/**
 * Answers that are files rather than pages or JSON, shared by the routes that give them: a stored
 * attachment with rule 50's headers (desk, signed link and web chat routes) and a transcript
 * download (the API and the supervisor's Transcripts page, rule 53).
 */
import type { Context } from "hono";
import { isInlineType } from "../domain/attachments.ts";
import { NotFound } from "../domain/errors.ts";
import type { ByteRange, FileStore } from "../domain/file_store.ts";
import {
  transcriptFileName,
  type TranscriptFormat,
  type TranscriptOptions,
  type TranscriptRange,
  transcriptStream,
} from "../domain/transcripts.ts";
import type { Attachment } from "../domain/types.ts";
import type { AppDeps } from "./context.ts";

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
  // One read of the record: the Range header is resolved against the size it holds.
  let range: ByteRange | null | "unsatisfiable" = null;
  const opened = await files.open(attachment.id, (size) => {
    range = parseRange(c.req.header("range"), size);
    return range === "unsatisfiable" ? null : range;
  });
  if (!opened) throw new NotFound("File");
  const { file, body } = opened;
  const inline = isInlineType(file.mime);
  headers.set("content-type", file.mime);
  headers.set("etag", `"${file.sha256}"`);
  headers.set("content-disposition", disposition(inline, attachment));
  const part = range as ByteRange | null | "unsatisfiable";
  const answer = (status: number, length: number | null) => {
    if (length !== null) headers.set("content-length", String(length));
    const sent = status === 304 || status === 416 || c.req.method === "HEAD" ? null : body;
    if (!sent) void body.cancel();
    return new Response(sent, { status, headers });
  };
  if (c.req.header("if-none-match") === `"${file.sha256}"`) return answer(304, null);
  if (part === "unsatisfiable") {
    headers.set("content-range", `bytes */${file.size}`);
    return answer(416, null);
  }
  if (part) {
    headers.set("content-range", `bytes ${part.start}-${part.end}/${file.size}`);
    return answer(206, part.end - part.start + 1);
  }
  return answer(200, file.size);
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

const CONTENT_TYPES: Record<TranscriptFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
};

/**
 * The download itself, shared by the API and the supervisor's Transcripts page. Rule 53: files
 * link to the desk (`deskUrl`: its public address; without one the links are relative).
 */
export function transcriptResponse(
  kv: Deno.Kv,
  range: TranscriptRange,
  format: TranscriptFormat,
  opts: TranscriptOptions = {},
): Response {
  return new Response(transcriptStream(kv, range, format, opts), {
    headers: {
      "content-type": CONTENT_TYPES[format],
      "content-disposition": `attachment; filename="${transcriptFileName(range, format)}"`,
      "cache-control": "no-store",
    },
  });
}

/**
 * The desk's address for links in downloads: its public URL. Without one the links stay relative
 * (the address a request came in on may be a proxy's inside one).
 */
export function deskUrl(deps: AppDeps): string | null {
  try {
    // The whole public address, a path prefix included (`https://host/desk`).
    return deps.config.publicUrl ? new URL(deps.config.publicUrl).href.replace(/\/+$/, "") : null;
  } catch {
    return null;
  }
}
