/**
 * [e2e] Rules 50 and 51 in headless Chromium. A WhatsApp customer's photo and voice note arrive
 * through the real inbound path (a signed Meta webhook; the files fetched from a fake Meta media
 * server on 127.0.0.1) while the agent's ticket page is open: each shows "Fetching file…" and
 * then, by itself, the image (decoded: `naturalWidth > 0`) and a player that knows its duration;
 * a redraw of the thread keeps a player as it is (`hx-preserve`). The agent sends a photo by
 * dropping it on the reply box and with JavaScript off through the plain multipart form. axe-core
 * finds nothing on the page with media; screenshots at 360 and 1280 px go to ./.shots/.
 *
 * The files are made here, not copied in: a 24 × 16 PNG (zlib from node:zlib, CRCs computed) and
 * a one-second Ogg Opus voice note of 50 silent 20 ms Opus frames (the 3-byte silence packet
 * `F8 FF FE`) in Ogg pages with their CRCs: Opus in Ogg is what WhatsApp voice notes are
 * (`audio/ogg; codecs=opus`), so the player is tried on the real type rather than on WAV; no
 * encoder is needed since silence is a valid Opus frame.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { closeBusiness, leaveMessage } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  launchBrowser,
  type Page,
  pageProblems,
  screenshot,
  serveDesk,
  signInPage,
  until,
} from "./browser.ts";
import { metaBody, metaMessage, postMeta, SHEENA, whatsappDesk } from "./provider_webhooks.ts";

// ---- Files --------------------------------------------------------------------------------------

const CRC32_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A real PNG: `width` × `height`, RGB, a diagonal of two colours. */
export function tinyPng(width = 24, height = 16): Uint8Array<ArrayBuffer> {
  const chunk = (type: string, data: Uint8Array) => {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, data.length);
    head.set(new TextEncoder().encode(type), 4);
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32(concat([head.subarray(4), data])));
    return concat([head, data, crc]);
  };
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const rows = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * (1 + width * 3) + 1 + x * 3;
      rows.set(x > y ? [31, 95, 191] : [240, 180, 40], at);
    }
  }
  return concat([
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", new Uint8Array()),
  ]);
}

/** Ogg's CRC: polynomial 0x04c11db7, not reflected, no final xor. */
const OGG_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  return c >>> 0;
});
function oggCrc(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) c = ((c << 8) ^ OGG_TABLE[((c >>> 24) ^ b) & 0xff]) >>> 0;
  return c >>> 0;
}

/** A real Ogg Opus file: `seconds` of silence, mono, 48 kHz, 20 ms frames. */
export function tinyOggOpus(seconds = 1): Uint8Array<ArrayBuffer> {
  const serial = 0x4d454449;
  const preSkip = 312;
  let sequence = 0;
  const page = (packets: Uint8Array[], granule: bigint, flags: number) => {
    const lacing: number[] = [];
    for (const p of packets) {
      let n = p.length;
      while (n >= 255) {
        lacing.push(255);
        n -= 255;
      }
      lacing.push(n);
    }
    const head = new Uint8Array(27 + lacing.length);
    const v = new DataView(head.buffer);
    head.set(new TextEncoder().encode("OggS"), 0);
    head[4] = 0;
    head[5] = flags;
    v.setBigUint64(6, granule, true);
    v.setUint32(14, serial, true);
    v.setUint32(18, sequence++, true);
    head[26] = lacing.length;
    head.set(lacing, 27);
    const bytes = concat([head, ...packets]);
    new DataView(bytes.buffer).setUint32(22, oggCrc(bytes), true);
    return bytes;
  };
  const opusHead = new Uint8Array(19);
  const h = new DataView(opusHead.buffer);
  opusHead.set(new TextEncoder().encode("OpusHead"), 0);
  opusHead[8] = 1; // version
  opusHead[9] = 1; // channels
  h.setUint16(10, preSkip, true);
  h.setUint32(12, 48_000, true);
  const vendor = new TextEncoder().encode("chatdesk tests");
  const opusTags = new Uint8Array(8 + 4 + vendor.length + 4);
  opusTags.set(new TextEncoder().encode("OpusTags"), 0);
  new DataView(opusTags.buffer).setUint32(8, vendor.length, true);
  opusTags.set(vendor, 12);
  const frames = Math.round(seconds * 50);
  // TOC 0xF8: CELT-only, fullband, 20 ms, mono, one frame; FF FE: a silent frame.
  const silence = Array.from({ length: frames }, () => new Uint8Array([0xf8, 0xff, 0xfe]));
  return concat([
    page([opusHead], 0n, 0x02),
    page([opusTags], 0n, 0),
    page(silence, BigInt(preSkip + frames * 960), 0x04),
  ]);
}

// ---- A fake Meta media server ------------------------------------------------------------------

interface FakeMeta {
  url: string;
  add(id: string, bytes: Uint8Array<ArrayBuffer>, mime: string): void;
  /** Downloads wait until this is called (so "Fetching file…" can be seen first). */
  release(): void;
  hold(): void;
  close(): Promise<void>;
}

/** Meta's "Retrieve media URL" and the download it names, on 127.0.0.1 (SPEC rule 49's wire). */
function fakeMeta(): FakeMeta {
  const files = new Map<string, { bytes: Uint8Array<ArrayBuffer>; mime: string }>();
  let gate: { promise: Promise<void>; resolve: () => void } = Promise.withResolvers<void>();
  gate.resolve();
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const download = /^\/download\/(\w+)$/.exec(url.pathname);
      const info = /^\/(?:v\d+\.\d+\/)?(\w+)$/.exec(url.pathname);
      if (!req.headers.get("authorization")?.startsWith("Bearer ")) {
        return new Response("{}", { status: 401 });
      }
      if (download) {
        const file = files.get(download[1]);
        if (!file) return new Response("", { status: 404 });
        await gate.promise;
        return new Response(file.bytes, { headers: { "content-type": file.mime } });
      }
      const file = info && files.get(info[1]);
      if (!file) return Response.json({ error: { code: 100 } }, { status: 404 });
      return Response.json({
        messaging_product: "whatsapp",
        url: `${url.origin}/download/${info![1]}`,
        mime_type: file.mime,
        sha256: createHash("sha256").update(file.bytes).digest("hex"),
        file_size: file.bytes.length,
        id: info![1],
      });
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    add: (id, bytes, mime) => void files.set(id, { bytes, mime }),
    release: () => gate.resolve(),
    hold: () => void (gate = Promise.withResolvers<void>()),
    async close() {
      gate.resolve();
      ac.abort();
      await server.finished;
    },
  };
}

// ---- The desk ----------------------------------------------------------------------------------

/** A browser context signed in as `email` (JavaScript on, or off for the plain form). */
async function signIn(browser: Browser, url: string, email: string, js = true): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    javaScriptEnabled: js,
  });
  return await signInPage(context, url, email);
}

Deno.test({
  name: "[e2e] media in Chromium: a photo and a voice note arrive live, agents send a photo",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (s) => {
  const meta = fakeMeta();
  const t = await whatsappDesk({ providers: { whatsappApiBase: meta.url } });
  await closeBusiness(t);
  const server = serveDesk(t);
  const browser = await launchBrowser();
  const watch = pageProblems();
  const { agent, token } = await t.person("agent", { name: "Ana Media" });
  const ticketId = await leaveMessage(t, SHEENA, ["My parcel arrived broken"]);
  assert.equal((await t.call("POST", `/api/tickets/${ticketId}/accept`, { token })).status, 200);
  // The agent's reply starts a live chat: what the customer sends next joins this ticket's thread.
  const asked = await t.call("POST", `/api/tickets/${ticketId}/reply`, {
    token,
    body: { text: "Sorry to hear that. Could you send a photo of the box?" },
  });
  assert.equal(asked.status, 201);
  const png = tinyPng();
  const ogg = tinyOggOpus(1);
  meta.add("7001", png, "image/png");
  meta.add("7002", ogg, "audio/ogg; codecs=opus");
  const from = SHEENA.slice(1);
  const ticketUrl = `${server.url}/tickets/assigned/${ticketId}`;
  let page!: Page;

  try {
    await s.step(
      "a photo arriving shows Fetching file…, then the image, without reload",
      async () => {
        page = watch.watch(await signIn(browser, server.url, agent.email));
        await page.goto(ticketUrl);
        await page.evaluate("window.__loaded = 1");
        meta.hold();
        const res = await postMeta(
          t,
          metaBody({
            messages: [metaMessage(from, "", {
              type: "image",
              image: { id: "7001", mime_type: "image/png" },
            })],
          }),
        );
        assert.equal(res.status, 200);
        await until(
          page,
          `!!document.querySelector('#conversation [data-status="fetching"]')`,
          15_000,
        );
        const waiting = await page.textContent('#conversation [data-status="fetching"]');
        assert.match(waiting ?? "", /Fetching file…/);
        assert.equal(
          await page.locator("#conversation .msg-in", { hasText: "[image]" }).count(),
          0,
        );
        meta.release();
        await until(
          page,
          `!!document.querySelector('#conversation img[src^="/api/attachments/"]')`,
        );
        const img = page.locator('#conversation img[src^="/api/attachments/"]');
        await img.scrollIntoViewIfNeeded();
        await until(
          page,
          `(() => { const i = document.querySelector('#conversation img[src^="/api/attachments/"]');
          return i.complete && i.naturalWidth > 0; })()`,
        );
        const facts = await page.evaluate(`(() => {
        const i = document.querySelector('#conversation img[src^="/api/attachments/"]');
        return {
          natural: [i.naturalWidth, i.naturalHeight],
          attrs: [i.getAttribute("width"), i.getAttribute("height")],
          loading: i.getAttribute("loading"),
        };
      })()`) as { natural: number[]; attrs: string[]; loading: string };
        assert.deepEqual(facts.natural, [24, 16], "the PNG decoded");
        assert.deepEqual(facts.attrs, ["240", "180"], "a fixed box");
        assert.equal(facts.loading, "lazy");
        assert.equal(await page.evaluate("window.__loaded"), 1, "no reload");
      },
    );

    await s.step("a voice note arrives and its player knows its duration", async () => {
      meta.hold();
      await postMeta(
        t,
        metaBody({
          messages: [metaMessage(from, "", {
            type: "audio",
            audio: { id: "7002", mime_type: "audio/ogg; codecs=opus", voice: true },
          })],
        }),
      );
      await until(
        page,
        `document.querySelectorAll('#conversation [data-status="fetching"]').length === 1`,
      );
      meta.release();
      await until(page, `!!document.querySelector('#conversation audio')`);
      const audio = page.locator("#conversation audio");
      assert.equal(await audio.getAttribute("preload"), "none", "nothing loads until played");
      // preload="none" loads nothing by itself: ask for the metadata as pressing play would.
      await page.evaluate(`(() => {
        const a = document.querySelector("#conversation audio");
        a.preload = "metadata";
        a.load();
      })()`);
      await until(
        page,
        `(() => { const a = document.querySelector('#conversation audio');
          return a.readyState >= 1 && Number.isFinite(a.duration); })()`,
      );
      const duration = Number(
        await page.evaluate(`document.querySelector("#conversation audio").duration`),
      );
      assert.ok(Math.abs(duration - 1) < 0.1, `duration ${duration} s`);
      await page.locator("#conversation .media-audio").screenshot({
        path: ".shots/media-audio.png",
      });
      assert.equal(await page.evaluate("window.__loaded"), 1, "no reload");
    });

    await s.step("a redraw of the thread keeps the players and images as they are", async () => {
      await page.evaluate(`document.querySelector('#conversation audio').__kept = 1`);
      const before = await page.locator("#conversation .msg").count();
      await postMeta(t, metaBody({ messages: [metaMessage(from, "Here is the box too")] }));
      await until(page, `document.querySelectorAll('#conversation .msg').length > ${before}`);
      assert.equal(
        await page.evaluate(`document.querySelector('#conversation audio').__kept`),
        1,
        "the same <audio> element (hx-preserve)",
      );
    });

    await s.step("a PDF, a place, a sticker and a file still being fetched show too", async () => {
      meta.add("7003", new TextEncoder().encode("%PDF-1.4\n%%EOF\n"), "application/pdf");
      meta.add("7004", png, "image/webp");
      meta.add("7005", png, "image/png");
      const before = await page.locator("#conversation .msg").count();
      await postMeta(
        t,
        metaBody({
          messages: [
            metaMessage(from, "", {
              type: "document",
              document: {
                id: "7003",
                mime_type: "application/pdf",
                filename: "receipt <2026>.pdf",
                caption: "The receipt",
              },
            }),
            metaMessage(from, "", {
              type: "location",
              location: {
                latitude: -33.9249,
                longitude: 18.4241,
                name: "Depot <North>",
                address: "1 Dock Rd, Cape Town",
              },
            }),
            metaMessage(from, "", {
              type: "sticker",
              sticker: { id: "7004", mime_type: "image/webp" },
            }),
          ],
        }),
      );
      await until(page, `document.querySelectorAll('#conversation .msg').length >= ${before + 3}`);
      await until(page, `!document.querySelector('#conversation [data-status="fetching"]')`);
      meta.hold();
      await postMeta(
        t,
        metaBody({
          messages: [metaMessage(from, "", {
            type: "image",
            image: { id: "7005", mime_type: "image/png", caption: "And the label" },
          })],
        }),
      );
      await until(page, `!!document.querySelector('#conversation [data-status="fetching"]')`);
      await page.evaluate(
        `document.querySelectorAll("details.msg-earlier").forEach((d) => d.open = true)`,
      );
      const link = page.locator('#conversation a[href^="https://www.openstreetmap.org/"]');
      assert.equal(
        await link.getAttribute("href"),
        "https://www.openstreetmap.org/?mlat=-33.9249&mlon=18.4241#map=16/-33.9249/18.4241",
      );
      assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
      assert.equal(await page.locator("#conversation", { hasText: "Depot <North>" }).count(), 1);
      const pdf = page.locator("#conversation a.media-file", { hasText: "receipt <2026>.pdf" });
      assert.equal(await pdf.count(), 1, "the PDF is a download link with its name");
      assert.match(await pdf.textContent() ?? "", /\d+ bytes/);
      assert.equal(await page.locator("#conversation .media-sticker img").count(), 1);
    });

    await s.step("axe-core finds nothing on the ticket page with media", async () => {
      const violations = await axeViolations(page);
      assert.deepEqual(violations, []);
    });

    await s.step("screenshots at 1280 and 360 px", async () => {
      await screenshot(page, "media-ticket-1280");
      await page.setViewportSize({ width: 360, height: 640 });
      await page.goto(ticketUrl);
      await page.evaluate(
        `document.querySelectorAll("details.msg-earlier").forEach((d) => d.open = true)`,
      );
      const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
      assert.ok(width <= 360, `no horizontal scroll at 360 px (${width})`);
      await screenshot(page, "media-ticket-360");
      await page.setViewportSize({ width: 1280, height: 800 });
      meta.release();
    });

    await s.step(
      "the reply box's help loads at the box's first use, not with the page",
      async () => {
        await page.goto(ticketUrl);
        await page.waitForLoadState("load");
        const requested = () =>
          page.evaluate(
            `performance.getEntriesByType("resource").some((e) => e.name.includes("/static/compose.js"))`,
          );
        assert.equal(await requested(), false, "compose.js came with the page");
        assert.equal(await page.getAttribute("form[data-compose]", "data-ready"), null);
        // What works before it: the keyboard hint and the file button are there already.
        assert.equal(await page.isVisible("[data-kbd-hint]"), true);
        await page.focus("[data-compose-text]");
        await until(page, `!!document.querySelector("form[data-compose][data-ready]")`);
        assert.equal(await requested(), true);
      },
    );

    await s.step("an agent drops a photo on the reply box and sends it", async () => {
      await page.goto(ticketUrl);
      const name = "dropped-photo.png";
      await page.evaluate(
        `(() => {
          const bytes = new Uint8Array(${JSON.stringify([...png])});
          const file = new File([bytes], ${JSON.stringify(name)}, { type: "image/png" });
          const dt = new DataTransfer();
          dt.items.add(file);
          const form = document.querySelector("form[data-compose]");
          for (const type of ["dragenter", "dragover", "drop"]) {
            form.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
          }
        })()`,
      );
      const chosen = await page.textContent(".attach-chosen");
      assert.match(chosen ?? "", /dropped-photo\.png/);
      assert.match(chosen ?? "", /\d+ bytes|kB/);
      assert.equal(
        await page.evaluate(`document.querySelector("[data-compose-file]").files[0].name`),
        name,
      );
      await screenshot(page, "media-reply-dropped-1280");
      await Promise.all([
        page.waitForURL((u) => u.pathname.includes(ticketId)),
        page.click("[data-send]"),
      ]);
      await until(
        page,
        `[...document.querySelectorAll('#conversation .msg-out img')].some((i) => i.complete && i.naturalWidth > 0)`,
      );
      const sent = await page.locator("#conversation .msg-out img").count();
      assert.ok(sent >= 1, "the sent photo shows in the thread");
    });

    await s.step("with JavaScript off the plain multipart form sends a photo", async () => {
      const plain = watch.watch(await signIn(browser, server.url, agent.email, false));
      await plain.goto(ticketUrl);
      const before = await plain.locator("#conversation .msg-out img").count();
      const path = await Deno.makeTempFile({ suffix: ".png" });
      await Deno.writeFile(path, png);
      await plain.setInputFiles("input[name=file]", path);
      await plain.fill("textarea[name=text]", "The label, as a photo");
      await Promise.all([plain.waitForURL(/\/tickets\//), plain.click("[data-send]")]);
      await plain.goto(ticketUrl);
      const after = await plain.locator("#conversation .msg-out img").count();
      assert.equal(after, before + 1, "one more photo in the thread");
      assert.equal(
        await plain.locator("#conversation .msg-out", { hasText: "The label, as a photo" }).count(),
        1,
        "with its caption",
      );
      await Deno.remove(path);
      await plain.context().close();
    });

    watch.assertClean();
  } finally {
    await browser.close();
    await server.close();
    await t.close();
    await meta.close();
  }
});
