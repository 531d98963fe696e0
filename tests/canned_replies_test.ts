/** SPEC rule 34: canned replies, their department scoping, rendering and admin-only writes. */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import {
  fillPlaceholders,
  hasUnfilledPlaceholder,
  unfilledPlaceholders,
} from "../domain/canned_replies.ts";
import { leaveMessage, testDesk } from "./helpers.ts";

type Reply = { id: string; title: string; body: string; department: string | null };
type Rendered = { text: string; missing: string[] };

Deno.test("[domain] rule 34: placeholders are filled only when they have a value", async (t) => {
  await t.step("known values are filled; missing and unknown ones stay as typed", () => {
    const { text, missing } = fillPlaceholders(
      "Hi {{customer.name}}, {{ agent.name }} here about {{ticket.id}} ({{customer.email}}).",
      { "customer.name": null, "agent.name": "Ana", "ticket.id": "T1" },
    );
    assert.equal(text, "Hi {{customer.name}}, Ana here about T1 ({{customer.email}}).");
    assert.deepEqual(missing, ["customer.name", "customer.email"]);
  });
  await t.step("a placeholder typed twice is listed once", () => {
    const { missing } = fillPlaceholders("{{x}} and {{x}}", {});
    assert.deepEqual(missing, ["x"]);
  });
  await t.step("a text with a placeholder left cannot be sent; an edited one can", () => {
    assert.equal(hasUnfilledPlaceholder("Hi {{customer.name}}"), true);
    assert.deepEqual(unfilledPlaceholders("Hi {{customer.name}} {{ticket.id}}"), [
      "customer.name",
      "ticket.id",
    ]);
    assert.equal(hasUnfilledPlaceholder("Hi Thandi, braces { } are fine"), false);
  });
});

Deno.test("[routes] rule 34: canned replies", async (t) => {
  const d = await testDesk();
  const api = d.json;
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const admin = await d.person("admin");
  const supervisor = await d.person("supervisor");
  const ana = await d.person("agent", { departments: [sales], name: "Ana Agent" });
  const sam = await d.person("agent", { departments: [support], name: "Sam Support" });
  const loner = await d.person("agent", { name: "No Department" });

  const create = async (body: Record<string, unknown>) => {
    const res = await api<Reply>("POST", "/api/canned-replies", { token: admin.token, body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const greeting = await create({
    title: "Greeting",
    body: "Hi {{customer.name}}, this is {{agent.name}} about ticket {{ticket.id}}.",
    department: null,
  });
  const salesOnly = await create({ title: "Sales offer", body: "10% off.", department: sales });
  const supportOnly = await create({ title: "Reset", body: "Try a reset.", department: support });
  const unknown = await create({
    title: "Mail",
    body: "We will write to {{customer.email}}, {{ customer.name }}.",
    department: null,
  });

  // Business open, nobody online: each first message gets the YES/NO prompt (rule 4).
  const named = await leaveMessage(d, "+27820000501", ["hello"], {
    name: "Thandi",
    department: sales,
  });
  const unnamed = await leaveMessage(d, "+27820000502", ["hello"], { department: sales });
  const supportTicket = await leaveMessage(d, "+27820000503", ["help"], { department: support });

  const list = async (token: string, query = "") =>
    (await api<{ cannedReplies: Reply[] }>("GET", `/api/canned-replies${query}`, { token }))
      .body.cannedReplies.map((r) => r.title).sort();
  const render = (token: string, id: string, query: string) =>
    api<Rendered>("GET", `/api/canned-replies/${id}/render?${query}`, { token });

  await t.step("an admin's new reply answers {id, title, body, department}", () => {
    assert.deepEqual(Object.keys(salesOnly).sort(), ["body", "department", "id", "title"]);
    assert.equal(salesOnly.department, sales);
    assert.equal(greeting.department, null);
  });

  await t.step("an agent sees all-department replies and its own departments' only", async () => {
    assert.deepEqual(await list(ana.token), ["Greeting", "Mail", "Sales offer"]);
    assert.deepEqual(await list(sam.token), ["Greeting", "Mail", "Reset"]);
    assert.deepEqual(await list(loner.token), ["Greeting", "Mail"]);
  });

  await t.step("supervisors and admins see every reply", async () => {
    assert.deepEqual(await list(supervisor.token), ["Greeting", "Mail", "Reset", "Sales offer"]);
    assert.deepEqual(await list(admin.token), ["Greeting", "Mail", "Reset", "Sales offer"]);
  });

  await t.step("render fills the customer's name, the agent's name and the ticket id", async () => {
    const res = await render(ana.token, greeting.id, `ticketId=${named}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      text: `Hi Thandi, this is Ana Agent about ticket ${named}.`,
      missing: [],
    });
  });

  await t.step("a name that is only the address stays as typed and is listed", async () => {
    const res = await render(ana.token, greeting.id, `ticketId=${unnamed}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      text: `Hi {{customer.name}}, this is Ana Agent about ticket ${unnamed}.`,
      missing: ["customer.name"],
    });
  });

  await t.step("an unknown placeholder stays as typed and is listed", async () => {
    const res = await render(ana.token, unknown.id, `ticketId=${named}`);
    assert.deepEqual(res.body, {
      text: "We will write to {{customer.email}}, Thandi.",
      missing: ["customer.email"],
    });
  });

  await t.step("in a chat, the ticket id stays as typed and is listed", async () => {
    await setStatus(d.kv, ana.agent.id, "online");
    const chat = await d.inbound({
      channel: "whatsapp",
      from: "+27820000504",
      text: "anyone there?",
      name: "Lena",
      department: sales,
    });
    assert.equal(chat.conversation.state, "pending");
    const chats = await d.json<{ chats: { id: string; customerId: string }[] }>(
      "GET",
      "/api/chats?state=pending",
      { token: ana.token },
    );
    const chatId = chats.body.chats.find((c) => c.customerId === chat.customerId)!.id;
    const res = await render(ana.token, greeting.id, `chatId=${chatId}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      text: "Hi Lena, this is Ana Agent about ticket {{ticket.id}}.",
      missing: ["ticket.id"],
    });
    // Sam serves another department: this pending chat is not his to see (rule 23).
    assert.equal((await render(sam.token, greeting.id, `chatId=${chatId}`)).status, 404);
    await setStatus(d.kv, ana.agent.id, "offline");
  });

  await t.step("a ticket or chat the caller may not read is 404", async () => {
    assert.equal((await render(sam.token, greeting.id, `ticketId=${named}`)).status, 404);
    assert.equal((await render(ana.token, greeting.id, "ticketId=NOSUCHTICKET")).status, 404);
    assert.equal((await render(ana.token, greeting.id, "chatId=NOSUCHCHAT")).status, 404);
    // Another agent's assigned ticket is never readable (rule 23).
    await d.json("POST", `/api/tickets/${named}/accept`, { token: ana.token });
    const other = await d.person("agent", { departments: [sales] });
    assert.equal((await render(other.token, greeting.id, `ticketId=${named}`)).status, 404);
  });

  await t.step("a reply of another department is not offered: 404", async () => {
    assert.equal((await render(ana.token, supportOnly.id, `ticketId=${named}`)).status, 404);
    assert.equal((await render(sam.token, salesOnly.id, `ticketId=${supportTicket}`)).status, 404);
  });

  await t.step("the ticket's department's replies are offered in its context", async () => {
    // A supervisor hands Sam (support) a sales ticket: its sales replies are offered with it.
    const moved = await d.json("POST", `/api/tickets/${unnamed}/reassign`, {
      token: supervisor.token,
      body: { agentId: sam.agent.id },
    });
    assert.equal(moved.status, 200);
    assert.deepEqual(await list(sam.token, `?ticketId=${unnamed}`), [
      "Greeting",
      "Mail",
      "Reset",
      "Sales offer",
    ]);
    const res = await render(sam.token, salesOnly.id, `ticketId=${unnamed}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { text: "10% off.", missing: [] });
  });

  await t.step("writes are for admins: agents and supervisors get 403", async () => {
    const body = { title: "X", body: "Y", department: null };
    for (const who of [ana, supervisor]) {
      assert.equal(
        (await api("POST", "/api/canned-replies", { token: who.token, body })).status,
        403,
      );
      assert.equal(
        (await api("PUT", `/api/canned-replies/${greeting.id}`, { token: who.token, body })).status,
        403,
      );
      assert.equal(
        (await api("DELETE", `/api/canned-replies/${greeting.id}`, { token: who.token })).status,
        403,
      );
    }
    assert.equal((await api("GET", "/api/canned-replies")).status, 401);
    assert.deepEqual(await list(admin.token), ["Greeting", "Mail", "Reset", "Sales offer"]);
  });

  await t.step("an admin edits and deletes a reply", async () => {
    const edited = await api<Reply>("PUT", `/api/canned-replies/${salesOnly.id}`, {
      token: admin.token,
      body: { title: "Sales offer (all)", department: null },
    });
    assert.equal(edited.status, 200);
    assert.deepEqual(edited.body, {
      id: salesOnly.id,
      title: "Sales offer (all)",
      body: "10% off.",
      department: null,
    });
    assert.ok((await list(sam.token)).includes("Sales offer (all)"));
    const gone = await api("DELETE", `/api/canned-replies/${supportOnly.id}`, {
      token: admin.token,
    });
    assert.equal(gone.status, 204);
    assert.ok(!(await list(admin.token)).includes("Reset"));
    const again = await api("DELETE", `/api/canned-replies/${supportOnly.id}`, {
      token: admin.token,
    });
    assert.equal(again.status, 404);
  });

  await t.step("title ≤ 80, body ≤ 4,096 and an existing department are required", async () => {
    const refused = async (body: Record<string, unknown>) => {
      const res = await api<{ error: { code: string } }>("POST", "/api/canned-replies", {
        token: admin.token,
        body,
      });
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      return res.body.error.code;
    };
    await refused({ title: "x".repeat(81), body: "ok", department: null });
    await refused({ title: "", body: "ok", department: null });
    await refused({ title: "ok", body: "x".repeat(4097), department: null });
    await refused({ title: "ok", body: "   ", department: null });
    assert.equal(
      await refused({ title: "ok", body: "ok", department: "NOSUCHDEPARTMENT" }),
      "unknown_department",
    );
    await refused({ title: "ok", body: "ok", department: 7 });
    const longest = await api("POST", "/api/canned-replies", {
      token: admin.token,
      body: { title: "x".repeat(80), body: "y".repeat(4096), department: support },
    });
    assert.equal(longest.status, 201);
  });

  await d.close();
});

Deno.test("[routes] rule 34 is the reply box's: the JSON API sends braces as written", async (t) => {
  // SPEC rule 34 speaks of the reply box (offered, filled on insert, highlighted); the JSON API
  // is a stable contract (`{text}` → message) and integrators may send literal braces. They get
  // `missing` from the render call instead and decide themselves.
  const d = await testDesk();
  try {
    const ana = await d.person("agent", { name: "Ana Agent" });
    const ticketId = await leaveMessage(d, "+27820000504", ["hello"]);
    await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token });
    await t.step("a ticket reply with {{…}} is sent as typed (201), not refused", async () => {
      const text = "Use {{order.number}} in the template field.";
      const res = await d.json<{ text: string }>("POST", `/api/tickets/${ticketId}/reply`, {
        token: ana.token,
        body: { text },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.text, text);
    });
    await t.step("so is a chat message", async () => {
      const chatId = (await d.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=live", {
        token: ana.token,
      })).body.chats[0].id;
      const res = await d.json<{ text: string }>("POST", `/api/chats/${chatId}/messages`, {
        token: ana.token,
        body: { text: "Hi {{customer.name}}" },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.text, "Hi {{customer.name}}");
    });
  } finally {
    await d.close();
  }
});
