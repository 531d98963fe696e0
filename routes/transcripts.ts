/** `GET /api/transcripts` (SPEC; supervisor): a date range's messages as CSV or JSON, streamed. */
import { Hono } from "hono";
import { getSettings } from "../domain/settings.ts";
import { parseTranscriptQuery } from "../domain/transcripts.ts";
import { deskUrl, transcriptResponse } from "./downloads.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

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
