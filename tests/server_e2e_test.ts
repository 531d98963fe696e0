/** End to end against a real `main.ts` process: configuration, HTTP, the manual clock, restarts. */
import assert from "node:assert/strict";
import { callMain as call, freePort, mainCommand as command, startMain } from "./main_process.ts";

const TOKEN = "e2e-inbound-token-0123456789";
const ADMIN = { email: "boss@e2e.local", password: "boss-password-1" };

interface Server {
  url: string;
  stop(): Promise<void>;
  output(): string;
}

function nextSaturdayNoon(): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + ((6 - d.getUTCDay() + 7) % 7 || 7));
  d.setUTCHours(12, 0, 0, 0);
  return d.toISOString();
}

async function startServer(kvPath: string): Promise<Server> {
  const port = freePort();
  const child = startMain({
    PORT: String(port),
    CHATDESK_KV_PATH: kvPath,
    CHATDESK_CLOCK: "manual",
    CHATDESK_DEMO: "0",
    CHATDESK_ADMIN_EMAIL: ADMIN.email,
    CHATDESK_ADMIN_PASSWORD: ADMIN.password,
    CHATDESK_INBOUND_TOKEN: TOKEN,
  });
  await child.ready;
  return {
    url: `http://127.0.0.1:${port}`,
    output: child.output,
    stop: () => child.kill("SIGTERM"),
  };
}

Deno.test({
  name: "[e2e] a running server drives the rules over HTTP and keeps everything across a restart",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/desk.sqlite3`;
  let server = await startServer(kvPath);
  const base = () => server.url;
  const inbound = (body: Record<string, unknown>) =>
    call<
      {
        customerId: string;
        conversation: { state: string };
        ticketId: string | null;
        replies: { text: string }[];
      }
    >(base(), "POST", "/api/inbound", TOKEN, body);
  try {
    let admin =
      (await call<{ token: string }>(base(), "POST", "/api/session", undefined, ADMIN)).body.token;
    const clock = (body: unknown) =>
      call<{ now: string }>(base(), "POST", "/api/test/clock", admin, body);
    // Next Saturday noon UTC: closed under the default hours. Sessions follow the clock: sign in again.
    assert.equal((await clock({ now: nextSaturdayNoon() })).status, 200);
    admin =
      (await call<{ token: string }>(base(), "POST", "/api/session", undefined, ADMIN)).body.token;
    const agent = await call<{ id: string }>(base(), "POST", "/api/agents", admin, {
      name: "Ana",
      email: "ana@e2e.local",
      password: "ana-password-1",
      role: "agent",
    });
    assert.equal(agent.status, 201);
    const ana = (await call<{ token: string }>(base(), "POST", "/api/session", undefined, {
      email: "ana@e2e.local",
      password: "ana-password-1",
    })).body.token;

    let ticketId = "";
    await t.step(
      "rules 2 and 1: out of hours, YES opens intake, //end ends it, one ticket",
      async () => {
        const first = await inbound({
          channel: "whatsapp",
          from: "+27820000001",
          text: "Where is my order?",
        });
        assert.equal(first.body.conversation.state, "awaiting_reply");
        assert.equal(first.body.replies.length, 2);
        const yes = await inbound({ channel: "whatsapp", from: "+27820000001", text: "yes" });
        ticketId = yes.body.ticketId!;
        assert.ok(ticketId);
        await inbound({
          channel: "whatsapp",
          from: "+27820000001",
          text: "Order 4411",
          id: "wamid-1",
        });
        await inbound({
          channel: "whatsapp",
          from: "+27820000001",
          text: "Order 4411",
          id: "wamid-1",
        });
        const end = await inbound({ channel: "whatsapp", from: "+27820000001", text: "//end" });
        assert.equal(end.body.conversation.state, "ended");
        const ticket = await call<{ messages: { text: string }[] }>(
          base(),
          "GET",
          `/api/tickets/${ticketId}`,
          ana,
        );
        assert.equal(ticket.body.messages.filter((m) => m.text === "Order 4411").length, 1);
      },
    );
    await t.step(
      "rules 14, 17, 18: accept, reply within the window, template after 24 hours",
      async () => {
        assert.equal(
          (await call(base(), "POST", `/api/tickets/${ticketId}/accept`, ana)).status,
          200,
        );
        assert.equal(
          (await call(base(), "POST", `/api/tickets/${ticketId}/reply`, ana, {
            text: "On its way",
          })).status,
          201,
        );
        await clock({ advanceMs: 25 * 3600_000 });
        admin = await signIn(ADMIN.email, ADMIN.password);
        const refused = await call<{ error: { code: string } }>(
          base(),
          "POST",
          `/api/tickets/${ticketId}/reply`,
          await signIn("ana@e2e.local", "ana-password-1"),
          { text: "late" },
        );
        assert.equal(refused.status, 422);
        assert.equal(refused.body.error.code, "whatsapp_window_closed");
      },
    );
    await t.step(
      "rule 9 through the test clock: an unanswered prompt ends after 10 minutes",
      async () => {
        const r = await inbound({ channel: "sms", from: "+15550000002", text: "hi" });
        await clock({ advanceMs: 10 * 60_000 });
        const c = await call<{ conversation: { state: string } }>(
          base(),
          "GET",
          `/api/customers/${r.body.customerId}`,
          await signIn(ADMIN.email, ADMIN.password),
        );
        assert.equal(c.body.conversation.state, "ended");
      },
    );

    await server.stop();
    server = await startServer(kvPath);
    await t.step(
      "after a restart the ticket, its messages and the clock-independent state are all there",
      async () => {
        const token = await signIn("ana@e2e.local", "ana-password-1");
        const ticket = await call<{ status: string; messages: unknown[] }>(
          base(),
          "GET",
          `/api/tickets/${ticketId}`,
          token,
        );
        assert.equal(ticket.status, 200);
        assert.equal(ticket.body.status, "assigned");
        assert.ok(ticket.body.messages.length >= 7);
        // The demo is off and the admin already exists: nothing was seeded or duplicated.
        const agents = await call<{ agents: unknown[] }>(
          base(),
          "GET",
          "/api/agents",
          await signIn(ADMIN.email, ADMIN.password),
        );
        assert.equal(agents.body.agents.length, 2);
      },
    );
    await t.step("rule 31: secrets given by environment are never printed", () => {
      const out = server.output();
      assert.ok(out.includes("Admin login: boss@e2e.local"), out);
      assert.ok(!out.includes(ADMIN.password), "the admin password was printed");
      assert.ok(!out.includes(TOKEN), "the inbound token was printed");
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }

  async function signIn(email: string, password: string) {
    return (await call<{ token: string }>(base(), "POST", "/api/session", undefined, {
      email,
      password,
    })).body.token;
  }
});

Deno.test("[e2e] rule 31: a generated inbound token is printed once, by the start that made it", async () => {
  const dir = await Deno.makeTempDir();
  const env = (port: number) => ({
    PORT: String(port),
    CHATDESK_KV_PATH: `${dir}/kv.sqlite3`,
    CHATDESK_DEMO: "0",
    CHATDESK_ADMIN_PASSWORD: ADMIN.password,
  });
  const startOnce = async () => {
    const child = command(env(freePort())).spawn();
    let out = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      out += decoder.decode(chunk);
      if (out.includes("Inbound token")) break;
    }
    child.kill("SIGTERM");
    await child.status;
    await child.stderr.cancel();
    return out;
  };
  try {
    const first = await startOnce();
    const token = first.match(/Inbound token \(generated; shown this once\): (\S+)/)?.[1];
    assert.ok(token && token.length >= 16, first);
    const second = await startOnce();
    assert.ok(!second.includes(token), "the generated token was printed again");
    assert.match(second, /Inbound token: kept in the store/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[e2e] a bad setting stops the server with a message naming the variable", async () => {
  const { code, stderr } = await command({ PORT: "eighty", CHATDESK_CLOCK: "sometimes" }).output();
  const message = new TextDecoder().decode(stderr);
  assert.equal(code, 2);
  assert.match(message, /PORT must be a port number/);
  assert.match(message, /CHATDESK_CLOCK must be "system" or "manual"/);
});
