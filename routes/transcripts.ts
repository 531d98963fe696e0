/** `GET /api/transcripts` (SPEC; supervisor): a date range's messages as CSV or JSON, streamed. */
import { Hono } from "hono";
import { getSettings } from "../domain/settings.ts";
import {
  parseTranscriptQuery,
  transcriptFileName,
  type TranscriptFormat,
  type TranscriptRange,
  transcriptStream,
} from "../domain/transcripts.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

const CONTENT_TYPES: Record<TranscriptFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
};

/** The download itself, shared by the API and the supervisor's Transcripts page. */
export function transcriptResponse(
  kv: Deno.Kv,
  range: TranscriptRange,
  format: TranscriptFormat,
): Response {
  return new Response(transcriptStream(kv, range, format), {
    headers: {
      "content-type": CONTENT_TYPES[format],
      "content-disposition": `attachment; filename="${transcriptFileName(range, format)}"`,
      "cache-control": "no-store",
    },
  });
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
    return transcriptResponse(kv, range, format);
  });
  return app;
}
