/**
 * Hardening found in review and in the adversarial pass (SECURITY.md names each test here):
 * cookie-free API, redirects, oversized ids, non-form bodies, hidden tickets, session
 * revocation, sign-in enumeration and throttling, customer visibility, `no-store`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConfig } from "../domain/config.ts";
import { TooManyRequests } from "../domain/errors.ts";
import { createVisitor } from "../domain/webchat.ts";
import { parseMetaWebhook } from "../domain/providers/meta.ts";
import { addressGroup, signIn, throttleDelay, THROTTLES } from "../domain/sessions.ts";
import { createApp } from "../routes/app.ts";
import { safeNext } from "../routes/page_auth.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { clientAddress, parseAddress } from "../routes/request.ts";
import {
  closeBusiness,
  CLOSED_TIME,
  INBOUND_TOKEN,
  leaveMessage,
  OPEN_TIME,
  type TestDesk,
  testDesk,
} from "./helpers.ts";

const ORIGIN = "http://localhost";
const PASSWORD = "password-123";

/** A page request as a browser with the session cookie sends it (form posts carry our Origin). */
function page(
  d: TestDesk,
  token: string | null,
  path: string,
  form?: Record<string, string>,
): Promise<Response> {
  const headers: Record<string, string> = { accept: "text/html" };
  if (token) headers.cookie = `${SESSION_COOKIE}=${token}`;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers.origin = ORIGIN;
  }
  return Promise.resolve(d.app.request(`${ORIGIN}${path}`, {
    method: form ? "POST" : "GET",
    headers,
    body: form ? new URLSearchParams(form).toString() : undefined,
  }));
}

/** Is this page cookie still signed in? (a signed-out page request is sent to /login) */
async function cookieWorks(d: TestDesk, token: string): Promise<boolean> {
  const res = await page(d, token, "/tickets/unassigned");
  await res.body?.cancel();
  if (res.status === 200) return true;
  assert.equal(res.status, 303);
  assert.match(res.headers.get("location") ?? "", /^\/login\?next=/);
  return false;
}

async function bearerWorks(d: TestDesk, token: string): Promise<boolean> {
  const status = (await d.call("GET", "/api/agents/me", { token })).status;
  assert.ok(status === 200 || status === 401, `status ${status}`);
  return status === 200;
}

Deno.test("[routes] the JSON API ignores the session cookie, so a forged cross-site post does nothing", async () => {
  const d = await testDesk();
  const admin = await d.person("admin");
  // What a <form enctype="text/plain"> on another site would send with the victim's cookie.
  const res = await d.call("POST", "/api/agents", {
    raw: JSON.stringify({
      name: "Mallory",
      email: "m@evil.example",
      password: "password-123",
      role: "admin",
    }),
    headers: {
      cookie: `${SESSION_COOKIE}=${admin.token}`,
      origin: "http://evil.example",
      "content-type": "text/plain",
    },
  });
  assert.equal(res.status, 401);
  const agents = await d.json<{ agents: { email: string }[] }>("GET", "/api/agents", {
    token: admin.token,
  });
  assert.ok(!agents.body.agents.some((a) => a.email === "m@evil.example"));
  await d.close();
});

const OFFSITE = [
  "//evil.example",
  "/\t/evil.example",
  "/\n/evil.example",
  "/\\evil.example",
  "https://evil.example",
  "evil",
  "/login?next=/x",
  // Dot segments that resolve to a protocol-relative path (the adversarial pass's finding).
  "/.//evil.test",
  "/..//evil.test",
  "/./..//evil.test",
  "/%2e//evil.test",
  "/%2E%2E//evil.test",
  "/.%2e//evil.test",
  "/x/../..//evil.test",
  "/%2f/evil.test",
  "/%5cevil.test",
  "/./\\evil.test",
  "/.//login",
];

/** What a browser would do with the answer's Location: it must stay on our own origin. */
function assertSameSite(location: string, input: string) {
  assert.ok(location.startsWith("/"), `${JSON.stringify(input)} → ${location}`);
  assert.doesNotMatch(location, /^\/[/\\]/, `${JSON.stringify(input)} → ${location}`);
  let decoded = location;
  try {
    decoded = decodeURIComponent(location);
  } catch { /* not decodable: nothing to re-check */ }
  assert.doesNotMatch(decoded, /^\/[/\\]/, `${JSON.stringify(input)} → ${location} (decoded)`);
  assert.equal(new URL(location, "https://desk.example").origin, "https://desk.example");
}

Deno.test("[routes] redirect targets stay on our own site", async (t) => {
  await t.step("offsite, dot-segment and encoded tricks fall back to the desk", () => {
    assert.equal(safeNext("/tickets/assigned?q=x#top"), "/tickets/assigned?q=x#top");
    assert.equal(safeNext("/tickets/./assigned"), "/tickets/assigned");
    for (const bad of OFFSITE) {
      assert.equal(safeNext(bad), "/tickets/unassigned", JSON.stringify(bad));
    }
  });
  await t.step("no string built of slashes, dots and encodings escapes (fixed-seed fuzz)", () => {
    const part = fc.constantFrom(
      "/",
      "\\",
      ".",
      "..",
      "%2e",
      "%2E",
      "%2f",
      "%5c",
      "%252f",
      "\t",
      "evil.test",
      "tickets",
      "?",
      "#",
      "@",
      ":",
      " ",
    );
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 8 }), (parts) => {
        const input = "/" + parts.join("");
        assertSameSite(safeNext(input), input);
      }),
      { seed: 20261125, numRuns: 3000 },
    );
  });
  const d = await testDesk();
  const { agent, token } = await d.person("agent");
  await t.step("GET /login?next=… when signed in redirects on site only", async () => {
    for (const bad of OFFSITE) {
      const res = await page(d, token, `/login?next=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 303);
      assertSameSite(res.headers.get("location")!, bad);
    }
  });
  await t.step("POST /login with next=/.//evil.test or /..//evil.test stays on site", async () => {
    for (const bad of ["/.//evil.test", "/..//evil.test", "/%2e%2e//evil.test"]) {
      const res = await page(d, null, "/login", {
        email: agent.email,
        password: PASSWORD,
        next: bad,
      });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "/tickets/unassigned", bad);
    }
  });
  await d.close();
});

Deno.test("[routes] oversized ids and cursors, and bodies that are not forms, are refused, not crashes", async (t) => {
  const d = await testDesk();
  const admin = await d.person("admin");
  await t.step("a 3000-character id is a 404", async () => {
    const res = await d.json<{ error: { code: string } }>(
      "GET",
      `/api/tickets/${"x".repeat(3000)}`,
      { token: admin.token },
    );
    assert.equal(res.status, 404);
  });
  await t.step("a cursor that is not one of ours is a 400", async () => {
    for (const cursor of ["x".repeat(3000), "a;b"]) {
      const res = await d.json<{ error: { code: string } }>(
        "GET",
        `/api/tickets?queue=closed&cursor=${encodeURIComponent(cursor)}`,
        { token: admin.token },
      );
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, "invalid_query");
    }
  });
  await t.step("an admin form post whose body is not a form is a 400", async () => {
    const res = await d.call("POST", "/admin/departments", {
      raw: "garbage",
      headers: {
        cookie: `${SESSION_COOKIE}=${admin.token}`,
        origin: "http://localhost",
        "content-type": "multipart/form-data; boundary=zz",
      },
    });
    assert.equal(res.status, 400);
  });
  await d.close();
});

Deno.test("[routes] rule 13: a ticket outside the agent's departments is not found, whatever its state", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const salesAgent = await d.person("agent", { departments: [sales] });
  const supportAgent = await d.person("agent", { departments: [support] });
  const taken = await leaveMessage(d, "+27820000901", ["x"], { department: support });
  const waiting = await leaveMessage(d, "+27820000902", ["y"], { department: support });
  await d.json("POST", `/api/tickets/${taken}/accept`, { token: supportAgent.token });
  assert.equal(
    (await d.call("POST", `/api/tickets/${taken}/accept`, { token: salesAgent.token })).status,
    404,
  );
  assert.equal(
    (await d.call("POST", `/api/tickets/${waiting}/close`, { token: salesAgent.token })).status,
    404,
  );
  assert.equal(
    (await d.call("POST", `/api/tickets/${waiting}/reply`, {
      token: salesAgent.token,
      body: { text: "hi" },
    })).status,
    404,
  );
  await d.close();
});

/** Reads an SSE response until `event: signed-out` arrives or the stream ends; false on timeout. */
async function streamEnds(res: Response, withinMs: number, started: () => void): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), withinMs);
  });
  let first = true;
  try {
    while (true) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout") return "timeout";
      if (next.done) return seen.includes("event: signed-out") ? "signed-out" : "ended";
      seen += decoder.decode(next.value, { stream: true });
      if (first) {
        first = false;
        started();
      }
      if (seen.includes("event: signed-out")) return "signed-out";
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

Deno.test("[routes] a password reset, a role change and a deactivation end every session at once", async (t) => {
  const d = await testDesk();
  const admin = await d.person("admin");
  const changes: [string, (id: string) => Promise<Response>][] = [
    [
      "an API password reset",
      (id) =>
        d.call("PUT", `/api/agents/${id}`, {
          token: admin.token,
          body: { password: "new-pass-456" },
        }),
    ],
    ["a page password reset", (id) =>
      page(d, admin.token, `/admin/agents/${id}/password`, {
        password: "new-pass-456",
        confirm: "new-pass-456",
      })],
    [
      "a role change",
      (id) =>
        d.call("PUT", `/api/agents/${id}`, { token: admin.token, body: { role: "supervisor" } }),
    ],
    ["a deactivation (API)", (id) => d.call("DELETE", `/api/agents/${id}`, { token: admin.token })],
    [
      "a deactivation (page)",
      (id) => page(d, admin.token, `/admin/agents/${id}/active`, { active: "0" }),
    ],
  ];
  for (const [what, change] of changes) {
    await t.step(`${what}: old bearer tokens and cookies stop working`, async () => {
      const { agent, token } = await d.person("agent");
      const cookie = await d.signIn(agent);
      assert.ok(await bearerWorks(d, token) && await cookieWorks(d, cookie));
      const res = await change(agent.id);
      await res.body?.cancel();
      assert.ok(res.status === 200 || res.status === 303, `${what}: ${res.status}`);
      assert.equal(await bearerWorks(d, token), false, "the bearer token still works");
      assert.equal(await cookieWorks(d, cookie), false, "the page cookie still works");
    });
  }
  await t.step(
    "an edit that changes no credentials (name, departments) keeps sessions",
    async () => {
      const { agent, token } = await d.person("agent");
      await d.call("PUT", `/api/agents/${agent.id}`, {
        token: admin.token,
        body: { name: "Renamed", role: "agent" },
      });
      assert.ok(await bearerWorks(d, token));
    },
  );
  await t.step("an open /events stream ends as soon as the password is reset", async () => {
    const { agent } = await d.person("agent");
    const cookie = await d.signIn(agent);
    const res = await page(d, cookie, "/events?view=unassigned");
    assert.equal(res.status, 200);
    const started = Date.now();
    const outcome = await streamEnds(res, 5_000, () => {
      void d.call("PUT", `/api/agents/${agent.id}`, {
        token: admin.token,
        body: { password: "new-pass-456" },
      }).then((r) => r.body?.cancel());
    });
    assert.equal(outcome, "signed-out", `the stream did not end (${outcome})`);
    assert.ok(Date.now() - started < 4_000);
  });
  await t.step(
    "an agent's own password change keeps its own session and ends all others",
    async () => {
      const other = await d.signIn(admin.agent);
      const res = await d.call("PUT", `/api/agents/${admin.agent.id}`, {
        token: admin.token,
        body: { password: "own-new-pass-1" },
      });
      assert.equal(res.status, 200);
      assert.equal(await bearerWorks(d, admin.token), true, "the caller was signed out");
      assert.equal(await bearerWorks(d, other), false, "another session survived");
      // The same through the admin page, with the page cookie.
      const second = (await signIn(d.kv, d.clock, {
        email: admin.agent.email,
        password: "own-new-pass-1",
      }, "10.9.9.9")).token;
      const form = await page(d, admin.token, `/admin/agents/${admin.agent.id}/password`, {
        password: "own-new-pass-2",
        confirm: "own-new-pass-2",
      });
      assert.equal(form.status, 303);
      assert.equal(await cookieWorks(d, admin.token), true, "the page session ended");
      assert.equal(await bearerWorks(d, second), false, "another session survived");
    },
  );
  await d.close();
});

Deno.test("[routes] reactivation does not revive the sessions a deactivation ended", async () => {
  const d = await testDesk();
  const admin = await d.person("admin");
  const { agent, token } = await d.person("agent");
  const cookie = await d.signIn(agent);
  assert.equal(
    (await d.call("DELETE", `/api/agents/${agent.id}`, { token: admin.token })).status,
    200,
  );
  const back = await d.call("PUT", `/api/agents/${agent.id}`, {
    token: admin.token,
    body: { active: true },
  });
  assert.equal(back.status, 200);
  assert.equal(await bearerWorks(d, token), false, "the old token works again");
  assert.equal(await cookieWorks(d, cookie), false, "the old cookie works again");
  // Through the admin page too.
  const fresh = await d.signIn(agent);
  await (await page(d, admin.token, `/admin/agents/${agent.id}/active`, { active: "0" })).body
    ?.cancel();
  await (await page(d, admin.token, `/admin/agents/${agent.id}/active`, { active: "1" })).body
    ?.cancel();
  assert.equal(await bearerWorks(d, fresh), false);
  // A new sign-in works.
  assert.equal(await bearerWorks(d, await d.signIn(agent)), true);
  await d.close();
});

Deno.test("[routes] sign-in failures look alike: same answer and the same key derivation", async (t) => {
  const d = await testDesk();
  const admin = await d.person("admin");
  const { agent } = await d.person("agent");
  const gone = await d.person("agent");
  await d.call("DELETE", `/api/agents/${gone.agent.id}`, { token: admin.token });
  const attempt = (email: string, password: string) =>
    d.json<{ error: { code: string; message: string } }>("POST", "/api/session", {
      body: { email, password },
    });
  await t.step(
    "unknown e-mail, wrong password and deactivated account answer the same",
    async () => {
      const answers = [
        await attempt("nobody@test.local", "wrong-pass-1"),
        await attempt(agent.email, "wrong-pass-1"),
        await attempt(gone.agent.email, "wrong-pass-1"),
        await attempt(gone.agent.email, PASSWORD),
      ];
      for (const a of answers) {
        assert.deepEqual(a, answers[0]);
      }
      assert.equal(answers[0].status, 401);
      assert.equal(answers[0].body.error.message, "Wrong e-mail or password.");
    },
  );
  await t.step("the sign-in page says the same for a deactivated account", async () => {
    const res = await page(d, null, "/login", { email: gone.agent.email, password: PASSWORD });
    assert.equal(res.status, 401);
    const html = await res.text();
    assert.match(html, /Wrong e-mail or password\./);
    assert.doesNotMatch(html, /deactivated/i);
  });
  await t.step("an unknown e-mail costs as much as a wrong password for a known one", async () => {
    // Each attempt from its own address, so no throttle delays the measurement.
    let n = 0;
    const time = async (email: string) => {
      const started = performance.now();
      await signIn(d.kv, d.clock, { email, password: "wrong-pass-1" }, `192.0.2.${++n}`)
        .catch(() => {});
      return performance.now() - started;
    };
    const unknown: number[] = [], known: number[] = [];
    for (let i = 0; i < 5; i++) {
      unknown.push(await time(`nobody${i}@test.local`));
      known.push(await time(agent.email));
    }
    const [u, k] = [Math.min(...unknown), Math.min(...known)];
    assert.ok(u > k * 0.5, `unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms`);
  });
  await d.close();
});

/** The app of a desk, served as if behind a proxy that sets X-Forwarded-For. */
function behindProxy(d: TestDesk) {
  const app = createApp({
    desk: d.desk,
    config: {
      ...parseConfig({
        CHATDESK_CLOCK: "manual",
        CHATDESK_TRUSTED_PROXY_HEADER: "X-Forwarded-For",
      }),
      inboundToken: INBOUND_TOKEN,
    },
    manualClock: d.clock,
    inboundToken: INBOUND_TOKEN,
    courier: d.courier,
  });
  return async (email: string, password: string, forwardedFor: string) => {
    const res = await app.request("/api/session", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
      body: JSON.stringify({ email, password }),
    });
    await res.body?.cancel();
    return res.status;
  };
}

Deno.test("[routes] sign-in throttling slows guessers without locking the owner out", async (t) => {
  const d = await testDesk();
  const { agent } = await d.person("admin");
  const attempt = behindProxy(d);
  const guesser = "198.51.100.7";
  await t.step(
    "five wrong guesses, then the guessing address waits; the owner does not",
    async () => {
      for (let i = 0; i < 5; i++) {
        assert.equal(
          await attempt(agent.email, "guess-1234", guesser),
          401,
        );
      }
      assert.equal(await attempt(agent.email, PASSWORD, guesser), 429, "the guesser is not slowed");
      assert.equal(
        await attempt(agent.email, PASSWORD, "203.0.113.20"),
        200,
        "the owner is locked out",
      );
    },
  );
  await t.step("the delays grow: 1 s, 2 s, 4 s … after each further failure", async () => {
    for (const wait of [1, 2, 4, 8]) {
      d.clock.advance(wait * 1000 - 1);
      assert.equal(await attempt(agent.email, "guess-1234", guesser), 429, `before ${wait} s`);
      d.clock.advance(1);
      assert.equal(await attempt(agent.email, "guess-1234", guesser), 401, `after ${wait} s`);
    }
    assert.equal(throttleDelay(100, THROTTLES.pair), 15 * 60_000, "the delay is capped");
  });
  await t.step(
    "the owner's right password from the guessing address works once its wait is over",
    async () => {
      d.clock.advance(16 * 1000);
      assert.equal(await attempt(agent.email, PASSWORD, guesser), 200);
      assert.equal(
        await attempt(agent.email, "typo-1234", guesser),
        401,
        "a success starts the count afresh",
      );
    },
  );
  await t.step(
    "only the proxy's own (right-most) entry counts; forged entries on its left do not",
    async () => {
      const { agent: other } = await d.person("agent");
      for (let i = 0; i < 5; i++) {
        assert.equal(await attempt(other.email, "guess-1234", `10.${i}.0.1, 198.51.100.8`), 401);
      }
      assert.equal(await attempt(other.email, "guess-1234", "10.9.0.1, 198.51.100.8"), 429);
      assert.equal(await attempt(other.email, PASSWORD, "198.51.100.8, 203.0.113.21"), 200);
    },
  );
  await t.step("password spraying from one address is slowed for that address only", async () => {
    const sprayer = "198.51.100.9";
    for (let i = 0; i < THROTTLES.address.free; i++) {
      assert.equal(await attempt(`user${i}@test.local`, "Summer2026!", sprayer), 401);
    }
    assert.equal(await attempt("another@test.local", "Summer2026!", sprayer), 429);
    assert.equal(
      await attempt(agent.email, PASSWORD, "203.0.113.22"),
      200,
      "a clean address is slowed too",
    );
    d.clock.advance(THROTTLES.address.maxDelay);
    assert.equal(await attempt(agent.email, PASSWORD, sprayer), 200, "the wait is never long");
  });
  await d.close();
});

Deno.test("[routes] without CHATDESK_TRUSTED_PROXY_HEADER forwarded headers are ignored", async () => {
  const d = await testDesk();
  const { agent } = await d.person("agent");
  // Rotating X-Forwarded-For does not give a guesser fresh addresses.
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) {
    statuses.push(
      (await d.call("POST", "/api/session", {
        body: { email: agent.email, password: "guess-1234" },
        headers: { "x-forwarded-for": `10.0.${i}.1` },
      })).status,
    );
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
  await d.close();
});

Deno.test("[domain] client addresses: the trusted header's right-most entry, IPv6 counted per /64", async (t) => {
  await t.step("parseConfig takes a header name and refuses anything else", () => {
    assert.equal(parseConfig({}).trustedProxyHeader, null);
    assert.equal(
      parseConfig({ CHATDESK_TRUSTED_PROXY_HEADER: "X-Forwarded-For" }).trustedProxyHeader,
      "x-forwarded-for",
    );
    assert.throws(
      () => parseConfig({ CHATDESK_TRUSTED_PROXY_HEADER: "x forwarded: for" }),
      /CHATDESK_TRUSTED_PROXY_HEADER/,
    );
  });
  await t.step("addresses as proxies write them", () => {
    assert.equal(parseAddress(" 203.0.113.5 "), "203.0.113.5");
    assert.equal(parseAddress("203.0.113.5:4711"), "203.0.113.5");
    assert.equal(parseAddress("[2001:DB8::1]:443"), "2001:db8::1");
    assert.equal(parseAddress('for="[2001:db8::1]:4711";proto=https'), "2001:db8::1");
    assert.equal(parseAddress("for=192.0.2.60;by=203.0.113.43"), "192.0.2.60");
    for (const bad of ["unknown", "for=_hidden", "evil.example", "999.1.1.1", ""]) {
      assert.equal(parseAddress(bad), null, bad);
    }
  });
  await t.step(
    "clientAddress uses the header only when configured, and its right-most entry",
    async () => {
      const { Hono } = await import("hono");
      const app = new Hono();
      let config: { trustedProxyHeader: string | null } = { trustedProxyHeader: null };
      app.get("/", (c) => c.text(clientAddress(c, config)));
      const ask = async (xff?: string) =>
        await (await app.request("/", { headers: xff ? { "x-forwarded-for": xff } : {} })).text();
      assert.equal(await ask("1.1.1.1"), "local");
      config = { trustedProxyHeader: "x-forwarded-for" };
      assert.equal(await ask("1.1.1.1, 2.2.2.2"), "2.2.2.2");
      assert.equal(await ask("2.2.2.2, garbage"), "local", "an unusable entry is not trusted");
      assert.equal(await ask(), "local", "no header: the peer address");
    },
  );
  await t.step("IPv6 addresses count per /64, IPv4-mapped as IPv4", () => {
    assert.equal(addressGroup("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(addressGroup("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(addressGroup("::1"), "0:0:0:0::/64");
    assert.equal(addressGroup("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(addressGroup("192.0.2.1"), "192.0.2.1");
  });
});

Deno.test("[routes] rule 23: an agent reads a customer only through a ticket or chat it may see", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const owner = await d.person("agent", { departments: [sales] });
  const colleague = await d.person("agent", { departments: [sales] });
  const outsider = await d.person("agent", { departments: [support] });
  const supervisor = await d.person("supervisor");
  const sees = async (who: { token: string }, customerId: string) => {
    const res = await d.json<{ id?: string }>("GET", `/api/customers/${customerId}`, {
      token: who.token,
    });
    assert.ok(res.status === 200 || res.status === 404, `status ${res.status}`);
    if (res.status === 200) assert.equal(res.body.id, customerId);
    return res.status === 200;
  };
  const customerOf = async (ticketId: string) =>
    (await d.json<{ customerId: string }>("GET", `/api/tickets/${ticketId}`, {
      token: supervisor.token,
    })).body.customerId;
  const waiting = await customerOf(
    await leaveMessage(d, "+27820000701", ["x"], { department: sales }),
  );
  const takenId = await leaveMessage(d, "+27820000702", ["y"], { department: sales });
  await d.json("POST", `/api/tickets/${takenId}/accept`, { token: owner.token });
  const taken = await customerOf(takenId);
  const closedId = await leaveMessage(d, "+27820000703", ["z"], { department: support });
  await d.json("POST", `/api/tickets/${closedId}/accept`, { token: outsider.token });
  await d.json("POST", `/api/tickets/${closedId}/close`, { token: outsider.token });
  const closed = await customerOf(closedId);
  const prompted =
    (await d.inbound({ channel: "sms", from: "+15550000704", text: "hi" })).customerId;
  await t.step("an unassigned ticket: its department's agents, not others", async () => {
    assert.deepEqual(
      [await sees(owner, waiting), await sees(colleague, waiting), await sees(outsider, waiting)],
      [true, true, false],
    );
  });
  await t.step("an assigned ticket: its assignee only", async () => {
    assert.deepEqual(
      [await sees(owner, taken), await sees(colleague, taken), await sees(outsider, taken)],
      [true, false, false],
    );
  });
  await t.step("a closed ticket: every agent", async () => {
    assert.deepEqual(
      [await sees(owner, closed), await sees(colleague, closed), await sees(outsider, closed)],
      [true, true, true],
    );
  });
  await t.step("a customer with no ticket and no chat: nobody but staff", async () => {
    assert.deepEqual([await sees(owner, prompted), await sees(supervisor, prompted)], [
      false,
      true,
    ]);
  });
  await t.step("chats: pending in its departments, or its own live chat", async () => {
    d.clock.set(OPEN_TIME);
    await d.call("PUT", "/api/agents/me/status", {
      token: owner.token,
      body: { status: "online" },
    });
    const chatting = await d.inbound({
      channel: "whatsapp",
      from: "+27820000705",
      text: "live please",
      department: sales,
    });
    assert.equal(chatting.conversation.state, "pending");
    assert.deepEqual(
      [await sees(colleague, chatting.customerId), await sees(outsider, chatting.customerId)],
      [true, false],
    );
    const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token: owner.token },
    );
    const chat = chats.body.chats.find((c) => c.customerId === chatting.customerId)!;
    assert.equal(
      (await d.call("POST", `/api/chats/${chat.id}/accept`, { token: owner.token })).status,
      200,
    );
    assert.deepEqual(
      [await sees(owner, chatting.customerId), await sees(colleague, chatting.customerId)],
      [true, false],
    );
  });
  await d.close();
});

Deno.test("[routes] signed-in pages and every API answer carry Cache-Control: no-store", async (t) => {
  const d = await testDesk();
  const admin = await d.person("admin");
  await closeBusiness(d);
  const ticket = await leaveMessage(d, "+27820000801");
  await t.step("API answers, errors included", async () => {
    for (
      const [method, path, token] of [
        ["GET", "/api/tickets", admin.token],
        ["GET", `/api/tickets/${ticket}`, admin.token],
        ["GET", "/api/agents/me", admin.token],
        ["GET", "/api/tickets/NOPE", admin.token],
        ["GET", "/api/tickets", undefined],
      ] as const
    ) {
      const res = await d.call(method, path, { token });
      await res.body?.cancel();
      assert.equal(res.headers.get("cache-control"), "no-store", `${method} ${path}`);
    }
    const session = await d.call("POST", "/api/session", {
      body: { email: admin.agent.email, password: PASSWORD },
    });
    await session.body?.cancel();
    assert.equal(session.headers.get("cache-control"), "no-store", "the token answer");
  });
  await t.step("signed-in pages, fragments and the live stream", async () => {
    for (
      const path of [
        "/tickets/unassigned",
        `/tickets/unassigned/${ticket}`,
        "/tickets/unassigned?part=list",
        "/chats",
        "/admin/agents",
        "/supervisor/queues",
      ]
    ) {
      const res = await page(d, admin.token, path);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("cache-control"), "no-store", path);
    }
    const events = await page(d, admin.token, "/events?view=unassigned");
    assert.equal(events.headers.get("cache-control"), "no-store", "/events");
    await events.body?.cancel();
  });
  await t.step("static assets stay cacheable", async () => {
    const html = await (await page(d, admin.token, "/tickets/unassigned")).text();
    const css = /href="(\/static\/[^"]+\.css[^"]*)"/.exec(html)![1];
    const res = await page(d, admin.token, css);
    await res.body?.cancel();
    assert.notEqual(res.headers.get("cache-control"), "no-store");
  });
  await d.close();
});

Deno.test("[domain] rule 30: new web chat visitors are counted per IPv6 /64, not per address", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const enabled = await d.json("PUT", "/api/channels/webchat", {
    token: admin.token,
    body: { enabled: true },
  });
  assert.equal(enabled.status, 200);
  // One customer network hands out a /64: ten addresses of it use up its hour.
  for (let i = 1; i <= 10; i++) await createVisitor(d.desk, `2001:db8:7:8::${i.toString(16)}`);
  await assert.rejects(
    () => createVisitor(d.desk, "2001:db8:7:8:ffff:ffff:ffff:ffff"),
    (e) => e instanceof TooManyRequests,
  );
  // A neighbouring /64 and an IPv4 client are other networks.
  await createVisitor(d.desk, "2001:db8:7:9::1");
  await createVisitor(d.desk, "192.0.2.7");
  await d.close();
});

Deno.test("[routes] names are one line: staff get a clear 400, providers' names are cleaned, nothing lost", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const hostile = ["Ana\u0000Silva", "Ana\u001b[31mRed", "Two\nLines", "Bell\u0007", "C1\u0085"];
  await t.step("agents, departments, canned reply titles: 400 naming the field", async () => {
    for (const name of hostile) {
      const agent = await d.json<{ error: { code: string; fields?: Record<string, string> } }>(
        "POST",
        "/api/agents",
        {
          token: admin.token,
          body: {
            name,
            email: `x${Math.random()}@t.local`,
            password: "password-123",
            role: "agent",
          },
        },
      );
      assert.equal(agent.status, 400, JSON.stringify(name));
      assert.equal(agent.body.error.code, "invalid_field");
      assert.ok(agent.body.error.fields?.name, "the form can show it next to the field");
      const dept = await d.json("POST", "/api/departments", { token: admin.token, body: { name } });
      assert.equal(dept.status, 400, JSON.stringify(name));
      const canned = await d.json("POST", "/api/canned-replies", {
        token: admin.token,
        body: { title: name, body: "Hello", department: null },
      });
      assert.equal(canned.status, 400, JSON.stringify(name));
    }
    // Nothing was half-stored.
    const agents = await d.json<{ agents: { name: string }[] }>("GET", "/api/agents", {
      token: admin.token,
    });
    assert.ok(agents.body.agents.every((a) => !/\p{Cc}/u.test(a.name)));
  });
  await t.step("an edited customer name too; a good one still saves", async () => {
    const { customerId } = await d.inbound({ channel: "sms", from: "+15550109999", text: "Hi" });
    for (const name of hostile) {
      const res = await d.json("PATCH", `/api/customers/${customerId}`, {
        token: admin.token,
        body: { name },
      });
      assert.equal(res.status, 400, JSON.stringify(name));
    }
    const ok = await d.json<{ name: string }>("PATCH", `/api/customers/${customerId}`, {
      token: admin.token,
      body: { name: "Zoë 🙂 O'Brien" },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.name, "Zoë 🙂 O'Brien");
  });
  await t.step("a gateway's sender name is made one line; the message is kept whole", async () => {
    const text = "line one\nline two\u0007";
    const res = await d.inbound({
      channel: "sms",
      from: "+15550108888",
      name: "Mal\u0000lory\n\u001b[1mBold",
      text,
    });
    const customer = await d.json<{ name: string }>("GET", `/api/customers/${res.customerId}`, {
      token: admin.token,
    });
    assert.equal(customer.body.name, "Mal lory [1mBold");
    const parsed = parseMetaWebhook(
      JSON.parse(JSON.stringify({
        object: "whatsapp_business_account",
        entry: [{
          id: "1",
          changes: [{
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "1555", phone_number_id: "42" },
              contacts: [{
                profile: { name: "\u202eSheena\u0000\tNelson\r\n" },
                wa_id: "27820000001",
              }],
              messages: [{
                from: "27820000001",
                id: "wamid.x",
                timestamp: "1749416383",
                type: "text",
                text: { body: "a\u0000b" },
              }],
            },
          }],
        }],
      })),
      "42",
    );
    assert.equal(parsed.messages[0].profileName, "\u202eSheena Nelson");
    assert.equal(parsed.messages[0].text, "a\u0000b", "the customer's words are kept as sent");
  });
  await d.close();
});

Deno.test("[routes] rule 48: a form post needs the desk's own scheme, host and port in Origin (else Referer)", async (t) => {
  const d = await testDesk({ providers: { publicUrl: "https://desk.example" } });
  try {
    const admin = await d.person("admin");
    const agent = await d.person("agent");
    const post = (path: string, headers: Record<string, string>, form: Record<string, string>) =>
      Promise.resolve(d.app.request(`${ORIGIN}${path}`, {
        method: "POST",
        headers: {
          accept: "text/html",
          cookie: `${SESSION_COOKIE}=${admin.token}`,
          "content-type": "application/x-www-form-urlencoded",
          ...headers,
        },
        body: new URLSearchParams(form).toString(),
      }));
    const refused: Record<string, string>[] = [
      { origin: "https://localhost" },
      { origin: "http://localhost:8080" },
      { origin: "http://localhost.evil.example" },
      { origin: "null" },
      { referer: "https://localhost/admin/agents" },
      { origin: "https://desk.example:8443" },
      {},
    ];

    await t.step("every page form refuses another scheme, port or host (403)", async () => {
      const forms = new Set<string>();
      for (const r of d.app.routes) {
        if (r.method !== "POST" || /^\/(api|webhooks|webchat)\//.test(r.path)) continue;
        forms.add(r.path.replaceAll(/:[A-Za-z]+/g, "x"));
      }
      assert.ok(forms.size >= 23, `${forms.size} page forms`);
      for (const path of forms) {
        for (const headers of refused) {
          const res = await post(path, headers, { next: "/tickets/unassigned" });
          assert.equal(res.status, 403, `${path} ${JSON.stringify(headers)}`);
          await res.body?.cancel();
        }
      }
    });

    await t.step(
      "pages ask browsers for Referrer-Policy same-origin, so our own forms carry our Origin",
      async () => {
        // With `no-referrer` a browser posts `Origin: null`, which this check refuses.
        for (const path of ["/login", "/tickets/unassigned"]) {
          const res = await d.call("GET", path, {
            headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${admin.token}` },
          });
          assert.equal(res.headers.get("referrer-policy"), "same-origin", path);
          await res.body?.cancel();
        }
      },
    );

    await t.step("making an agent admin from https://localhost changes nothing", async () => {
      const form = {
        name: agent.agent.name,
        email: agent.agent.email,
        role: "admin",
      };
      const res = await post(
        `/admin/agents/${agent.agent.id}`,
        { origin: "https://localhost" },
        form,
      );
      assert.equal(res.status, 403);
      assert.match(await res.text(), /sent from another site/);
      const after = await d.json<{ role: string }>("GET", `/api/agents/${agent.agent.id}`, {
        token: admin.token,
      });
      assert.equal(after.body.role, "agent");
    });

    await t.step(
      "the desk's own origin, a same-origin Referer and the public URL's origin pass",
      async () => {
        const accepted: Record<string, string>[] = [
          { origin: "http://localhost" },
          { origin: "http://localhost:80" },
          { referer: "http://localhost/chats?x=1" },
          { origin: "https://desk.example" },
          { referer: "https://desk.example/tickets/unassigned" },
        ];
        for (const headers of accepted) {
          const res = await post("/status", headers, { status: "online" });
          assert.equal(res.status, 303, JSON.stringify(headers));
          await res.body?.cancel();
        }
      },
    );
  } finally {
    await d.close();
  }
});
