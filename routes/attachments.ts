/**
 * Rule 50: files are served only to whoever may read their message (rule 23), as private,
 * sandboxed downloads; raster images, audio and video inline. Rule 51: `/media/:id?token=…` serves
 * the same bytes without sign-in for a signed, unexpired token (providers and SMS customers).
 *
 * Mounted before the desk's own security headers, since a file answers with its own: `CSP:
 * sandbox` (an HTML or SVG file opened directly runs nothing), `nosniff`, and a disposition that
 * makes anything not inline a download.
 */
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { messageAccess } from "../domain/access.ts";
import { attachmentOf } from "../domain/attachments.ts";
import { NotFound } from "../domain/errors.ts";
import { verifyMediaToken } from "../domain/media_links.ts";
import { authenticate } from "../domain/sessions.ts";
import { SESSION_COOKIE, tokenOf } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { serveFile } from "./downloads.ts";

/** `GET /api/attachments/:id` (bearer token, or the page session for `<img>` and `<audio>`). */
export function attachmentRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    // A read: the page session may open it too (`SameSite=Lax` keeps other sites' pages out).
    const token = tokenOf(c) || getCookie(c, SESSION_COOKIE) || "";
    // Rule 41: the session and the file's message are read side by side.
    const [agent, found] = await Promise.all([
      authenticate(desk.kv, desk.clock, token),
      attachmentOf(desk.kv, id),
    ]);
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
