/**
 * `/static/*`: our CSS and scripts, and htmx + its SSE extension straight from the npm packages
 * (text imports, never copied). Each file is compressed once (brotli and gzip), versioned by
 * content hash, and served with an ETag; a `?v=` URL from `assetUrl()` may be cached for a year.
 *
 * A page loads few files (budget #3 in BENCHMARKS.md counts them all): htmx, then one script
 * made of the SSE extension and our own for its area, comments left out (the files in static/
 * keep them):
 * - `desk.js` on Tickets and Chats: the SSE extension, static/alerts.js and static/desk.js;
 * - `alerts.js` on Admin and Supervisor: the SSE extension and static/alerts.js;
 * - `compose.js` besides, on a page with a reply box: static/compose.js.
 */
import { Hono } from "hono";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import htmxJs from "htmx.org/dist/htmx.min.js" with { type: "text" };
import sseJs from "htmx-ext-sse/dist/sse.min.js" with { type: "text" };
import deskCss from "../static/desk.css" with { type: "text" };
import adminCss from "../static/admin.css" with { type: "text" };
import deskJs from "../static/desk.js" with { type: "text" };
import composeJs from "../static/compose.js" with { type: "text" };
import alertsJs from "../static/alerts.js" with { type: "text" };
import webchatPreviewJs from "../static/webchat_preview.js" with { type: "text" };
import type { DeskEnv } from "./context.ts";
import { answerCompressed } from "./compressed_asset.ts";

interface Asset {
  type: string;
  raw: Uint8Array;
  br: Uint8Array;
  gzip: Uint8Array;
  etag: string;
  version: string;
}

/**
 * Our script without its comment lines: whole `//` lines and blocks that start a line and end
 * one. Nothing inside a line of code is touched (our scripts have no multi-line strings).
 */
export function withoutJsComments(text: string): string {
  return text
    .replace(/^[ \t]*\/\*(?:(?!\*\/)[\s\S])*\*\/[ \t]*(?:\n|$)/gm, "")
    .replace(/^[ \t]*\/\/.*(?:\n|$)/gm, "");
}

/** Our stylesheet without comments, indentation and blank lines. */
export function withoutCssComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").split("\n").map((line) => line.trim())
    .filter((line) => line !== "").join("\n");
}

/** Scripts served as one file, each ending its own statement. */
const bundle = (...scripts: string[]): string => scripts.join("\n;\n");

const JS = "text/javascript; charset=utf-8";
const SOURCES: Record<string, [string, string]> = {
  "htmx.min.js": [htmxJs, JS],
  "desk.css": [withoutCssComments(deskCss), "text/css; charset=utf-8"],
  "admin.css": [withoutCssComments(adminCss), "text/css; charset=utf-8"],
  "desk.js": [bundle(sseJs, withoutJsComments(alertsJs), withoutJsComments(deskJs)), JS],
  "alerts.js": [bundle(sseJs, withoutJsComments(alertsJs)), JS],
  "compose.js": [withoutJsComments(composeJs), JS],
  "webchat_preview.js": [webchatPreviewJs, "text/javascript; charset=utf-8"],
};

/** FNV-1a, 32 bit: a cheap content hash for ETags and cache-busting versions. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

const assets = new Map<string, Asset>();
function asset(name: string): Asset | undefined {
  let found = assets.get(name);
  if (!found && SOURCES[name]) {
    const [text, type] = SOURCES[name];
    const raw = new TextEncoder().encode(text);
    const version = fnv1a(text);
    found = {
      type,
      raw,
      br: brotliCompressSync(raw, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      }),
      gzip: gzipSync(raw, { level: 9 }),
      etag: `"${version}"`,
      version,
    };
    assets.set(name, found);
  }
  return found;
}

/** The cache-busting URL of a static file, e.g. `/static/desk.css?v=1x2y3z`. */
export function assetUrl(name: keyof typeof SOURCES | string): string {
  const a = asset(name);
  return a ? `/static/${name}?v=${a.version}` : `/static/${name}`;
}

export function staticRoutes(): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.get("/:name", (c) => {
    const a = asset(c.req.param("name"));
    if (!a) return c.text("Not found", 404);
    const versioned = c.req.query("v") === a.version;
    const headers: Record<string, string> = {
      "content-type": a.type,
      etag: a.etag,
      vary: "Accept-Encoding",
      "cache-control": versioned ? "public, max-age=31536000, immutable" : "public, max-age=300",
    };
    return answerCompressed(c, a, headers);
  });
  return app;
}
