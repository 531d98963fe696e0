/** `GET /events`: a signed-in page's live stream (live/stream.ts). */
import { Hono } from "hono";
import type { LiveViews } from "../live/parts.ts";
import { liveEvents } from "../live/stream.ts";
import { LIVE_VIEWS } from "../live/views.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { pageAuth } from "./page_auth.ts";

/** `views`: the table of live views (tests may hand in their own). */
export function eventRoutes(deps: AppDeps, views: LiveViews = LIVE_VIEWS): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.get("/", pageAuth(deps), (c) => liveEvents(deps.desk, c.get("token"), c.req.raw, views));
  return app;
}
