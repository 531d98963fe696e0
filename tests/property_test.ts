/** Property test: random inbound messages, agent actions and clock moves keep the desk's invariants. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { setStatus } from "../domain/agents.ts";
import { keys } from "../domain/keys.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import type { Conversation, Message, Ticket, TicketEvent } from "../domain/types.ts";
import { OPEN_TIME, testDesk } from "./helpers.ts";

const CUSTOMERS = ["+27820070001", "+27820070002", "+27820070003"];
const WORDS = ["hi", "yes", "YES ", "no", "//end", "text"] as const;

type Action =
  | { kind: "inbound"; customer: number; word: (typeof WORDS)[number]; retry: boolean }
  | { kind: "accept"; agent: number; pick: number }
  | { kind: "quickAccept"; agent: number; count: number }
  | { kind: "close"; agent: number; pick: number }
  | { kind: "reply"; agent: number; pick: number }
  | { kind: "status"; agent: number; online: boolean }
  | { kind: "acceptChat"; agent: number }
  | { kind: "advance"; minutes: number }
  | { kind: "sweep" };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("inbound" as const),
      customer: fc.nat(2),
      word: fc.constantFrom(...WORDS),
      retry: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("accept" as const),
      agent: fc.nat(1),
      pick: fc.nat(5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("quickAccept" as const),
      agent: fc.nat(1),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("close" as const),
      agent: fc.nat(2),
      pick: fc.nat(5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reply" as const),
      agent: fc.nat(1),
      pick: fc.nat(5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("status" as const),
      agent: fc.nat(1),
      online: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("acceptChat" as const), agent: fc.nat(1) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      minutes: fc.constantFrom(1, 4, 6, 11, 60 * 8),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("sweep" as const) }) },
);

const LEGAL_NEXT: Record<TicketEvent["action"], TicketEvent["action"][]> = {
  created: ["merged", "accepted", "reassigned", "closed", "replied"],
  merged: ["merged", "accepted", "reassigned", "closed", "replied"],
  accepted: ["merged", "reassigned", "closed", "replied"],
  reassigned: ["merged", "accepted", "reassigned", "closed", "replied"],
  replied: ["merged", "reassigned", "closed", "replied"],
  closed: ["archived"],
  archived: [],
};

async function checkInvariants(kv: Deno.Kv, sent: Map<string, number>) {
  const tickets: Ticket[] = [];
  for await (const e of kv.list<Ticket>({ prefix: keys.tickets() })) tickets.push(e.value);
  const openByCustomer = new Map<string, string[]>();
  for (const t of tickets) {
    if (t.status === "unassigned" || t.status === "assigned") {
      openByCustomer.set(t.customerId, [...(openByCustomer.get(t.customerId) ?? []), t.id]);
    }
    // Legal state.
    if (t.status === "assigned") assert.ok(t.assignedTo, `ticket ${t.id}: assigned to nobody`);
    if (t.status === "unassigned") {
      assert.equal(t.assignedTo, null, `ticket ${t.id}: unassigned but has an assignee`);
    }
    assert.equal(
      t.status === "closed" || t.status === "archived",
      t.closedAt !== null,
      `ticket ${t.id}: closedAt vs status`,
    );
    // Legal history.
    assert.equal(t.history[0].action, "created");
    for (let i = 1; i < t.history.length; i++) {
      assert.ok(
        LEGAL_NEXT[t.history[i - 1].action].includes(t.history[i].action),
        `ticket ${t.id}: ${t.history[i - 1].action} → ${t.history[i].action}`,
      );
      assert.ok(t.history[i].at >= t.history[i - 1].at);
    }
    // Indexes agree with the record.
    const inUnassigned =
      (await kv.get(keys.unassigned(t.department ?? "none", t.id))).value !== null;
    assert.equal(inUnassigned, t.status === "unassigned", `ticket ${t.id}: unassigned index`);
    if (t.assignedTo) {
      assert.equal(
        (await kv.get(keys.assigned(t.assignedTo, t.id))).value !== null,
        t.status === "assigned",
      );
    }
  }
  // Counters agree with the records.
  const count = async (key: Deno.KvKey) =>
    Number((await kv.get<Deno.KvU64>(key)).value?.value ?? 0n);
  assert.equal(
    await count(keys.count("unassigned", "none")),
    tickets.filter((t) => t.status === "unassigned").length,
    "unassigned count",
  );
  assert.equal(
    await count(keys.countClosed()),
    tickets.filter((t) => t.status === "closed").length,
    "closed count",
  );
  for (const agentId of new Set(tickets.map((t) => t.assignedTo).filter((a) => a !== null))) {
    assert.equal(
      await count(keys.countAssigned(agentId)),
      tickets.filter((t) => t.status === "assigned" && t.assignedTo === agentId).length,
    );
  }
  // At most one open ticket per customer, and the pointer names it.
  for (const [customerId, ids] of openByCustomer) {
    assert.equal(ids.length, 1, `customer ${customerId} has ${ids.length} open tickets`);
    assert.equal((await kv.get<string>(keys.openTicketByCustomer(customerId))).value, ids[0]);
  }
  // Every running timer has its entry in the due index, no later than its deadline.
  for await (const e of kv.list<Conversation>({ prefix: ["conversations"] })) {
    const c = e.value;
    if (c.state === "ended" || c.deadline === null) continue;
    assert.ok(
      c.dueAt !== null && c.dueAt <= c.deadline,
      `conversation ${c.id}: due ${c.dueAt} after deadline ${c.deadline}`,
    );
    assert.ok(
      (await kv.get(keys.due(c.dueAt, "conversation", c.customerId))).value,
      `conversation ${c.id} has no due entry`,
    );
  }
  // Every accepted inbound message is stored exactly once.
  const stored = new Map<string, number>();
  for await (const e of kv.list<Message>({ prefix: ["messages"] })) {
    if (e.value.direction === "in") stored.set(e.value.text, (stored.get(e.value.text) ?? 0) + 1);
  }
  for (const [text, n] of sent) {
    assert.equal(
      stored.get(text) ?? 0,
      n,
      `message "${text}" stored ${stored.get(text) ?? 0}×, sent ${n}×`,
    );
  }
}

Deno.test("[property] random sequences keep one open ticket per customer, every message once, legal histories", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 35 }), async (actions) => {
      const d = await testDesk({ at: OPEN_TIME });
      try {
        const people = [
          await d.person("agent"),
          await d.person("agent"),
          await d.person("supervisor"),
        ];
        // Start with one agent online so pending chats (rules 3, 5, 7) happen from the first message.
        await setStatus(d.kv, people[0].agent.id, "online");
        const sent = new Map<string, number>();
        let n = 0;
        run++;
        for (const a of actions) {
          const ticketIds: string[] = [];
          for await (const e of d.kv.list<Ticket>({ prefix: keys.tickets() })) {
            ticketIds.push(e.value.id);
          }
          const pick = (i: number) => ticketIds[i % Math.max(1, ticketIds.length)];
          switch (a.kind) {
            case "inbound": {
              // Unique texts for ordinary messages so "stored once" can be counted; commands keep their text.
              const text = a.word === "text" ? `r${run}-m${n++}` : a.word;
              const id = `r${run}-p${n++}`;
              await d.inbound({ channel: "whatsapp", from: CUSTOMERS[a.customer], text, id });
              if (a.retry) {
                await d.inbound({ channel: "whatsapp", from: CUSTOMERS[a.customer], text, id });
              }
              if (a.word === "text") sent.set(text, 1);
              break;
            }
            case "accept":
              if (ticketIds.length) {
                await d.call("POST", `/api/tickets/${pick(a.pick)}/accept`, {
                  token: people[a.agent].token,
                });
              }
              break;
            case "quickAccept":
              await d.call("POST", "/api/tickets/quick-accept", {
                token: people[a.agent].token,
                body: { count: a.count },
              });
              break;
            case "close":
              if (ticketIds.length) {
                await d.call("POST", `/api/tickets/${pick(a.pick)}/close`, {
                  token: people[a.agent].token,
                });
              }
              break;
            case "reply":
              if (ticketIds.length) {
                await d.call("POST", `/api/tickets/${pick(a.pick)}/reply`, {
                  token: people[a.agent].token,
                  body: { text: "reply" },
                });
              }
              break;
            case "status":
              await setStatus(d.kv, people[a.agent].agent.id, a.online ? "online" : "offline");
              break;
            case "acceptChat": {
              const res = await d.json<{ chats: { id: string }[] }>(
                "GET",
                "/api/chats?state=pending",
                { token: people[a.agent].token },
              );
              if (res.body.chats[0]) {
                await d.call("POST", `/api/chats/${res.body.chats[0].id}/accept`, {
                  token: people[a.agent].token,
                });
              }
              break;
            }
            case "advance":
              d.clock.advance(a.minutes * 60_000);
              for (const p of people) p.token = await d.signIn(p.agent);
              break;
            case "sweep":
              await runDueSweeps(d.desk);
              break;
          }
          await checkInvariants(d.kv, sent);
        }
      } finally {
        await d.close();
      }
    }),
    { numRuns: 30 },
  );
});
