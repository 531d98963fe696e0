/**
 * SPEC rule 36: the customer profile, its edits, and the customer-ticket index; the customer's
 * chats, current and past, for the panel (the JSON profile keeps its shape).
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { HOUR, MINUTE } from "../domain/clock.ts";
import {
  CUSTOMER_TICKETS_PAGE,
  customerChats,
  customerProfile,
  indexCustomerTickets,
  THREAD_READ,
} from "../domain/customer_profile.ts";
import { NotFound } from "../domain/errors.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { closedTicket, newTicket, writeTicket } from "../domain/tickets.ts";
import type { Conversation, Customer, Ticket } from "../domain/types.ts";
import { leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

type Row = { id: string; status: string; createdAt: string; assignedTo: string | null };
type Profile = {
  id: string;
  channel: string;
  from: string;
  name: string;
  profileName: string | null;
  about: string;
  firstSeenAt: string;
  conversation: { state: string; chatId?: string };
  openTicketId: string | null;
  tickets: Row[];
  ticketsCursor: string | null;
  version: number;
};
type Failure = { error: { code: string; message: string } };

/** A closed ticket for a known customer, written as an old one would be (tests only). */
async function closedTicketFor(d: TestDesk, customer: Customer, at: number): Promise<Ticket> {
  // newTicket reads only these two fields of the conversation.
  const conversation = { department: null, firstText: "old" } as Conversation;
  const ticket = closedTicket(newTicket(conversation, customer, at), at, null, "admin");
  const op = d.kv.atomic();
  writeTicket(op, null, ticket, at);
  assert.ok((await op.commit()).ok);
  return ticket;
}

Deno.test("[routes] rule 36: the customer profile", async (t) => {
  const d = await testDesk();
  const api = d.json;
  const sales = await d.department("Sales");
  const support = await d.department("Support");
  const ana = await d.person("agent", { departments: [sales] });
  const sam = await d.person("agent", { departments: [support] });
  const supervisor = await d.person("supervisor");
  const firstSeen = d.clock.now();
  const first = await receiveInbound(d.desk, {
    channel: "whatsapp",
    from: "+27820000901",
    text: "hi",
    route: "meta",
    profileName: "Thandi",
    department: sales,
  });
  const customerId = first.customerId;
  await receiveInbound(d.desk, {
    channel: "whatsapp",
    from: "+27820000901",
    text: "yes",
    route: "meta",
  });
  await receiveInbound(d.desk, {
    channel: "whatsapp",
    from: "+27820000901",
    text: "//end",
    route: "meta",
  });
  const get = (token: string, query = "") =>
    api<Profile>("GET", `/api/customers/${customerId}${query}`, { token });
  const patch = (token: string, body: Record<string, unknown>) =>
    api<Profile & Failure>("PATCH", `/api/customers/${customerId}`, { token, body });

  await t.step(
    "it answers name, profileName, channel, address, first seen, about, tickets",
    async () => {
      const res = await get(ana.token);
      assert.equal(res.status, 200);
      const p = res.body;
      assert.equal(p.id, customerId);
      assert.equal(p.channel, "whatsapp");
      assert.equal(p.from, "+27820000901");
      assert.equal(p.name, "Thandi");
      assert.equal(p.profileName, "Thandi");
      assert.equal(p.about, "");
      assert.equal(p.firstSeenAt, new Date(firstSeen).toISOString());
      assert.deepEqual(p.conversation, { state: "ended" });
      assert.ok(p.openTicketId);
      assert.deepEqual(p.tickets, [{
        id: p.openTicketId,
        status: "unassigned",
        createdAt: new Date(firstSeen).toISOString(),
        assignedTo: null,
      }]);
      assert.equal(p.ticketsCursor, null);
      assert.equal(p.version, 1);
    },
  );

  await t.step("an agent who may not see the customer gets 404, also for PATCH", async () => {
    assert.equal((await get(sam.token)).status, 404);
    assert.equal((await patch(sam.token, { about: "hidden" })).status, 404);
    assert.equal(
      (await api("GET", "/api/customers/CNOSUCHCUSTOMER", { token: ana.token })).status,
      404,
    );
    assert.equal((await get(supervisor.token)).status, 200);
  });

  await t.step("PATCH edits about and name, bumping the version each time", async () => {
    const about = await patch(ana.token, { about: "Prefers mornings.", ifVersion: 1 });
    assert.equal(about.status, 200);
    assert.equal(about.body.about, "Prefers mornings.");
    assert.equal(about.body.version, 2);
    const named = await patch(ana.token, { name: "Thandi Nkosi" });
    assert.equal(named.body.name, "Thandi Nkosi");
    assert.equal(named.body.version, 3);
    const same = await patch(ana.token, { name: "Thandi Nkosi", about: "Prefers mornings." });
    assert.equal(same.body.version, 3, "nothing changed, nothing bumped");
    assert.equal((await get(ana.token)).body.version, 3);
  });

  await t.step("a stale ifVersion is 409 version_conflict and changes nothing", async () => {
    const stale = await patch(ana.token, { about: "Overwritten?", ifVersion: 2 });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, "version_conflict");
    assert.equal((await get(ana.token)).body.about, "Prefers mornings.");
  });

  await t.step("about ≤ 2,000 and name 1–100 characters", async () => {
    assert.equal((await patch(ana.token, { about: "x".repeat(2001) })).status, 400);
    assert.equal((await patch(ana.token, { name: "" })).status, 400);
    assert.equal((await patch(ana.token, { name: "   " })).status, 400);
    assert.equal((await patch(ana.token, { name: "x".repeat(101) })).status, 400);
    assert.equal((await patch(ana.token, { ifVersion: "3" })).status, 400);
    assert.equal((await patch(ana.token, { about: "y".repeat(2000) })).status, 200);
    assert.equal((await patch(ana.token, { about: "" })).body.about, "");
  });

  await t.step("an agent-edited name wins over a later provider profile name", async () => {
    const version = (await get(ana.token)).body.version;
    await receiveInbound(d.desk, {
      channel: "whatsapp",
      from: "+27820000901",
      text: "hello again",
      route: "meta",
      profileName: "New Name",
    });
    const p = (await get(ana.token)).body;
    assert.equal(p.name, "Thandi Nkosi");
    assert.equal(p.profileName, "New Name");
    assert.equal(p.version, version + 1, "the provider's change bumps the version too");
    const stale = await patch(ana.token, { about: "x", ifVersion: version });
    assert.equal(stale.status, 409);
  });

  await t.step("without an agent's edit, the provider's new profile name replaces it", async () => {
    const other = await receiveInbound(d.desk, {
      channel: "whatsapp",
      from: "+27820000902",
      text: "hi",
      route: "meta",
      profileName: "Old Name",
    });
    await receiveInbound(d.desk, {
      channel: "whatsapp",
      from: "+27820000902",
      text: "hi",
      route: "meta",
      profileName: "New Name",
    });
    const res = await api<Profile>("GET", `/api/customers/${other.customerId}`, {
      token: supervisor.token,
    });
    assert.equal(res.body.name, "New Name");
  });

  await t.step("tickets are listed even when the agent may not open them", async () => {
    const ticketId = (await get(ana.token)).body.openTicketId!;
    const bob = await d.person("agent", { departments: [sales] });
    assert.equal(
      (await d.json("POST", `/api/tickets/${ticketId}/accept`, { token: bob.token })).status,
      200,
    );
    // Bob's ticket was the only way Ana saw the customer (rule 23); a closed ticket is another.
    assert.equal((await get(ana.token)).status, 404);
    const customer = (await d.kv.get<Customer>(keys.customer(customerId))).value!;
    await closedTicketFor(d, customer, d.clock.now() - HOUR);
    const res = await get(ana.token);
    assert.equal(res.status, 200);
    const row = res.body.tickets.find((r) => r.id === ticketId)!;
    assert.deepEqual(row.assignedTo, bob.agent.id);
    assert.equal(row.status, "assigned");
    assert.equal(
      (await d.json("GET", `/api/tickets/${ticketId}`, { token: ana.token })).status,
      404,
    );
  });

  await d.close();
});

Deno.test("[routes] rule 36: a customer's tickets, newest first, 50 a page with a cursor", async (t) => {
  const d = await testDesk();
  const api = d.json;
  const supervisor = await d.person("supervisor");
  const { agent } = supervisor;
  const newest = await leaveMessage(d, "+27820001001", ["latest problem"], { name: "Marcus" });
  const state = await d.json<{ customerId: string }>("GET", `/api/tickets/${newest}`, {
    token: supervisor.token,
  });
  const customerId = state.body.customerId;
  const customer = (await d.kv.get<Customer>(keys.customer(customerId))).value!;
  // 50 older closed tickets of the same customer, one an hour back.
  const older: string[] = [];
  for (let i = 1; i <= 50; i++) {
    older.push((await closedTicketFor(d, customer, d.clock.now() - i * HOUR - 1)).id);
  }
  const all = [newest, ...older];

  await t.step("the API's page is 50, newest first, and its cursor gives the rest", async () => {
    assert.equal(CUSTOMER_TICKETS_PAGE, 50);
    const first = await api<Profile>("GET", `/api/customers/${customerId}`, {
      token: supervisor.token,
    });
    assert.equal(first.body.tickets.length, 50);
    assert.deepEqual(first.body.tickets.map((r) => r.id), all.slice(0, 50));
    assert.ok(first.body.ticketsCursor);
    const times = first.body.tickets.map((r) => Date.parse(r.createdAt));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    const rest = await api<Profile>(
      "GET",
      `/api/customers/${customerId}?cursor=${first.body.ticketsCursor}`,
      { token: supervisor.token },
    );
    assert.deepEqual(rest.body.tickets.map((r) => r.id), all.slice(50));
    assert.equal(rest.body.ticketsCursor, null);
  });

  await t.step("smaller pages walk every ticket once, in order", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await customerProfile(d.desk, agent, customerId, cursor, 7);
      assert.ok(page.tickets.length <= 7);
      seen.push(...page.tickets.map((r) => r.id));
      cursor = page.ticketsCursor;
    } while (cursor);
    assert.deepEqual(seen, all);
  });

  await t.step("a cursor that is not one is refused with 400", async () => {
    const res = await api(
      "GET",
      `/api/customers/${customerId}?cursor=${encodeURIComponent("a/b")}`,
      {
        token: supervisor.token,
      },
    );
    assert.equal(res.status, 400);
  });

  await d.close();
});

Deno.test("[domain] rule 36: existing tickets are indexed by customer at start (idempotent)", async (t) => {
  const d = await testDesk();
  const a = await leaveMessage(d, "+27820001101");
  const b = await leaveMessage(d, "+27820001102");
  await d.json("POST", `/api/tickets/${a}/close`, { token: (await d.person("admin")).token });
  const c = await leaveMessage(d, "+27820001101", ["again"]);
  const index = async () => {
    const pairs: string[] = [];
    for await (const e of d.kv.list<string>({ prefix: ["customer_tickets"] })) {
      assert.equal(e.key[2], e.value);
      pairs.push(`${String(e.key[1])}/${e.value}`);
    }
    return pairs.sort();
  };
  const tickets = async () => {
    const pairs: string[] = [];
    for await (const e of d.kv.list<Ticket>({ prefix: keys.tickets() })) {
      pairs.push(`${e.value.customerId}/${e.value.id}`);
    }
    return pairs.sort();
  };
  assert.equal((await tickets()).length, 3);
  assert.deepEqual((await tickets()).map((p) => p.split("/")[1]).sort(), [a, b, c].sort());

  await t.step("tickets stored before the index get their entries", async () => {
    // As stored by an older version: the index entries are missing.
    for (const e of await Array.fromAsync(d.kv.list<string>({ prefix: ["customer_tickets"] }))) {
      if (e.value !== b) await d.kv.delete(e.key);
    }
    assert.equal((await index()).length, 1);
    assert.equal(await indexCustomerTickets(d.kv), 2);
    assert.deepEqual(await index(), await tickets());
  });

  await t.step("running it again changes nothing", async () => {
    const before = await Array.fromAsync(d.kv.list({ prefix: ["customer_tickets"] }));
    assert.equal(await indexCustomerTickets(d.kv), 0);
    const after = await Array.fromAsync(d.kv.list({ prefix: ["customer_tickets"] }));
    assert.deepEqual(after.map((e) => e.versionstamp), before.map((e) => e.versionstamp));
    assert.deepEqual(await index(), await tickets());
  });

  await d.close();
});

Deno.test("[domain] the customer's chats: the current one and past ones, newest first", async (t) => {
  const d = await testDesk();
  try {
    const sales = await d.department("Sales");
    const support = await d.department("Support");
    const ana = await d.person("agent", { name: "Ana Silva", departments: [sales] });
    const carol = await d.person("agent", { name: "Carol", departments: [support] });
    const boss = await d.person("supervisor");
    const from = "+15550100500";
    const write = (text: string) => d.inbound({ channel: "sms", from, text, department: sales });
    const chatsOf = (agent = boss.agent, limit?: number) =>
      customerChats(d.desk, agent, customerId, limit);
    const pendingChat = async () =>
      (await d.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      )).body.chats.find((c) => c.customerId === customerId)!.id;

    // 1. A pending chat nobody takes becomes a ticket (rule 5).
    await setStatus(d.kv, ana.agent.id, "online");
    const customerId = (await write("anyone there?")).customerId;
    const unanswered = await pendingChat();
    await t.step("a pending chat is listed as current; rule 23 hides it from others", async () => {
      const { chats } = await chatsOf();
      assert.deepEqual(chats.map((c) => [c.id, c.state]), [[unanswered, "pending"]]);
      await assert.rejects(() => chatsOf(carol.agent), NotFound);
    });
    d.clock.advance(6 * MINUTE);
    await runDueSweeps(d.desk);
    const firstTicket = (await d.kv.get<string>(keys.openTicketByCustomer(customerId))).value!;

    // 2. A chat Ana takes, writes in and ends (no ticket: rule 7 closes the open one).
    await write("//end"); // the timeout left the customer adding to its ticket (rule 5)
    d.clock.advance(MINUTE);
    await write("me again");
    const talked = await pendingChat();
    await d.call("POST", `/api/chats/${talked}/accept`, { token: ana.token });
    d.clock.advance(MINUTE);
    await d.call("POST", `/api/chats/${talked}/messages`, {
      token: ana.token,
      body: { text: "Hello, Ana here." },
    });
    d.clock.advance(MINUTE);
    await d.call("POST", `/api/chats/${talked}/end`, { token: ana.token });

    // 3. Not a chat: out of agents, the customer leaves a message (YES, //end): a ticket.
    d.clock.advance(MINUTE);
    await setStatus(d.kv, ana.agent.id, "offline");
    await write("one more thing");
    const intake = await write("YES");
    await write("//end");

    // 4. Ana replies on that ticket: a chat from the ticket (rule 17), live now.
    d.clock.advance(MINUTE);
    await d.call("POST", `/api/tickets/${intake.ticketId}/accept`, { token: ana.token });
    await d.call("POST", `/api/tickets/${intake.ticketId}/reply`, {
      token: ana.token,
      body: { text: "About your message…" },
    });
    const fromTicket = (await d.json<{ conversation: { chatId: string } }>(
      "GET",
      `/api/customers/${customerId}`,
      { token: boss.token },
    )).body.conversation.chatId;

    await t.step("newest first: the live chat, then the past ones; intake is no chat", async () => {
      const { chats, more } = await chatsOf();
      assert.deepEqual(chats.map((c) => c.id), [fromTicket, talked, unanswered]);
      assert.equal(more, false);
      const [live, ended, timedOut] = chats;
      assert.equal(live.state, "live");
      assert.deepEqual(live.agentIds, [ana.agent.id]);
      assert.equal(live.ticket?.id, intake.ticketId, "started from its ticket");
      assert.equal(ended.state, "ended");
      assert.deepEqual(ended.agentIds, [ana.agent.id], "who wrote in it");
      assert.equal(ended.ticket, null, "an accepted chat joins no ticket");
      assert.equal(timedOut.state, "ended");
      assert.deepEqual(timedOut.agentIds, []);
      assert.equal(timedOut.ticket?.id, firstTicket, "rule 5: it became this ticket");
      assert.equal(timedOut.ticket?.status, "closed", "rule 7 closed it");
      assert.ok(ended.startedAt < live.startedAt && timedOut.startedAt < ended.startedAt);
      assert.ok(ended.lastMessageAt > ended.startedAt, "its last message came later");
    });

    await t.step("a smaller limit lists the newest and says there are more", async () => {
      const { chats, more } = await chatsOf(boss.agent, 2);
      assert.deepEqual(chats.map((c) => c.id), [fromTicket, talked]);
      assert.equal(more, true);
    });

    await t.step("the JSON profile keeps its shape: no chats in it", async () => {
      const res = await d.json<Record<string, unknown>>("GET", `/api/customers/${customerId}`, {
        token: boss.token,
      });
      assert.deepEqual(Object.keys(res.body).sort(), [
        "about",
        "channel",
        "conversation",
        "firstSeenAt",
        "from",
        "id",
        "name",
        "openTicketId",
        "optedOut",
        "optedOutAt",
        "profileName",
        "tickets",
        "ticketsCursor",
        "version",
      ]);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[domain] the chat list reads the thread in a few reads, however long each chat was", async () => {
  const d = await testDesk();
  try {
    const ana = await d.person("agent");
    const boss = await d.person("supervisor");
    await setStatus(d.kv, ana.agent.id, "online");
    const from = "+15550100600";
    const ids: string[] = [];
    let customerId = "";
    for (let round = 0; round < 3; round++) {
      customerId = (await d.inbound({ channel: "sms", from, text: `chat ${round}` })).customerId;
      const chat = (await d.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      )).body.chats.find((c) => c.customerId === customerId)!.id;
      ids.unshift(chat);
      await d.call("POST", `/api/chats/${chat}/accept`, { token: ana.token });
      // A long chat: 30 messages each way, all in the chat's own millisecond or later.
      for (let i = 0; i < 30; i++) {
        await d.inbound({ channel: "sms", from, text: `q${i}` });
        await d.call("POST", `/api/chats/${chat}/messages`, {
          token: ana.token,
          body: { text: `a${i}` },
        });
      }
      await d.call("POST", `/api/chats/${chat}/end`, { token: ana.token });
      d.clock.advance(MINUTE);
    }
    // Counts the thread reads and the entries they return (the thread holds 183 messages).
    let read = 0;
    let reads = 0;
    const kv = new Proxy(d.kv, {
      get(target, name) {
        const value = Reflect.get(target, name);
        if (name === "list") {
          return (...args: Parameters<Deno.Kv["list"]>) => {
            const entries = target.list(...args);
            if ((args[0] as { prefix: Deno.KvKey }).prefix[0] !== "customer_thread") return entries;
            reads++;
            return (async function* () {
              for await (const entry of entries) {
                read++;
                yield entry;
              }
            })();
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { chats, more } = await customerChats({ ...d.desk, kv }, boss.agent, customerId);
    assert.deepEqual(chats.map((c) => c.id), ids);
    assert.equal(more, false);
    // Rule 41: a read takes up to THREAD_READ entries and the next jumps below the last chat it
    // reached, so a long chat costs one read at most and short ones share one.
    assert.ok(reads <= 3, `${reads} thread reads for 3 chats of 61 messages each`);
    assert.ok(read <= reads * THREAD_READ, `${read} thread entries in ${reads} reads`);
  } finally {
    await d.close();
  }
});
