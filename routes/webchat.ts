/**
 * `/webchat`: the customer's side of the desk (rule 30). The widget script, the plain chat page,
 * the visitor API with bearer visitor tokens, CORS for the configured origins only, and an SSE
 * stream; and, for admins, the live preview that Admin › Integrations frames. Mounted before the
 * desk's global headers: the script and API run inside other sites, so they carry their own
 * headers; the desk's pages keep theirs.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { compress } from "hono/compress";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import widgetSource from "../static/widget.js" with { type: "text" };
import {
  getChannelSettings,
  previewWebchatLook,
  type WebchatSettings,
} from "../domain/channel_settings.ts";
import { DeskError, NotFound, TooLarge, Unauthorized } from "../domain/errors.ts";
import { keys } from "../domain/keys.ts";
import {
  applyVisitorReceipt,
  authenticateVisitor,
  createVisitor,
  issueStreamTicket,
  redeemStreamTicket,
  revokeVisitor,
  sendVisitorFile,
  sendVisitorMessage,
  THREAD_PAGE,
  threadCursor,
  type Visitor,
  visitorThread,
  type VisitorUpload,
  visitorView,
} from "../domain/webchat.ts";
import type { Desk } from "../domain/desk.ts";
import type { Message } from "../domain/types.ts";
import { threadHub, visitorStream } from "../live/webchat.ts";
import { WebchatPage, WebchatPreviewPage } from "../views/webchat.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import { errorJson } from "./errors.ts";
import { messageJson } from "./json.ts";
import { pageAuth } from "./page_auth.ts";
import { clientAddress, readJson } from "./request.ts";
import { addressGroup } from "../domain/sessions.ts";
import { assetUrl, fnv1a } from "../views/assets.ts";
import { answerCompressed } from "./compressed_asset.ts";
import { attachmentOf } from "../domain/attachments.ts";
import { serveFile } from "./downloads.ts";
import { isMultipart, readForm } from "./uploads.ts";
import { requestLimits } from "./limits.ts";

type WebchatEnv = { Variables: { visitor: Visitor } };

const MAX_BODY = 32 * 1024;
/** Rule 52: a file of up to 10 MB, its caption and the form around them. */
const MAX_UPLOAD_BODY = 10_000_000 + 64 * 1024;
/** 10 MB in 2 minutes is 0.7 Mbit/s: a slow phone gets through, a trickle does not stay. */
const UPLOAD_DEADLINE_MS = 120_000;
/** Uploads one client address may have in flight at once (each is held in memory whole). */
const UPLOADS_PER_ADDRESS = 4;
const SETTINGS_MARKER = '"__CHATDESK_SETTINGS__"';

/** Headers of every API answer: JSON for a script on another site, never cached or framed. */
const API_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cross-origin-resource-policy": "same-origin",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** The chat page: only our own script, styles only from it (constructed sheets), no framing. */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // The widget shows a thread's images from blob: URLs of bytes it fetched with its token.
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The preview page: framed only by the desk's own pages, only our scripts and stylesheet, and no
 * connections at all (a preview never calls the visitor API), no forms.
 */
const PREVIEW_HEADERS: Record<string, string> = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
  ].join("; "),
  "x-frame-options": "SAMEORIGIN",
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "same-origin",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

interface Script {
  etag: string;
  raw: Uint8Array;
  br: Uint8Array;
  gzip: Uint8Array;
}

/** The widget with the settings filled in, compressed once per distinct settings (by their JSON). */
const scripts = new Map<string, Script>();
function widgetScript(settings: WebchatSettings): Script {
  const config = JSON.stringify({
    enabled: settings.enabled,
    title: settings.title,
    greeting: settings.greeting,
    color: settings.color,
  }).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  let found = scripts.get(config);
  if (!found) {
    const text = widgetSource.replace(SETTINGS_MARKER, () => config);
    const etag = `"w${fnv1a(text)}"`;
    const raw = new TextEncoder().encode(text);
    found = {
      etag,
      raw,
      br: brotliCompressSync(raw, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      }),
      gzip: gzipSync(raw, { level: 9 }),
    };
    if (scripts.size >= 8) scripts.delete(scripts.keys().next().value!);
    scripts.set(config, found);
  }
  return found;
}

/** Bytes the widget costs on the wire for each encoding (benchmarks, the 10 KB budget). */
export function widgetBytes(settings: WebchatSettings) {
  const s = widgetScript(settings);
  return { raw: s.raw.length, gzip: s.gzip.length, br: s.br.length };
}

/** The desk's own origins: same-origin pages (the `/webchat` page) need no listing. */
function ownOrigins(c: Context, publicUrl: string | null | undefined): string[] {
  const own = [new URL(c.req.url).origin];
  if (publicUrl) {
    try {
      own.push(new URL(publicUrl).origin);
    } catch {
      // An unusable public URL adds nothing.
    }
  }
  return own;
}

/**
 * Rule 55: a page of the visitor's thread as the widget draws it: each agent message with the
 * agent's name (`authorName`), the prompt with its answers (`quickReplies`, drawn as buttons while
 * the chat awaits them), and what the chat is doing now (`chat`: an agent joined, it ended).
 */
async function visitorPage(desk: Desk, who: Visitor, messages: Message[]) {
  const { chat, names } = await visitorView(desk, who, messages);
  return {
    messages: messages.map((m) => {
      const name = m.direction === "out" ? names.get(m.author) : undefined;
      return {
        ...messageJson(m),
        ...(name ? { authorName: name } : {}),
        ...(m.quickReplies?.length ? { quickReplies: m.quickReplies } : {}),
      };
    }),
    chat,
  };
}

/** Rule 52: a `multipart/form-data` post of a message, which carries a file. */
function isUpload(c: Context): boolean {
  return c.req.method === "POST" && c.req.path.endsWith("/api/messages") && isMultipart(c);
}

/** The upload's form fields (the route's body limit has bounded it). */
async function readUpload(c: Context): Promise<VisitorUpload> {
  const form = await readForm(c);
  return { file: form.get("file"), clientId: form.get("clientId"), text: form.get("text") };
}

class OriginRefused extends DeskError {
  constructor() {
    super(403, "origin_not_allowed", "This site is not allowed to use the desk's web chat.");
  }
}

export function webchatRoutes(deps: AppDeps): Hono<WebchatEnv> {
  const { desk, config } = deps;
  const { kv } = desk;
  const app = new Hono<WebchatEnv>();
  app.onError((error, c) => errorJson(c, error));

  /**
   * Rule 30 CORS: a browser on an origin listed in the web chat settings (or the desk itself) may
   * call the API; any other origin gets no `Access-Control-Allow-Origin`, its preflight is
   * refused, and its requests are refused before they touch anything.
   */
  const cors: MiddlewareHandler<WebchatEnv> = async (c, next) => {
    // Rule 59: any site may ask whether the desk takes its chats (it answers nothing else).
    if (c.req.path === "/webchat/api/availability") return await next();
    const origin = c.req.header("origin") ?? null;
    let listed = false;
    if (origin !== null && !ownOrigins(c, config.publicUrl).includes(origin)) {
      listed = (await getChannelSettings(kv)).webchat.allowedOrigins.includes(origin);
      if (!listed) {
        if (c.req.method === "OPTIONS") {
          return c.body(null, 403, { ...API_HEADERS, vary: "Origin" });
        }
        throw new OriginRefused();
      }
    }
    if (c.req.method === "OPTIONS") {
      return c.body(null, 204, {
        ...API_HEADERS,
        ...(listed ? { "access-control-allow-origin": origin! } : {}),
        "access-control-allow-methods": "GET, POST, DELETE",
        "access-control-allow-headers": "Authorization, Content-Type, Last-Event-ID",
        "access-control-max-age": "600",
        vary: "Origin",
      });
    }
    await next();
    for (const [name, value] of Object.entries(API_HEADERS)) {
      if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    }
    c.res.headers.append("vary", "Origin");
    if (listed) {
      c.res.headers.set("access-control-allow-origin", origin!);
      c.res.headers.set("access-control-expose-headers", "Retry-After");
    }
  };

  const visitor: MiddlewareHandler<WebchatEnv> = async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    c.set("visitor", await authenticateVisitor(desk, token));
    await next();
  };

  const limit = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new TooLarge("body_too_large", `Request bodies are limited to ${maxSize} bytes.`);
      },
    });
  const smallBody = limit(MAX_BODY);
  const uploadBody = limit(MAX_UPLOAD_BODY);
  // Mounted before the desk's own request limits: an upload gets its own deadline and cap.
  const uploadLimits = requestLimits(deps, {
    bodyDeadlineMs: UPLOAD_DEADLINE_MS,
    perAddress: UPLOADS_PER_ADDRESS,
  });
  /** Rule 52: a file upload may carry 10 MB and its form; every other body stays small. */
  const bodies: MiddlewareHandler<WebchatEnv> = async (c, next) => {
    if (!isUpload(c)) return await smallBody(c, next);
    // The limits read only the request and its address, never the desk's variables.
    const request: Context = c;
    await uploadLimits(request, async () => void await uploadBody(c, next));
  };
  app.use("/api/*", cors, bodies);

  app.get("/widget.js", async (c) => {
    const script = widgetScript((await getChannelSettings(kv)).webchat);
    const versioned = c.req.query("v") === script.etag.slice(1, -1);
    const headers: Record<string, string> = {
      "content-type": "text/javascript; charset=utf-8",
      etag: script.etag,
      vary: "Accept-Encoding",
      // The snippet's URL never changes, so settings reach sites within 5 minutes.
      "cache-control": versioned ? "public, max-age=31536000, immutable" : "public, max-age=300",
      "cross-origin-resource-policy": "cross-origin",
      "access-control-allow-origin": "*",
      "x-content-type-options": "nosniff",
    };
    return answerCompressed(c, script, headers);
  });

  // Admin › Integrations frames this and reloads it as the admin types (static/webchat_preview.js).
  // Signed-in admins only: it renders whatever text it is given, on the desk's origin.
  const preview = new Hono<DeskEnv>();
  preview.get("/", pageAuth(deps, "admin"), async (c) => {
    const settings = (await getChannelSettings(kv)).webchat;
    const look = previewWebchatLook(c.req.query(), settings);
    const version = widgetScript(settings).etag.slice(1, -1);
    return c.html(
      WebchatPreviewPage({
        look,
        widgetUrl: `/webchat/widget.js?v=${version}`,
        styleUrl: assetUrl("desk.css"),
      }),
      200,
      PREVIEW_HEADERS,
    );
  });
  app.route("/preview", preview);

  app.get("/", compress(), async (c) => {
    const settings = (await getChannelSettings(kv)).webchat;
    const version = widgetScript(settings).etag.slice(1, -1);
    c.header("content-security-policy", PAGE_CSP);
    c.header("x-content-type-options", "nosniff");
    c.header("x-frame-options", "DENY");
    c.header("referrer-policy", "no-referrer");
    c.header("cache-control", "no-store");
    return c.html(WebchatPage({ settings, widgetUrl: `/webchat/widget.js?v=${version}` }));
  });

  /**
   * Rule 59: whether the desk takes chats from the asking site (`Origin`), readable by any
   * site, so a widget the desk refuses says so instead of waiting in silence, and names the fix
   * for the site owner. Says nothing a refused request would not tell.
   */
  app.get("/api/availability", async (c) => {
    const origin = c.req.header("origin") ?? null;
    const settings = (await getChannelSettings(kv)).webchat;
    const here = new URL(c.req.url).origin;
    const own = origin === null || ownOrigins(c, config.publicUrl).includes(origin);
    const answer = !settings.enabled
      ? {
        available: false,
        reason: "webchat_disabled",
        fix: `web chat is turned off on ${here}: an admin turns it on in Admin › Integrations › ` +
          "Web chat.",
      }
      : !own && !settings.allowedOrigins.includes(origin!)
      ? {
        available: false,
        reason: "origin_not_allowed",
        fix: `this site (${origin}) may not use the chat of ${here}: an admin adds ${origin} ` +
          'to "Allowed sites" in Admin › Integrations › Web chat.',
      }
      : { available: true };
    return c.json(answer, 200, {
      ...API_HEADERS,
      "access-control-allow-origin": "*",
      vary: "Origin",
    });
  });
  app.post("/api/visitors", async (c) => {
    return c.json(await createVisitor(desk, clientAddress(c, config)), 201);
  });
  app.delete("/api/visitors/me", visitor, async (c) => {
    const who = c.get("visitor");
    await revokeVisitor(desk, who);
    threadHub(desk).end(who.customerId);
    return c.body(null, 204);
  });
  app.post("/api/messages", visitor, async (c) => {
    const who = c.get("visitor");
    const { message, duplicate } = isUpload(c)
      ? await sendVisitorFile(desk, deps.media!.files, who, await readUpload(c))
      : await sendVisitorMessage(desk, who, await readJson(c));
    // Its streams in this process wake now, not at the watch's turn.
    if (!duplicate) threadHub(desk).nudge(who.customerId);
    return c.json(
      { message: messageJson(message), ...(duplicate ? { duplicate } : {}) },
      duplicate ? 200 : 201,
    );
  });
  app.get("/api/messages", visitor, async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query("limit")) || THREAD_PAGE, 1), THREAD_PAGE);
    const who = c.get("visitor");
    const { messages, cursor } = await visitorThread(kv, who, c.req.query("after") || null, limit);
    return c.json({ ...await visitorPage(desk, who, messages), cursor });
  });
  /**
   * Rule 52: a file of the visitor's own thread (its uploads and what agents sent it), with rule
   * 50's headers; any other file, or one of another visitor, is 404.
   */
  app.get("/api/attachments/:id", visitor, async (c) => {
    const who = c.get("visitor");
    const found = await attachmentOf(kv, c.req.param("id"));
    if (!found || found.pointer.customerId !== who.customerId) throw new NotFound("Attachment");
    const inThread = await kv.get(keys.thread(who.customerId, found.pointer.messageId));
    if (!inThread.value) throw new NotFound("Attachment");
    return await serveFile(c, deps.media!.files, found.attachment);
  });
  app.post("/api/receipts", visitor, async (c) => {
    return c.json(await applyVisitorReceipt(desk, c.get("visitor"), await readJson(c)));
  });
  app.post("/api/stream-ticket", visitor, async (c) => {
    return c.json({ ticket: await issueStreamTicket(desk, c.get("visitor")) });
  });
  app.get("/api/events", async (c) => {
    const ticket = c.req.query("ticket");
    if (!ticket) throw new Unauthorized("A stream ticket is required.");
    // Rule 48: a place among the address's streams first (429 when full: the ticket stays good).
    const release = threadHub(desk).takeStreamPlace(addressGroup(clientAddress(c, config)));
    try {
      const who = await redeemStreamTicket(desk, ticket);
      // EventSource sends Last-Event-ID on its own reconnects; a fresh one passes `lastEventId`.
      // Without either the stream starts at the thread's beginning: nothing written before the
      // stream opened (the auto-replies to a first message) can fall between a page and its
      // stream.
      const last = c.req.header("last-event-id") || c.req.query("lastEventId") || "";
      const start = last ? await threadCursor(kv, who, last) : null;
      const page = (messages: Message[]) => visitorPage(desk, who, messages);
      return visitorStream(c, desk, who, start, page, release);
    } catch (error) {
      release();
      throw error;
    }
  });
  return app;
}
