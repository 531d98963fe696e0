/**
 * The desk's static files as they are served: our CSS and scripts, and htmx + its SSE extension
 * straight from the npm packages (text imports, never copied), each under the name `/static/`
 * serves it by and versioned by content hash, so a page links `assetUrl()` and a browser may keep
 * the file a year. routes/static.ts compresses and serves them.
 *
 * A page loads few files (budget #3 in BENCHMARKS.md counts them all): htmx, then one script
 * made of the SSE extension and our own for its area, comments left out (the files in static/
 * keep them):
 * - `desk.js` on Tickets and Chats: the SSE extension, static/alerts.js and static/desk.js;
 * - `alerts.js` on Admin and Supervisor: the SSE extension and static/alerts.js;
 * - `compose.js` besides, on a page with a reply box: static/compose.js.
 */
import htmxJs from "htmx.org/dist/htmx.min.js" with { type: "text" };
import sseJs from "htmx-ext-sse/dist/sse.min.js" with { type: "text" };
import deskCss from "../static/desk.css" with { type: "text" };
import adminCss from "../static/admin.css" with { type: "text" };
import deskJs from "../static/desk.js" with { type: "text" };
import composeJs from "../static/compose.js" with { type: "text" };
import alertsJs from "../static/alerts.js" with { type: "text" };
import webchatPreviewJs from "../static/webchat_preview.js" with { type: "text" };

/**
 * Our script without its comment lines (whole `//` lines and blocks that start a line and end
 * one) and without indentation. Nothing inside a line of code is touched, and every line break
 * stays (our scripts have no multi-line strings).
 */
export function withoutJsComments(text: string): string {
  return text
    .replace(/^[ \t]*\/\*(?:(?!\*\/)[\s\S])*\*\/[ \t]*(?:\n|$)/gm, "")
    .replace(/^[ \t]*\/\/.*(?:\n|$)/gm, "")
    .replace(/^[ \t]+/gm, "");
}

/** Our stylesheet without comments, indentation and blank lines. */
export function withoutCssComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").split("\n").map((line) => line.trim())
    .filter((line) => line !== "").join("\n");
}

/** Scripts served as one file, each ending its own statement. */
const bundle = (...scripts: string[]): string => scripts.join("\n;\n");

/** FNV-1a, 32 bit: a cheap content hash for ETags, cache-busting and fragment versions. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

export interface AssetSource {
  /** The text served, as served (comments left out of our own). */
  text: string;
  type: string;
  /** Its content hash: the `?v=` of its URL and its ETag. */
  version: string;
}

const JS = "text/javascript; charset=utf-8";
const SOURCES: Record<string, [string, string]> = {
  "htmx.min.js": [htmxJs, JS],
  "desk.css": [withoutCssComments(deskCss), "text/css; charset=utf-8"],
  "admin.css": [withoutCssComments(adminCss), "text/css; charset=utf-8"],
  "desk.js": [bundle(sseJs, withoutJsComments(alertsJs), withoutJsComments(deskJs)), JS],
  "alerts.js": [bundle(sseJs, withoutJsComments(alertsJs)), JS],
  "compose.js": [withoutJsComments(composeJs), JS],
  "webchat_preview.js": [webchatPreviewJs, JS],
};

const versions = new Map<string, string>();

/** A static file by the name `/static/` serves it under; undefined for any other name. */
export function assetSource(name: string): AssetSource | undefined {
  if (!Object.hasOwn(SOURCES, name)) return undefined;
  const [text, type] = SOURCES[name];
  let version = versions.get(name);
  if (version === undefined) versions.set(name, version = fnv1a(text));
  return { text, type, version };
}

/** The cache-busting URL of a static file, e.g. `/static/desk.css?v=1x2y3z`. */
export function assetUrl(name: string): string {
  const a = assetSource(name);
  return a ? `/static/${name}?v=${a.version}` : `/static/${name}`;
}
