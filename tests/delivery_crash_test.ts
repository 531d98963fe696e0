/**
 * Rules 24 and 27 against a real `main.ts` process: SIGKILL while the outbox is full and provider
 * calls are in flight, restart on the same KV file, and count what the gateway got. Nothing the
 * desk stored may be lost; only a message whose call was in flight at the kill may arrive twice,
 * at most one per customer and kill.
 *
 * `deno task soak` (`CHATDESK_SOAK=1`) runs five cycles instead of one: each restart (but the
 * last) gets a new burst from the same customers while it is still delivering the last one's
 * backlog, and is killed again mid-burst (tests/soak.ts).
 */
import assert from "node:assert/strict";
import { FakeProvider } from "./fake_provider.ts";
import { callMain as call, freePort, startMain } from "./main_process.ts";
import { bySoak } from "./soak.ts";

const TOKEN = "crash-inbound-token-0123456789";
const ADMIN = { email: "boss@crash.local", password: "boss-password-1" };
const CUSTOMERS = 12;
const MESSAGES_EACH = 3;
/** Burst, then SIGKILL mid-delivery: once in `deno task test`, more in a soak. */
const CYCLES = bySoak(1, 5);

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
    const sentIds = () => gateway.requests.map((r) => JSON.parse(r.body).id as string);
    // A call whose outcome the desk may not have committed is its customer's latest one before a
    // kill (one at a time per customer): only those heads may be handed over again.
    const inFlight = new Set<string>();
    let atKills = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      if (cycle > 0) {
        server = start(kvPath, port);
        await server.ready;
      }
      const handedBefore = gateway.requests.length;
      let burst = 0;
      await Promise.all(Array.from({ length: CUSTOMERS }, async (_, c) => {
        const from = `+2782${String(1000000 + c).slice(1)}`;
        for (let m = 0; m < MESSAGES_EACH; m++) {
          const r = await call<{ replies: { id: string; delivery: { status: string } }[] }>(
            base,
            "POST",
            "/api/inbound",
            TOKEN,
            { channel: "whatsapp", from, text: m === 0 && cycle === 0 ? "hello" : `still ${m}` },
          );
          assert.equal(r.status, 200);
          for (const reply of r.body.replies) {
            assert.equal(reply.delivery.status, "queued");
            stored.set(reply.id, from);
            burst++;
          }
        }
      }));
      // The first burst: two auto-replies to each first message; later messages are re-prompted.
      assert.equal(burst, CUSTOMERS * (MESSAGES_EACH + (cycle === 0 ? 1 : 0)));

      // Kill as soon as some of this burst's calls are in flight and most are still waiting.
      await gateway.waitFor(handedBefore + Math.min(8, burst), 30_000);
      await server.kill("SIGKILL");
      const beforeKill = sentIds();
      atKills += beforeKill.length - handedBefore;
      const heads = new Map<string, string>();
      for (const id of beforeKill) heads.set(stored.get(id)!, id);
      for (const id of heads.values()) inFlight.add(id);
      assert.ok(
        new Set(beforeKill).size < stored.size,
        "everything was delivered before the kill; nothing was tested",
      );
    }
    const total = stored.size;

    server = start(kvPath, port);
    await server.ready;
    const deadline = Date.now() + 40_000 + 10_000 * (CYCLES - 1);
    while (new Set(sentIds()).size < total && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let any late repeat show up before counting.
    await new Promise((r) => setTimeout(r, 500));

    const counts = new Map<string, number>();
    for (const id of sentIds()) counts.set(id, (counts.get(id) ?? 0) + 1);
    const lost = [...stored.keys()].filter((id) => !counts.has(id));
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const extra = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    console.log(
      `crash test: ${CYCLES} kill(s), ${total} stored, ${atKills} handed over before the kills, ` +
        `${inFlight.size} heads, ${lost.length} lost, ${repeated.length} repeated ` +
        `(${extra} extra calls)`,
    );
    assert.deepEqual(lost, [], "messages were lost");
    assert.ok(
      repeated.every((id) => inFlight.has(id)),
      `a message that was not its customer's head at a kill was repeated: ${repeated}`,
    );
    // At most one repeat per customer and kill.
    const perCustomer = new Map<string, number>();
    for (const id of repeated) {
      const from = stored.get(id)!;
      perCustomer.set(from, (perCustomer.get(from) ?? 0) + counts.get(id)! - 1);
    }
    for (const [from, n] of perCustomer) {
      assert.ok(n <= CYCLES, `${from} got ${n} repeats in ${CYCLES} kill(s)`);
    }
    assert.ok(!sentIds().some((id) => !stored.has(id)), "the gateway got a message never stored");

    // Per customer, the gateway saw the messages in the order they were written.
    for (const from of new Set(stored.values())) {
      const mine = [...stored].filter(([, f]) => f === from).map(([id]) => id);
      const seen = sentIds().filter((id) => mine.includes(id));
      const firstSeen = seen.filter((id, i) => seen.indexOf(id) === i);
      assert.deepEqual(firstSeen, [...mine].sort());
    }
  } finally {
    await server.kill("SIGTERM").catch(() => {});
    await gateway.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
