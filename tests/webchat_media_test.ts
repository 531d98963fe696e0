/**
 * [routes] Rule 52, web chat files: a visitor uploads images and PDFs (multipart on
 * `POST /webchat/api/messages`), reads its own thread's files through
 * `GET /webchat/api/attachments/:id` and no one else's; other types are 415, large ones 413, the
 * 11th file in an hour 429, all before anything is stored; a repeated `clientId` stores one file;
 * agents read visitors' files through `/api/attachments/:id`, and the thread and its stream carry
 * `attachments` and `location`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HOUR } from "../domain/clock.ts";
import { customerIdFor, newId } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import type { Conversation } from "../domain/types.ts";
import { FILES_PER_HOUR } from "../domain/webchat.ts";
import { sentFile, type TestDesk, webchatDesk } from "./helpers.ts";

interface Sent {
  id: string;
  direction: "in" | "out";
  text: string;
  attachments?: {
    id: string;
    kind: string;
    mime: string;
    size: number;
    filename?: string;
    status: string;
  }[];
  location?: { latitude: number; longitude: number; name?: string };
}

async function newVisitor(d: TestDesk) {
  const res = await d.json<{ visitorId: string; token: string }>("POST", "/webchat/api/visitors");
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const PNG_HEAD = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** `size` bytes that start like a file of this kind (the rest random, so a mix-up shows). */
function bytesOf(
  kind: "png" | "pdf" | "html" | "exe" | "svg",
  size: number,
): Uint8Array<ArrayBuffer> {
  const head = kind === "png" ? new Uint8Array(PNG_HEAD) : new TextEncoder().encode(
    { pdf: "%PDF-1.7\n", html: "<!doctype html><script>", exe: "MZ\x90\x00", svg: "<svg " }[kind],
  );
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  }
  out.set(head.subarray(0, size));
  return out;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

let clientIds = 0;
/** Posts a file as the widget does: multipart with `file`, `clientId` and an optional caption. */
async function upload(
  d: TestDesk,
  token: string,
  file: { bytes: Uint8Array<ArrayBuffer>; type: string; name: string },
  opts: { clientId?: string; text?: string } = {},
) {
  const form = new FormData();
  form.set("file", new File([file.bytes], file.name, { type: file.type }));
  form.set("clientId", opts.clientId ?? `f${++clientIds}`);
  if (opts.text !== undefined) form.set("text", opts.text);
  const res = await d.app.request("/webchat/api/messages", {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text ? JSON.parse(text) : null) as {
      message: Sent;
      duplicate?: boolean;
      error?: { code: string; message: string };
    },
  };
}

async function download(d: TestDesk, path: string, token?: string) {
  const res = await d.call("GET", path, { token });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** How many entries each of the file store's prefixes holds now. */
async function fileKeys(kv: Deno.Kv) {
  const count = async (prefix: Deno.KvKey) => {
    let n = 0;
    for await (const _ of kv.list({ prefix })) n++;
    return n;
  };
  return {
    chunks: await count(keys.fileChunks("").slice(0, 1)),
    files: await count(keys.file("").slice(0, 1)),
    attachments: await count(keys.attachment("").slice(0, 1)),
  };
}

Deno.test("[routes] rule 52: a visitor sends images and PDFs and reads only its own", async (t) => {
  const d = await webchatDesk();
  try {
    const alice = await newVisitor(d);
    const bob = await newVisitor(d);
    const png = { bytes: bytesOf("png", 150_000), type: "image/png", name: "broken parcel.png" };
    const pdf = { bytes: bytesOf("pdf", 70_000), type: "application/pdf", name: "receipt.pdf" };
    let pngMessage: Sent, pdfMessage: Sent;

    await t.step(
      "a PNG with a caption is stored whole and answered with its attachment",
      async () => {
        const res = await upload(d, alice.token, png, { text: "It came like this" });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        pngMessage = res.body.message;
        assert.equal(pngMessage.direction, "in");
        assert.equal(pngMessage.text, "It came like this");
        assert.deepEqual(pngMessage.attachments!.map((a) => ({ ...a, id: "" })), [{
          id: "",
          kind: "image",
          mime: "image/png",
          size: png.bytes.length,
          filename: "broken parcel.png",
          status: "stored",
        }]);
      },
    );

    await t.step("a PDF without a caption reads [document]", async () => {
      const res = await upload(d, alice.token, pdf);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      pdfMessage = res.body.message;
      assert.equal(pdfMessage.text, "[document]");
      assert.equal(pdfMessage.attachments![0].kind, "document");
    });

    await t.step("the visitor gets the same bytes back, with rule 50's headers", async () => {
      const image = await download(
        d,
        `/webchat/api/attachments/${pngMessage.attachments![0].id}`,
        alice.token,
      );
      assert.equal(image.res.status, 200);
      assert.equal(sha256(image.bytes), sha256(png.bytes));
      assert.equal(image.res.headers.get("content-type"), "image/png");
      assert.equal(image.res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(image.res.headers.get("content-security-policy"), "sandbox");
      assert.match(image.res.headers.get("cache-control")!, /private/);
      assert.match(image.res.headers.get("content-disposition")!, /^inline;/);
      const doc = await download(
        d,
        `/webchat/api/attachments/${pdfMessage.attachments![0].id}`,
        alice.token,
      );
      assert.equal(doc.res.status, 200);
      assert.equal(sha256(doc.bytes), sha256(pdf.bytes));
      assert.match(
        doc.res.headers.get("content-disposition")!,
        /^attachment; filename="receipt\.pdf"/,
      );
    });

    await t.step("another visitor's token is 404, no token 401, an unknown id 404", async () => {
      const path = `/webchat/api/attachments/${pngMessage.attachments![0].id}`;
      const other = await download(d, path, bob.token);
      assert.equal(other.res.status, 404);
      assert.equal(other.bytes.length < 200, true, "no bytes of the file");
      assert.equal((await download(d, path)).res.status, 401);
      assert.equal((await download(d, path, "not-a-token")).res.status, 401);
      assert.equal(
        (await download(d, `/webchat/api/attachments/${newId(0)}`, alice.token)).res.status,
        404,
      );
      assert.equal(
        (await download(d, "/webchat/api/attachments/..%2F..", alice.token)).res.status,
        404,
      );
    });

    await t.step("the thread and its stream carry the attachments", async () => {
      const page = await d.json<{ messages: Sent[] }>("GET", "/webchat/api/messages", {
        token: alice.token,
      });
      const mine = page.body.messages.filter((m) => m.attachments);
      assert.deepEqual(mine.map((m) => m.id), [pngMessage.id, pdfMessage.id]);
      assert.deepEqual(mine[0].attachments, pngMessage.attachments);
      const ticket = await d.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", {
        token: alice.token,
      });
      const res = await d.call("GET", `/webchat/api/events?ticket=${ticket.body.ticket}`);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes(`id: ${pdfMessage.id}\n`)) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += chunk.value;
      }
      await reader.cancel();
      const event = text.split("\n\n").find((b) => b.split("\n").includes(`id: ${pdfMessage.id}`))!;
      const data = JSON.parse(event.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
      assert.deepEqual(data.attachments, pdfMessage.attachments);
    });

    await t.step("an agent reads the visitor's file through /api/attachments/:id", async () => {
      const supervisor = await d.person("supervisor");
      const id = pngMessage.attachments![0].id;
      const got = await download(d, `/api/attachments/${id}`, supervisor.token);
      assert.equal(got.res.status, 200);
      assert.equal(sha256(got.bytes), sha256(png.bytes));
      assert.equal((await download(d, `/api/attachments/${id}`, alice.token)).res.status, 404);
    });

    await t.step("a file an agent sent is the visitor's to read, and no one else's", async () => {
      const customerId = await customerIdFor("webchat", alice.visitorId);
      const conversation = (await d.kv.get<Conversation>(keys.conversation(customerId))).value!;
      const bytes = bytesOf("pdf", 5_000);
      const sent = await sentFile(
        d,
        { conversationId: conversation.id, customerId },
        new File([bytes], "label.pdf", { type: "application/pdf" }),
        {
          text: "Here is your label",
          location: { latitude: -33.9249, longitude: 18.4241, name: "Depot" },
        },
      );
      const id = sent.attachments![0].id;
      const page = await d.json<{ messages: Sent[] }>("GET", "/webchat/api/messages", {
        token: alice.token,
      });
      const out = page.body.messages.find((m) => m.id === sent.id)!;
      assert.equal(out.attachments![0].filename, "label.pdf");
      assert.deepEqual(out.location, { latitude: -33.9249, longitude: 18.4241, name: "Depot" });
      const mine = await download(d, `/webchat/api/attachments/${id}`, alice.token);
      assert.equal(sha256(mine.bytes), sha256(bytes));
      assert.equal(
        (await download(d, `/webchat/api/attachments/${id}`, bob.token)).res.status,
        404,
      );
    });

    await t.step("a repeated clientId answers the first message and stores one file", async () => {
      const before = await fileKeys(d.kv);
      const small = { bytes: bytesOf("png", 1_000), type: "image/png", name: "again.png" };
      const first = await upload(d, bob.token, small, { clientId: "resend-1" });
      assert.equal(first.status, 201);
      const again = await upload(d, bob.token, small, { clientId: "resend-1" });
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.equal(again.body.message.id, first.body.message.id);
      const after = await fileKeys(d.kv);
      assert.equal(after.files, before.files + 1);
      assert.equal(after.attachments, before.attachments + 1);
      assert.equal(after.chunks, before.chunks + 1);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 52: refused files are refused before anything is stored", async (t) => {
  const d = await webchatDesk();
  try {
    const v = await newVisitor(d);
    // The prefixes counted below find something: one stored file first.
    const ok = await upload(d, v.token, {
      bytes: bytesOf("png", 100),
      type: "image/png",
      name: "a.png",
    });
    assert.equal(ok.status, 201);
    const before = await fileKeys(d.kv);
    assert.deepEqual(before, { chunks: 1, files: 1, attachments: 1 });
    const refused = async (
      file: { bytes: Uint8Array<ArrayBuffer>; type: string; name: string },
      status: number,
      code: string,
    ) => {
      const res = await upload(d, v.token, file);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error!.code, code);
      assert.deepEqual(await fileKeys(d.kv), before, "nothing stored");
      return res.body.error!.message;
    };

    await t.step("SVG, HTML and an executable are 415 with the reason", async () => {
      const svg = await refused(
        { bytes: bytesOf("svg", 300), type: "image/svg+xml", name: "x.svg" },
        415,
        "unsupported_media_type",
      );
      assert.match(svg, /image\/svg\+xml/);
      await refused(
        { bytes: bytesOf("html", 300), type: "text/html", name: "x.html" },
        415,
        "unsupported_media_type",
      );
      await refused(
        { bytes: bytesOf("exe", 300), type: "application/x-msdownload", name: "setup.exe" },
        415,
        "unsupported_media_type",
      );
    });

    await t.step("a page or a program that claims to be a PNG or PDF is 415 too", async () => {
      await refused(
        { bytes: bytesOf("html", 300), type: "image/png", name: "cat.png" },
        415,
        "unsupported_media_type",
      );
      await refused(
        { bytes: bytesOf("exe", 300), type: "", name: "invoice.pdf" },
        415,
        "unsupported_media_type",
      );
    });

    await t.step("a file over 10 MB is 413; a body far over it too", async () => {
      const message = await refused(
        { bytes: bytesOf("png", 10_000_001), type: "image/png", name: "big.png" },
        413,
        "file_too_large",
      );
      assert.match(message, /10 MB/);
      await refused(
        { bytes: bytesOf("pdf", 12_000_000), type: "application/pdf", name: "huge.pdf" },
        413,
        "body_too_large",
      );
    });

    await t.step("a form without a file or with a bad clientId is 400", async () => {
      const form = new FormData();
      form.set("clientId", "no-file");
      const res = await d.app.request("/webchat/api/messages", {
        method: "POST",
        headers: { authorization: `Bearer ${v.token}` },
        body: form,
      });
      assert.equal(res.status, 400);
      await res.body?.cancel();
      const bad = await upload(d, v.token, {
        bytes: bytesOf("png", 10),
        type: "image/png",
        name: "a",
      }, {
        clientId: "not ok!",
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(await fileKeys(d.kv), before);
    });

    await t.step("an anonymous upload is 401 and stores nothing", async () => {
      const form = new FormData();
      form.set("file", new File([bytesOf("png", 100)], "a.png", { type: "image/png" }));
      form.set("clientId", "anon");
      const res = await d.app.request("/webchat/api/messages", { method: "POST", body: form });
      assert.equal(res.status, 401);
      await res.body?.cancel();
      assert.deepEqual(await fileKeys(d.kv), before);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 52: 10 files per visitor per hour", async (t) => {
  const d = await webchatDesk();
  try {
    const v = await newVisitor(d);
    const other = await newVisitor(d);
    const file = () => ({ bytes: bytesOf("png", 200), type: "image/png", name: "p.png" });

    await t.step("of 12 files sent at once, 10 are stored and 2 are 429", async () => {
      const answers = await Promise.all(
        Array.from({ length: FILES_PER_HOUR + 2 }, () => upload(d, v.token, file())),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [...Array(FILES_PER_HOUR).fill(201), 429, 429]);
      const refused = answers.find((a) => a.status === 429)!;
      const wait = Number(refused.headers.get("retry-after"));
      assert.ok(wait > 0 && wait <= 3600, `Retry-After ${wait}`);
      assert.deepEqual(await fileKeys(d.kv), { chunks: 10, files: 10, attachments: 10 });
    });

    await t.step("text messages and other visitors are not counted", async () => {
      const text = await d.json("POST", "/webchat/api/messages", {
        token: v.token,
        body: { text: "still here", clientId: "t-1" },
      });
      assert.equal(text.status, 201);
      assert.equal((await upload(d, other.token, file())).status, 201);
    });

    await t.step("the next hour takes files again", async () => {
      d.clock.advance(HOUR);
      assert.equal((await upload(d, v.token, file())).status, 201);
    });
  } finally {
    await d.close();
  }
});
