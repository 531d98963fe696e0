/** `GET /api/transcripts` (SPEC; supervisor): a date range's messages as CSV or JSON, streamed. */
import { Hono } from "hono";
import { getSettings } from "../domain/settings.ts";
import {
  parseTranscriptQuery,
  transcriptFileName,
  type TranscriptFormat,
  type TranscriptOptions,
  type TranscriptRange,
  transcriptStream,
} from "../domain/transcripts.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

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
    return deps.config.publicUrl ? new URL(deps.config.publicUrl).origin : null;
  } catch {
    return null;
  }
}

export function transcriptRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { kv } = deps.desk;
  const app = new Hono<DeskEnv>();
  app.get("/", requireRole(deps, "supervisor"), async (c) => {
    const { hours } = await getSettings(kv);
    const { range, format } = parseTranscriptQuery({
      from: c.req.query("from"),
      to: c.req.query("to"),
      format: c.req.query("format"),
    }, hours.timeZone);
    return transcriptResponse(kv, range, format, { deskUrl: deskUrl(deps) });
  });
  return app;
}
