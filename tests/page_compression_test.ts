/**
 * Pages travel brotli when the browser offers it (budget #3, BENCHMARKS.md), gzip otherwise, and
 * the live stream is never held back to be compressed whole.
 */
import assert from "node:assert/strict";
import { brotliDecompressSync } from "node:zlib";
import { acceptsBrotli } from "../routes/page_brotli.ts";
import { CLOSED_TIME, leaveMessage, testDesk } from "./helpers.ts";

Deno.test("[routes] desk pages: brotli when offered, gzip otherwise, streams untouched", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const me = await d.person("agent");
  for (let i = 0; i < 12; i++) await leaveMessage(d, `+1555010${String(i).padStart(4, "0")}`);
  const page = (encoding: string, path = "/tickets/unassigned") =>
    d.call("GET", path, {
      headers: {
        cookie: `chatdesk_session=${me.token}`,
        accept: "text/html",
        "accept-encoding": encoding,
      },
    });

  await t.step("Accept-Encoding parsing: br with q>0 only", () => {
    assert.equal(acceptsBrotli("gzip, deflate, br, zstd"), true);
    assert.equal(acceptsBrotli("br;q=0.5"), true);
    assert.equal(acceptsBrotli("gzip, br;q=0"), false);
    assert.equal(acceptsBrotli("gzip"), false);
    assert.equal(acceptsBrotli(undefined), false);
    assert.equal(acceptsBrotli("brotli"), false);
  });

  await t.step("a browser's header gets the same page, brotli, smaller than gzip", async () => {
    const br = await page("gzip, deflate, br, zstd");
    assert.equal(br.status, 200);
    assert.equal(br.headers.get("content-encoding"), "br");
    assert.match(br.headers.get("vary") ?? "", /accept-encoding/i);
    const packed = new Uint8Array(await br.arrayBuffer());
    assert.equal(Number(br.headers.get("content-length")), packed.length);
    const html = new TextDecoder().decode(brotliDecompressSync(packed));
    assert.match(html, /<h1[^>]*>/);
    assert.match(html, /\+15550100011/, "the page's rows are all there");

    const gz = await page("gzip");
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    const gzBytes = (await gz.arrayBuffer()).byteLength;
    assert.ok(packed.length < gzBytes, `br ${packed.length} B < gzip ${gzBytes} B`);
    const plain = await page("identity");
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(await plain.text(), html, "one page, three encodings");
  });

  await t.step("the live stream is not brotli (it is written as it goes)", async () => {
    const res = await d.call("GET", "/events?view=desk", {
      headers: {
        cookie: `chatdesk_session=${me.token}`,
        accept: "text/event-stream",
        "accept-encoding": "gzip, br",
      },
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.notEqual(res.headers.get("content-encoding"), "br");
    await res.body?.cancel();
  });
  await d.close();
});

Deno.test("[routes] Admin and Supervisor share one cached, compressed stylesheet", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const linked = async (path: string) => {
    const res = await d.call("GET", path, {
      headers: { cookie: `chatdesk_session=${admin.token}`, accept: "text/html" },
    });
    const html = await res.text();
    return [...html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((m) => m[1]);
  };
  const adminCss = (await linked("/admin/hours")).filter((h) => h.includes("admin.css"));
  const supervisorCss = (await linked("/supervisor")).filter((h) => h.includes("admin.css"));
  assert.equal(adminCss.length, 1, "the Admin pages link it");
  assert.deepEqual(supervisorCss, adminCss, "moving between the areas downloads it once");
  const res = await d.call("GET", adminCss[0], { headers: { "accept-encoding": "br, gzip" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), "br");
  assert.match(res.headers.get("cache-control") ?? "", /immutable/);
  await res.body?.cancel();
  await d.close();
});
