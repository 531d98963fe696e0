/**
 * Page weight of each Agent Desk tab, compressed as served (issue 3, budget #3: the Unassigned
 * page with 50 rows ≤ 30 KB in total). Everything a page loads is counted: its HTML, then every
 * stylesheet and script its tags name (read from the page, not from a list kept here), each
 * fetched from the app as a browser would, once with `br, gzip` and once with `gzip` alone. A
 * file named twice is counted once and reported. Run:
 *   npx -y deno@2 run --allow-all bench/page_weight.ts
 * Under `deno bench` it also times rendering the Unassigned page.
 */
import { closeBusiness, leaveMessage, testDesk } from "../tests/helpers.ts";

const t = await testDesk();
await closeBusiness(t);
const channels = ["whatsapp", "sms", "webchat"] as const;
const texts = [
  "Hi, my order #4411 has not arrived yet, it was due on Monday.",
  "Can I change the delivery address for my parcel?",
  "The checkout page shows an error when I pay by card.",
  "I was charged twice for the same subscription, please refund one.",
  "What are your opening hours on public holidays?",
];
for (let i = 0; i < 53; i++) {
  const channel = channels[i % 3];
  const from = channel === "webchat" ? `visitor-${1000 + i}` : `+2782${String(1000000 + i)}`;
  await leaveMessage(t, from, [texts[i % texts.length]], {
    channel,
    name: `Customer ${i + 1}`,
  });
  t.clock.advance(60_000);
}
const { token } = await t.person("agent", { name: "Bench Agent" });
const me = await t.person("agent", { name: "Bench Closer" });
// A few assigned and closed tickets so those tabs are not empty.
await t.call("POST", "/api/tickets/quick-accept", { token: me.token, body: { count: 3 } });
const assigned = await t.json<{ tickets: { id: string }[] }>(
  "GET",
  "/api/tickets?queue=assigned",
  { token: me.token },
);
await t.call("POST", `/api/tickets/${assigned.body.tickets[0].id}/close`, { token: me.token });

/** What one response costs on the wire, and unpacked. */
async function fetchBytes(path: string, encoding: string, session?: string) {
  const headers: Record<string, string> = { accept: "text/html", "accept-encoding": encoding };
  if (session) headers.cookie = `chatdesk_session=${session}`;
  const res = await t.app.request(path, { headers });
  const body = new Uint8Array(await res.arrayBuffer());
  const used = res.headers.get("content-encoding");
  const raw = used === "gzip"
    ? (await new Response(
      new Blob([body]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).arrayBuffer()).byteLength
    : used === "br"
    ? null
    : body.length;
  return { status: res.status, bytes: body.length, encoding: used ?? "identity", raw, body };
}

/** The stylesheets and scripts a page's tags load, in order, as [path, times named]. */
export function pageResources(html: string): [string, number][] {
  const found = new Map<string, number>();
  const tags = html.matchAll(/<(script|link)\b([^>]*)>/gi);
  for (const [, tag, attrs] of tags) {
    const attr = (name: string) =>
      attrs.match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, "i"))?.[1] ?? null;
    let url: string | null = null;
    if (tag.toLowerCase() === "script") url = attr("src");
    else if (/\b(stylesheet|modulepreload|preload)\b/i.test(attr("rel") ?? "")) url = attr("href");
    if (!url || url.startsWith("data:")) continue;
    const path = url.replaceAll("&amp;", "&");
    found.set(path, (found.get(path) ?? 0) + 1);
  }
  return [...found];
}

export interface PageWeight {
  name: string;
  html: { raw: number; gzip: number; br: number };
  files: { path: string; raw: number; gzip: number; br: number; times: number }[];
  /** HTML and every file once, as a browser offering `br, gzip` gets them (brotli). */
  totalBr: number;
  /** The same with `Accept-Encoding: gzip` only. */
  totalGzip: number;
}

export async function pageWeight(name: string, path: string, session: string) {
  const page = await fetchBytes(path, "gzip", session);
  if (page.status !== 200) throw new Error(`${path}: ${page.status}`);
  const pageBr = await fetchBytes(path, "br, gzip", session);
  if (pageBr.encoding !== "br") throw new Error(`${path}: not brotli but ${pageBr.encoding}`);
  const html = new TextDecoder().decode(
    await new Response(
      new Blob([page.body]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const files = [];
  for (const [file, times] of pageResources(html)) {
    // Statics need no session; the Admin and Supervisor stylesheet is served behind none too.
    const [br, gzip, identity] = await Promise.all([
      fetchBytes(file, "br, gzip"),
      fetchBytes(file, "gzip"),
      fetchBytes(file, "identity"),
    ]);
    if (br.status !== 200) throw new Error(`${file}: ${br.status}`);
    files.push({ path: file, raw: identity.bytes, gzip: gzip.bytes, br: br.bytes, times });
  }
  const weight: PageWeight = {
    name,
    html: { raw: page.raw ?? 0, gzip: page.bytes, br: pageBr.bytes },
    files,
    totalBr: pageBr.bytes + files.reduce((s, f) => s + f.br, 0),
    totalGzip: page.bytes + files.reduce((s, f) => s + f.gzip, 0),
  };
  return weight;
}

const PAGES = () =>
  [
    ["Unassigned, 50 rows", "/tickets/unassigned", token],
    ["Assigned, 2 + detail", `/tickets/assigned/${assigned.body.tickets[1].id}`, me.token],
    ["Closed", "/tickets/closed", me.token],
    ["Chats", "/chats", token],
  ] as const;

export async function measure() {
  const weights: PageWeight[] = [];
  for (const [name, path, session] of PAGES()) weights.push(await pageWeight(name, path, session));
  const pad = (v: string | number, n: number) => String(v).padStart(n);
  console.log("files the pages load          raw     gzip       br");
  const seen = new Set<string>();
  for (const w of weights) {
    for (const f of w.files) {
      const key = f.path.replace(/\?.*/, "");
      if (seen.has(key)) continue;
      seen.add(key);
      console.log(`${key.padEnd(24)} ${pad(f.raw, 8)} ${pad(f.gzip, 8)} ${pad(f.br, 8)}`);
    }
  }
  console.log(
    "\npage                   HTML raw  HTML gzip  HTML br  files  total (br)  total (gzip)",
  );
  for (const w of weights) {
    console.log(
      `${w.name.padEnd(22)} ${pad(w.html.raw, 8)} ${pad(w.html.gzip, 10)} ${pad(w.html.br, 8)} ${
        pad(w.files.length, 6)
      } ${pad(w.totalBr, 11)} ${pad(w.totalGzip, 13)}`,
    );
    for (const f of w.files.filter((f) => f.times > 1)) {
      console.log(`  ${f.path} is named ${f.times} times (counted once)`);
    }
  }
  return weights;
}

if (import.meta.main) {
  await measure();
  await t.close();
} else {
  Deno.bench("render the Unassigned page, 50 rows", async () => {
    const res = await t.app.request("/tickets/unassigned", {
      headers: { cookie: `chatdesk_session=${token}`, accept: "text/html" },
    });
    await res.arrayBuffer();
  });
}
