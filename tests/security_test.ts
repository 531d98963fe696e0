/** Hardening found in review: cookie-free API, redirects, oversized ids, non-form bodies, hidden tickets. */
import assert from "node:assert/strict";
import { safeNext } from "../routes/page_auth.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { CLOSED_TIME, leaveMessage, testDesk } from "./helpers.ts";

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

Deno.test("[routes] redirect targets stay on our own site", () => {
  assert.equal(safeNext("/tickets/assigned?q=x#top"), "/tickets/assigned?q=x#top");
  for (
    const bad of [
      "//evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "/\\evil.example",
      "https://evil.example",
      "evil",
      "/login?next=/x",
    ]
  ) {
    assert.equal(safeNext(bad), "/tickets/unassigned", JSON.stringify(bad));
  }
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
