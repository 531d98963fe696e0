/**
 * `/static/*`: the files views/assets.ts names (our CSS and scripts, htmx and its SSE extension),
 * each compressed once (brotli and gzip) and served with an ETag; a `?v=` URL from `assetUrl()`
 * may be cached for a year.
 */
import { Hono } from "hono";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { assetSource } from "../views/assets.ts";
import type { DeskEnv } from "./context.ts";
import { answerCompressed, type CompressedAsset } from "./compressed_asset.ts";

interface Asset extends CompressedAsset {
  type: string;
  version: string;
}

const assets = new Map<string, Asset>();
function asset(name: string): Asset | undefined {
  let found = assets.get(name);
  const source = found ? undefined : assetSource(name);
  if (source) {
    const raw = new TextEncoder().encode(source.text);
    found = {
      type: source.type,
      raw,
      br: brotliCompressSync(raw, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      }),
      gzip: gzipSync(raw, { level: 9 }),
      etag: `"${source.version}"`,
      version: source.version,
    };
    assets.set(name, found);
  }
  return found;
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
