/** Real races on one KV store: Promise.all of concurrent accepts, quick accepts, inbound bursts, sweeps. */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { keys, NO_DEPARTMENT } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import type { Message, Ticket } from "../domain/types.ts";
import { CLOSED_TIME, leaveMessage, OPEN_TIME, testDesk } from "./helpers.ts";

/** Every stored message, by the key helper's own root (a renamed key cannot empty this list). */
const ALL_MESSAGES = keys.messages("any").slice(0, 1);

async function allTickets(kv: Deno.Kv): Promise<Ticket[]> {
  const out: Ticket[] = [];
  for await (const e of kv.list<Ticket>({ prefix: keys.tickets() })) out.push(e.value);
  return out;
}

Deno.test("[race] rule 14: ten agents accept the same ticket at once: exactly one wins", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const agents = await Promise.all(Array.from({ length: 10 }, () => d.person("agent")));
  for (let round = 0; round < 5; round++) {
    const id = await leaveMessage(d, `+2782001000${round}`);
    const results = await Promise.all(
      agents.map((a) =>
        d.json<{ assignedTo?: string; error?: { code: string } }>(
          "POST",
          `/api/tickets/${id}/accept`,
          { token: a.token },
        )
      ),
    );
    const winners = results.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `round ${round}`);
    assert.ok(
      results.filter((r) => r.status === 409).every((r) => r.body.error?.code === "ticket_taken"),
    );
    assert.equal(results.filter((r) => r.status === 409).length, 9);
    const ticket = (await d.kv.get<Ticket>(keys.ticket(id))).value!;
    assert.equal(ticket.assignedTo, winners[0].body.assignedTo);
  }
  await d.close();
});

Deno.test("[race] rule 15: concurrent quick accepts never assign a ticket twice", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  for (let i = 0; i < 40; i++) await leaveMessage(d, `+2782002${String(i).padStart(4, "0")}`);
  // Every department's Unassigned index, by the key helper's own root: it must find the 40
  // tickets first, or "nothing left" below would prove nothing.
  const unassignedRoot = keys.unassigned(NO_DEPARTMENT).slice(0, 1);
  const indexed = async () => {
    let n = 0;
    for await (const _ of d.kv.list({ prefix: unassignedRoot })) n++;
    return n;
  };
  assert.equal(await indexed(), 40, "the Unassigned prefix does not find the waiting tickets");
  const agents = await Promise.all(Array.from({ length: 6 }, () => d.person("agent")));
  const results = await Promise.all(
    agents.map((a) =>
      d.json<{ accepted: string[] }>("POST", "/api/tickets/quick-accept", {
        token: a.token,
        body: { count: 10 },
      })
    ),
  );
  const accepted = results.flatMap((r) => r.body.accepted);
  assert.equal(new Set(accepted).size, accepted.length, "a ticket was handed to two agents");
  assert.equal(accepted.length, 40);
  const tickets = await allTickets(d.kv);
  for (const [i, r] of results.entries()) {
    for (const id of r.body.accepted) {
      assert.equal(tickets.find((t) => t.id === id)!.assignedTo, agents[i].agent.id);
    }
  }
  // Indexes agree with records: nothing left in Unassigned, each agent's Assigned count is right.
  assert.equal(await indexed(), 0, "an accepted ticket is still indexed as unassigned");
  for (const [i, a] of agents.entries()) {
    const count = (await d.kv.get<Deno.KvU64>(keys.countAssigned(a.agent.id))).value?.value ?? 0n;
    assert.equal(Number(count), results[i].body.accepted.length);
  }
  await d.close();
});

Deno.test("[race] rule 6: a burst of concurrent messages from one customer: one conversation, one ticket, nothing lost", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const from = "+27820030000";
  await d.inbound({ channel: "whatsapp", from, text: "hi" });
  // Concurrent YES answers and messages: one intake opens, every message is stored once.
  const texts = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? "yes" : `part ${i}`));
  await Promise.all(
    texts.map((text, i) => d.inbound({ channel: "whatsapp", from, text, id: `burst-${i}` })),
  );
  const tickets = await allTickets(d.kv);
  assert.equal(tickets.length, 1, "a second ticket was created");
  const messages: Message[] = [];
  for await (const e of d.kv.list<Message>({ prefix: ALL_MESSAGES })) messages.push(e.value);
  const inbound = messages.filter((m) => m.direction === "in").map((m) => m.text);
  assert.equal(inbound.length, 31);
  for (const text of texts.filter((x) => x !== "yes")) {
    assert.equal(inbound.filter((x) => x === text).length, 1);
  }
  await d.close();
});

Deno.test("[race] rule 6: many customers' pending chats timing out under concurrent sweeps make one ticket each", async () => {
  const d = await testDesk({ at: OPEN_TIME });
  const { agent } = await d.person("agent");
  await setStatus(d.kv, agent.id, "online");
  const froms = Array.from({ length: 12 }, (_, i) => `+2782004${String(i).padStart(4, "0")}`);
  // Half already have an open ticket: their timed-out chat must merge, not make a second one.
  await setStatus(d.kv, agent.id, "offline");
  for (const from of froms.slice(0, 6)) await leaveMessage(d, from);
  await setStatus(d.kv, agent.id, "online");
  d.clock.advance(60 * 60_000);
  await Promise.all(
    froms.map((from) => d.inbound({ channel: "whatsapp", from, text: "chat please" })),
  );
  d.clock.advance(5 * 60_000);
  await Promise.all([runDueSweeps(d.desk), runDueSweeps(d.desk), runDueSweeps(d.desk)]);
  const tickets = await allTickets(d.kv);
  assert.equal(tickets.length, 12);
  assert.equal(new Set(tickets.map((t) => t.customerId)).size, 12);
  await d.close();
});

Deno.test("[race] a provider retrying one message id concurrently stores it once", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  const body = { channel: "sms", from: "+15550050000", text: "only once", id: "provider-msg-1" };
  const results = await Promise.all(Array.from({ length: 8 }, () => d.inbound(body)));
  const messages: Message[] = [];
  for await (const e of d.kv.list<Message>({ prefix: ALL_MESSAGES })) messages.push(e.value);
  assert.equal(messages.filter((m) => m.text === "only once").length, 1);
  assert.equal(
    results.filter((r) => r.replies.length > 0).length,
    1,
    "the auto-responder was sent more than once",
  );
  assert.equal(new Set(results.map((r) => r.customerId)).size, 1);
  await d.close();
});

Deno.test("[race] two KV handles on one file: accepts still have one winner", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/race.sqlite3`;
  const a = await testDesk({ at: CLOSED_TIME, path });
  const b = await testDesk({ at: CLOSED_TIME, path });
  const alice = await a.person("agent");
  const bob = await a.person("agent");
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(await leaveMessage(a, `+2782006000${i}`));
  const results = await Promise.all(ids.flatMap((id) => [
    a.json("POST", `/api/tickets/${id}/accept`, { token: alice.token }),
    b.json("POST", `/api/tickets/${id}/accept`, { token: bob.token }),
  ]));
  for (let i = 0; i < ids.length; i++) {
    const statuses = [results[2 * i].status, results[2 * i + 1].status].sort();
    assert.deepEqual(statuses, [200, 409]);
  }
  await a.close();
  await b.close();
  await Deno.remove(dir, { recursive: true });
});
