/**
 * Rules 24 and 27 against a real `main.ts` process: SIGKILL while the outbox is full and provider
 * calls are in flight, restart on the same KV file, and count what the gateway got. Nothing the
 * desk stored may be lost; only a message whose call was in flight at the kill may arrive twice,
 * at most one per customer.
 */
import assert from "node:assert/strict";
import { FakeProvider } from "./fake_provider.ts";
import { freePort, startMain } from "./main_process.ts";

const TOKEN = "crash-inbound-token-0123456789";
const ADMIN = { email: "boss@crash.local", password: "boss-password-1" };
const CUSTOMERS = 12;
const MESSAGES_EACH = 3;

function start(kvPath: string, port: number) {
  return startMain({
    PORT: String(port),
    CHATDESK_KV_PATH: kvPath,
    CHATDESK_CLOCK: "system",
    CHATDESK_DEMO: "0",
    CHATDESK_ADMIN_EMAIL: ADMIN.email,
    CHATDESK_ADMIN_PASSWORD: ADMIN.password,
    CHATDESK_INBOUND_TOKEN: TOKEN,
    CHATDESK_PROVIDER_TIMEOUT_MS: "1000",
  });
}

async function call<T>(base: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

Deno.test("[e2e] rule 27: SIGKILL mid-burst loses nothing and repeats only in-flight heads", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/crash.sqlite3`;
  // The gateway answers slowly, so the kill finds calls in flight and a full outbox.
  const gateway = FakeProvider.start(() => ({ status: 200, body: {}, delayMs: 150 }));
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  let server = start(kvPath, port);
  try {
    await server.ready;
    const session = await call<{ token: string }>(base, "POST", "/api/session", "", ADMIN);
    const admin = session.body.token;
    const put = await call(base, "PUT", "/api/channels/api", admin, {
      webhookUrl: `${gateway.url}/hook`,
      secret: "crash-secret",
      enabled: true,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    // Closed all week: each first message gets two auto-replies, each later one a re-prompt.
    await call(base, "PUT", "/api/settings", admin, {
      hours: { timeZone: "UTC", weekly: {}, closures: [] },
    });

    const stored = new Map<string, string>(); // reply id → customer address
    await Promise.all(Array.from({ length: CUSTOMERS }, async (_, c) => {
      const from = `+2782${String(1000000 + c).slice(1)}`;
      for (let m = 0; m < MESSAGES_EACH; m++) {
        const r = await call<{ replies: { id: string; delivery: { status: string } }[] }>(
          base,
          "POST",
          "/api/inbound",
          TOKEN,
          { channel: "whatsapp", from, text: m === 0 ? "hello" : `still there ${m}` },
        );
        assert.equal(r.status, 200);
        for (const reply of r.body.replies) {
          assert.equal(reply.delivery.status, "queued");
          stored.set(reply.id, from);
        }
      }
    }));
    const total = stored.size;
    assert.equal(total, CUSTOMERS * (MESSAGES_EACH + 1));

    // Kill as soon as some calls are in flight and most of the outbox is still waiting.
    await gateway.waitFor(Math.min(8, total));
    await server.kill("SIGKILL");
    const beforeKill = gateway.requests.map((r) => JSON.parse(r.body).id as string);
    const atKill = beforeKill.length;
    // A call whose outcome the desk may not have committed is its customer's latest one before
    // the kill (one at a time per customer): only those heads may be handed over again.
    const heads = new Map<string, string>();
    for (const id of beforeKill) heads.set(stored.get(id)!, id);
    const inFlight = new Set(heads.values());
    assert.ok(atKill < total, "everything was delivered before the kill; nothing was tested");

    server = start(kvPath, port);
    await server.ready;
    const deadline = Date.now() + 40_000;
    const received = () => new Set(gateway.requests.map((r) => JSON.parse(r.body).id as string));
    while (received().size < total && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let any late repeat show up before counting.
    await new Promise((r) => setTimeout(r, 500));

    const counts = new Map<string, number>();
    for (const r of gateway.requests) {
      const id = JSON.parse(r.body).id as string;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const lost = [...stored.keys()].filter((id) => !counts.has(id));
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    console.log(
      `crash test: ${total} stored, ${atKill} handed over before the kill, ${inFlight.size} heads, ` +
        `${lost.length} lost, ${repeated.length} repeated`,
    );
    assert.deepEqual(lost, [], "messages were lost");
    assert.ok(
      repeated.every((id) => inFlight.has(id)),
      `a message that was not its customer's head at the kill was repeated: ${repeated}`,
    );
    const repeatedCustomers = repeated.map((id) => stored.get(id));
    assert.equal(new Set(repeatedCustomers).size, repeatedCustomers.length);
    assert.ok(!gateway.requests.some((r) => !stored.has(JSON.parse(r.body).id)));

    // Per customer, the gateway saw the messages in the order they were written.
    for (const from of new Set(stored.values())) {
      const mine = [...stored].filter(([, f]) => f === from).map(([id]) => id);
      const seen = gateway.requests.map((r) => JSON.parse(r.body).id as string)
        .filter((id) => mine.includes(id));
      const firstSeen = seen.filter((id, i) => seen.indexOf(id) === i);
      assert.deepEqual(firstSeen, [...mine].sort());
    }
  } finally {
    await server.kill("SIGTERM").catch(() => {});
    await gateway.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
