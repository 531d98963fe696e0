/** Mounts the server-rendered pages; each area is its own sub-app. */
import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { compress } from "hono/compress";
import { brotliPages } from "./page_brotli.ts";
import { navCounts } from "../live/desk_counts.ts";
import { HTTPException } from "hono/http-exception";
import { setStatus } from "../domain/agents.ts";
import { NotFound } from "../domain/errors.ts";
import type { Agent } from "../domain/types.ts";
import { ErrorPage } from "../views/layout.tsx";
import { accountPages } from "./account.tsx";
import { adminPages } from "./admin.tsx";
import { chatPages } from "./chats.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import { errorBody } from "./errors.ts";
import { eventRoutes } from "./events.ts";
import { loginRoutes } from "./login.tsx";
import { backTo, formOf, isHtmx, pageAuth, pageCsrf, safeNext } from "./page_auth.ts";
import { readAheadDeps } from "./read_ahead.ts";
import { staticRoutes } from "./static.ts";
import { supervisorPages } from "./supervisor.tsx";
import { ticketPages } from "./tickets.tsx";

/** Paths the pages own (the API and inbound webhook have their own auth and no cookies). */
const PAGE_PATHS = [
  "/",
  "/login",
  "/logout",
  "/status",
  "/tickets/*",
  "/chats/*",
  "/events",
  "/admin/*",
  "/supervisor/*",
  "/account",
  "/account/*",
];

export function pageRoutes(deps: AppDeps): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.onError((error, c) => renderErrorPage(c, error, deps));
  const shrink = compress();
  const csrf = pageCsrf(deps.config.publicUrl);
  // Brotli sits inside compress: a page it encoded is left alone by compress (gzip for the rest).
  for (const path of PAGE_PATHS) app.use(path, shrink, brotliPages, csrf);

  app.route("/static", staticRoutes());
  app.route("/", loginRoutes(deps));
  app.route("/", accountPages(deps));
  app.get("/", (c) => c.redirect("/tickets/unassigned", 303));
  app.post("/status", pageAuth(deps), async (c) => {
    const form = await formOf(c);
    const status = form.status === "online" ? "online" : "offline";
    await setStatus(deps.desk.kv, c.get("agent").id, status);
    return c.redirect(backTo(c), 303);
  });
  // Rule 41: these pages read through read-aheads (routes/read_ahead.ts); live streams never do.
  const ahead = readAheadDeps(deps);
  app.route("/tickets", ticketPages(ahead));
  app.route("/chats", chatPages(ahead));
  app.route("/events", eventRoutes(deps));
  app.route("/admin", adminPages(deps));
  app.route("/supervisor", supervisorPages(deps));
  app.all("*", notFoundPage);
  return app;
}

/** Unknown paths: an HTML page for browsers, the JSON error for everyone else. */
const notFoundPage: MiddlewareHandler<DeskEnv> = (c) => {
  if (c.req.path.startsWith("/api/") || !(c.req.header("accept") ?? "").includes("text/html")) {
    return Promise.resolve(
      c.json({ error: { code: "not_found", message: "No such route." } }, 404),
    );
  }
  throw new NotFound("Page");
};

/**
 * Page errors: 401 goes to sign-in; anything else is an error page in the desk's layout, with
 * rule 32's counts in its title and navigation like every desk page (none if they cannot be read:
 * an error page never fails for them).
 */
export async function renderErrorPage(
  c: Context,
  error: unknown,
  deps: AppDeps,
): Promise<Response> {
  const body = errorBody(error);
  if (body.status === 401) {
    const login = `/login?next=${encodeURIComponent(safeNext(c.req.path))}`;
    if (isHtmx(c)) return c.body(null, 200, { "hx-redirect": login });
    return c.redirect(login, 303);
  }
  const agent = (c.get("agent") as Agent | undefined) ?? null;
  const message = error instanceof HTTPException && body.status === 403
    ? "This form was sent from another site, so it was refused. Reload the page and try again."
    : body.message;
  const counts = agent ? (await navCounts(deps.desk, agent).catch(() => null))?.counts : undefined;
  return c.html(ErrorPage({ status: body.status, message, agent, counts }), body.status as 400);
}
