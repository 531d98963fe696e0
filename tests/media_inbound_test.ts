/**
 * Rules 49 and 50 for files customers send: parsed from the providers' real payloads, fetched
 * after the webhook is answered from fake Meta and Twilio media servers (tests/fake_media.ts),
 * retried, checked against Meta's SHA-256, capped, kept in the desk's store, and served only to
 * whoever may read the message, with rule 50's headers; rule 51's signed links.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DAY, HOUR } from "../domain/clock.ts";
import { runArchive } from "../domain/sweeps.ts";
import { KvFileStore } from "../domain/file_store.ts";
import { keys } from "../domain/keys.ts";
import { hexOf, MediaFetcher } from "../domain/media_fetch.ts";
import { MEDIA_LINK_MS, signMediaToken } from "../domain/media_links.ts";
import { parseMetaWebhook } from "../domain/providers/meta.ts";
import { parseTwilioInbound } from "../domain/providers/twilio.ts";
import type { Attachment, Message } from "../domain/types.ts";
import { bytesOf, FakeMedia, sha256Hex } from "./fake_media.ts";
import { closeBusiness, customerOf, type TestDesk, waitFor } from "./helpers.ts";
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  fixture,
  formFixture,
  metaBody,
  metaMessage,
  PHONE_NUMBER_ID,
  postMeta,
  postTwilio,
  SHEENA,
  twilioDesk,
  whatsappDesk,
} from "./provider_webhooks.ts";

const BEARER = "EAAG-test-token";
const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Parsing: every media type of the fixtures.

Deno.test("[domain] rule 49: provider media in our words", async (t) => {
  const metaOf = (name: string) => {
    const webhook = parseMetaWebhook(JSON.parse(fixture(name)), PHONE_NUMBER_ID);
    assert.equal(webhook.messages.length, 1);
    return webhook.messages[0];
  };

  await t.step("an image: its caption is the text; media id, type and Meta's hash kept", () => {
    const m = metaOf("meta_image_caption.json");
    assert.equal(m.text, "The crack is on the left side");
    assert.deepEqual(m.media, [{
      kind: "image",
      mime: "image/jpeg",
      source: {
        route: "meta",
        mediaId: "1003383421387256",
        sha256: "SfInY0s7PgVj2kxA+8JR2jnWAm5vMyrXgyvEvbP2m5E=",
      },
    }]);
  });

  await t.step("Meta's hash reads as hex whether it comes as hex or as base64", () => {
    const hex = sha256Hex(new TextEncoder().encode("abc"));
    const b64 = btoa(String.fromCharCode(...hex.match(/../g)!.map((h) => parseInt(h, 16))));
    assert.equal(hexOf(b64), hex);
    assert.equal(hexOf(hex.toUpperCase()), hex);
    // Not a SHA-256 at all (a documentation placeholder): nothing to check the bytes against.
    assert.equal(hexOf("<HASH>"), null);
    assert.equal(hexOf("IMAGE_HASH"), null);
  });

  await t.step("a voice note is audio/ogg with the opus codec, text [audio]", () => {
    const m = metaOf("meta_audio_voice.json");
    assert.equal(m.text, "[audio]");
    assert.equal(m.media?.[0].kind, "audio");
    assert.equal(m.media?.[0].mime, "audio/ogg; codecs=opus");
    assert.equal(m.passive, undefined, "a voice note starts a conversation like text");
  });

  await t.step("a video keeps its caption; a sticker is a small webp image", () => {
    const video = metaOf("meta_video.json");
    assert.equal(video.text, "It rattles like this");
    assert.deepEqual([video.media?.[0].kind, video.media?.[0].mime], ["video", "video/mp4"]);
    const sticker = metaOf("meta_sticker.json");
    assert.equal(sticker.text, "[sticker]");
    assert.deepEqual([sticker.media?.[0].kind, sticker.media?.[0].mime], ["sticker", "image/webp"]);
  });

  await t.step("a document without caption reads [document] <name> and keeps the name", () => {
    const m = metaOf("meta_document.json");
    assert.equal(m.text, "[document] receipt-4471.pdf");
    assert.equal(m.media?.[0].filename, "receipt-4471.pdf");
    assert.equal(m.media?.[0].mime, "application/pdf");
  });

  await t.step("a place has coordinates, name and address, and no file", () => {
    const m = metaOf("meta_location.json");
    assert.equal(m.media, undefined);
    assert.deepEqual(m.location, {
      latitude: 37.483307,
      longitude: -122.148981,
      name: "Philz Coffee",
      address: "1 Hacker Way, Menlo Park, CA 94025",
    });
    assert.equal(m.text, "[location] Philz Coffee, 1 Hacker Way, Menlo Park, CA 94025");
  });

  await t.step("hostile media ids, types, names and coordinates are dropped or cleaned", () => {
    const body = metaBody({
      messages: [
        metaMessage("16505551234", "", {
          type: "image",
          image: { id: "../../etc/passwd", mime_type: "image/png" },
        }),
        metaMessage("16505551234", "", {
          type: "document",
          document: {
            id: "1234",
            mime_type: "text/html\r\nX-Evil: 1",
            filename: '../"evil"\r\n.html',
          },
        }),
        metaMessage("16505551234", "", {
          type: "location",
          location: { latitude: 123, longitude: 0 },
        }),
      ],
    });
    const [bad, doc, place] = parseMetaWebhook(JSON.parse(body), PHONE_NUMBER_ID).messages;
    assert.equal(bad.media, undefined);
    assert.equal(doc.media?.[0].mime, "application/octet-stream");
    assert.equal(doc.media?.[0].filename, ".. evil .html".replace(/ +/g, " "));
    assert.equal(place.location, undefined);
  });

  await t.step("a Twilio MMS with two files: each MediaUrl with its type, the body as text", () => {
    const [m] = parseTwilioInbound(formFixture("twilio_mms_two.txt")).messages;
    assert.equal(m.text, "Photo and the invoice");
    assert.deepEqual(m.media?.map((x) => [x.kind, x.mime]), [
      ["image", "image/jpeg"],
      ["document", "application/pdf"],
    ]);
    assert.match(
      (m.media?.[1].source as { url: string }).url,
      /\/Media\/ME22222222222222222222222222222222$/,
    );
  });

  await t.step(
    "Twilio: NumMedia past 10 reads 10; URLs other than https (or loopback) are dropped",
    () => {
      const params: [string, string][] = [
        ["MessageSid", "MM" + "1".repeat(32)],
        ["From", "+14155550111"],
        ["To", "+14155552671"],
        ["Body", ""],
        ["NumMedia", "999"],
      ];
      for (let i = 0; i < 12; i++) {
        const url = i === 3 ? "javascript:alert(1)" : i === 5
          ? `http://media.example.com/m/${i}` // cleartext: the credentials would travel in clear
          : `https://x.test/m/${i}`;
        params.push([`MediaUrl${i}`, url]);
        params.push([`MediaContentType${i}`, "image/png"]);
      }
      const [m] = parseTwilioInbound(params).messages;
      assert.equal(m.media?.length, 8);
      assert.equal(m.text, "[image]");
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Fetching and serving.

/** A WhatsApp desk whose Graph API is the fake media server. */
async function mediaDesk(fake: FakeMedia, opts: { maxBytes?: number } = {}) {
  return await whatsappDesk({
    providers: { whatsappApiBase: fake.origin, mediaMaxBytes: opts.maxBytes },
  });
}

function imageMessage(mediaId: string, over: Record<string, unknown> = {}) {
  return metaMessage("16505551234", "", {
    type: "image",
    image: { mime_type: "image/jpeg", id: mediaId, ...over },
  });
}

/** The customer's inbound messages with attachments. */
async function attachmentsOf(t: TestDesk, from = SHEENA): Promise<Attachment[]> {
  const { inbound } = await customerOf(t, from.startsWith("+1415") ? "sms" : "whatsapp", from);
  return inbound.flatMap((m) => m.attachments ?? []);
}

async function storedAttachment(t: TestDesk, from = SHEENA, count = 1) {
  let all: Attachment[] = [];
  await waitFor(
    async () => {
      all = await attachmentsOf(t, from);
      return all.length === count && all.every((a) => a.status !== "fetching");
    },
    15_000,
    "the files to leave fetching",
  );
  return all;
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey) {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

async function bytesOfResponse(res: Response) {
  return new Uint8Array(await res.arrayBuffer());
}

Deno.test("[routes] rule 49: WhatsApp files are fetched after the answer, checked and kept", async (t) => {
  const fake = new FakeMedia(BEARER, { user: ACCOUNT_SID, password: AUTH_TOKEN });
  try {
    await t.step(
      "the answer comes while the download is still under way; then it is stored",
      async () => {
        const jpeg = bytesOf(300_000, 7);
        fake.add("2001", { bytes: jpeg, mime: "image/jpeg", stall: true });
        const d = await mediaDesk(fake);
        try {
          const res = await postMeta(d, metaBody({ messages: [imageMessage("2001")] }));
          assert.equal(res.status, 200);
          // The answer did not wait for the file: the download is stalled half way right now.
          const [fetching] = await attachmentsOf(d);
          assert.equal(fetching.status, "fetching");
          await fake.stalled.promise;
          fake.release();
          const [stored] = await storedAttachment(d);
          assert.equal(stored.status, "stored");
          assert.equal(stored.size, jpeg.length);
          assert.equal(stored.mime, "image/jpeg");
          // The bearer token went to both Meta calls.
          const calls = fake.requests.filter((r) => r.path.includes("2001"));
          assert.deepEqual(calls.map((r) => r.authorization), [
            `Bearer ${BEARER}`,
            `Bearer ${BEARER}`,
          ]);
          // Served to staff: the same bytes, with rule 50's headers.
          const { token } = await d.person("supervisor");
          const served = await d.call("GET", `/api/attachments/${stored.id}`, { token });
          assert.equal(served.status, 200);
          assert.equal(served.headers.get("content-type"), "image/jpeg");
          assert.match(served.headers.get("cache-control") ?? "", /^private/);
          assert.equal(served.headers.get("x-content-type-options"), "nosniff");
          assert.equal(served.headers.get("content-security-policy"), "sandbox");
          assert.match(served.headers.get("content-disposition") ?? "", /^inline/);
          assert.equal(sha256Hex(await bytesOfResponse(served)), sha256Hex(jpeg));
        } finally {
          await d.close();
        }
      },
    );

    await t.step("rule 25's schedule: 500 then 503, then stored on the third try", async () => {
      const png = bytesOf(70_000, 3);
      fake.add("2002", { bytes: png, mime: "image/png", failFirst: [500, 503] });
      const d = await mediaDesk(fake);
      try {
        await postMeta(
          d,
          metaBody({ messages: [imageMessage("2002", { mime_type: "image/png" })] }),
        );
        await waitFor(() => fake.downloads("2002") === 1, 10_000, "the first try");
        await waitFor(async () => !(await d.media.runDue()), 5_000, "the first try to settle");
        assert.equal((await attachmentsOf(d))[0].status, "fetching");
        const { token } = await d.person("admin");
        // 5 s later the second try (503), 15 s after that the third.
        await d.json("POST", "/api/test/clock", { token, body: { advanceMs: 5_000 } });
        assert.equal(fake.downloads("2002"), 2);
        assert.equal((await attachmentsOf(d))[0].status, "fetching");
        await d.json("POST", "/api/test/clock", { token, body: { advanceMs: 15_000 } });
        assert.equal(fake.downloads("2002"), 3);
        const [stored] = await storedAttachment(d);
        assert.equal(stored.status, "stored");
        const served = await d.call("GET", `/api/attachments/${stored.id}`, { token });
        assert.equal(sha256Hex(await bytesOfResponse(served)), sha256Hex(png));
        assert.equal(await countKeys(d.kv, keys.mediaJob("").slice(0, 1)), 0, "no job left");
        assert.equal(await countKeys(d.kv, keys.mediaDue()), 0, "no due entry left");
      } finally {
        await d.close();
      }
    });

    await t.step(
      "a hash that does not match is never stored; after 24 h the file is failed",
      async () => {
        fake.add("2003", { bytes: bytesOf(1000, 5), mime: "image/jpeg", sha256: "0".repeat(64) });
        const d = await mediaDesk(fake);
        try {
          await postMeta(d, metaBody({ messages: [imageMessage("2003")] }));
          await waitFor(() => fake.downloads("2003") === 1, 10_000, "the first try");
          await d.media.runDue();
          const [attachment] = await attachmentsOf(d);
          const job = await d.kv.get<{ lastError?: string }>(keys.mediaJob(attachment.id));
          assert.match(job.value?.lastError ?? "", /SHA-256 does not match/);
          assert.equal((await d.kv.get(keys.file(attachment.id))).value, null, "nothing kept");
          // An hour at a time (sessions expire on this clock: the fetcher is run directly).
          for (let hours = 0; hours <= 25; hours++) {
            d.clock.set(d.clock.now() + HOUR);
            await d.media.runDue();
          }
          const { token } = await d.person("admin");
          const [failed] = await storedAttachment(d);
          assert.equal(failed.status, "failed");
          assert.ok(fake.downloads("2003") >= 8, "retried on the schedule");
          const served = await d.call("GET", `/api/attachments/${failed.id}`, { token });
          assert.equal(served.status, 409);
          assert.equal((await served.json()).error.status, "failed");
        } finally {
          await d.close();
        }
      },
    );

    await t.step("a media id Meta no longer knows (404) fails at once", async () => {
      const d = await mediaDesk(fake);
      try {
        await postMeta(d, metaBody({ messages: [imageMessage("9999")] }));
        const [failed] = await storedAttachment(d);
        assert.equal(failed.status, "failed");
      } finally {
        await d.close();
      }
    });

    await t.step(
      "17 MiB is too_large with its size, never downloaded, the answer not delayed",
      async () => {
        fake.add("2004", { bytes: new Uint8Array(17 * MIB), mime: "video/mp4" });
        const d = await mediaDesk(fake);
        try {
          const started = performance.now();
          const res = await postMeta(
            d,
            metaBody({
              messages: [metaMessage("16505551234", "", {
                type: "video",
                video: { id: "2004", mime_type: "video/mp4" },
              })],
            }),
          );
          assert.equal(res.status, 200);
          const [big] = await storedAttachment(d);
          assert.equal(big.status, "too_large");
          assert.equal(big.size, 17 * MIB);
          assert.equal(fake.downloads("2004"), 0);
          assert.equal(await countKeys(d.kv, keys.fileChunks("").slice(0, 1)), 0);
          // The webhook's answer is the store of one message, whatever the file's size.
          assert.ok(performance.now() - started < 4_500);
        } finally {
          await d.close();
        }
      },
    );

    await t.step(
      "a download longer than the cap with no size announced stops at the cap",
      async () => {
        fake.add("2005", { bytes: bytesOf(40_000, 9), mime: "application/pdf" });
        // A Graph answer without file_size: the cap is enforced on the bytes themselves.
        const d = await mediaDesk(fake, { maxBytes: 16_384 });
        try {
          await postMeta(
            d,
            metaBody({
              messages: [metaMessage("16505551234", "", {
                type: "document",
                document: { id: "2005", mime_type: "application/pdf", filename: "big.pdf" },
              })],
            }),
          );
          const [big] = await storedAttachment(d);
          assert.equal(big.status, "too_large");
          assert.equal(big.size, 40_000);
          assert.equal(await countKeys(d.kv, keys.fileChunks("").slice(0, 1)), 0);
          assert.equal(await countKeys(d.kv, keys.file("").slice(0, 1)), 0);
        } finally {
          await d.close();
        }
      },
    );

    await t.step("a repeated webhook fetches and keeps the file once", async () => {
      fake.add("2006", { bytes: bytesOf(130_000, 11), mime: "image/jpeg" });
      const d = await mediaDesk(fake);
      try {
        const body = metaBody({ messages: [imageMessage("2006")] });
        const answers = await Promise.all([
          postMeta(d, body),
          postMeta(d, body),
          postMeta(d, body),
        ]);
        assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
        const all = await storedAttachment(d);
        assert.equal(all.length, 1);
        assert.equal(fake.downloads("2006"), 1);
        assert.equal(await countKeys(d.kv, keys.file("").slice(0, 1)), 1);
        assert.equal(await countKeys(d.kv, keys.fileChunks(all[0].id)), 3);
      } finally {
        await d.close();
      }
    });

    await t.step("two instances on one store fetch each due file once", async () => {
      for (let i = 0; i < 6; i++) {
        fake.add(`21${i}`, { bytes: bytesOf(5_000, i), mime: "image/png" });
      }
      const d = await mediaDesk(fake);
      try {
        // No kick: the files wait for the due entries, which two instances race for.
        d.desk.fetchMedia = undefined;
        await postMeta(
          d,
          metaBody({
            messages: [0, 1, 2, 3, 4, 5].map((i) =>
              imageMessage(`21${i}`, { mime_type: "image/png" })
            ),
          }),
        );
        const config = {
          publicUrl: null,
          whatsappApiBase: fake.origin,
          twilioApiBase: fake.origin,
          timeoutMs: 2_000,
        };
        const a = new MediaFetcher(d.desk, new KvFileStore(d.kv), config);
        const b = new MediaFetcher(d.desk, new KvFileStore(d.kv), config);
        await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
        const all = await storedAttachment(d, SHEENA, 6);
        assert.ok(all.every((x) => x.status === "stored"));
        for (let i = 0; i < 6; i++) assert.equal(fake.downloads(`21${i}`), 1, `file ${i}`);
      } finally {
        await d.close();
      }
    });
  } finally {
    await fake.close();
  }
});

Deno.test("[routes] rule 49: Twilio MMS files are fetched with Basic auth through the redirect", async () => {
  const fake = new FakeMedia(BEARER, { user: ACCOUNT_SID, password: AUTH_TOKEN });
  const d = await twilioDesk();
  try {
    const jpeg = bytesOf(90_000, 21);
    const pdf = bytesOf(20_000, 22);
    fake.add("ME1", { bytes: jpeg, mime: "image/jpeg" }).add("ME2", {
      bytes: pdf,
      mime: "application/pdf",
    });
    const params: [string, string][] = [
      ["MessageSid", "MM" + "2".repeat(32)],
      ["AccountSid", ACCOUNT_SID],
      ["From", "+14155550199"],
      ["To", "+14155552671"],
      ["Body", "Photo and the invoice"],
      ["NumMedia", "2"],
      ["MediaUrl0", fake.twilioUrl(ACCOUNT_SID, "ME1")],
      ["MediaContentType0", "image/jpeg"],
      ["MediaUrl1", fake.twilioUrl(ACCOUNT_SID, "ME2")],
      ["MediaContentType1", "application/pdf"],
    ];
    assert.equal((await postTwilio(d, "/webhooks/twilio", params)).status, 200);
    const files = await storedAttachment(d, "+14155550199", 2);
    assert.deepEqual(files.map((f) => [f.kind, f.status, f.size]), [
      ["image", "stored", jpeg.length],
      ["document", "stored", pdf.length],
    ]);
    const basic = `Basic ${btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`)}`;
    assert.ok(
      fake.requests.filter((r) => r.path.includes("/Media/")).every((r) =>
        r.authorization === basic
      ),
    );
    const { token } = await d.person("supervisor");
    const pdfServed = await d.call("GET", `/api/attachments/${files[1].id}`, { token });
    assert.match(pdfServed.headers.get("content-disposition") ?? "", /^attachment/);
    assert.equal(sha256Hex(await bytesOfResponse(pdfServed)), sha256Hex(pdf));
  } finally {
    await d.close();
    await fake.close();
  }
});

Deno.test("[routes] rule 50: files are served only to whoever may read their message", async (t) => {
  const fake = new FakeMedia(BEARER, { user: ACCOUNT_SID, password: AUTH_TOKEN });
  // Over one 60 KiB piece, so a range crosses pieces.
  const voice = bytesOf(100_000, 31);
  const svg = new TextEncoder().encode(
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
  );
  fake.add("3001", { bytes: voice, mime: "audio/ogg; codecs=opus" });
  fake.add("3002", { bytes: svg, mime: "image/svg+xml" });
  const d = await mediaDesk(fake);
  try {
    // Out of hours the customer leaves a message: a ticket in the Sales department.
    await closeBusiness(d);
    const sales = await d.department("Sales");
    const support = await d.department("Support");
    await postMeta(d, metaBody({ messages: [metaMessage("16505551234", "Hello")] }));
    await postMeta(d, metaBody({ messages: [metaMessage("16505551234", "YES")] }));
    await postMeta(
      d,
      metaBody({
        messages: [
          metaMessage("16505551234", "", {
            type: "audio",
            audio: { id: "3001", mime_type: "audio/ogg; codecs=opus", voice: true },
          }),
          metaMessage("16505551234", "", {
            type: "document",
            document: { id: "3002", mime_type: "image/svg+xml", filename: "logo.svg" },
          }),
        ],
      }),
    );
    const [audio, doc] = await storedAttachment(d, SHEENA, 2);
    const { ticketId } = await customerOf(d, "whatsapp", SHEENA).then((s) => ({
      ticketId: s.conversation?.ticketId,
    }));
    assert.ok(ticketId);
    const { token: admin } = await d.person("admin");
    // WhatsApp messages carry no department: file the ticket in Sales as routing would for a
    // department's number (only the record's department matters to rule 23).
    const entry = await d.kv.get<Record<string, unknown>>(keys.ticket(ticketId));
    await d.kv.set(keys.ticket(ticketId), { ...entry.value, department: sales });
    const { token: salesAgent } = await d.person("agent", { departments: [sales] });
    const { token: supportAgent } = await d.person("agent", { departments: [support] });

    await t.step("an agent of the ticket's department reads it; the API lists it", async () => {
      const res = await d.call("GET", `/api/attachments/${audio.id}`, { token: salesAgent });
      assert.equal(res.status, 200);
      assert.equal(sha256Hex(await bytesOfResponse(res)), sha256Hex(voice));
      const ticket = await d.json<{ messages: { attachments?: unknown[] }[] }>(
        "GET",
        `/api/tickets/${ticketId}`,
        { token: salesAgent },
      );
      const listed = ticket.body.messages.flatMap((m) => m.attachments ?? []);
      assert.deepEqual(listed[0], {
        id: audio.id,
        kind: "audio",
        mime: "audio/ogg; codecs=opus",
        size: voice.length,
        status: "stored",
      });
    });

    await t.step("an agent of another department and anonymous callers get 404", async () => {
      assert.equal(
        (await d.call("GET", `/api/attachments/${audio.id}`, { token: supportAgent })).status,
        404,
      );
      assert.equal((await d.call("GET", `/api/attachments/${audio.id}`)).status, 404);
      assert.equal(
        (await d.call("GET", `/api/attachments/${audio.id}`, { token: "forged" })).status,
        404,
      );
      assert.equal(
        (await d.call("GET", `/api/attachments/${"0".repeat(26)}`, { token: admin })).status,
        404,
      );
    });

    await t.step("audio seeks with Range: 206 and the exact bytes", async () => {
      const res = await d.call("GET", `/api/attachments/${audio.id}`, {
        token: salesAgent,
        headers: { range: "bytes=61400-61500" },
      });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get("content-range"), `bytes 61400-61500/${voice.length}`);
      assert.deepEqual(await bytesOfResponse(res), voice.slice(61400, 61501));
      const tail = await d.call("GET", `/api/attachments/${audio.id}`, {
        token: salesAgent,
        headers: { range: "bytes=-10" },
      });
      assert.deepEqual(await bytesOfResponse(tail), voice.slice(-10));
      const beyond = await d.call("GET", `/api/attachments/${audio.id}`, {
        token: salesAgent,
        headers: { range: `bytes=${voice.length}-` },
      });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.headers.get("content-range"), `bytes */${voice.length}`);
      // A browser's cached copy is still good: its ETag is the file's SHA-256.
      const cached = await d.call("GET", `/api/attachments/${audio.id}`, {
        token: salesAgent,
        headers: { "if-none-match": `"${sha256Hex(voice)}"` },
      });
      assert.equal(cached.status, 304);
      assert.equal(await cached.text(), "");
    });

    await t.step("an SVG is a sandboxed download, never inline", async () => {
      const res = await d.call("GET", `/api/attachments/${doc.id}`, { token: salesAgent });
      assert.equal(res.status, 200);
      assert.match(
        res.headers.get("content-disposition") ?? "",
        /^attachment; filename="logo.svg"/,
      );
      assert.equal(res.headers.get("content-security-policy"), "sandbox");
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      await res.body?.cancel();
    });

    await t.step(
      "rule 51: a signed link works without sign-in, for 7 days, unaltered",
      async () => {
        const token = await signMediaToken(d.kv, audio.id, d.clock.now());
        const ok = await d.call("GET", `/media/${audio.id}?token=${token}`);
        assert.equal(ok.status, 200);
        assert.equal(sha256Hex(await bytesOfResponse(ok)), sha256Hex(voice));
        const [expires, mac] = token.split(".");
        const flipped = mac.slice(0, -1) + (mac.endsWith("A") ? "B" : "A");
        for (
          const bad of [
            `${expires}.${flipped}`,
            `${Number(expires) + 86_400}.${mac}`,
            "",
            "x",
          ]
        ) {
          assert.equal((await d.call("GET", `/media/${audio.id}?token=${bad}`)).status, 404, bad);
        }
        // The token of one file opens no other.
        assert.equal((await d.call("GET", `/media/${doc.id}?token=${token}`)).status, 404);
        d.clock.set(d.clock.now() + MEDIA_LINK_MS - 1_000);
        assert.equal((await d.call("GET", `/media/${audio.id}?token=${token}`)).status, 200);
        d.clock.set(d.clock.now() + 1_001);
        assert.equal((await d.call("GET", `/media/${audio.id}?token=${token}`)).status, 404);
      },
    );

    await t.step("a closed and archived ticket keeps its files readable (rule 53)", async () => {
      const { agent: boss } = await d.person("admin");
      const admin = await d.signIn(boss);
      assert.equal(
        (await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: admin })).status,
        200,
      );
      assert.equal(
        (await d.call("POST", `/api/tickets/${ticketId}/close`, { token: admin })).status,
        200,
      );
      d.clock.set(d.clock.now() + 100 * DAY);
      assert.equal(await runArchive(d.desk), 1);
      const { agent } = await d.person("admin");
      const token = await d.signIn(agent);
      const ticket = await d.json<{ status: string }>("GET", `/api/tickets/${ticketId}`, { token });
      assert.equal(ticket.body.status, "archived");
      const res = await d.call("GET", `/api/attachments/${audio.id}`, { token });
      assert.equal(res.status, 200);
      assert.equal(sha256Hex(await bytesOfResponse(res)), sha256Hex(voice));
    });
  } finally {
    await d.close();
    await fake.close();
  }
});

/** The stored message of an attachment (for checks on what the fetch rewrote). */
export async function messageOf(t: TestDesk, attachmentId: string): Promise<Message | null> {
  const pointer = await t.kv.get<{ conversationId: string; messageId: string }>(
    keys.attachment(attachmentId),
  );
  if (!pointer.value) return null;
  return (await t.kv.get<Message>(
    keys.message(pointer.value.conversationId, pointer.value.messageId),
  ))
    .value;
}

Deno.test("[property] hostile media webhooks: always answered, every file kept consistent", async () => {
  const fake = new FakeMedia(BEARER, { user: ACCOUNT_SID, password: AUTH_TOKEN });
  fake.add("6001", { bytes: bytesOf(2_000, 61), mime: "image/jpeg" });
  const d = await mediaDesk(fake);
  try {
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("", "<script>", "../../x", "a\r\nb", "💥".repeat(300), "x".repeat(5_000)),
    );
    const value = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean(), fc.double());
    const part = fc.record({
      id: fc.oneof(fc.constant("6001"), fc.constant("9999"), value),
      mime_type: fc.oneof(fc.constantFrom("image/jpeg", "audio/ogg; codecs=opus"), value),
      sha256: fc.oneof(fc.constant(sha256Hex(bytesOf(2_000, 61))), value),
      caption: value,
      filename: value,
      latitude: fc.oneof(fc.double({ min: -200, max: 200 }), value),
      longitude: fc.oneof(fc.double({ min: -200, max: 200 }), value),
    }, { requiredKeys: [] });
    const type = fc.constantFrom("image", "audio", "video", "document", "sticker", "location");
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(type, part), { minLength: 1, maxLength: 5 }),
        async (items) => {
          const messages = items.map(([t, p]) =>
            metaMessage("16505551234", "", { id: `wamid.fuzz.${++n}`, type: t, [t]: p })
          );
          const res = await postMeta(d, metaBody({ messages }));
          assert.equal(res.status, 200, await res.text());
        },
      ),
      { seed: 20261207, numRuns: 60 },
    );
    await d.media.runDue();
    // Every file the desk recorded is sane, points to its message, and is stored only if whole.
    const { inbound } = await customerOf(d, "whatsapp", SHEENA);
    const files = inbound.flatMap((m) => m.attachments ?? []);
    assert.ok(files.length > 0, "some files were well formed");
    for (const a of files) {
      assert.ok(["image", "audio", "video", "document", "sticker"].includes(a.kind));
      assert.ok(["fetching", "stored", "failed", "too_large"].includes(a.status));
      assert.ok(a.mime.length <= 200 && !/[\r\n]/.test(a.mime));
      assert.ok([...a.filename ?? ""].length <= 200 && !/[\r\n"\\/]/.test(a.filename ?? ""));
      assert.ok((await d.kv.get(keys.attachment(a.id))).value, "a pointer");
      const whole = await d.media.files.open(a.id);
      assert.equal(whole !== null, a.status === "stored", `${a.id} is ${a.status}`);
      await whole?.body.cancel();
    }
    for (const m of inbound.filter((m) => m.location)) {
      assert.ok(Math.abs(m.location!.latitude) <= 90 && Math.abs(m.location!.longitude) <= 180);
    }
  } finally {
    await d.close();
    await fake.close();
  }
});
