/**
 * Rule 47: a provider's answer is read up to 64 KiB and the rest discarded unread, so a hostile or
 * broken gateway cannot fill the desk's memory.
 */
import assert from "node:assert/strict";
import { updateChannel } from "../domain/channel_settings.ts";
import { PROVIDER_ANSWER_BYTES, readUpTo } from "../domain/delivery.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import type { Message } from "../domain/types.ts";
import { CLOSED_TIME, testDesk, waitFor } from "./helpers.ts";

const CHUNK = new Uint8Array(64 * 1024).fill(0x41);
const ANSWER_BYTES = 256 * 1024 * 1024;

/** A gateway whose 503 answer is a 256 MiB body, made as it is read; counts what was read. */
function hugeAnswers() {
  let emitted = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.body?.cancel();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= ANSWER_BYTES) return controller.close();
        sent += CHUNK.length;
        emitted += CHUNK.length;
        controller.enqueue(CHUNK);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { status: 503, headers: { "content-type": "text/plain" } });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    emitted: () => emitted,
    close: () => server.shutdown(),
  };
}

Deno.test("[domain] rule 47: a 256 MiB provider answer is read to 64 KiB and the attempt recorded", async () => {
  const gateway = hugeAnswers();
  const d = await testDesk({ at: CLOSED_TIME, listen: true });
  try {
    await updateChannel(d.kv, "api", {
      webhookUrl: `${gateway.url}/hook`,
      secret: "answer-secret",
      enabled: true,
    }, { clock: d.clock, publicUrl: "http://127.0.0.1:8000" });
    const answer = await receiveInbound(d.desk, {
      channel: "sms",
      from: "+15550300001",
      text: "hi",
      route: "api",
    });
    const head = answer.replies[0];
    const delivery = async () => {
      const at = (await d.kv.get<string>(keys.messageById(head.id))).value!;
      return (await d.kv.get<Message>(keys.message(at, head.id))).value!.delivery!;
    };
    await waitFor(async () => (await delivery()).error?.code === "http_503", 20_000, "the 503");
    assert.equal((await delivery()).status, "queued");
    // What the server pushed before the desk stopped reading: socket buffers, not the answer.
    assert.ok(gateway.emitted() < 16 * 1024 * 1024, `${gateway.emitted()} bytes pulled`);
  } finally {
    await d.close();
    await gateway.close();
  }
});

Deno.test("[domain] rule 47: readUpTo keeps the start of a body and cancels the rest", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode("x".repeat(10_000)));
    },
    cancel() {
      cancelled = true;
    },
  });
  const text = await readUpTo(new Response(body), PROVIDER_ANSWER_BYTES);
  assert.equal(text.length, PROVIDER_ANSWER_BYTES);
  assert.ok(cancelled);
  assert.equal(await readUpTo(new Response("short"), PROVIDER_ANSWER_BYTES), "short");
});
