/**
 * Transcript downloads stream: a 100,000-message range is read page by page and written as it
 * goes, so memory stays flat however large the range.
 *
 *   npx -y deno@2 run -A --v8-flags=--expose-gc bench/transcripts.ts [messages=100000] [csv|json]
 *
 * Seeds a file-backed KV in a temp dir (tickets of 50 messages each, written straight to the
 * keys the desk uses), then reads the whole range through transcriptStream and reports time,
 * bytes, and peak heap / RSS sampled at every chunk. `deno bench` runs a 10,000-message version.
 */
import { newId } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import { transcriptStream } from "../domain/transcripts.ts";
import type { Message, Ticket } from "../domain/types.ts";

const PER_TICKET = 50;
const START = Date.parse("2026-11-01T00:00:00Z");

async function seed(kv: Deno.Kv, messages: number): Promise<{ from: number; to: number }> {
  const tickets = Math.ceil(messages / PER_TICKET);
  let at = START;
  for (let t = 0; t < tickets; t++) {
    const id = newId(at);
    const conversationId = newId(at);
    const ticket: Ticket = {
      id,
      customerId: newId(at),
      channel: t % 3 === 0 ? "whatsapp" : t % 3 === 1 ? "sms" : "webchat",
      from: `+2782${String(t).padStart(7, "0")}`,
      name: `Customer ${t}`,
      department: null,
      status: t % 4 === 0 ? "archived" : "closed",
      createdAt: at,
      lastMessageAt: at,
      assignedTo: null,
      assignedAt: null,
      closedBy: null,
      closedAt: at,
      closeReason: "agent",
      archivedAt: null,
      preview: "Hello",
      history: [],
    };
    let op = kv.atomic().set(keys.ticket(id), ticket)
      .set(keys.ticketConversation(id, conversationId), conversationId);
    for (let m = 0; m < PER_TICKET && t * PER_TICKET + m < messages; m++) {
      at += 1000;
      const message: Message = {
        id: newId(at),
        conversationId,
        direction: m % 2 ? "out" : "in",
        author: m % 2 ? "system" : "customer",
        // Realistic text with the characters CSV must quote.
        text: `Message ${m} of ticket ${t}: "order" #${t * 7}, please,\ncall me back. ${
          "x".repeat(120)
        }`,
        at,
      };
      op.set(keys.message(conversationId, message.id), message);
      if (m % 25 === 24) {
        await op.commit();
        op = kv.atomic();
      }
    }
    await op.commit();
    at += 60_000;
  }
  return { from: START, to: at };
}

async function drain(
  stream: ReadableStream<Uint8Array>,
  onChunk: () => void,
): Promise<{ bytes: number; chunks: number; lines: number }> {
  let bytes = 0, chunks = 0, lines = 0;
  for await (const chunk of stream) {
    bytes += chunk.byteLength;
    chunks++;
    for (const b of chunk) if (b === 10) lines++;
    onChunk();
  }
  return { bytes, chunks, lines };
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function main() {
  const messages = Number(Deno.args[0] ?? 100_000);
  const format = (Deno.args[1] ?? "csv") as "csv" | "json";
  const dir = await Deno.makeTempDir({ prefix: "chatdesk-bench-" });
  const kv = await Deno.openKv(`${dir}/bench.sqlite3`);
  try {
    const seedStart = performance.now();
    const range = await seed(kv, messages);
    console.log(
      `seeded ${messages} messages in ${Math.ceil(messages / PER_TICKET)} tickets ` +
        `(${((performance.now() - seedStart) / 1000).toFixed(1)} s)`,
    );
    // Let seeding garbage go before measuring.
    (globalThis as { gc?: () => void }).gc?.();
    const base = Deno.memoryUsage();
    let peakHeap = base.heapUsed, peakRss = base.rss;
    let firstByteMs = 0;
    let chunk = 0;
    let peakRetained = base.heapUsed;
    const gc = (globalThis as { gc?: () => void }).gc;
    const start = performance.now();
    const result = await drain(transcriptStream(kv, range, format), () => {
      if (!firstByteMs) firstByteMs = performance.now() - start;
      const m = Deno.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
      // What the stream holds on to (after a full GC), every 50 chunks: flat if streamed.
      if (gc && ++chunk % 50 === 0) {
        gc();
        peakRetained = Math.max(peakRetained, Deno.memoryUsage().heapUsed);
      }
    });
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `${format}: ${messages} messages, ${mb(result.bytes)} in ${result.chunks} chunks, ` +
        `${seconds.toFixed(2)} s (${Math.round(messages / seconds)} messages/s), ` +
        `first bytes after ${firstByteMs.toFixed(0)} ms`,
    );
    console.log(
      `heap: ${mb(base.heapUsed)} before, peak ${mb(peakHeap)} (+${
        mb(peakHeap - base.heapUsed)
      }); rss: ${mb(base.rss)} before, peak ${mb(peakRss)} (+${mb(peakRss - base.rss)}); ` +
        `output ${mb(result.bytes)}`,
    );
    if (gc) {
      console.log(
        `retained heap after GC, sampled every 50 chunks: peak ${mb(peakRetained)} (+${
          mb(peakRetained - base.heapUsed)
        })`,
      );
    }
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
else {
  const kv = await Deno.openKv(":memory:");
  const range = await seed(kv, 10_000);
  Deno.bench("transcripts: stream 10,000 messages as CSV", async () => {
    await drain(transcriptStream(kv, range, "csv"), () => {});
  });
  Deno.bench("transcripts: stream 10,000 messages as JSON", async () => {
    await drain(transcriptStream(kv, range, "json"), () => {});
  });
}
