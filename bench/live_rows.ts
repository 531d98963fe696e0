/**
 * Live updates of the Agent Desk lists (rule 33, issue 3 part 1): what one new ticket, one
 * accepted ticket and one closed ticket cost on each agent's `/events` stream, and how long a new
 * ticket takes to show on a throttled Chromium. Run:
 *   npx -y deno@2 run -A bench/live_rows.ts [--agents=5] [--tickets=50] [--rounds=5]
 *   npx -y deno@2 run -A bench/live_rows.ts --browser [--rounds=10] [--tickets=50]
 * The server is the real app on Deno.serve (127.0.0.1, port 0) over a file-backed KV in a temp
 * dir, `--tickets` tickets already waiting (so the Unassigned list is full at 50 rows), every
 * customer name 40 characters and every first message 140 (rule 33's sizes).
 *
 * Bytes: each agent opens its Unassigned page, then its stream exactly as the page does (its
 * `sse-connect` address, so nothing is re-sent at connect), over a raw socket: once without
 * `Accept-Encoding` (the SSE text, rule 33's measure, HTTP chunk framing removed) and once with
 * `Accept-Encoding: gzip` (bytes on the wire, framing included). A new ticket is the customer's
 * YES (the first message was sent before); the bytes are those that arrive until the stream is
 * quiet for 400 ms.
 *
 * Browser (`--browser`): one agent's Unassigned page in headless Chromium with CDP throttling
 * (Network.emulateNetworkConditions: 400 ms latency, 50 KB/s down and up; Emulation
 * .setCPUThrottlingRate 6); time from just before the YES is sent to the moment a
 * MutationObserver in the page sees the new row (Date.now() on both sides: same machine clock).
 */
import { chromium } from "playwright-core";
import { benchDesk, INBOUND_TOKEN, ms, percentile, seedAgents, seedTickets } from "./seed.ts";

const arg = (name: string, fallback: number) => {
  const found = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const AGENTS = arg("agents", 5);
const TICKETS = arg("tickets", 50);
const BROWSER = Deno.args.includes("--browser");
const ROUNDS = arg("rounds", BROWSER ? 10 : 5);
const QUIET_MS = 400;
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** A 40-character name and a 140-character first message (ASCII), different per round. */
const nameFor = (i: number) => `Customer Name Forty Characters Long ${String(i).padStart(4, "0")}`;
const textFor = (i: number) =>
  `Round ${String(i).padStart(3, "0")}: `.padEnd(
    140,
    "my order has not arrived yet and I would like to know where it is. ",
  );

const b = await benchDesk();
// Rule 33's sizes for the rows already there too.
await seedTickets(b.kv, TICKETS);
const people = await seedAgents(b.desk, BROWSER ? 2 : AGENTS);
const ac = new AbortController();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
  b.app.fetch,
);
const port = (server.addr as Deno.NetAddr).port;
const url = `http://127.0.0.1:${port}`;

async function inbound(from: string, text: string, name: string) {
  const res = await fetch(`${url}/api/inbound`, {
    method: "POST",
    headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ channel: "sms", from, text, name }),
  });
  if (!res.ok) throw new Error(`inbound ${res.status}: ${await res.text()}`);
  return await res.json() as { ticketId: string | null };
}

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path} ${res.status}: ${await res.text()}`);
  return await res.json();
}

try {
  if (BROWSER) await browserRounds();
  else await byteRounds();
} finally {
  ac.abort();
  await Promise.race([server.finished, new Promise((r) => setTimeout(r, 2000))]);
  await b.close();
}
Deno.exit(0);

/** The events address an agent's Unassigned page connects to. */
async function pageStream(token: string): Promise<string> {
  const res = await fetch(`${url}/tickets/unassigned`, {
    headers: { cookie: `chatdesk_session=${token}`, accept: "text/html" },
  });
  const html = await res.text();
  const address = html.match(/sse-connect="([^"]+)"/)?.[1];
  if (!address) throw new Error("no sse-connect on the page");
  return address.replaceAll("&amp;", "&");
}

interface Stream {
  /** Body bytes as they arrive (chunk framing included when `framed`). */
  bytes: number;
  /** SSE text bytes (framing removed, decompressed text not needed: counted uncompressed only). */
  text: string;
  last: number;
  close(): void;
}

/** An `/events` stream over a raw socket, counting what arrives. */
async function openStream(address: string, token: string, gzip: boolean): Promise<Stream> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head =
    `GET ${address} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: chatdesk_session=${token}\r\n` +
    `Accept: text/event-stream\r\n${gzip ? "Accept-Encoding: gzip\r\n" : ""}\r\n`;
  await conn.write(new TextEncoder().encode(head));
  const stream: Stream = { bytes: 0, text: "", last: performance.now(), close: () => conn.close() };
  let headers = "";
  let inBody = false;
  const decoder = new TextDecoder();
  let raw = new Uint8Array(0);
  (async () => {
    const buf = new Uint8Array(256 * 1024);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        let chunk = buf.subarray(0, n);
        if (!inBody) {
          headers += decoder.decode(chunk);
          const at = headers.indexOf("\r\n\r\n");
          if (at < 0) continue;
          inBody = true;
          const headBytes = new TextEncoder().encode(headers.slice(0, at + 4)).length;
          chunk = chunk.subarray(
            chunk.length - (new TextEncoder().encode(headers).length - headBytes),
          );
        }
        stream.bytes += chunk.length;
        stream.last = performance.now();
        if (!gzip) {
          // Strip the chunked framing: size line, data, CRLF.
          const all = new Uint8Array(raw.length + chunk.length);
          all.set(raw);
          all.set(chunk, raw.length);
          let at = 0;
          while (true) {
            const eol = all.indexOf(13, at);
            if (eol < 0 || eol + 1 >= all.length) break;
            const size = parseInt(decoder.decode(all.subarray(at, eol)), 16);
            if (all.length < eol + 2 + size + 2) break;
            stream.text += decoder.decode(all.subarray(eol + 2, eol + 2 + size));
            at = eol + 2 + size + 2;
          }
          raw = all.slice(at);
        }
      }
    } catch { /* closed */ }
  })();
  return stream;
}

async function quiet(streams: Stream[]) {
  const start = performance.now();
  while (true) {
    await new Promise((r) => setTimeout(r, 50));
    const latest = Math.max(...streams.map((s) => s.last));
    if (performance.now() - Math.max(latest, start) >= QUIET_MS) return;
  }
}

async function byteRounds() {
  const plain: Stream[] = [];
  const zipped: Stream[] = [];
  for (const p of people) {
    const address = await pageStream(p.token);
    plain.push(await openStream(address, p.token, false));
    zipped.push(await openStream(address, p.token, true));
  }
  const all = [...plain, ...zipped];
  await quiet(all);
  const measure = async (what: () => Promise<unknown>) => {
    const before = all.map((s) => [s.bytes, s.text.length] as const);
    const text0 = plain.map((s) => s.text.length);
    await what();
    await quiet(all);
    const text = plain.map((s, i) => new TextEncoder().encode(s.text.slice(text0[i])).length);
    const wire = zipped.map((s, i) => s.bytes - before[plain.length + i][0]);
    const sample = plain[0].text.slice(text0[0]);
    return { text, wire, sample };
  };
  const results: Record<string, { text: number[]; wire: number[]; sample: string }[]> = {
    "new ticket": [],
    "ticket accepted (removed)": [],
    "ticket closed (from Assigned)": [],
  };
  const closer = people[people.length - 1];
  for (let round = 1; round <= ROUNDS; round++) {
    const from = `+1555${String(8000000 + round)}`;
    await inbound(from, textFor(round), nameFor(round));
    await quiet(all);
    const made = await measure(() => inbound(from, "YES", nameFor(round)));
    results["new ticket"].push(made);
    await inbound(from, "//end", nameFor(round));
    await quiet(all);
    const { tickets } = await api("GET", "/api/tickets?queue=unassigned&limit=1", closer.token);
    const id = tickets[0].id;
    results["ticket accepted (removed)"].push(
      await measure(() => api("POST", `/api/tickets/${id}/accept`, closer.token)),
    );
    results["ticket closed (from Assigned)"].push(
      await measure(() => api("POST", `/api/tickets/${id}/close`, closer.token)),
    );
  }
  console.log(
    `\n${people.length} agents on Unassigned (${TICKETS} tickets waiting, 50 rows), ${ROUNDS} rounds, ` +
      `Deno ${Deno.version.deno}; bytes per change per agent (the accepting agent is one of them)\n`,
  );
  console.log("| change | SSE text, median | SSE text, max | on the wire (gzip), median | max |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [name, rounds] of Object.entries(results)) {
    const text = rounds.flatMap((r) => r.text).sort((a, b) => a - b);
    const wire = rounds.flatMap((r) => r.wire).sort((a, b) => a - b);
    console.log(
      `| ${name} | ${percentile(text, 50)} B | ${text.at(-1)} B | ${percentile(wire, 50)} B | ${
        wire.at(-1)
      } B |`,
    );
  }
  if (Deno.args.includes("--show")) {
    for (const [name, rounds] of Object.entries(results)) {
      console.log(`\n--- ${name}, agent 1, last round:\n${rounds.at(-1)!.sample}`);
    }
  }
  for (const s of all) s.close();
}

async function browserRounds() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies([{
      name: "chatdesk_session",
      value: people[0].token,
      url,
    }]);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 400,
      downloadThroughput: 50 * 1024,
      uploadThroughput: 50 * 1024,
    });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 6 });
    let streamBytes = 0;
    cdp.on("Network.dataReceived", (e: { encodedDataLength: number; requestId: string }) => {
      if (eventStreams.has(e.requestId)) streamBytes += e.encodedDataLength;
    });
    const eventStreams = new Set<string>();
    cdp.on("Network.responseReceived", (e: { requestId: string; response: { url: string } }) => {
      if (e.response.url.includes("/events")) eventStreams.add(e.requestId);
    });
    const loadStart = performance.now();
    await page.goto(`${url}/tickets/unassigned`, { timeout: 60_000 });
    await page.waitForSelector("#queue-list li.row", { timeout: 60_000 });
    const loaded = performance.now() - loadStart;
    // Let the stream connect (its first bytes come after the 400 ms latency).
    await new Promise((r) => setTimeout(r, 3000));
    await page.evaluate(`(() => {
      globalThis.seen = {};
      new MutationObserver(() => {
        for (const from of document.querySelectorAll("#queue-list li.row .row-from")) {
          globalThis.seen[from.textContent] ??= Date.now();
        }
      }).observe(document.getElementById("queue-list"), { childList: true, subtree: true });
    })()`);
    const times: number[] = [];
    const bytes: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const from = `+1555${String(9000000 + round)}`;
      await inbound(from, textFor(round), nameFor(round));
      await new Promise((r) => setTimeout(r, 500));
      const before = streamBytes;
      const sent = Date.now();
      await inbound(from, "YES", nameFor(round));
      const deadline = Date.now() + 30_000;
      let seenAt: number | undefined;
      while (Date.now() < deadline) {
        seenAt = await page.evaluate(
          (f) => (globalThis as unknown as { seen: Record<string, number> }).seen[f],
          from,
        );
        if (seenAt) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!seenAt) throw new Error(`round ${round}: the row never showed`);
      times.push(seenAt - sent);
      await new Promise((r) => setTimeout(r, 1500));
      bytes.push(streamBytes - before);
      await inbound(from, "//end", nameFor(round));
      await new Promise((r) => setTimeout(r, 1500));
    }
    times.sort((a, b) => a - b);
    bytes.sort((a, b) => a - b);
    console.log(
      `\nChromium ${browser.version()}, throttled (400 ms latency, 50 KB/s, CPU ×6), ${TICKETS} tickets ` +
        `waiting (50 rows); page loaded in ${ms(loaded)}; ${ROUNDS} new tickets\n`,
    );
    console.log("| new ticket visible | p50 | p90 | max | stream bytes per ticket (p50, CDP) |");
    console.log("| --- | ---: | ---: | ---: | ---: |");
    console.log(
      `| after the YES is sent | ${ms(percentile(times, 50))} | ${ms(percentile(times, 90))} | ${
        ms(times.at(-1)!)
      } | ${percentile(bytes, 50)} B |`,
    );
    await context.close();
  } finally {
    await browser.close();
  }
}
