/**
 * [e2e] Rule 42: the repository's `deno.json` runs unchanged on Deno 2.5, the runtime Deno Deploy
 * documents, with no flag beyond permissions. `main.ts` is started by a Deno 2.5.0 binary (from
 * npm, as `npx -y deno@2.5.0` installs it), signs an admin in and takes inbound messages, one of
 * them on New York's spring-forward day (rule 22; Deno 2.5's own Temporal panics there).
 *
 * The first run downloads Deno 2.5.0 (≈ 90 MB from npm) and may fetch npm packages: timeouts are
 * generous and every wait is on a condition.
 */
import assert from "node:assert/strict";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import { freePort, startMain } from "./main_process.ts";

const VERSION = "2.5.0";
const TOKEN = "deno-25-inbound-token-0123";
const ADMIN = { email: "boss@deno25.local", password: "boss-password-25" };

/**
 * Deno 2.5 trusts only its built-in root certificates unless told otherwise; on a machine whose
 * traffic goes through an inspecting proxy it then cannot fetch npm packages. Adding the system's
 * store changes nothing elsewhere.
 */
const TLS_STORES = Deno.env.get("DENO_TLS_CA_STORE") ?? "system,mozilla";

/**
 * The path of the `deno` binary `npx -y deno@<version>` runs. The desk is started from that
 * binary itself, so signals reach it directly (not through npx). npx gets a deadline and a second
 * try, so a stalled download fails the test with a reason instead of hanging it.
 */
async function denoBinary(version: string): Promise<string> {
  const cwd = await Deno.makeTempDir(); // away from this repository's deno.json and lockfile
  try {
    let failure = "";
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const { code, stdout, stderr } = await new Deno.Command("npx", {
          args: [
            "-y",
            "--prefer-offline",
            `deno@${version}`,
            "eval",
            "console.log(Deno.version.deno, Deno.execPath())",
          ],
          env: { NO_COLOR: "1", DENO_TLS_CA_STORE: TLS_STORES },
          cwd,
          signal: AbortSignal.timeout(300_000),
        }).output();
        const out = new TextDecoder().decode(stdout).trim();
        const [reported, path] = out.split("\n").at(-1)!.split(" ");
        if (code === 0 && reported === version) return path;
        failure = `exit ${code}: ${out}\n${new TextDecoder().decode(stderr)}`;
      } catch (error) {
        failure = String(error);
      }
    }
    throw new Error(`npx -y deno@${version} failed twice: ${failure}`);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

async function call<T>(
  base: string,
  path: string,
  body: unknown,
  token?: string,
  method = "POST",
) {
  const res = await fetch(base + path, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, text };
}

Deno.test({
  name: `[e2e] rule 42: main.ts boots on Deno ${VERSION} with the repository's deno.json`,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const deno = await denoBinary(VERSION);
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = startMain({
    PORT: String(port),
    CHATDESK_KV_PATH: ":memory:",
    CHATDESK_CLOCK: "manual",
    CHATDESK_DEMO: "0",
    CHATDESK_ADMIN_EMAIL: ADMIN.email,
    CHATDESK_ADMIN_PASSWORD: ADMIN.password,
    CHATDESK_INBOUND_TOKEN: TOKEN,
    DENO_TLS_CA_STORE: TLS_STORES,
  }, { deno, readyTimeoutMs: 180_000 });
  let adminToken = "";
  try {
    await t.step(`Deno ${VERSION} loads every module and listens`, async () => {
      await child.ready;
      assert.ok(child.output().includes(`chatdesk on ${base}/`), child.output());
    });
    await t.step("the admin signs in through POST /api/session", async () => {
      const session = await call<{ token: string }>(base, "/api/session", ADMIN);
      assert.equal(session.status, 200, session.text);
      assert.ok(session.body.token);
      adminToken = session.body.token;
    });
    await t.step("POST /api/inbound takes a customer's message and answers it", async () => {
      const inbound = await call<{ customerId: string; replies: unknown[] }>(
        base,
        "/api/inbound",
        { channel: "whatsapp", from: "+27820000025", text: "Hello from Deno 2.5" },
        TOKEN,
      );
      assert.equal(inbound.status, 200, inbound.text);
      assert.ok(inbound.body.customerId, inbound.text);
      // The auto-reply is chosen by business hours: Temporal works on this runtime too.
      assert.ok(inbound.body.replies.length > 0, inbound.text);
    });
    await t.step(
      "hours opening 02:30 in New York route messages today and on the spring-forward day",
      async () => {
        const weekly = Object.fromEntries(
          ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, [["02:30", "04:00"]]]),
        );
        const hours = { timeZone: "America/New_York", weekly };
        const saved = await call(base, "/api/settings", { hours }, adminToken, "PUT");
        assert.equal(saved.status, 200, saved.text);
        const inbound = (from: string) =>
          call<{ replies: { text: string }[] }>(base, "/api/inbound", {
            channel: "whatsapp",
            from,
            text: "Are you open?",
          }, TOKEN);
        const today = await inbound("+27820000026");
        assert.equal(today.status, 200, today.text);
        // 02:30 does not exist on 2026-03-08 in New York: the desk opens at 03:30 EDT (07:30Z).
        const clock = await call(
          base,
          "/api/test/clock",
          { now: "2026-03-08T07:30:00Z" },
          adminToken,
        );
        assert.equal(clock.status, 200, clock.text);
        const dstDay = await inbound("+27820000027");
        assert.equal(dstDay.status, 200, dstDay.text);
        assert.equal(dstDay.body.replies[0]?.text, DEFAULT_TEXTS.noAgent, dstDay.text);
      },
    );
    await t.step("nothing on the way was refused as unsupported or unstable", () => {
      const out = child.output();
      assert.ok(!/unsupported|--unstable|Uncaught/i.test(out), out);
    });
  } finally {
    await child.kill("SIGTERM");
  }
});
