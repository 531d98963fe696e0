/**
 * Real-time delivery (issue 3): N SSE clients on GET /events watching Unassigned; a new ticket
 * arrives through POST /api/inbound; for each client, the time from sending the customer's YES
 * until the SSE event carrying the new ticket's row arrives. Run:
 *   npx -y deno@2 run -A bench/sse_delivery.ts [--clients=500] [--agents=50] [--rounds=5]
 *     [--tickets=50]
 * The server is the real app on Deno.serve (127.0.0.1, port 0) over a file-backed KV in a temp
 * dir. The clients (fetch streaming readers) and the customer sending the ticket run in a second
 * process, so all times are taken on one clock and client-side decoding does not run on the
 * server's thread; `--one-process` runs them inside the server process instead.
 */
import { benchDesk, INBOUND_TOKEN, ms, percentile, seedAgents, seedTickets } from "./seed.ts";

const arg = (name: string, fallback: number) => {
  const found = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const CLIENTS = arg("clients", 500);
const AGENTS = arg("agents", 50);
const ROUNDS = arg("rounds", 5);
const TICKETS = arg("tickets", 50);
const TIMEOUT_MS = 20_000;

const ONE_PROCESS = Deno.args.includes("--one-process");
const CLIENT = Deno.args.includes("--client");

if (!CLIENT) {
  const b = await benchDesk();
  await seedTickets(b.kv, TICKETS);
  const t0 = performance.now();
  const people = await seedAgents(b.desk, AGENTS);
  console.log(`${AGENTS} agents signed in in ${ms(performance.now() - t0)}`);
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    b.app.fetch,
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  const tokens = people.map((p) => p.token);
  if (ONE_PROCESS) {
    await drive(url, tokens);
  } else {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "--client", ...Deno.args],
      env: { BENCH_URL: url, BENCH_TOKENS: tokens.join(",") },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const { code } = await child.status;
    if (code !== 0) console.error(`client process exited with ${code}`);
  }
  ac.abort();
  await Promise.race([server.finished, new Promise((r) => setTimeout(r, 2000))]);
  await b.close();
  Deno.exit(0);
} else {
  await drive(Deno.env.get("BENCH_URL")!, Deno.env.get("BENCH_TOKENS")!.split(","));
  Deno.exit(0);
}

interface Client {
  reader: ReadableStreamDefaultReader<string>;
  tail: string;
  needle: string | null;
  arrived: number | null;
  ready: boolean;
}

/** Connects the SSE clients, sends the rounds of new tickets, prints the table. */
async function drive(url: string, tokens: string[]) {
  const clients: Client[] = [];
  let waiting: (() => void) | null = null;
  const notify = () => waiting?.();

  async function connect(i: number): Promise<Client> {
    const token = tokens[i % tokens.length];
    const res = await fetch(`${url}/events?view=unassigned&v=stale`, {
      headers: { cookie: `chatdesk_session=${token}`, accept: "text/event-stream" },
    });
    if (res.status !== 200) throw new Error(`client ${i}: /events answered ${res.status}`);
    const client: Client = {
      reader: res.body!.pipeThrough(new TextDecoderStream()).getReader(),
      tail: "",
      needle: null,
      arrived: null,
      ready: false,
    };
    (async () => {
      while (true) {
        const { value, done } = await client.reader.read().catch(() => ({ value: "", done: true }));
        if (done) break;
        const seen = client.tail + value;
        // A stale page version makes the stream send its fragments at once: connected and current.
        if (!client.ready && seen.includes("event: list")) {
          client.ready = true;
          notify();
        }
        if (client.needle && client.arrived === null && seen.includes(client.needle)) {
          client.arrived = performance.now();
          notify();
        }
        client.tail = seen.slice(-64);
      }
    })();
    return client;
  }

  async function until(done: () => boolean, timeout = TIMEOUT_MS) {
    const deadline = performance.now() + timeout;
    while (!done() && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
    waiting = null;
  }

  const inbound = async (from: string, text: string) => {
    const res = await fetch(`${url}/api/inbound`, {
      method: "POST",
      headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ channel: "sms", from, text, name: `Bench ${from}` }),
    });
    if (!res.ok) throw new Error(`inbound ${res.status}: ${await res.text()}`);
    return await res.json() as { ticketId: string | null };
  };

  const connectStart = performance.now();
  for (let i = 0; i < CLIENTS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, CLIENTS - i) }, (_, k) => connect(i + k)),
    );
    clients.push(...batch);
  }
  await until(() => clients.every((c) => c.ready));
  console.log(
    `${clients.filter((c) => c.ready).length}/${CLIENTS} SSE clients connected and current in ${
      ms(performance.now() - connectStart)
    }`,
  );
  // Let the initial burst settle.
  await new Promise((r) => setTimeout(r, 1000));

  const all: number[] = [];
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const from = `+1555${String(7000000 + round * 1000 + Math.floor(Math.random() * 1000))}`;
    await inbound(from, `Round ${round}: is anyone there?`);
    await new Promise((r) => setTimeout(r, 300));
    for (const c of clients) {
      c.needle = from;
      c.arrived = null;
    }
    const sent = performance.now();
    const { ticketId } = await inbound(from, "YES");
    const answered = performance.now() - sent;
    await until(() => clients.every((c) => c.arrived !== null));
    const times = clients.flatMap((c) => c.arrived === null ? [] : [c.arrived - sent]).sort((
      a,
      b,
    ) => a - b);
    all.push(...times);
    rows.push(
      `| ${round} | ${times.length}/${CLIENTS} | ${ms(answered)} | ${ms(percentile(times, 50))} | ${
        ms(percentile(times, 99))
      } | ${ms(times.at(-1) ?? NaN)} |`,
    );
    if (!ticketId) throw new Error("YES made no ticket");
    for (const c of clients) c.needle = null;
    await inbound(from, "//end");
    await new Promise((r) => setTimeout(r, 1500));
  }
  all.sort((a, b) => a - b);

  console.log(
    `\n${CLIENTS} SSE clients (${AGENTS} agents), ${TICKETS} tickets already waiting, Deno ${Deno.version.deno}, clients ${
      CLIENT ? "in a second process" : "in the server process"
    }\n`,
  );
  console.log("| round | received | inbound answered | p50 | p99 | max |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
  console.log(
    `| all | ${all.length}/${CLIENTS * ROUNDS} | | ${ms(percentile(all, 50))} | ${
      ms(percentile(all, 99))
    } | ${ms(all.at(-1) ?? NaN)} |`,
  );

  for (const c of clients) await c.reader.cancel().catch(() => {});
}
