/**
 * SPEC rule 51: agents send media. Files and places come in through the API and the plain page
 * forms (multipart, no JavaScript), every refusal (415, 413, access, rule 18, rule 44) comes
 * before anything is stored, and the outbox hands them over like any message (rules 24–27):
 * Meta gets the file uploaded, then the message by media id; Twilio gets a signed desk link as
 * `MediaUrl`, or, for a number without MMS, in the text. The providers are real HTTP servers on
 * 127.0.0.1 (tests/fake_provider.ts) that keep every request's bytes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { replyToTicket } from "../domain/chats.ts";
import { DAY, HOUR } from "../domain/clock.ts";
import { Conflict } from "../domain/errors.ts";
import type { FileStore } from "../domain/file_store.ts";
import { keys } from "../domain/keys.ts";
import { storeUpload, sweepOrphanUploads, UPLOAD_ORPHAN_MS } from "../domain/attachments.ts";
import { MEDIA_LINK_MS } from "../domain/media_links.ts";
import { closeTicket } from "../domain/tickets.ts";
import type { Customer, Message, Route } from "../domain/types.ts";
import { customerIdFor } from "../domain/ids.ts";
import { metaAccepted, type Recorded } from "./fake_provider.ts";
import { type TestDesk, waitFor } from "./helpers.ts";
import { type ProviderDesk, providerDesk, PUBLIC_URL, WHATSAPP, writeIn } from "./provider_desk.ts";

const ORIGIN = "http://localhost";

const fixture = (name: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const UPLOADED = fixture("meta_media_upload.json") as { id: string };

const isUpload = (r: Recorded) => r.path.endsWith("/media");
const isSend = (r: Recorded) => r.path.endsWith("/messages");

/** Meta's answers: the upload fixture for `/media` (numbered after the first), a wamid for sends. */
let uploads = 0;
const metaResponder = (r: Recorded, i: number) =>
  isUpload(r)
    ? { status: 200, body: { id: uploads++ === 0 ? UPLOADED.id : `${UPLOADED.id}${uploads}` } }
    : metaAccepted(r, i);

type Setup = ProviderDesk;

const setup = (opts: { publicUrl?: string | null } = {}) =>
  providerDesk({ meta: metaResponder, publicUrl: opts.publicUrl });

/** A ticket (YES, //end) accepted by a new agent. */
async function acceptedTicket(s: Setup, from: string, route: Route = "meta") {
  await writeIn(s.d, from, "the part is broken", route);
  const yes = await writeIn(s.d, from, "yes", route);
  await writeIn(s.d, from, "//end", route);
  const person = await s.d.person("agent");
  const accepted = await s.d.json("POST", `/api/tickets/${yes.ticketId}/accept`, {
    token: person.token,
  });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  return { ...person, ticketId: yes.ticketId! };
}

/** Bytes that start like a PNG (or as given), `size` long, different each call. */
function bytesOf(size: number, head = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65_536)));
  }
  bytes.set(head.slice(0, size));
  return bytes;
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A multipart post of one file (and a caption) to the API, with a real `FormData` body. */
async function postFile(
  d: TestDesk,
  token: string,
  path: string,
  file: File | null,
  fields: Record<string, string> = {},
) {
  const form = new FormData();
  if (file) form.append("file", file);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await d.app.request(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    }),
  );
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** How many keys each of rule 51's stores holds. */
async function stored(kv: Deno.Kv) {
  const count = async (prefix: Deno.KvKey) => (await Array.fromAsync(kv.list({ prefix }))).length;
  return {
    chunks: await count(keys.fileChunks("").slice(0, 1)),
    files: await count(keys.file("").slice(0, 1)),
    attachments: await count(keys.attachment("").slice(0, 1)),
  };
}

/** Reads a message by id through the API (as an admin, renewed when the clock ran its session out). */
async function message(
  s: Setup,
  id: string,
): Promise<Message & { delivery?: Message["delivery"] }> {
  let res = await s.d.json<Message>("GET", `/api/messages/${id}`, { token: s.admin.token });
  if (res.status === 401) {
    s.admin.token = await s.d.signIn(s.admin.agent);
    res = await s.d.json<Message>("GET", `/api/messages/${id}`, { token: s.admin.token });
  }
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Waits until the message's delivery is `status` (a queued one: with its retry's error). */
async function until(s: Setup, id: string, status: string, attempts?: number) {
  let last: Message | undefined;
  await waitFor(
    async () => {
      last = await message(s, id);
      const d = last.delivery;
      return d?.status === status && (status !== "queued" || d.error !== undefined) &&
        (attempts === undefined || d.attempts === attempts);
    },
    8_000,
    `message ${id} ${status}: ${JSON.stringify(last?.delivery)}`,
  );
  return last!;
}

/** Advances the manual clock through the API: due retries run before it answers. */
async function advance(s: Setup, ms: number) {
  let res = await s.d.json("POST", "/api/test/clock", {
    token: s.admin.token,
    body: { advanceMs: ms },
  });
  if (res.status === 401) {
    s.admin.token = await s.d.signIn(s.admin.agent);
    res = await s.d.json("POST", "/api/test/clock", {
      token: s.admin.token,
      body: { advanceMs: ms },
    });
  }
  assert.equal(res.status, 200);
}

/** The live chat an agent's reply on a ticket started (rule 17). */
async function chatOf(d: TestDesk, token: string, ticketId: string): Promise<string> {
  const res = await d.json<{ chats: { id: string; ticketId: string | null }[] }>(
    "GET",
    "/api/chats?state=live",
    { token },
  );
  const chat = res.body.chats.find((c) => c.ticketId === ticketId);
  assert.ok(chat, "the reply started a live chat");
  return chat.id;
}

/** The parts of a multipart body a fake provider received. */
async function partsOf(r: Recorded): Promise<FormData> {
  return await new Request("http://fake/", {
    method: "POST",
    headers: { "content-type": r.headers.get("content-type")! },
    body: r.bytes,
  }).formData();
}

Deno.test("[routes] rule 51: WhatsApp files are uploaded to Meta, then sent by media id", async (t) => {
  const s = await setup();
  const { d, meta } = s;
  try {
    const { token, ticketId } = await acceptedTicket(s, "+27820000001");
    await waitFor(() => meta.requests.length >= 4, 8_000, "auto-replies");
    const before = meta.requests.length;
    const png = bytesOf(150_000);

    await t.step(
      "an image with a caption: one upload of the very bytes, then one send",
      async () => {
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([png], "part.png", { type: "image/png" }),
          { text: "The replacement part" },
        );
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(res.body.text, "The replacement part");
        assert.deepEqual(
          res.body.attachments.map((a: Record<string, unknown>) => ({ ...a, id: 0 })),
          [
            {
              id: 0,
              kind: "image",
              mime: "image/png",
              size: png.length,
              filename: "part.png",
              status: "stored",
            },
          ],
        );
        assert.equal(res.body.delivery.status, "queued");
        const sent = await until(s, res.body.id, "sent");
        assert.equal(sent.delivery!.attempts, 1);

        const calls = meta.requests.slice(before);
        assert.deepEqual(calls.map((r) => r.path), [
          `/${WHATSAPP.phoneNumberId}/media`,
          `/${WHATSAPP.phoneNumberId}/messages`,
        ]);
        const upload = calls[0];
        assert.equal(upload.headers.get("authorization"), `Bearer ${WHATSAPP.accessToken}`);
        assert.match(upload.headers.get("content-type")!, /^multipart\/form-data; boundary=/);
        // Its length is known ahead (not chunked), and it is what arrived.
        assert.equal(upload.headers.get("content-length"), String(upload.bytes.length));
        assert.equal(upload.headers.get("transfer-encoding"), null);
        const parts = await partsOf(upload);
        assert.equal(parts.get("messaging_product"), "whatsapp");
        assert.equal(parts.get("type"), "image/png");
        const file = parts.get("file") as File;
        assert.equal(file.name, "part.png");
        assert.equal(file.type, "image/png");
        assert.equal(sha256(new Uint8Array(await file.arrayBuffer())), sha256(png));
        // The send names the uploaded id and carries the caption (fixture: Meta's image message).
        assert.deepEqual(JSON.parse(calls[1].body), fixture("meta_send_image_by_id.json"));
      },
    );

    await t.step("the file is the desk's to serve back, with the assignee's token", async () => {
      const thread = await d.json<{ messages: Message[] }>("GET", `/api/tickets/${ticketId}`, {
        token,
      });
      const out = thread.body.messages.at(-1)!;
      const res = await d.call("GET", `/api/attachments/${out.attachments![0].id}`, { token });
      assert.equal(res.status, 200);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha256(png));
    });

    await t.step(
      "a document without a caption: its name as text, filename and no caption sent",
      async () => {
        const n = meta.requests.length;
        const pdf = bytesOf(20_000, [0x25, 0x50, 0x44, 0x46, 0x2d]);
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([pdf], "invoice-1042.pdf", { type: "application/pdf" }),
        );
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(res.body.text, "[document] invoice-1042.pdf");
        await until(s, res.body.id, "sent");
        const [upload, send] = meta.requests.slice(n);
        assert.ok(isUpload(upload) && isSend(send));
        const file = (await partsOf(upload)).get("file") as File;
        assert.equal(sha256(new Uint8Array(await file.arrayBuffer())), sha256(pdf));
        const expected = fixture("meta_send_document_by_id.json");
        expected.document.id = `${UPLOADED.id}2`;
        assert.deepEqual(JSON.parse(send.body), expected);
      },
    );

    await t.step("a place goes as Meta's location message; its text names it", async () => {
      const n = meta.requests.length;
      const location = {
        latitude: -33.9249,
        longitude: 18.4241,
        name: "Cape Town service desk",
        address: "1 Long Street, Cape Town",
      };
      const res = await d.json<Message>("POST", `/api/tickets/${ticketId}/reply`, {
        token,
        body: { location },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.location, location);
      assert.equal(res.body.text, "[location] Cape Town service desk, 1 Long Street, Cape Town");
      await until(s, res.body.id, "sent");
      const calls = meta.requests.slice(n);
      assert.equal(calls.length, 1, "a place needs no upload");
      assert.deepEqual(JSON.parse(calls[0].body), fixture("meta_send_location.json"));
    });

    await t.step("a place out of range, or with text beside it, is a 400", async () => {
      for (
        const body of [
          { location: { latitude: 91, longitude: 0 } },
          { location: { latitude: 0, longitude: -180.5 } },
          { location: { latitude: "north", longitude: 0 } },
          { location: { latitude: 1, longitude: 2 }, text: "here" },
        ]
      ) {
        const res = await d.json("POST", `/api/tickets/${ticketId}/reply`, { token, body });
        assert.equal(res.status, 400, JSON.stringify(body));
      }
    });

    await t.step(
      "a voice note takes no caption on WhatsApp: 422 before anything is stored",
      async () => {
        const was = await stored(d.kv);
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([bytesOf(4_000, [0x4f, 0x67, 0x67, 0x53])], "note.ogg", { type: "audio/ogg" }),
          { text: "listen" },
        );
        assert.equal(res.status, 422);
        assert.equal(res.body.error.code, "caption_not_supported");
        assert.deepEqual(await stored(d.kv), was);
      },
    );
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51 with rules 25–27: an upload that fails is retried; nothing goes twice", async (t) => {
  const s = await setup();
  const { d, meta } = s;
  try {
    const { token, ticketId } = await acceptedTicket(s, "+27820000002");
    await waitFor(() => meta.requests.length >= 4, 8_000, "auto-replies");

    await t.step(
      "upload 503: the message waits; the retry uploads again, then sends once",
      async () => {
        const n = meta.requests.length;
        meta.script({ status: 503, body: { error: { message: "Service unavailable", code: 2 } } });
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([bytesOf(10_000)], "a.png", { type: "image/png" }),
        );
        assert.equal(res.status, 201);
        const waiting = await until(s, res.body.id, "queued", 1);
        assert.equal(waiting.delivery!.error!.code, "2");
        assert.equal(meta.requests.length, n + 1, "no send after a failed upload");
        await advance(s, 5_000);
        const sent = await until(s, res.body.id, "sent", 2);
        const calls = meta.requests.slice(n);
        assert.deepEqual(calls.map((r) => isUpload(r) ? "upload" : "send"), [
          "upload",
          "upload",
          "send",
        ]);
        assert.ok(sent.delivery!.providerId);
      },
    );

    await t.step(
      "send 500 after an upload: the retry sends by the same id, no new upload",
      async () => {
        const n = meta.requests.length;
        meta.script(
          metaResponder({ path: "/x/media" } as Recorded, 0),
          { status: 500, body: { error: { message: "boom", code: 1 } } },
        );
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([bytesOf(10_000)], "b.png", { type: "image/png" }),
          { text: "second try" },
        );
        await until(s, res.body.id, "queued", 1);
        await advance(s, 5_000);
        await until(s, res.body.id, "sent", 2);
        const calls = meta.requests.slice(n);
        assert.deepEqual(calls.map((r) => isUpload(r) ? "upload" : "send"), [
          "upload",
          "send",
          "send",
        ]);
        const ids = calls.filter(isSend).map((r) => JSON.parse(r.body).image.id);
        assert.equal(ids[0], ids[1]);
        // Accepted once: a later look at the queue hands nothing over again.
        await advance(s, HOUR);
        assert.equal(meta.requests.length, n + 3);
      },
    );

    await t.step("order: a text after a file waits for the file's send", async () => {
      const n = meta.requests.length;
      const file = await postFile(
        d,
        token,
        `/api/tickets/${ticketId}/reply`,
        new File([bytesOf(10_000)], "c.png", { type: "image/png" }),
      );
      const text = await d.json<Message>("POST", `/api/tickets/${ticketId}/reply`, {
        token,
        body: { text: "and a note" },
      });
      await until(s, text.body.id, "sent");
      await until(s, file.body.id, "sent");
      const kinds = meta.requests.slice(n).map((r) =>
        isUpload(r) ? "upload" : JSON.parse(r.body).type
      );
      assert.deepEqual(kinds, ["upload", "image", "text"]);
    });

    await t.step("an upload refused with a 4xx fails the message at once, unsent", async () => {
      const n = meta.requests.length;
      meta.script({
        status: 400,
        body: { error: { message: "(#100) Param file must be a file", code: 100 } },
      });
      const res = await postFile(
        d,
        token,
        `/api/tickets/${ticketId}/reply`,
        new File([bytesOf(10_000)], "d.png", { type: "image/png" }),
      );
      const failed = await until(s, res.body.id, "failed", 1);
      assert.equal(failed.delivery!.error!.code, "100");
      assert.equal(meta.requests.length, n + 1);
    });

    await t.step(
      "an upload refused with code 190 pauses the channel like a send would",
      async () => {
        meta.script({
          status: 401,
          body: { error: { message: "Error validating access token", code: 190 } },
        });
        const res = await postFile(
          d,
          token,
          `/api/tickets/${ticketId}/reply`,
          new File([bytesOf(10_000)], "e.png", { type: "image/png" }),
        );
        const held = await until(s, res.body.id, "queued", 1);
        assert.equal(held.delivery!.error!.code, "channel_auth_failed");
      },
    );
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51: refusals come before anything is stored", async (t) => {
  const s = await setup();
  const { d } = s;
  try {
    const wa = await acceptedTicket(s, "+27820000003");
    const sms = await acceptedTicket(s, "+15550002222", "twilio");
    const web = await acceptedTicket(s, "visitor-0001", "webchat");

    await t.step("the store's prefixes are counted (an accepted file shows in each)", async () => {
      const was = await stored(d.kv);
      const res = await postFile(
        d,
        wa.token,
        `/api/tickets/${wa.ticketId}/reply`,
        new File([bytesOf(70_000)], "ok.png", { type: "image/png" }),
      );
      assert.equal(res.status, 201);
      const now = await stored(d.kv);
      assert.equal(now.files, was.files + 1);
      assert.equal(now.attachments, was.attachments + 1);
      assert.equal(now.chunks, was.chunks + 2);
    });

    const refused = async (
      who: { token: string },
      path: string,
      file: File,
      status: number,
      code?: string,
      fields?: Record<string, string>,
    ) => {
      const was = await stored(d.kv);
      const res = await postFile(d, who.token, path, file, fields);
      assert.equal(res.status, status, `${file.name}: ${JSON.stringify(res.body)}`);
      if (code) assert.equal(res.body.error.code, code);
      assert.deepEqual(await stored(d.kv), was, `${file.name} left keys behind`);
      return res.body;
    };

    await t.step("415 for an HTML page or a program named as a photo or a PDF", async () => {
      const html = new TextEncoder().encode("<html><script>alert(1)</script></html>");
      for (
        const [name, type] of [["photo.png", "image/png"], ["photo.jpg", "image/jpeg"]]
      ) {
        const body = await refused(
          wa,
          `/api/tickets/${wa.ticketId}/reply`,
          new File([html], name, { type }),
          415,
          "unsupported_media_type",
        );
        assert.match(body.error.message, /contents are not/);
      }
      await refused(
        sms,
        `/api/tickets/${sms.ticketId}/reply`,
        new File([bytesOf(500, [0x4d, 0x5a])], "terms.pdf", { type: "application/pdf" }),
        415,
        "unsupported_media_type",
      );
    });

    await t.step(
      "415 for SVG, HTML and zip over Twilio MMS, and an exe to a web chat",
      async () => {
        const to = `/api/tickets/${sms.ticketId}/reply`;
        for (
          const [name, type] of [
            ["logo.svg", "image/svg+xml"],
            ["page.html", "text/html"],
            ["files.zip", "application/zip"],
          ]
        ) {
          const body = await refused(sms, to, new File([bytesOf(500)], name, { type }), 415);
          assert.equal(body.error.code, "unsupported_media_type");
          assert.match(body.error.message, /SMS \(MMS\) cannot carry/);
        }
        const exe = new File([bytesOf(500, [0x4d, 0x5a])], "setup.exe", {
          type: "application/x-msdownload",
        });
        await refused(
          web,
          `/api/tickets/${web.ticketId}/reply`,
          exe,
          415,
          "unsupported_media_type",
        );
      },
    );

    await t.step("413 for a 6 MB image on WhatsApp (its limit is 5 MB)", async () => {
      const big = new File([bytesOf(6_000_000)], "big.png", { type: "image/png" });
      const body = await refused(wa, `/api/tickets/${wa.ticketId}/reply`, big, 413);
      assert.equal(body.error.code, "file_too_large");
      assert.match(body.error.message, /up to 5 MB; this one has 6 MB/);
    });

    await t.step(
      "413 by Content-Length for a body past the largest file any route takes",
      async () => {
        const was = await stored(d.kv);
        const res = await d.app.request(`/api/tickets/${wa.ticketId}/reply`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${wa.token}`,
            "content-type": "multipart/form-data; boundary=x",
            "content-length": String(40 * 1024 * 1024),
          },
          body: "--x--\r\n",
        });
        assert.equal(res.status, 413);
        assert.deepEqual(await stored(d.kv), was);
      },
    );

    await t.step("the 1 MiB limit stays for JSON on the same route", async () => {
      const res = await d.json("POST", `/api/tickets/${wa.ticketId}/reply`, {
        token: wa.token,
        raw: JSON.stringify({ text: "x".repeat(1_100_000) }),
      });
      assert.equal(res.status, 413);
    });

    await t.step("404 for an agent who may not read the ticket, 409 on a closed one", async () => {
      const other = await d.person("agent");
      const png = () => new File([bytesOf(1_000)], "x.png", { type: "image/png" });
      await refused(other, `/api/tickets/${wa.ticketId}/reply`, png(), 404);
      const done = await acceptedTicket(s, "+27820000004");
      const closed = await d.json("POST", `/api/tickets/${done.ticketId}/close`, {
        token: done.token,
      });
      assert.equal(closed.status, 200);
      await refused(done, `/api/tickets/${done.ticketId}/reply`, png(), 409, "ticket_closed");
    });

    await t.step("a place is WhatsApp's only: 422 on SMS", async () => {
      const res = await d.json("POST", `/api/tickets/${sms.ticketId}/reply`, {
        token: sms.token,
        body: { location: { latitude: 1, longitude: 2 } },
      });
      assert.equal(res.status, 422);
      assert.equal((res.body as { error: { code: string } }).error.code, "location_not_supported");
    });

    await t.step("rule 44: an opted-out SMS customer gets no file (422)", async () => {
      await writeIn(d, "+15550002222", "STOP", "twilio", { optOut: "stop" });
      const customer = await d.kv.get<Customer>(
        keys.customer(await customerIdFor("sms", "+15550002222")),
      );
      assert.ok(customer.value?.optedOutAt, "STOP opted the customer out");
      await refused(
        sms,
        `/api/tickets/${sms.ticketId}/reply`,
        new File([bytesOf(1_000)], "x.png", { type: "image/png" }),
        422,
        "customer_opted_out",
      );
    });

    await t.step(
      "rule 18: 24 h after the customer's last message, files and places are refused",
      async () => {
        d.clock.advance(24 * HOUR + 1);
        wa.token = await d.signIn(wa.agent);
        await refused(
          wa,
          `/api/tickets/${wa.ticketId}/reply`,
          new File([bytesOf(1_000)], "late.png", { type: "image/png" }),
          422,
          "whatsapp_window_closed",
        );
        const res = await d.json("POST", `/api/tickets/${wa.ticketId}/reply`, {
          token: wa.token,
          body: { location: { latitude: 1, longitude: 2 } },
        });
        assert.equal(res.status, 422);
      },
    );

    await t.step("one file per message; an empty file is no file", async () => {
      web.token = await d.signIn(web.agent);
      const form = new FormData();
      form.append("file", new File([bytesOf(100)], "a.png", { type: "image/png" }));
      form.append("file", new File([bytesOf(100)], "b.png", { type: "image/png" }));
      const res = await d.app.request(
        new Request(`http://localhost/api/tickets/${web.ticketId}/reply`, {
          method: "POST",
          headers: { authorization: `Bearer ${web.token}` },
          body: form,
        }),
      );
      assert.equal(res.status, 400);
      const empty = await postFile(
        d,
        web.token,
        `/api/tickets/${web.ticketId}/reply`,
        new File([], "", { type: "application/octet-stream" }),
        { text: "just text" },
      );
      assert.equal(empty.status, 201);
      assert.equal(empty.body.attachments, undefined);
    });
  } finally {
    await s.close();
  }
});

Deno.test("[domain] rule 51: a file whose message commit is refused is removed again", async () => {
  const s = await setup();
  const { d } = s;
  try {
    const { agent, ticketId } = await acceptedTicket(s, "+27820000005");
    const files = d.media.files as FileStore;
    // The ticket closes between the checks and the commit (another tab, say).
    const racing: FileStore = {
      open: (id, range) => files.open(id, range),
      remove: (id) => files.remove(id),
      async save(id, body, options) {
        const saved = await files.save(id, body, options);
        await closeTicket(d.desk, agent, ticketId);
        return saved;
      },
    };
    const was = await stored(d.kv);
    await assert.rejects(
      replyToTicket(d.desk, agent, ticketId, {
        file: new File([bytesOf(130_000)], "late.png", { type: "image/png" }),
      }, racing),
      (e) => e instanceof Conflict && e.code === "ticket_closed",
    );
    assert.deepEqual(await stored(d.kv), was);
  } finally {
    await s.close();
  }
});

Deno.test("[domain] rules 51, 52: an upload whose writer died before its commit is swept an hour on", async () => {
  const s = await setup();
  const { d } = s;
  try {
    const { agent, ticketId } = await acceptedTicket(s, "+27820000006");
    const files = d.media.files as FileStore;
    const pending = async () =>
      (await Array.fromAsync(d.kv.list({ prefix: keys.uploadsPending() })))
        .length;
    // A reply that commits: its mark goes in the same commit as the file's pointer.
    const sent = await replyToTicket(d.desk, agent, ticketId, {
      file: new File([bytesOf(70_000)], "kept.png", { type: "image/png" }),
    }, files);
    assert.equal(sent.attachments?.length, 1);
    assert.equal(await pending(), 0);
    // A writer that dies after storing: the file and its mark stay behind.
    const was = await stored(d.kv);
    const orphan = await storeUpload(files, new File([bytesOf(130_000)], "lost.png"), {
      id: "01M0RPHAN00000000000000000",
      kind: "image",
      mime: "image/png",
      maxBytes: 1_000_000,
      at: d.clock.now(),
      kv: d.kv,
    });
    assert.equal(await pending(), 1);
    assert.equal((await stored(d.kv)).files, was.files + 1);
    // Not yet an hour: a commit may still come.
    assert.equal(await sweepOrphanUploads(d.kv, files, d.clock.now() + UPLOAD_ORPHAN_MS - 1), 0);
    assert.equal(await sweepOrphanUploads(d.kv, files, d.clock.now() + UPLOAD_ORPHAN_MS), 1);
    assert.deepEqual(await stored(d.kv), was);
    assert.equal(await pending(), 0);
    assert.equal(await files.open(orphan.id), null);
    // The reply's file is untouched.
    const kept = await files.open(sent.attachments![0].id);
    assert.ok(kept);
    await kept.body.cancel();
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51: Twilio gets a signed desk link; numbers without MMS get it as text", async (t) => {
  const s = await setup();
  const { d, twilio } = s;
  try {
    const us = await acceptedTicket(s, "+15550003333", "twilio");
    const uk = await acceptedTicket(s, "+447700900123", "twilio");
    await waitFor(() => twilio.requests.length >= 8, 8_000, "auto-replies");
    const jpeg = bytesOf(90_000, [0xff, 0xd8, 0xff]);
    let link = "";

    await t.step("a US number: MediaUrl is the desk's signed link, Body the caption", async () => {
      const n = twilio.requests.length;
      const res = await postFile(
        d,
        us.token,
        `/api/tickets/${us.ticketId}/reply`,
        new File([jpeg], "receipt.jpg", { type: "image/jpeg" }),
        { text: "Your receipt" },
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      await until(s, res.body.id, "sent");
      const calls = twilio.requests.slice(n);
      assert.equal(calls.length, 1);
      const form = new URLSearchParams(calls[0].body);
      assert.equal(form.get("Body"), "Your receipt");
      assert.equal(form.get("To"), "+15550003333");
      const urls = form.getAll("MediaUrl");
      assert.equal(urls.length, 1);
      const id = res.body.attachments[0].id;
      assert.ok(urls[0].startsWith(`${PUBLIC_URL}/media/${id}?token=`), urls[0]);
      link = urls[0];
    });

    await t.step("the link opens the same bytes without signing in", async () => {
      const res = await d.call("GET", link.slice(PUBLIC_URL.length));
      assert.equal(res.status, 200);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha256(jpeg));
    });

    await t.step("an altered token opens nothing", async () => {
      const path = link.slice(PUBLIC_URL.length);
      const last = path.at(-1) === "A" ? "B" : "A";
      const res = await d.call("GET", path.slice(0, -1) + last);
      assert.equal(res.status, 404);
      await res.body?.cancel();
    });

    await t.step("a file without a caption goes with no Body", async () => {
      const n = twilio.requests.length;
      const res = await postFile(
        d,
        us.token,
        `/api/tickets/${us.ticketId}/reply`,
        new File([bytesOf(5_000, [0x25, 0x50, 0x44, 0x46, 0x2d])], "terms.pdf", {
          type: "application/pdf",
        }),
      );
      assert.equal(res.body.text, "[document] terms.pdf");
      await until(s, res.body.id, "sent");
      const form = new URLSearchParams(twilio.requests[n].body);
      assert.equal(form.has("Body"), false);
      assert.equal(form.getAll("MediaUrl").length, 1);
    });

    await t.step("a UK number gets the caption and the link as text, no MediaUrl", async () => {
      const n = twilio.requests.length;
      const res = await postFile(
        d,
        uk.token,
        `/api/tickets/${uk.ticketId}/reply`,
        new File([jpeg], "receipt.jpg", { type: "image/jpeg" }),
        { text: "Your receipt" },
      );
      await until(s, res.body.id, "sent");
      const form = new URLSearchParams(twilio.requests[n].body);
      assert.equal(form.has("MediaUrl"), false);
      const [caption, url] = form.get("Body")!.split("\n");
      assert.equal(caption, "Your receipt");
      assert.ok(url.startsWith(`${PUBLIC_URL}/media/${res.body.attachments[0].id}?token=`));
      const opened = await d.call("GET", url.slice(PUBLIC_URL.length));
      assert.equal(opened.status, 200);
      assert.equal(sha256(new Uint8Array(await opened.arrayBuffer())), sha256(jpeg));
    });

    await t.step("7 days and 1 ms later the link opens nothing", async () => {
      assert.equal(MEDIA_LINK_MS, 7 * DAY);
      d.clock.advance(MEDIA_LINK_MS + 1);
      const res = await d.call("GET", link.slice(PUBLIC_URL.length));
      assert.equal(res.status, 404);
      await res.body?.cancel();
    });
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51: without CHATDESK_PUBLIC_URL a file to Twilio fails with a clear code", async () => {
  const s = await setup({ publicUrl: null });
  try {
    const { token, ticketId } = await acceptedTicket(s, "+15550004444", "twilio");
    const res = await postFile(
      s.d,
      token,
      `/api/tickets/${ticketId}/reply`,
      new File([bytesOf(1_000)], "x.png", { type: "image/png" }),
    );
    assert.equal(res.status, 201);
    const failed = await until(s, res.body.id, "failed");
    assert.equal(failed.delivery!.error!.code, "no_public_url");
    assert.ok(!s.twilio.requests.some((r) => r.body.includes("MediaUrl")));
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51: web chat files go through the visitor's thread; chats take files too", async () => {
  const s = await setup();
  const { d } = s;
  try {
    const { token, ticketId } = await acceptedTicket(s, "visitor-0002", "webchat");
    const png = bytesOf(3_000);
    const res = await postFile(
      d,
      token,
      `/api/tickets/${ticketId}/reply`,
      new File([png], "map.png", { type: "image/png" }),
      { text: "Here is the map" },
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.delivery.status, "sent");
    const chatId = await chatOf(d, token, ticketId);
    const next = await postFile(
      d,
      token,
      `/api/chats/${chatId}/messages`,
      new File([bytesOf(2_000, [0x25, 0x50, 0x44, 0x46, 0x2d])], "terms.pdf", {
        type: "application/pdf",
      }),
    );
    assert.equal(next.status, 201, JSON.stringify(next.body));
    assert.equal(next.body.text, "[document] terms.pdf");
    assert.equal(next.body.attachments[0].kind, "document");
  } finally {
    await s.close();
  }
});

Deno.test("[routes] rule 51 without JavaScript: the reply and chat forms post multipart", async (t) => {
  const s = await setup();
  const { d, meta } = s;
  try {
    const { token, ticketId } = await acceptedTicket(s, "+27820000006");
    const page = (path: string, form: FormData) =>
      d.app.request(
        new Request(`http://localhost${path}`, {
          method: "POST",
          headers: { cookie: `chatdesk_session=${token}`, origin: ORIGIN, accept: "text/html" },
          body: form,
        }),
      );
    const lastOut = async () => {
      const res = await d.json<{ messages: Message[] }>("GET", `/api/tickets/${ticketId}`, {
        token,
      });
      return res.body.messages.filter((m) => m.direction === "out").at(-1)!;
    };
    const png = bytesOf(40_000);

    await t.step(
      "the ticket's reply form stores the file with its caption and redirects",
      async () => {
        const form = new FormData();
        form.append("text", "From the page\r\nsecond line");
        form.append("file", new File([png], "page.png", { type: "image/png" }));
        const res = await page(`/tickets/${ticketId}/reply`, form);
        assert.equal(res.status, 303);
        assert.equal(res.headers.get("location"), `/tickets/assigned/${ticketId}`);
        const m = await lastOut();
        assert.equal(m.text, "From the page\nsecond line");
        assert.equal(m.attachments?.[0].filename, "page.png");
        assert.equal(m.attachments?.[0].size, png.length);
        await until(s, m.id, "sent");
      },
    );

    await t.step("a form with the place fields sends a place", async () => {
      const form = new FormData();
      form.append("text", "");
      form.append("file", new File([], "", { type: "application/octet-stream" }));
      form.append("latitude", "-26.2041");
      form.append("longitude", "28.0473");
      form.append("place_name", "Johannesburg depot");
      form.append("place_address", "");
      const res = await page(`/tickets/${ticketId}/reply`, form);
      assert.equal(res.status, 303);
      const m = await lastOut();
      assert.deepEqual(m.location, {
        latitude: -26.2041,
        longitude: 28.0473,
        name: "Johannesburg depot",
      });
      await until(s, m.id, "sent");
      assert.equal(JSON.parse(meta.requests.at(-1)!.body).type, "location");
    });

    await t.step(
      "a refused file goes back to the page with the reason, storing nothing",
      async () => {
        const was = await stored(d.kv);
        const form = new FormData();
        form.append("text", "too big");
        form.append("file", new File([bytesOf(5_500_000)], "huge.png", { type: "image/png" }));
        const res = await page(`/tickets/${ticketId}/reply`, form);
        assert.equal(res.status, 303);
        const cookie = res.headers.getSetCookie().find((c) => c.startsWith("chatdesk_flash="))!;
        const flash = JSON.parse(
          decodeURIComponent(decodeURIComponent(cookie.split(";")[0].split("=")[1])),
        );
        assert.equal(flash.kind, "error");
        assert.match(flash.text, /up to 5 MB; this one has 5.5 MB/);
        assert.deepEqual(await stored(d.kv), was);
      },
    );

    await t.step("the chat's message form takes a file too", async () => {
      const chatId = await chatOf(d, token, ticketId);
      const form = new FormData();
      form.append("text", "");
      form.append("file", new File([png], "chat.png", { type: "image/png" }));
      const res = await page(`/chats/${chatId}/messages`, form);
      assert.equal(res.status, 303);
      const m = await lastOut();
      assert.equal(m.text, "[image]");
      assert.equal(m.attachments?.[0].filename, "chat.png");
    });

    await t.step("a form post from another origin is refused before the body is read", async () => {
      const form = new FormData();
      form.append("file", new File([png], "evil.png", { type: "image/png" }));
      const was = await stored(d.kv);
      const res = await d.app.request(
        new Request(`http://localhost/tickets/${ticketId}/reply`, {
          method: "POST",
          headers: { cookie: `chatdesk_session=${token}`, origin: "https://evil.example" },
          body: form,
        }),
      );
      assert.equal(res.status, 403);
      await res.body?.cancel();
      assert.deepEqual(await stored(d.kv), was);
    });
  } finally {
    await s.close();
  }
});
