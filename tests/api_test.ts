/** The JSON API contract: sessions, roles, errors with codes, limits, configuration, the test clock. */
import assert from "node:assert/strict";
import { ManualClock } from "../domain/clock.ts";
import { ConfigError, parseConfig } from "../domain/config.ts";
import { keys } from "../domain/keys.ts";
import { createApp } from "../routes/app.ts";
import { CLOSED_TIME, INBOUND_TOKEN, leaveMessage, testDesk } from "./helpers.ts";

Deno.test("[routes] sessions: sign in, bearer token, sign out, rate limit", async (t) => {
  const d = await testDesk();
  const { agent } = await d.person("agent");
  await t.step(
    "a right password gives a token and the agent, without its password hash",
    async () => {
      const res = await d.json<{ token: string; agent: Record<string, unknown> }>(
        "POST",
        "/api/session",
        { body: { email: agent.email, password: "password-123" } },
      );
      assert.equal(res.status, 200);
      assert.ok(res.body.token.length >= 22);
      assert.equal(res.body.agent.id, agent.id);
      assert.equal("passwordHash" in res.body.agent, false);
      const me = await d.json<{ id: string }>("GET", "/api/agents/me", { token: res.body.token });
      assert.equal(me.body.id, agent.id);
      assert.equal((await d.call("DELETE", "/api/session", { token: res.body.token })).status, 204);
      assert.equal((await d.call("GET", "/api/agents/me", { token: res.body.token })).status, 401);
    },
  );
  await t.step("a wrong password is a 401 with a code", async () => {
    const res = await d.json<{ error: { code: string } }>("POST", "/api/session", {
      body: { email: agent.email, password: "nope-nope" },
    });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, "unauthorized");
  });
  await t.step(
    "after 5 failures from one address that address waits (429, Retry-After); others do not",
    async () => {
      for (let i = 0; i < 4; i++) {
        await d.call("POST", "/api/session", {
          body: { email: agent.email, password: "wrong-pass" },
        });
      }
      const res = await d.call("POST", "/api/session", {
        body: { email: agent.email, password: "password-123" },
      });
      assert.equal(res.status, 429);
      assert.equal((await res.json()).error.code, "rate_limited");
      assert.equal(res.headers.get("retry-after"), "1");
      // The owner, from an address with no failures, is not locked out.
      assert.ok(await d.signIn(agent));
      d.clock.advance(1000);
      assert.equal(
        (await d.call("POST", "/api/session", {
          body: { email: agent.email, password: "password-123" },
        })).status,
        200,
      );
    },
  );
  await t.step("sessions expire on the injected clock", async () => {
    const token = await d.signIn(agent);
    d.clock.advance(12 * 3600_000);
    assert.equal((await d.call("GET", "/api/agents/me", { token })).status, 401);
  });
  await t.step("a deactivated agent cannot sign in and its sessions stop working", async () => {
    const token = await d.signIn(agent);
    const admin = await d.person("admin");
    assert.equal(
      (await d.call("DELETE", `/api/agents/${agent.id}`, { token: admin.token })).status,
      200,
    );
    assert.equal((await d.call("GET", "/api/agents/me", { token })).status, 401);
    assert.equal(
      (await d.call("POST", "/api/session", {
        body: { email: agent.email, password: "password-123" },
      })).status,
      401,
    );
  });
  await d.close();
});

Deno.test("[routes] every call needs the right role", async (t) => {
  const d = await testDesk();
  const agent = await d.person("agent");
  const sup = await d.person("supervisor");
  const admin = await d.person("admin");
  const agentCalls: [string, string][] = [
    ["GET", "/api/tickets"],
    ["GET", "/api/tickets/X"],
    ["POST", "/api/tickets/X/accept"],
    ["POST", "/api/tickets/quick-accept"],
    ["POST", "/api/tickets/X/reply"],
    ["POST", "/api/tickets/X/close"],
    ["GET", "/api/chats"],
    ["POST", "/api/chats/X/accept"],
    ["PUT", "/api/agents/me/status"],
    ["GET", "/api/customers/X"],
  ];
  const supervisorCalls: [string, string][] = [["POST", "/api/tickets/X/reassign"], [
    "GET",
    "/api/stats",
  ]];
  const adminCalls: [string, string][] = [
    ["GET", "/api/agents"],
    ["POST", "/api/agents"],
    ["PUT", "/api/agents/X"],
    ["DELETE", "/api/agents/X"],
    ["GET", "/api/departments"],
    ["POST", "/api/departments"],
    ["PUT", "/api/departments/X"],
    ["DELETE", "/api/departments/X"],
    ["POST", "/api/templates"],
    ["PUT", "/api/templates/X"],
    ["DELETE", "/api/templates/X"],
    ["GET", "/api/settings"],
    ["PUT", "/api/settings"],
    ["POST", "/api/test/clock"],
  ];
  await t.step("signed out: 401 everywhere", async () => {
    for (const [method, path] of [...agentCalls, ...supervisorCalls, ...adminCalls]) {
      const res = await d.json<{ error: { code: string } }>(method, path, { body: {} });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.error.code, "unauthorized");
    }
  });
  await t.step("an agent gets 403 on supervisor and admin calls", async () => {
    for (const [method, path] of [...supervisorCalls, ...adminCalls]) {
      assert.equal(
        (await d.call(method, path, { token: agent.token, body: {} })).status,
        403,
        `${method} ${path}`,
      );
    }
  });
  await t.step("a supervisor gets 403 on admin calls only", async () => {
    for (const [method, path] of adminCalls) {
      assert.equal(
        (await d.call(method, path, { token: sup.token, body: {} })).status,
        403,
        `${method} ${path}`,
      );
    }
    assert.equal((await d.call("GET", "/api/stats", { token: sup.token })).status, 200);
  });
  await t.step("an admin can do what a supervisor can", async () => {
    assert.equal((await d.call("GET", "/api/stats", { token: admin.token })).status, 200);
    assert.equal((await d.call("GET", "/api/settings", { token: admin.token })).status, 200);
  });
  await d.close();
});

Deno.test("[routes] errors: 400 bad input, 404, 409, 413, and nothing half-stored", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const inbound = (body: unknown) =>
    d.json<{ error: { code: string; message: string } }>("POST", "/api/inbound", {
      token: INBOUND_TOKEN,
      body,
    });
  await t.step("inbound without the token is 401", async () => {
    const res = await d.json("POST", "/api/inbound", {
      token: "wrong",
      body: { channel: "sms", from: "+15550001", text: "x" },
    });
    assert.equal(res.status, 401);
  });
  await t.step("inbound bad input is a 400 naming the problem", async () => {
    // Every message of every conversation, by the key helper's own root (a rename cannot make
    // this count vacuous): an accepted message shows up in it first.
    const allMessages = keys.messages("any").slice(0, 1);
    const storedMessages = async () => {
      let n = 0;
      for await (const _ of d.kv.list({ prefix: allMessages })) n++;
      return n;
    };
    await d.inbound({ channel: "sms", from: "+15550009999", text: "a valid message" });
    const before = await storedMessages();
    assert.ok(before > 0, "the prefix finds no messages: it cannot prove nothing was stored");
    const cases: [unknown, string][] = [
      [{ channel: "fax", from: "+15550001", text: "x" }, "invalid_field"],
      [{ channel: "whatsapp", from: "27820000001", text: "x" }, "invalid_address"],
      [{ channel: "sms", from: "+15550001" }, "missing_field"],
      [{ channel: "sms", from: "+15550001", text: "   " }, "empty_text"],
      [{ channel: "sms", from: "+15550001", text: "x".repeat(4097) }, "text_too_long"],
      [{ channel: "sms", from: "+15550001", text: "x", department: "nope" }, "unknown_department"],
      [[1, 2], "invalid_body"],
    ];
    for (const [body, code] of cases) {
      const res = await inbound(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.error.code, code);
      assert.ok(res.body.error.message.length > 5);
    }
    const res = await d.json<{ error: { code: string } }>("POST", "/api/inbound", {
      token: INBOUND_TOKEN,
      raw: "{not json",
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, "invalid_json");
    assert.equal(await storedMessages(), before, "a refused message left something behind");
  });
  await t.step("a body over 1 MiB is a 413", async () => {
    const res = await d.json<{ error: { code: string } }>("POST", "/api/inbound", {
      token: INBOUND_TOKEN,
      raw: JSON.stringify({ text: "x".repeat(1_100_000) }),
    });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, "body_too_large");
  });
  await t.step("unknown ids are 404 with a code", async () => {
    for (const path of ["/api/tickets/NOPE", "/api/customers/NOPE"]) {
      const res = await d.json<{ error: { code: string } }>("GET", path, { token: admin.token });
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, "not_found");
    }
    assert.equal(
      (await d.call("POST", "/api/tickets/NOPE/accept", { token: admin.token })).status,
      404,
    );
    assert.equal((await d.call("GET", "/api/no/such/route", { token: admin.token })).status, 404);
  });
  await t.step("admin resources validate and conflict", async () => {
    assert.equal(
      (await d.call("POST", "/api/agents", {
        token: admin.token,
        body: { name: "X", email: "bad", password: "password-1" },
      })).status,
      400,
    );
    assert.equal(
      (await d.call("POST", "/api/agents", {
        token: admin.token,
        body: { name: "X", email: "x@y.io", password: "short" },
      })).status,
      400,
    );
    assert.equal(
      (await d.call("POST", "/api/agents", {
        token: admin.token,
        body: { name: "X", email: "x@y.io", password: "password-1", role: "boss" },
      })).status,
      400,
    );
    assert.equal(
      (await d.call("POST", "/api/agents", {
        token: admin.token,
        body: { name: "X", email: "x@y.io", password: "password-1", departments: ["nope"] },
      })).status,
      400,
    );
    const created = await d.json<{ id: string; role: string }>("POST", "/api/agents", {
      token: admin.token,
      body: { name: "X", email: "x@y.io", password: "password-1" },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.role, "agent");
    const again = await d.json<{ error: { code: string } }>("POST", "/api/agents", {
      token: admin.token,
      body: { name: "Y", email: "X@y.io", password: "password-1" },
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "email_taken");
    const dept = await d.json<{ id: string; name: string }>("POST", "/api/departments", {
      token: admin.token,
      body: { name: "Sales" },
    });
    assert.deepEqual(Object.keys(dept.body).sort(), ["active", "id", "name"]);
    assert.equal(
      (await d.call("POST", "/api/departments", { token: admin.token, body: { name: "sales" } }))
        .status,
      409,
    );
    assert.equal(
      (await d.call("POST", "/api/templates", {
        token: admin.token,
        body: { name: "Bad Name", body: "x" },
      })).status,
      400,
    );
    assert.equal(
      (await d.call("POST", "/api/templates", {
        token: admin.token,
        body: { name: "gap", body: "{{2}} only" },
      })).status,
      400,
    );
    await d.call("POST", "/api/templates", {
      token: admin.token,
      body: { name: "first", body: "one" },
    });
    const second = await d.json<{ id: string }>("POST", "/api/templates", {
      token: admin.token,
      body: { name: "second", body: "two" },
    });
    const renamed = await d.json<{ error: { code: string } }>(
      "PUT",
      `/api/templates/${second.body.id}`,
      { token: admin.token, body: { name: "first" } },
    );
    assert.equal(renamed.status, 409);
    assert.equal(renamed.body.error.code, "template_exists");
  });
  await t.step("settings validate every field and keep the rest", async () => {
    const bad = await d.json<{ error: { code: string; fields: Record<string, string> } }>(
      "PUT",
      "/api/settings",
      {
        token: admin.token,
        body: {
          timeouts: { intakeMinutes: 0, archiveDays: "90" },
          hours: { timeZone: "Mars/Base" },
          texts: { prompt: "" },
        },
      },
    );
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.body.error.fields).sort(), [
      "hours.timeZone",
      "texts.prompt",
      "timeouts.archiveDays",
      "timeouts.intakeMinutes",
    ]);
    const ok = await d.json<{ timeouts: { intakeMinutes: number; sessionMinutes: number } }>(
      "PUT",
      "/api/settings",
      { token: admin.token, body: { timeouts: { intakeMinutes: 15 } } },
    );
    assert.equal(ok.body.timeouts.intakeMinutes, 15);
    assert.equal(ok.body.timeouts.sessionMinutes, 10);
  });
  await d.close();
});

Deno.test("[routes] inbound contract: from echoed back, provider id repeats change nothing", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const { token } = await d.person("supervisor");
  const agent = await d.person("agent");
  const first = await d.inbound({
    channel: "whatsapp",
    from: "+27820000001",
    text: "hello",
    id: "wamid.1",
    name: "Thandi",
  });
  assert.equal(first.conversation.state, "awaiting_reply");
  const repeat = await d.inbound({
    channel: "whatsapp",
    from: "+27820000001",
    text: "hello",
    id: "wamid.1",
    name: "Thandi",
  });
  assert.equal(repeat.customerId, first.customerId);
  assert.deepEqual(repeat.replies, []);
  const customer = await d.json<
    {
      id: string;
      channel: string;
      from: string;
      name: string;
      conversation: { state: string };
      openTicketId: null;
    }
  >(
    "GET",
    `/api/customers/${first.customerId}`,
    { token },
  );
  assert.deepEqual(customer.body, {
    id: first.customerId,
    channel: "whatsapp",
    from: "+27820000001",
    name: "Thandi",
    conversation: { state: "awaiting_reply" },
    openTicketId: null,
    profileName: null,
    about: "",
    firstSeenAt: new Date(CLOSED_TIME).toISOString(),
    tickets: [],
    ticketsCursor: null,
    version: 1,
    optedOut: false,
    optedOutAt: null,
  });
  // Rule 23: no ticket or chat the agent may read, so not this customer either.
  const hidden = await d.call("GET", `/api/customers/${first.customerId}`, { token: agent.token });
  assert.equal(hidden.status, 404);
  await hidden.body?.cancel();
  await d.close();
});

Deno.test("[routes] supervisor stats count today in the business time zone", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const sup = await d.person("supervisor");
  const agent = await d.person("agent");
  const a = await leaveMessage(d, "+27820000011");
  d.clock.advance(90_000);
  await leaveMessage(d, "+27820000012");
  await d.json("POST", `/api/tickets/${a}/accept`, { token: agent.token });
  const stats = await d.json<Record<string, unknown>>("GET", "/api/stats", { token: sup.token });
  assert.deepEqual(stats.body, {
    unassigned: 1,
    oldestUnassignedAt: new Date(CLOSED_TIME + 90_000).toISOString(),
    createdToday: 2,
    acceptedToday: 1,
    closedToday: 0,
    medianAcceptSeconds: 90,
  });
  // Eight hours later it is 04:00 on the next day in UTC, but still the same evening in New York.
  d.clock.advance(8 * 3600_000);
  const utc = await d.json<{ createdToday: number }>("GET", "/api/stats", { token: sup.token });
  assert.equal(utc.body.createdToday, 0);
  const admin = await d.person("admin");
  await d.json("PUT", "/api/settings", {
    token: admin.token,
    body: { hours: { timeZone: "America/New_York" } },
  });
  const there = await d.json<{ createdToday: number; acceptedToday: number }>("GET", "/api/stats", {
    token: sup.token,
  });
  assert.equal(there.body.createdToday, 2);
  assert.equal(there.body.acceptedToday, 1);
  await d.close();
});

Deno.test("[routes] rule 21: the test clock exists only with CHATDESK_CLOCK=manual and runs due sweeps", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  await t.step("advanceMs moves the clock and sweeps what became due", async () => {
    const r = await d.inbound({ channel: "sms", from: "+15550000777", text: "hi" });
    const res = await d.json<{ now: string }>("POST", "/api/test/clock", {
      token: admin.token,
      body: { advanceMs: 10 * 60_000 },
    });
    assert.equal(res.body.now, new Date(CLOSED_TIME + 10 * 60_000).toISOString());
    const conversation = (await d.kv.get<{ state: string }>(["conversations", r.customerId]))
      .value!;
    assert.equal(conversation.state, "ended");
  });
  await t.step("now may move the clock back", async () => {
    const res = await d.json<{ now: string }>("POST", "/api/test/clock", {
      token: admin.token,
      body: { now: "2026-01-01T00:00:00Z" },
    });
    assert.equal(res.body.now, "2026-01-01T00:00:00.000Z");
  });
  await t.step("bad bodies are a 400", async () => {
    assert.equal(
      (await d.call("POST", "/api/test/clock", { token: admin.token, body: { advanceMs: -5 } }))
        .status,
      400,
    );
  });
  await t.step("a system-clock server answers 404", async () => {
    const app = createApp({
      desk: d.desk,
      config: parseConfig({}),
      manualClock: null,
      inboundToken: INBOUND_TOKEN,
      courier: d.courier,
    });
    const res = await app.request("/api/test/clock", {
      method: "POST",
      headers: { authorization: `Bearer ${admin.token}` },
      body: "{}",
    });
    assert.equal(res.status, 404);
  });
  await d.close();
});

Deno.test("[domain] configuration: defaults, and bad values refused with the variable named", () => {
  const config = parseConfig({}, { demo: true });
  assert.equal(config.port, 8000);
  assert.equal(config.kvPath, "./data/chatdesk.sqlite3");
  assert.equal(config.clock, "system");
  assert.equal(config.demo, true);
  assert.equal(parseConfig({ CHATDESK_DEMO: "0" }, { demo: true }).demo, false);
  // On Deno Deploy both secrets are required (tests/config_test.ts, rule 42).
  const deploySecrets = {
    CHATDESK_ADMIN_PASSWORD: "deploy-pass-1",
    CHATDESK_INBOUND_TOKEN: "deploy-inbound-token-0123",
  };
  assert.equal(parseConfig({ DENO_DEPLOYMENT_ID: "abc", ...deploySecrets }).kvPath, "platform");
  assert.equal(
    parseConfig({ CHATDESK_KV_PATH: "https://api.deno.com/databases/x/connect" }).kvPath.startsWith(
      "https://",
    ),
    true,
  );
  for (
    const [name, value] of [
      ["PORT", "80a"],
      ["PORT", "70000"],
      ["CHATDESK_CLOCK", "fake"],
      ["CHATDESK_DEMO", "yes"],
      ["CHATDESK_ADMIN_EMAIL", "admin"],
      ["CHATDESK_ADMIN_PASSWORD", "short"],
      ["CHATDESK_INBOUND_TOKEN", "abc"],
      ["CHATDESK_KV_PATH", "http://x"],
    ]
  ) {
    assert.throws(
      () => parseConfig({ [name]: value }),
      (e: Error) => e instanceof ConfigError && e.message.includes(name),
      `${name}=${value}`,
    );
  }
  void ManualClock;
});
