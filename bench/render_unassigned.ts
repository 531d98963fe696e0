/**
 * Time to render the Unassigned page with 10k tickets stored, as a ratio to serving the same
 * bytes from memory (issue 3). Run:
 *   npx -y deno@2 run -A bench/render_unassigned.ts [--tickets=10000] [--requests=1000]
 * The real app over a file-backed KV in a temp dir; tickets are written straight through the
 * domain (newTicket + writeTicket, 100 per atomic commit). Each request is timed from the call
 * until its body is read, first in-process (app.request) and then over HTTP on 127.0.0.1
 * (Deno.serve + fetch, one request at a time), without compression on either side.
 */
import { Hono } from "hono";
import { benchDesk, ms, percentile, seedAgents, seedTickets } from "./seed.ts";

const arg = (name: string, fallback: number) => {
  const found = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const TICKETS = arg("tickets", 10_000);
const REQUESTS = arg("requests", 1000);
const WARMUP = 100;

const b = await benchDesk();
const seedStart = performance.now();
await seedTickets(b.kv, TICKETS);
const seeded = performance.now() - seedStart;
const [{ token }] = await seedAgents(b.desk, 1);
const headers = { cookie: `chatdesk_session=${token}`, accept: "text/html" };

const first = await b.app.request("/tickets/unassigned", { headers });
const body = new Uint8Array(await first.arrayBuffer());
const page = new TextDecoder().decode(body);
const rows = page.match(/<li class="row"/g)?.length ?? 0;
if (first.status !== 200 || rows !== 50 || !page.includes(`>${TICKETS}</span>`)) {
  throw new Error(`unexpected page: ${first.status}, ${rows} rows`);
}

/** The same bytes, from memory, through a bare Hono route. */
const memory = new Hono();
memory.get("/tickets/unassigned", (c) => c.body(body, 200, { "content-type": "text/html" }));

async function time(run: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const start = performance.now();
    const res = await run();
    await res.arrayBuffer();
    if (i >= WARMUP) out.push(performance.now() - start);
  }
  return out.sort((x, y) => x - y);
}

const results: [string, number[], number[]][] = [];
results.push([
  "in-process (app.request)",
  await time(() => Promise.resolve(b.app.request("/tickets/unassigned", { headers }))),
  await time(() => Promise.resolve(memory.request("/tickets/unassigned", { headers }))),
]);

const ac = new AbortController();
const serve = (fetch: (r: Request) => Response | Promise<Response>) => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    fetch,
  );
  return `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/tickets/unassigned`;
};
const appUrl = serve(b.app.fetch);
const memUrl = serve(memory.fetch);
const plain = { ...headers, "accept-encoding": "identity" };
results.push([
  "HTTP on 127.0.0.1",
  await time(() => fetch(appUrl, { headers: plain })),
  await time(() => fetch(memUrl, { headers: plain })),
]);

console.log(
  `Unassigned page, ${TICKETS} tickets stored (seeded in ${
    ms(seeded)
  }), 50 rows, ${body.length} B ` +
    `HTML; ${REQUESTS} requests after ${WARMUP} warm-up, one at a time; Deno ${Deno.version.deno}\n`,
);
console.log("| path | render p50 | render p99 | memory p50 | memory p99 | ratio p50 | ratio p99 |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const [name, render, mem] of results) {
  const [r50, r99, m50, m99] = [
    percentile(render, 50),
    percentile(render, 99),
    percentile(mem, 50),
    percentile(mem, 99),
  ];
  console.log(
    `| ${name} | ${ms(r50)} | ${ms(r99)} | ${ms(m50)} | ${ms(m99)} | ${(r50 / m50).toFixed(1)}× | ${
      (r99 / m99).toFixed(1)
    }× |`,
  );
}

ac.abort();
await b.close();
Deno.exit(0);
