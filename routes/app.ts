/** Builds the whole web app from its parts; main.ts and tests both call this. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { NotFound, TooLarge } from "../domain/errors.ts";
import { apiRoutes } from "./api.ts";
import { channelRoutes } from "./channels.ts";
import { productivityRoutes } from "./productivity.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { errorJson } from "./errors.ts";
import { inboundRoutes } from "./inbound.ts";
import { webhookRoutes } from "./webhooks.ts";
import { webchatRoutes } from "./webchat.ts";
import { pageRoutes } from "./pages.ts";
import { transcriptRoutes } from "./transcripts.ts";
import { requestLimits } from "./limits.ts";
import { readAhead, readAheadDeps } from "./read_ahead.ts";
import { isUpload, MAX_UPLOAD_BODY_BYTES, MAX_UPLOAD_FILE_BYTES } from "./uploads.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
const MAX_SEGMENT = 128;

export function createApp(deps: AppDeps): Hono<DeskEnv> {
  deps.media ??= new MediaFetcher(
    deps.desk,
    new KvFileStore(deps.desk.kv),
    providerConfig(deps.config),
  );
  const app = new Hono<DeskEnv>();
  // Before the desk's headers: the widget and its API run inside other sites (their own headers).
  app.route("/webchat", webchatRoutes(deps));
  // Rule 50: files carry their own headers (a sandbox CSP, private caching).
  app.route("/api/attachments", attachmentRoutes(deps));
  app.route("/media", mediaLinkRoutes(deps));
  app.use(secureHeaders({
    // Rule 48: our own form posts carry our Origin (with `no-referrer`, browsers send
    // `Origin: null`); other sites still get no Referer from the desk.
    referrerPolicy: "same-origin",
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  }));
  // Nothing a signed-in agent or the API is answered is kept by a browser or shared cache.
  app.use(async (c, next) => {
    await next();
    const signedIn = (c.get("agent") as unknown) !== undefined;
    if (signedIn || c.req.path.startsWith("/api/")) c.header("Cache-Control", "no-store");
  });
  // Before the body limit, which reads the whole body: a trickling one must time out there too.
  app.use(requestLimits(deps, deps.limits));
  const bodies = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new TooLarge(
        "body_too_large",
        `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`,
      );
    },
  });
  // Rule 51: a reply's multipart body carries a file, up to the largest a route takes; refused
  // by its Content-Length before it is read, or once it has read past that.
  const uploads = bodyLimit({
    maxSize: MAX_UPLOAD_BODY_BYTES,
    onError: () => {
      throw new TooLarge(
        "file_too_large",
        `Files are limited to ${MAX_UPLOAD_FILE_BYTES / (1024 * 1024)} MiB.`,
      );
    },
  });
  app.use((c, next) => isUpload(c) ? uploads(c, next) : bodies(c, next));
  app.onError((error, c) => pageErrorOrJson(c, error, deps));
  // Ids are 26 characters: a path segment far longer names nothing (and would exceed KV's key size).
  app.use(async (c, next) => {
    if (c.req.path.split("/").some((segment) => segment.length > MAX_SEGMENT)) {
      throw new NotFound("Page");
    }
    await next();
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: "No such route." } }, 404));
  // Rule 41: the reads of the routes it names go out at their start, with the session check.
  app.use(readAhead(deps));
  const ahead = readAheadDeps(deps);
  app.route("/api/inbound", inboundRoutes(deps));
  app.route("/webhooks", webhookRoutes(deps));
  app.route("/api/transcripts", transcriptRoutes(deps));
  app.route("/api", channelRoutes(deps));
  app.route("/api", productivityRoutes(deps));
  app.route("/api", apiRoutes(ahead));
  app.route("/", pageRoutes(deps));
  return app;
}

import type { Context } from "hono";
import { MediaFetcher } from "../domain/media_fetch.ts";
import { attachmentRoutes, mediaLinkRoutes } from "./attachments.ts";
import { KvFileStore } from "../domain/file_store.ts";
import { providerConfig } from "../domain/config.ts";
import { renderErrorPage } from "./pages.ts";
import { wantsHtml } from "./errors.ts";

function pageErrorOrJson(
  c: Context,
  error: unknown,
  deps: AppDeps,
): Response | Promise<Response> {
  return wantsHtml(c) ? renderErrorPage(c, error, deps) : errorJson(c, error);
}
