/**
 * SSE memory (issue 9, item 6): what one open `GET /events` stream costs the server, and whether
 * streams leak once closed. Run:
 *   npx -y deno@2 run -A --v8-flags=--expose-gc bench/sse_memory.ts [--streams=2000] [--cycles=4]
 *     [--cycle-streams=1000] [--agents=20] [--tickets=50] [--snapshot=DIR] [--stale] [--bare]
 * The server is the real app on Deno.serve (127.0.0.1, port 0) over a file-backed KV in a temp
 * dir, in this process; the streams are opened by a second process (fetch readers), so the
 * client side's memory is not counted. Each stream connects with the address its agent's
 * Unassigned page uses (so it starts current: nothing is sent at connect); with `--stale` every
 * stream starts from an unknown version and gets the whole list first (a reconnect after a gap). Memory is read after a full GC (`--expose-gc`): RSS, V8
 * heap used, and external (ArrayBuffers, native handles). With `--snapshot=DIR` the client
 * process also takes V8 heap snapshots of the server through its inspector (the server is
 * started again with `--inspect`) at the baseline, with the streams open and after they close,
 * and the bench prints the object kinds whose retained count grew. `--bare` serves the same
 * streams from a ten-line `ReadableStream` handler instead of the desk: what Deno.serve itself
 * costs per open response, the floor under any SSE stream on this runtime.
 */
import { deskHub } from "../live/hub.ts";
import { benchDesk, seedAgents, seedTickets } from "./seed.ts";

const arg = (name: string, fallback: number) => {
  const found = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const text = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=") ?? null;
const STREAMS = arg("streams", 2000);
const CYCLES = arg("cycles", 4);
const CYCLE_STREAMS = arg("cycle-streams", 1000);
const AGENTS = arg("agents", 20);
const TICKETS = arg("tickets", 50);
const SNAPSHOT_DIR = text("snapshot");
const STALE = Deno.args.includes("--stale");
const BARE = Deno.args.includes("--bare");
const CLIENT = Deno.env.get("BENCH_CLIENT") === "1";
const INSPECT_PORT = 9339;

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

if (CLIENT) await client();
else await server();

/** The server side: the desk, the measurements, and the client process driven over stdin. */
async function server() {
  if (SNAPSHOT_DIR && !Deno.args.includes("--inspected")) {
    // Heap snapshots need the inspector: run this bench again under --inspect.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        `--inspect=127.0.0.1:${INSPECT_PORT}`,
        import.meta.filename!,
        ...Deno.args,
        "--inspected",
      ],
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
    // The inspector's banner goes to stderr; pass on everything else.
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        const rest = chunk.split("\n").filter((l) =>
          l && !l.includes("Debugger listening") && !l.includes("Visit chrome://inspect")
        );
        if (rest.length) console.error(rest.join("\n"));
      }
    })();
    Deno.exit((await child.status).code);
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.error("run with --v8-flags=--expose-gc");
    Deno.exit(2);
  }
  const b = await benchDesk();
  await seedTickets(b.kv, TICKETS);
  const people = await seedAgents(b.desk, AGENTS);
  const ac = new AbortController();
  // `--bare`: the same streams on a ten-line handler, for the floor Deno.serve itself costs.
  let bareOpen = 0;
  const bare = (request: Request) => {
    if (!new URL(request.url).pathname.startsWith("/events")) return b.app.fetch(request);
    bareOpen++;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new TextEncoder().encode("retry: 2000\n\n")),
      cancel: () => void bareOpen--,
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
  const srv = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    BARE ? bare : b.app.fetch,
  );
  const url = `http://127.0.0.1:${(srv.addr as Deno.NetAddr).port}`;
  const hub = deskHub(b.desk);
  const streamsOpen = () => BARE ? bareOpen : hub.size;

  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, ...(STALE ? ["--stale"] : [])],
    env: {
      BENCH_CLIENT: "1",
      BENCH_URL: url,
      BENCH_TOKENS: people.map((p) => p.token).join(","),
      BENCH_INSPECT: SNAPSHOT_DIR ? String(INSPECT_PORT) : "",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = proc.stdin.getWriter();
  let buffered = "";
  /** Sends one command to the client process and waits for its one-line answer. */
  async function command(line: string): Promise<string> {
    await writer.write(new TextEncoder().encode(line + "\n"));
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("client process ended");
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const answer = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return answer;
  }

  const settle = async (streams: number) => {
    const deadline = performance.now() + 30_000;
    while (streamsOpen() !== streams && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Let timers and aborted reads finish, then collect twice (weak callbacks run in between).
    await new Promise((r) => setTimeout(r, 500));
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
  };
  const memory = () => {
    const m = Deno.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed, external: m.external, committed: m.heapTotal };
  };
  type Mem = ReturnType<typeof memory>;
  const row = (label: string, m: Mem, base: Mem, streams: number) => {
    const per = (k: keyof Mem) =>
      streams ? `${((m[k] - base[k]) / streams / 1024).toFixed(1)}` : "";
    console.log(
      `| ${label} | ${streams} | ${mib(m.rss)} | ${mib(m.committed)} | ${mib(m.heap)} | ${
        mib(m.external)
      } | ${per("rss")} | ${per("heap")} | ${per("external")} |`,
    );
  };
  const snapshot = async (name: string) => {
    if (!SNAPSHOT_DIR) return;
    await Deno.mkdir(SNAPSHOT_DIR, { recursive: true });
    const answer = await command(`snapshot ${SNAPSHOT_DIR}/${name}.heapsnapshot`);
    if (!answer.startsWith("ok")) throw new Error(answer);
  };

  // Warm up: the code paths run once (JIT, module state) before the baseline.
  await command(`open 50`);
  await settle(50);
  await command("close");
  await settle(0);
  const base = memory();
  await snapshot("0-baseline");
  console.log(
    `\nSSE memory${BARE ? " (bare handler)" : ""}: ${TICKETS} tickets waiting, ${AGENTS} agents, ` +
      `streams ${STALE ? "from a stale version (whole list at connect)" : "current at connect"}, ` +
      `Deno ${Deno.version.deno}\n`,
  );
  console.log(
    "| moment | open streams | RSS | V8 heap committed | V8 heap used | external | RSS KiB/stream | heap KiB/stream | external KiB/stream |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  row("baseline (after warm-up)", base, base, 0);

  let answer = await command(`open ${STREAMS}`);
  await settle(STREAMS);
  const open = memory();
  row(`${STREAMS} open (${answer})`, open, base, STREAMS);
  await snapshot("1-open");
  await command("close");
  await settle(0);
  row(`all ${STREAMS} closed`, memory(), base, 0);
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    answer = await command(`open ${CYCLE_STREAMS}`);
    await settle(CYCLE_STREAMS);
    if (cycle === CYCLES) {
      row(`cycle ${cycle}: ${CYCLE_STREAMS} open`, memory(), base, CYCLE_STREAMS);
    }
    await command("close");
    await settle(0);
    row(`cycle ${cycle}: all closed`, memory(), base, 0);
  }
  const end = memory();
  await snapshot("2-closed");
  console.log(
    `\nafter all closed: RSS ${((end.rss / base.rss - 1) * 100).toFixed(1)}% vs baseline, ` +
      `heap ${((end.heap / base.heap - 1) * 100).toFixed(1)}%, ` +
      `heap + external ${
        (((end.heap + end.external) / (base.heap + base.external) - 1) * 100).toFixed(1)
      }%; streams still open ${streamsOpen()}`,
  );
  if (SNAPSHOT_DIR) {
    await compareSnapshots(`${SNAPSHOT_DIR}/0-baseline.heapsnapshot`, [
      `${SNAPSHOT_DIR}/1-open.heapsnapshot`,
      `${SNAPSHOT_DIR}/2-closed.heapsnapshot`,
    ], STREAMS);
  }
  await command("exit");
  await proc.status;
  ac.abort();
  await Promise.race([srv.finished, new Promise((r) => setTimeout(r, 2000))]);
  await b.close();
  Deno.exit(0);
}

/** The client process: opens and closes streams on command; takes heap snapshots over CDP. */
async function client() {
  const url = Deno.env.get("BENCH_URL")!;
  const tokens = Deno.env.get("BENCH_TOKENS")!.split(",");
  const inspect = Deno.env.get("BENCH_INSPECT");
  const open: Deno.TcpConn[] = [];
  const out = (line: string) => Deno.stdout.write(new TextEncoder().encode(line + "\n"));
  const { hostname, port } = new URL(url);
  let n = 0;
  // Each agent's streams use the address its Unassigned page connects to (a current page gets
  // nothing at connect); `--stale` makes every stream start from an unknown version instead.
  const addresses = new Map<string, string>();
  for (const token of tokens) {
    let address = "/events?view=unassigned&v=stale";
    if (!STALE) {
      const res = await fetch(`${url}/tickets/unassigned`, {
        headers: { cookie: `chatdesk_session=${token}`, accept: "text/html" },
      });
      const found = (await res.text()).match(/sse-connect="([^"]+)"/)?.[1];
      if (found) address = found.replaceAll("&amp;", "&");
    }
    addresses.set(token, address);
  }
  /**
   * One stream over a raw socket, as a browser tab holds it; closing the socket is the tab
   * going away. (A `fetch` body cancelled in Deno sometimes keeps its connection open, which
   * would look like a server leak.)
   */
  async function connect(): Promise<boolean> {
    const token = tokens[n++ % tokens.length];
    try {
      const conn = await Deno.connect({ hostname, port: Number(port) });
      const request = `GET ${addresses.get(token)} HTTP/1.1\r\nHost: ${hostname}\r\n` +
        `Cookie: chatdesk_session=${token}\r\nAccept: text/event-stream\r\n\r\n`;
      await conn.write(new TextEncoder().encode(request));
      const buf = new Uint8Array(64 * 1024);
      const first = await conn.read(buf);
      if (!first || !new TextDecoder().decode(buf.subarray(0, first)).startsWith("HTTP/1.1 200")) {
        conn.close();
        return false;
      }
      open.push(conn);
      // Keep reading so the server never waits on a full socket.
      (async () => {
        try {
          while ((await conn.read(buf)) !== null) { /* discard */ }
        } catch { /* closed */ }
      })();
      return true;
    } catch {
      return false;
    }
  }
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of input) {
    pending += chunk;
    let at;
    while ((at = pending.indexOf("\n")) >= 0) {
      const [cmd, arg] = pending.slice(0, at).split(" ");
      pending = pending.slice(at + 1);
      if (cmd === "open") {
        let ok = 0;
        const count = Number(arg);
        for (let i = 0; i < count; i += 100) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(100, count - i) }, () => connect()),
          );
          ok += batch.filter(Boolean).length;
        }
        await out(`${ok} ok`);
      } else if (cmd === "close") {
        for (const conn of open.splice(0)) conn.close();
        await out("ok");
      } else if (cmd === "snapshot") {
        await out(await takeSnapshot(Number(inspect), arg).then(() => "ok", (e) => String(e)));
      } else if (cmd === "exit") {
        for (const conn of open.splice(0)) conn.close();
        await out("ok");
        Deno.exit(0);
      }
    }
  }
}

/** A V8 heap snapshot of the inspected server, over the DevTools protocol, written to `path`. */
async function takeSnapshot(port: number, path: string) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let id = 0;
  const done = new Map<number, () => void>();
  const writes: Promise<unknown>[] = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
      writes.push(file.write(encoder.encode(msg.params.chunk)));
    } else if (msg.id && done.has(msg.id)) done.get(msg.id)!();
  };
  const send = (method: string, params = {}) =>
    new Promise<void>((resolve) => {
      done.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("HeapProfiler.enable");
  await send("HeapProfiler.collectGarbage");
  await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  // Chunks are written in order; wait for all of them.
  for (const w of writes) await w;
  file.close();
  ws.close();
}

interface Summary {
  count: Map<string, number>;
  size: Map<string, number>;
}

/** Object kinds (constructor or native name) with their counts and self sizes. */
async function summarize(path: string): Promise<Summary> {
  const snap = JSON.parse(await Deno.readTextFile(path));
  const fields: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type"), iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const nodes: number[] = snap.nodes, strings: string[] = snap.strings;
  const count = new Map<string, number>(), size = new Map<string, number>();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    if (type === "synthetic" || type === "hidden") continue;
    let name = strings[nodes[i + iName]];
    if (type === "string" || type === "concatenated string" || type === "sliced string") {
      name = "(string)";
    } else if (type === "code") name = "(code)";
    else if (type === "array") name = `(array) ${name}`.slice(0, 60);
    else if (type === "closure") name = `(closure) ${name}`.slice(0, 60);
    else name = `${type === "object" ? "" : `(${type}) `}${name}`.slice(0, 60);
    count.set(name, (count.get(name) ?? 0) + 1);
    size.set(name, (size.get(name) ?? 0) + nodes[i + iSize]);
  }
  return { count, size };
}

async function compareSnapshots(basePath: string, paths: string[], streams: number) {
  const base = await summarize(basePath);
  for (const path of paths) {
    const s = await summarize(path);
    const grown = [...s.size.keys()].map((k) => ({
      name: k,
      count: (s.count.get(k) ?? 0) - (base.count.get(k) ?? 0),
      size: (s.size.get(k) ?? 0) - (base.size.get(k) ?? 0),
    })).filter((g) => g.size > 0).sort((a, b) => b.size - a.size).slice(0, 25);
    const total = grown.reduce((sum, g) => sum + g.size, 0);
    console.log(`\nheap snapshot ${path} vs baseline: top growth (${mib(total)} in these kinds)\n`);
    console.log("| object kind | count Δ | per stream | self size Δ |");
    console.log("| --- | ---: | ---: | ---: |");
    for (const g of grown) {
      console.log(
        `| ${g.name.replaceAll("|", "\\|")} | ${g.count} | ${(g.count / streams).toFixed(1)} | ${
          (g.size / 1024).toFixed(0)
        } KiB |`,
      );
    }
  }
}
