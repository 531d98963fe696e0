/** Mounts the server-rendered pages; each area is its own sub-app. */
import type { Context } from "hono";
import { Hono } from "hono";
import type { AppDeps, DeskEnv } from "./context.ts";
import { errorBody } from "./errors.ts";

export function pageRoutes(_deps: AppDeps): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  return app;
}

export function renderErrorPage(c: Context, error: unknown): Response {
  const body = errorBody(error);
  if (body.status === 401) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`);
  return c.text(`${body.status} ${body.message}`, body.status as 400);
}
