/**
 * Brotli for the desk's HTML pages and htmx fragments (hono's `compress` knows gzip and deflate
 * only). A page is a string already rendered, so compressing it whole costs ≈ 1 ms for a 50-row
 * list at quality 5 and saves ≈ 20% over gzip (budget #3 in BENCHMARKS.md). Streams (SSE) and
 * anything not HTML are left to `compress`, which skips a response that already has an encoding.
 */
import type { MiddlewareHandler } from "hono";
import { brotliCompressSync, constants } from "node:zlib";

/** Below this a page is not worth compressing (the same threshold as hono's compress). */
const THRESHOLD = 1024;

export function acceptsBrotli(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(",").some((part) => {
    const [name, ...params] = part.trim().split(";");
    if (name.trim().toLowerCase() !== "br") return false;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
    return !q || Number(q[1]) > 0;
  });
}

export const brotliPages: MiddlewareHandler = async (c, next) => {
  await next();
  const res = c.res;
  if (
    c.req.method === "HEAD" || res.status === 206 || !res.body ||
    res.headers.has("content-encoding") ||
    !(res.headers.get("content-type") ?? "").startsWith("text/html") ||
    !acceptsBrotli(c.req.header("accept-encoding"))
  ) return;
  const raw = new Uint8Array(await res.arrayBuffer());
  const vary = res.headers.get("vary");
  const headers = new Headers(res.headers);
  if (!vary || !/accept-encoding/i.test(vary)) {
    headers.set("vary", vary ? `${vary}, Accept-Encoding` : "Accept-Encoding");
  }
  if (raw.length < THRESHOLD) {
    c.res = new Response(raw, { status: res.status, headers });
    return;
  }
  const body = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } });
  headers.set("content-encoding", "br");
  headers.set("content-length", String(body.length));
  c.res = new Response(body as Uint8Array<ArrayBuffer>, { status: res.status, headers });
};
