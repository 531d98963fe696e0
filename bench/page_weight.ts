/**
 * Page weight of each Agent Desk tab, compressed as served (issue 3: Unassigned with 50 rows
 * ≤ 30 KB for HTML + CSS + htmx + SSE extension). Run:
 *   npx -y deno@2 run --allow-all bench/page_weight.ts
 * Under `deno bench` it also times rendering the Unassigned page.
 */
import { assetBytes } from "../routes/static.ts";
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

async function pageBytes(path: string, sessionToken: string) {
  const res = await t.app.request(path, {
    headers: {
      cookie: `chatdesk_session=${sessionToken}`,
      accept: "text/html",
      "accept-encoding": "gzip",
    },
  });
  const body = new Uint8Array(await res.arrayBuffer());
  const raw = await new Response(
    new Blob([body]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).arrayBuffer();
  return { status: res.status, gzip: body.length, raw: raw.byteLength };
}

export async function measure() {
  const statics = ["desk.css", "htmx.min.js", "sse.js"];
  const staticBr = statics.reduce((s, n) => s + assetBytes(n, "br"), 0);
  const staticGz = statics.reduce((s, n) => s + assetBytes(n, "gzip"), 0);
  console.log("static file         raw      gzip     br");
  for (const n of statics) {
    console.log(
      `${n.padEnd(18)} ${String(assetBytes(n, "identity")).padStart(7)} ${
        String(assetBytes(n, "gzip")).padStart(7)
      } ${String(assetBytes(n, "br")).padStart(7)}`,
    );
  }
  console.log("\npage (HTML gzip as served; total = HTML + CSS/htmx/sse as br | as gzip)");
  for (
    const [name, path, tok] of [
      ["Unassigned, 50 rows", "/tickets/unassigned", token],
      ["Assigned, 2 + detail", `/tickets/assigned/${assigned.body.tickets[1].id}`, me.token],
      ["Closed", "/tickets/closed", me.token],
      ["Chats", "/chats", token],
    ] as const
  ) {
    const p = await pageBytes(path, tok);
    console.log(
      `${name.padEnd(22)} HTML ${p.raw} B raw, ${p.gzip} B gzip; total ${
        p.gzip + staticBr
      } B (br statics) | ${p.gzip + staticGz} B (gzip statics)`,
    );
  }
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
