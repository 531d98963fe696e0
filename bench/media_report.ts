/**
 * Media benchmark (rule 49), wired as main.ts wires it: the webhook route, the in-process kick
 * after its commit, the fetcher streaming into the KV file store, against a media server on
 * 127.0.0.1 that speaks Meta's wire format.
 *
 *   npx -y deno@2 run -A bench/media_report.ts [--only=latency|shown|memory]
 *
 * 1. Latency from a WhatsApp webhook carrying a 1 MB photo to the file stored and readable (the
 *    commit that marks it `stored` is what wakes the open ticket's stream), 50 photos one after
 *    another, on a local KV file and behind a KV Connect server (as on Deno Deploy).
 * 2. The same to the photo shown: an agent has the customer's ticket open (its page's live stream,
 *    read as a browser reads it) and the time runs until the stream carries the `<img>` of the
 *    stored file, 50 photos one after another, local KV file.
 * 3. Memory while 20 files of 16 MiB are fetched at once: the media server makes its bytes as it
 *    sends them (nothing held by it), so the process's growth is the desk's own.
 */
import { customerIdFor } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import type { Message } from "../domain/types.ts";
import { closeBusiness, type TestDesk } from "../tests/helpers.ts";
import { metaBody, metaMessage, postMeta, whatsappDesk } from "../tests/provider_webhooks.ts";
import { readEventStream } from "../tests/event_stream.ts";
import { openKvConnect, startKvConnectServer } from "../tests/kv_connect_server.ts";

const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7);
const BEARER = "bench-token";
const MIB = 1024 * 1024;

/** A Meta-like media server whose files are `length` pseudo-random bytes, made as they are sent. */
function mediaServer(length: number) {
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (request: Request): Response => {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/download/")) {
      let sent = 0;
      let x = 12345;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= length) return controller.close();
          const piece = new Uint8Array(Math.min(64 * 1024, length - sent));
          for (let i = 0; i < piece.length; i++) {
            x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
            piece[i] = x >>> 24;
          }
          sent += piece.length;
          controller.enqueue(piece);
        },
      });
      return new Response(body, {
        headers: { "content-type": "image/jpeg", "content-length": String(length) },
      });
    }
    const id = url.pathname.slice(1);
    return Response.json({
      messaging_product: "whatsapp",
      url: `http://127.0.0.1:${server.addr.port}/download/${id}`,
      mime_type: "image/jpeg",
      file_size: String(length),
      id,
    });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** A signed WhatsApp webhook with one 1 MB photo (its media id) from `from`. */
const webhook = (from: string, mediaId: string) =>
  metaBody({
    messages: [metaMessage(from, "", {
      id: `wamid.bench.${mediaId}`,
      type: "image",
      image: { id: mediaId, mime_type: "image/jpeg" },
    })],
  });

async function benchDesk(origin: string, kv?: Deno.Kv) {
  const dir = await Deno.makeTempDir();
  return await whatsappDesk({
    ...(kv ? { kv } : { path: `${dir}/media.sqlite3` }),
    providers: { whatsappApiBase: origin, timeoutMs: 60_000 },
  }, { accessToken: BEARER });
}

async function post(d: TestDesk, raw: string) {
  const res = await postMeta(d, raw);
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  await res.body?.cancel();
}

/** Waits (watching the customer's thread marker) until every file of the customer is stored. */
async function storedFor(kv: Deno.Kv, customerId: string) {
  const stream = kv.watch([keys.threadChanged(customerId)]);
  try {
    for await (const _ of stream) {
      const conversation = (await kv.get<{ id: string }>(keys.conversation(customerId))).value;
      if (!conversation) continue;
      const messages = await Array.fromAsync(
        kv.list<Message>({ prefix: keys.messages(conversation.id) }),
      );
      const files = messages.flatMap((e) => e.value.attachments ?? []);
      if (files.length && files.every((a) => a.status !== "fetching")) return files;
    }
  } finally {
    await stream.cancel().catch(() => {});
  }
  throw new Error("watch ended");
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function latency(store: "file" | "kv-connect") {
  const media = mediaServer(1_000_000);
  const server = store === "kv-connect" ? await startKvConnectServer() : null;
  const kv = server ? await openKvConnect(server) : undefined;
  const d = await benchDesk(media.origin, kv);
  const times: number[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      const from = `2782${String(1_000_000 + i)}`;
      const customerId = await customerIdOf(`+${from}`);
      const started = performance.now();
      const done = storedFor(d.kv, customerId);
      await post(d, webhook(from, `${store}${i}`));
      const [file] = await done;
      if (file.status !== "stored" || file.size !== 1_000_000) throw new Error(file.status);
      times.push(performance.now() - started);
    }
  } finally {
    await d.close();
    kv?.close();
    await server?.close();
    await media.close();
  }
  times.sort((a, b) => a - b);
  console.log(
    `${store}: webhook → 1 MB photo stored, 50 in a row: p50 ${
      percentile(times, 0.5).toFixed(1)
    } ms, ` +
      `p99 ${percentile(times, 0.99).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`,
  );
}

/** Webhook → the photo's `<img>` on the live stream of the agent's open ticket page. */
async function shown() {
  const media = mediaServer(1_000_000);
  const d = await benchDesk(media.origin);
  const times: number[] = [];
  const from = "27840000001";
  const customerId = await customerIdOf(`+${from}`);
  const text = (body: string) => metaBody({ messages: [metaMessage(from, body)] });
  try {
    // The customer leaves a message out of hours; an agent accepts the ticket and opens it.
    await closeBusiness(d);
    await post(d, text("Hello"));
    await post(d, text("YES"));
    const ticketId = (await d.kv.get<string>(keys.openTicketByCustomer(customerId))).value!;
    const { token } = await d.person("agent");
    const accepted = await d.call("POST", `/api/tickets/${ticketId}/accept`, { token });
    if (accepted.status !== 200) throw new Error(`accept answered ${accepted.status}`);
    const cookie = `chatdesk_session=${token}`;
    const html = await (await d.app.request(`/tickets/assigned/${ticketId}`, {
      headers: { cookie, accept: "text/html" },
    })).text();
    const addresses = [...html.matchAll(/sse-connect="([^"]+)"/g)].map((m) =>
      m[1].replaceAll("&amp;", "&")
    );
    const address = addresses.find((a) => a.includes("ticket")) ?? addresses.at(-1)!;
    const res = await d.app.request(address, { headers: { cookie, accept: "text/event-stream" } });
    const stream = readEventStream(res.body!, 10_000);
    await stream.settle(200);
    for (let i = 0; i < 50; i++) {
      stream.clear();
      const started = performance.now();
      await post(d, webhook(from, `shown${i}`));
      const files = await attachmentsOfCustomer(d.kv, customerId);
      const id = files.at(-1)!.id;
      if (!(await stream.until(`/api/attachments/${id}`))) throw new Error(`photo ${i} not shown`);
      // The stored file's element, not the "Fetching" placeholder.
      while (
        !/<img[^>]+\/api\/attachments\//.test(stream.seen.slice(stream.seen.lastIndexOf(id) - 300))
      ) {
        if (!(await stream.until(`<img`, 10_000))) throw new Error(`photo ${i} never drawn`);
      }
      times.push(performance.now() - started);
    }
    await stream.close();
  } finally {
    await d.close();
    await media.close();
  }
  times.sort((a, b) => a - b);
  console.log(
    `file: webhook → 1 MB photo drawn on the agent's open ticket, 50 in a row: p50 ${
      percentile(times, 0.5).toFixed(1)
    } ms, p99 ${percentile(times, 0.99).toFixed(1)} ms`,
  );
}

/** Every file of the customer's current conversation, in order. */
async function attachmentsOfCustomer(kv: Deno.Kv, customerId: string) {
  const conversation = (await kv.get<{ id: string }>(keys.conversation(customerId))).value!;
  const messages = await Array.fromAsync(
    kv.list<Message>({ prefix: keys.messages(conversation.id) }),
  );
  return messages.flatMap((e) => e.value.attachments ?? []);
}

async function memory() {
  const media = mediaServer(16 * MIB);
  const d = await benchDesk(media.origin);
  try {
    // Warm up: one small round trip through every path, then a quiet baseline.
    await post(d, webhook("27820000001", "warm"));
    await storedFor(d.kv, await customerIdOf("+27820000001"));
    (globalThis as { gc?: () => void }).gc?.();
    const base = Deno.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const sampler = setInterval(() => {
      const m = Deno.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 5);
    const started = performance.now();
    const customers: string[] = [];
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const from = `2783${String(1_000_000 + i)}`;
      const id = await customerIdOf(`+${from}`);
      customers.push(id);
      waits.push(storedFor(d.kv, id));
    }
    await Promise.all(
      customers.map((_, i) => post(d, webhook(`2783${String(1_000_000 + i)}`, `big${i}`))),
    );
    await Promise.all(waits);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    (globalThis as { gc?: () => void }).gc?.();
    const after = Deno.memoryUsage();
    console.log(
      `20 × 16 MiB fetched at once (320 MiB) in ${seconds.toFixed(1)} s: ` +
        `peak RSS +${((peakRss - base.rss) / MIB).toFixed(0)} MiB over ${
          (base.rss / MIB).toFixed(0)
        } MiB, ` +
        `peak JS heap +${((peakHeap - base.heapUsed) / MIB).toFixed(0)} MiB; after a GC heap +${
          ((after.heapUsed - base.heapUsed) / MIB).toFixed(0)
        } MiB, RSS +${((after.rss - base.rss) / MIB).toFixed(0)} MiB`,
    );
  } finally {
    await d.close();
    await media.close();
  }
}

const customerIdOf = (from: string) => customerIdFor("whatsapp", from);

if (!only || only === "latency") {
  await latency("file");
  await latency("kv-connect");
}
if (!only || only === "shown") await shown();
if (!only || only === "memory") await memory();
