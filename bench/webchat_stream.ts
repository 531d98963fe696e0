/**
 * Web chat (rule 30): the time from an agent's reply to the visitor's stream, with N visitors
 * connected, and the widget's bytes on the wire. Run:
 *   npx -y deno@2 run -A bench/webchat_stream.ts [--visitors=500] [--talking=100] [--rounds=200]
 *     [--burst=50] [--other-process=50] [--screen=30]
 * The server is the real app on Deno.serve (127.0.0.1, port 0) over a file-backed KV in a temp
 * dir. `talking` of the visitors leave a message (first message, YES, //end) and an agent accepts
 * their tickets; every visitor opens its stream as the widget does (GET its thread, a stream
 * ticket, then `GET /webchat/api/events?lastEventId=`). The visitors' streams and the agent run
 * in a second process, so each time is taken on one clock: from just before the agent's
 * `POST /api/tickets/:id/reply` to the moment the event carrying that message arrives on that
 * visitor's stream (the widget draws it in the same task). `--other-process` replies go to a
 * second server process on the same KV file, whose writes `kv.watch` in the first never sees:
 * they reach the visitor through the hub's poll (the multi-process fallback). `--screen` replies go
 * to one more visitor whose chat is open in headless Chromium (the `/webchat` page): measured
 * to the moment its page draws the message (a MutationObserver's Date.now(), same machine clock).
 */
import { updateChannel } from "../domain/channel_settings.ts";
import { systemClock } from "../domain/clock.ts";
import { parseConfig, providerConfig } from "../domain/config.ts";
import { Courier } from "../domain/delivery.ts";
import type { Desk } from "../domain/desk.ts";
import { createApp } from "../routes/app.ts";
import { keys } from "../domain/keys.ts";
import { acceptTicket } from "../domain/tickets.ts";
import { authenticateVisitor, createVisitor, sendVisitorMessage } from "../domain/webchat.ts";
import { HUB_POLL_MS, threadHub } from "../live/webchat.ts";
import { chromium } from "playwright-core";
import { benchDesk, INBOUND_TOKEN, ms, percentile, seedAgents } from "./seed.ts";

const arg = (name: string, fallback: number) => {
  const found = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const VISITORS = arg("visitors", 500);
const TALKING = Math.min(arg("talking", 100), VISITORS);
const ROUNDS = arg("rounds", 200);
const BURST = Math.min(arg("burst", 50), TALKING);
const TIMEOUT_MS = 10_000;
const OTHER = arg("other-process", 50);
const SCREEN = arg("screen", 30);
const CLIENT = Deno.args.includes("--client");
const SECOND_SERVER = Deno.env.get("BENCH_SECOND_SERVER");

interface Plan {
  url: string;
  /** A second server process on the same KV file (writes the first process's watch misses). */
  otherUrl: string | null;
  agentToken: string;
  visitors: { token: string; ticketId: string | null }[];
}

if (SECOND_SERVER) {
  // The same app over the same store file, in its own process: prints its URL, serves until killed.
  const kv = await Deno.openKv(SECOND_SERVER);
  const desk: Desk = { kv, clock: systemClock };
  const config = parseConfig({
    CHATDESK_KV_PATH: SECOND_SERVER,
    CHATDESK_ADMIN_EMAIL: "admin@bench.local",
    CHATDESK_INBOUND_TOKEN: INBOUND_TOKEN,
    CHATDESK_CLOCK: "system",
  });
  const app = createApp({
    desk,
    config,
    manualClock: null,
    inboundToken: INBOUND_TOKEN,
    courier: new Courier(desk, providerConfig(config)),
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`http://127.0.0.1:${port}`),
  }, app.fetch);
} else if (!CLIENT) {
  const b = await benchDesk();
  const { desk, kv } = b;
  await updateChannel(kv, "webchat", { enabled: true }, { clock: desk.clock, publicUrl: null });
  const [agent] = await seedAgents(desk, 1);
  const t0 = performance.now();
  const visitors: Plan["visitors"] = [];
  for (let i = 0; i < VISITORS; i++) {
    const { token } = await createVisitor(desk, `10.9.${i >> 8}.${i & 255}`);
    let ticketId: string | null = null;
    if (i < TALKING) {
      const visitor = await authenticateVisitor(desk, token);
      for (const [n, text] of ["Hello, my parcel is late", "YES", "//end"].entries()) {
        await sendVisitorMessage(desk, visitor, { text, clientId: `seed-${n}` });
      }
      ticketId = (await kv.get<string>(keys.openTicketByCustomer(visitor.customerId))).value;
      await acceptTicket(desk, agent.agent, ticketId!);
    }
    visitors.push({ token, ticketId });
  }
  console.log(
    `${VISITORS} visitors (${TALKING} with a ticket accepted by the agent) in ${
      ms(performance.now() - t0)
    }`,
  );
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    b.app.fetch,
  );
  let second: Deno.ChildProcess | null = null;
  let otherUrl: string | null = null;
  if (OTHER > 0) {
    second = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!],
      env: { BENCH_SECOND_SERVER: `${b.dir}/desk.sqlite3` },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = second.stdout.pipeThrough(new TextDecoderStream()).getReader();
    otherUrl = ((await lines.read()).value ?? "").trim();
    lines.releaseLock();
  }
  const plan: Plan = {
    otherUrl,
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    agentToken: agent.token,
    visitors,
  };
  const planFile = `${b.dir}/plan.json`;
  await Deno.writeTextFile(planFile, JSON.stringify(plan));
  const hub = threadHub(desk);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--client", ...Deno.args],
    env: { BENCH_PLAN: planFile },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Hub work while the visitors are connected and idle (the 1 s poll, one getMany per 10), and
  // while the agent replies: scans run, streams woken, time spent scanning.
  let idleReport = "";
  (async () => {
    while (hub.size < VISITORS) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    const before = { ...hub.stats };
    await new Promise((r) => setTimeout(r, 5000));
    const d = (k: keyof typeof before) => hub.stats[k] - before[k];
    idleReport = `hub, 5 s idle with ${hub.size} streams: ${d("scans")} scans (${
      (d("scanMs") / Math.max(1, d("scans"))).toFixed(1)
    } ms each), ${d("wakes")} wakes`;
  })();
  const { code } = await child.status;
  second?.kill();
  await second?.status;
  console.log(idleReport);
  console.log(
    `hub, whole run: ${hub.stats.scans} scans (${
      (hub.stats.scanMs / Math.max(1, hub.stats.scans)).toFixed(1)
    } ms each), ${hub.stats.wakes} wakes`,
  );
  if (code !== 0) console.error(`client process exited with ${code}`);
  ac.abort();
  await Promise.race([server.finished, new Promise((r) => setTimeout(r, 2000))]);
  await b.close();
  Deno.exit(code);
} else {
  await drive(JSON.parse(await Deno.readTextFile(Deno.env.get("BENCH_PLAN")!)));
  Deno.exit(0);
}

interface Stream {
  reader: ReadableStreamDefaultReader<string>;
  seen: string;
  ready: boolean;
  waiters: Map<string, (at: number) => void>;
}

async function drive(plan: Plan) {
  const { url } = plan;
  const auth = (token: string) => ({
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
  });

  // The widget's bytes on the wire, as a browser asks for them.
  const sizes: string[] = [];
  for (const encoding of ["br", "gzip", "identity"]) {
    const res = await fetch(`${url}/webchat/widget.js`, {
      headers: { "accept-encoding": encoding },
    });
    // fetch decompresses the body: the wire size is the Content-Length the server sent.
    const bytes = Number(res.headers.get("content-length"));
    sizes.push(`${encoding} ${bytes.toLocaleString("en")} B`);
    await res.body?.cancel();
  }
  console.log(`widget.js on the wire: ${sizes.join(", ")}`);

  async function open(token: string): Promise<Stream> {
    const thread = await (await fetch(`${url}/webchat/api/messages`, { headers: auth(token) }))
      .json() as { cursor: string | null };
    const { ticket } = await (await fetch(`${url}/webchat/api/stream-ticket`, {
      method: "POST",
      headers: auth(token),
    })).json() as { ticket: string };
    const query = `ticket=${encodeURIComponent(ticket)}` +
      (thread.cursor ? `&lastEventId=${thread.cursor}` : "");
    const res = await fetch(`${url}/webchat/api/events?${query}`);
    if (res.status !== 200) throw new Error(`events answered ${res.status}`);
    const stream: Stream = {
      reader: res.body!.pipeThrough(new TextDecoderStream()).getReader(),
      seen: "",
      ready: false,
      waiters: new Map(),
    };
    (async () => {
      while (true) {
        const { value, done } = await stream.reader.read().catch(() => ({ value: "", done: true }));
        if (done) break;
        const at = performance.now();
        stream.seen += value;
        stream.ready ||= stream.seen.includes("retry:");
        for (const [needle, resolve] of stream.waiters) {
          if (stream.seen.includes(needle)) {
            stream.waiters.delete(needle);
            resolve(at);
          }
        }
        stream.seen = stream.seen.slice(-512);
      }
    })();
    return stream;
  }

  const connectStart = performance.now();
  const streams: Stream[] = [];
  for (let i = 0; i < plan.visitors.length; i += 50) {
    streams.push(
      ...await Promise.all(plan.visitors.slice(i, i + 50).map((v) => open(v.token))),
    );
  }
  while (!streams.every((s) => s.ready)) await new Promise((r) => setTimeout(r, 20));
  console.log(
    `${streams.length} visitor streams open in ${ms(performance.now() - connectStart)}`,
  );
  await new Promise((r) => setTimeout(r, 6000)); // the server measures 5 s of idle hub work

  /** One agent reply to visitor `i`: ms from before the POST to the event on its stream. */
  async function reply(i: number, label: string, base = url): Promise<[number, number]> {
    const needle = `${label} ${crypto.randomUUID()}`;
    const arrived = new Promise<number>((resolve, reject) => {
      streams[i].waiters.set(needle, resolve);
      setTimeout(() => reject(new Error(`no event for ${needle}`)), TIMEOUT_MS);
    });
    const sent = performance.now();
    const res = await fetch(`${base}/api/tickets/${plan.visitors[i].ticketId}/reply`, {
      method: "POST",
      headers: auth(plan.agentToken),
      body: JSON.stringify({ text: needle }),
    });
    if (res.status !== 201) throw new Error(`reply answered ${res.status}: ${await res.text()}`);
    await res.body?.cancel();
    const answered = performance.now() - sent;
    return [(await arrived) - sent, answered];
  }

  const talking = plan.visitors.flatMap((v, i) => v.ticketId ? [i] : []);
  const one: number[] = [];
  const answered: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const [latency, post] = await reply(talking[r % talking.length], `round ${r}`);
    one.push(latency);
    answered.push(post);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const burst: number[] = [];
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(
      talking.slice(0, BURST).map((i) => reply(i, `burst ${round}`)),
    );
    burst.push(...results.map(([latency]) => latency));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const other: number[] = [];
  const otherAnswered: number[] = [];
  if (plan.otherUrl) {
    for (let r = 0; r < OTHER; r++) {
      const [latency, post] = await reply(
        talking[r % talking.length],
        `other ${r}`,
        plan.otherUrl,
      );
      other.push(latency);
      otherAnswered.push(post);
      // Each write lands at a random point of the poll's cycle (the last event ended one).
      await new Promise((resolve) => setTimeout(resolve, Math.random() * HUB_POLL_MS));
    }
  }
  const screen = SCREEN > 0 ? await onScreen(plan, talking.at(-1)!, streams.length) : [];
  for (const list of [one, answered, burst, other, otherAnswered, screen]) {
    list.sort((a, b) => a - b);
  }
  const row = (name: string, list: number[]) =>
    `| ${name} | ${list.length} | ${ms(percentile(list, 50))} | ${ms(percentile(list, 99))} | ${
      ms(list.at(-1) ?? NaN)
    } |`;
  console.log(
    `\n${streams.length} visitors connected, Deno ${Deno.version.deno}, streams and agent in a second process\n`,
  );
  console.log("| agent reply → visitor's stream | replies | p50 | p99 | max |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(row("one at a time (POST answered)", answered));
  console.log(row("one at a time (event arrived)", one));
  console.log(row(`${BURST} at once, 3 times (event arrived)`, burst));
  if (other.length) {
    console.log(row("written by another process (POST answered)", otherAnswered));
    console.log(row("written by another process (event arrived)", other));
  }
  if (screen.length) console.log(row("to the screen of a Chromium visitor (drawn)", screen));
  for (const s of streams) await s.reader.cancel().catch(() => {});
}

/**
 * Visitor `i` opens the chat page in headless Chromium (its token put where the widget keeps it;
 * its own stream replaces the bench's); each reply is timed to the page drawing it.
 */
async function onScreen(plan: Plan, i: number, connected: number): Promise<number[]> {
  const browser = await chromium.launch({
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    // The bench reads timings with page.waitForFunction, which the page's CSP would refuse.
    const page = await browser.newPage({ bypassCSP: true });
    const key = `chatdesk-webchat:${plan.url}/webchat/api`;
    const value = JSON.stringify({ token: plan.visitors[i].token, outbox: [] });
    await page.addInitScript(([k, v]) => localStorage.setItem(k, v), [key, value]);
    await page.goto(`${plan.url}/webchat`);
    await page.locator("#chatdesk-webchat .log .m[data-id]").nth(2).waitFor();
    await page.evaluate(`(() => {
      globalThis.drawn = {};
      const log = document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".log");
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) globalThis.drawn[n.textContent] ??= Date.now();
      }).observe(log, { childList: true });
    })()`);
    await new Promise((r) => setTimeout(r, 1000));
    const times: number[] = [];
    for (let r = 0; r < SCREEN; r++) {
      const text = `screen ${r} ${crypto.randomUUID()}`;
      const sent = Date.now();
      const res = await fetch(`${plan.url}/api/tickets/${plan.visitors[i].ticketId}/reply`, {
        method: "POST",
        headers: { authorization: `Bearer ${plan.agentToken}`, "content-type": "application/json" },
        body: JSON.stringify({ text }),
      });
      await res.body?.cancel();
      const drawn = await page.waitForFunction(
        `Object.entries(globalThis.drawn).find(([t]) => t.includes(${JSON.stringify(text)}))?.[1]`,
        undefined,
        { timeout: TIMEOUT_MS, polling: 20 },
      );
      times.push(Number(await drawn.jsonValue()) - sent);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.log(`(Chromium visitor measured with ${connected} other streams connected)`);
    return times;
  } finally {
    await browser.close();
  }
}
