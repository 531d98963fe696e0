/** Answering a precompressed asset: a matching ETag is 304, else brotli, gzip or raw by Accept-Encoding. */
import type { Context } from "hono";

export interface CompressedAsset {
  raw: Uint8Array;
  br: Uint8Array;
  gzip: Uint8Array;
  etag: string;
}

export function answerCompressed(
  c: Context,
  asset: CompressedAsset,
  headers: Record<string, string>,
): Response {
  const match = c.req.header("if-none-match");
  if (match && match.split(",").some((t) => t.trim().replace(/^W\//, "") === asset.etag)) {
    return c.body(null, 304, headers);
  }
  const accept = c.req.header("accept-encoding") ?? "";
  let body = asset.raw;
  if (/\bbr\b/.test(accept)) {
    body = asset.br;
    headers["content-encoding"] = "br";
  } else if (/\bgzip\b/.test(accept)) {
    body = asset.gzip;
    headers["content-encoding"] = "gzip";
  }
  headers["content-length"] = String(body.length);
  return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
}
