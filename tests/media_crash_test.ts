/**
 * Rule 49 against a real `main.ts` process: a customer's file is half downloaded when the process
 * is killed (SIGKILL, no goodbye). A new process on the same store takes the job once its lease
 * has run out, fetches again, and the file ends stored once: one attachment, every piece once,
 * the bytes equal to what the customer sent.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { CHUNK_BYTES } from "../domain/file_store.ts";
import { keys } from "../domain/keys.ts";
import type { Message } from "../domain/types.ts";
import { bytesOf, FakeMedia, sha256Hex } from "./fake_media.ts";
import { callMain, freePort, startMain } from "./main_process.ts";
import { metaBody, metaMessage, PHONE_NUMBER_ID } from "./provider_webhooks.ts";

const ADMIN = { email: "boss@media.local", password: "boss-password-1" };
const BEARER = "EAAG-crash-token";
const APP_SECRET = "crash-app-secret";

Deno.test("[e2e] rule 49: SIGKILL during a fetch ends with the file stored once", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/media.sqlite3`;
  const fake = new FakeMedia(BEARER, { user: "x", password: "y" });
  const photo = bytesOf(5 * CHUNK_BYTES + 1234, 42);
  fake.add("4001", { bytes: photo, mime: "image/jpeg", stall: true });
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const start = () =>
    startMain({
      PORT: String(port),
      CHATDESK_KV_PATH: kvPath,
      CHATDESK_CLOCK: "manual",
      CHATDESK_DEMO: "0",
      CHATDESK_ADMIN_EMAIL: ADMIN.email,
      CHATDESK_ADMIN_PASSWORD: ADMIN.password,
      CHATDESK_WHATSAPP_API_BASE: fake.origin,
    });
  const call = (method: string, path: string, token: string, body?: unknown) =>
    callMain<Record<string, string>>(base, method, path, token, body);

  let server = start();
  try {
    await server.ready;
    let admin = (await call("POST", "/api/session", "", ADMIN)).body.token as string;
    const put = await call("PUT", "/api/channels/whatsapp", admin, {
      phoneNumberId: PHONE_NUMBER_ID,
      accessToken: BEARER,
      appSecret: APP_SECRET,
      verifyToken: "crash-verify",
      enabled: true,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const raw = metaBody({
      messages: [metaMessage("16505551234", "", {
        type: "image",
        image: { id: "4001", mime_type: "image/jpeg", sha256: sha256Hex(photo) },
      })],
    });
    const answer = await fetch(`${base}/webhooks/whatsapp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": "sha256=" +
          createHmac("sha256", APP_SECRET).update(raw).digest("hex"),
      },
      body: raw,
    });
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
    // Half the bytes are in flight (and some pieces written) when the process dies.
    await fake.stalled.promise;
    await server.kill("SIGKILL");
    fake.release();

    const before = await Deno.openKv(kvPath);
    const attachmentIds: string[] = [];
    for await (const e of before.list({ prefix: keys.attachment("").slice(0, 1) })) {
      attachmentIds.push(e.key[1] as string);
    }
    assert.equal(attachmentIds.length, 1);
    const [id] = attachmentIds;
    assert.equal((await before.get(keys.file(id))).value, null, "no record for half a file");
    // The killed attempt's job stays, due when its lease ends.
    const due = await Array.fromAsync(before.list({ prefix: keys.mediaDue() }));
    assert.equal(due.length, 1);
    before.close();

    server = start();
    await server.ready;
    admin = (await call("POST", "/api/session", "", ADMIN)).body.token as string;
    // Past the lease of the killed attempt: the new process fetches it again before answering.
    const moved = await call("POST", "/api/test/clock", admin, { advanceMs: 121_000 });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const res = await fetch(`${base}/api/attachments/${id}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(res.status, 200, `${await res.clone().text()} ${JSON.stringify(moved.body)}`);
    assert.equal(sha256Hex(new Uint8Array(await res.arrayBuffer())), sha256Hex(photo));
    assert.equal(fake.downloads("4001"), 2);
    await server.kill("SIGTERM");

    const after = await Deno.openKv(kvPath);
    try {
      let pieces = 0;
      for await (const _ of after.list({ prefix: keys.fileChunks(id) })) pieces++;
      assert.equal(pieces, Math.ceil(photo.length / CHUNK_BYTES));
      const messages: Message[] = [];
      for await (const e of after.list<Message>({ prefix: ["messages"] })) {
        if (e.value.attachments?.length) messages.push(e.value);
      }
      assert.equal(messages.length, 1);
      assert.deepEqual(messages[0].attachments?.map((a) => [a.id, a.status, a.size]), [
        [id, "stored", photo.length],
      ]);
      let jobs = 0;
      for await (const _ of after.list({ prefix: keys.mediaDue() })) jobs++;
      assert.equal(jobs, 0, "no fetch left due");
    } finally {
      after.close();
    }
  } finally {
    await server.kill("SIGKILL");
    await fake.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
