/**
 * A fixed-seed fuzz of every JSON route: fast-check draws calls to every `/api/*` route of the
 * app's route table (≥ 2,000 requests in all), mostly well formed and by a caller who may make
 * them, sometimes malformed, by the wrong caller or with a made-up id. No call may fail with a
 * 5xx, and afterwards the store must keep its invariants: counters equal the lists they count,
 * one open ticket per customer, no ticket in two queues (each in exactly the one its status names).
 *
 * `deno task soak` (`CHATDESK_SOAK=1`) runs 40 runs of 500 calls (20,000 requests) with a random
 * seed it prints; `CHATDESK_SOAK_SEED=<seed>` replays one (tests/soak.ts).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { keys, NO_DEPARTMENT } from "../domain/keys.ts";
import { startSession } from "../domain/sessions.ts";
import type { Agent, Ticket } from "../domain/types.ts";
import { CLOSED_TIME, INBOUND_TOKEN, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { bySoak, soakSeed } from "./soak.ts";

const SEED = soakSeed("fuzz", 20261125);
const RUNS = bySoak(7, 40);
const CALLS_PER_RUN = bySoak(300, 500);
/** The fewest requests a run of the test makes in all. */
const MIN_REQUESTS = bySoak(2_000, 20_000);
const CUSTOMERS = [
  "+27820090001",
  "+27820090002",
  "+27820090003",
  "+27820090004",
  "+15550090005",
  "+15550090006",
];
const WORDS = ["hello", "yes", " YES ", "no", "//end", "more text", "x".repeat(300)];
const CALLERS = ["anonymous", "inbound", "agentA", "agentB", "supervisor", "admin"] as const;
type Caller = (typeof CALLERS)[number];
const PASSWORD = "password-123";

/** Every /api route of the app, as Hono lists it (`METHOD /path/:param`). */
function apiRoutes(app: TestDesk["app"]): string[] {
  const seen = new Set<string>();
  for (const r of app.routes) {
    if (r.method !== "ALL" && r.path.startsWith("/api/")) seen.add(`${r.method} ${r.path}`);
  }
  return [...seen].sort();
}

/**
 * How often a route is drawn: the ticket and chat flow more than the admin screens, and the two
 * routes that run the password key derivation (about 30 ms each) least.
 */
function weight(route: string): number {
  if (route === "POST /api/inbound") return 24;
  if (/\/api\/(tickets|chats)/.test(route)) return 8;
  if (route === "PUT /api/agents/me/status" || route === "POST /api/test/clock") return 6;
  if (route === "POST /api/session" || route === "POST /api/agents") return 1;
  if (route === "PUT /api/agents/me/password" || route === "POST /api/inbound-token") return 1;
  return 2;
}

interface Call {
  route: number;
  /** The caller who may make the call, or `any` caller. */
  fit: boolean;
  any: Caller;
  /** A well-formed body for the route, or `junk`. */
  valid: boolean;
  junk: unknown;
  /** Picks among existing ids, customers, words and choices. */
  pick: number;
  /** A made-up id instead of an existing one. */
  madeUp: boolean;
}

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record({ text: fc.string({ maxLength: 50 }), count: fc.integer({ min: -5, max: 500 }) }),
  fc.record({ status: fc.string({ maxLength: 10 }), agentId: fc.option(fc.string()) }),
  fc.constant(undefined),
);

const callOf = (routes: number[]): fc.Arbitrary<Call> =>
  fc.record({
    route: fc.constantFrom(...routes),
    fit: fc.nat(4).map((n) => n !== 0),
    any: fc.constantFrom(...CALLERS),
    valid: fc.nat(5).map((n) => n !== 0),
    junk,
    pick: fc.nat(1000),
    madeUp: fc.nat(7).map((n) => n === 0),
  });

interface World {
  d: TestDesk;
  sales: string;
  tokens: Record<Caller, string>;
  agents: Record<"agentA" | "agentB" | "supervisor" | "admin", Agent>;
}

/** Who may make a call: the inbound token, an admin, a supervisor, or any agent. */
function fitCaller(route: string, pick: number): Caller {
  if (route === "POST /api/inbound-token") return "admin";
  if (route.startsWith("POST /api/inbound")) return "inbound";
  if (
    /\/api\/(agents|departments|settings|channels|test)/.test(route) && !route.includes("/me") ||
    /(POST|PUT|DELETE) \/api\/templates/.test(route)
  ) return "admin";
  if (/\/api\/(stats|transcripts)|reassign/.test(route)) return pick % 2 ? "supervisor" : "admin";
  return (["agentA", "agentA", "agentB", "supervisor", "admin"] as const)[pick % 5];
}

async function validBody(w: World, route: string, pick: number, ids: Ids): Promise<unknown> {
  const one = <T>(list: readonly T[]) => list[pick % list.length];
  const some = async (kind: keyof Ids) => {
    const found = await ids[kind]();
    return found.length ? one(found) : "x";
  };
  switch (route) {
    case "POST /api/inbound":
      return {
        channel: pick % 7 === 0 ? "sms" : "whatsapp",
        from: one(CUSTOMERS),
        text: one(WORDS),
        ...(pick % 3 === 0 ? { id: `p${pick % 20}` } : {}),
        ...(pick % 4 === 0 ? { department: w.sales } : {}),
      };
    case "POST /api/inbound/status":
      return { id: await some("messages"), status: "delivered" };
    case "POST /api/session":
      return { email: w.agents.agentA.email, password: pick % 2 ? PASSWORD : "wrong-pass" };
    case "POST /api/tickets/quick-accept":
      return { count: 1 + pick % 5 };
    case "POST /api/tickets/:id/reply":
      return pick % 4 === 0
        ? { template: await some("templates"), params: ["x"] }
        : { text: "We are on it" };
    case "POST /api/tickets/:id/reassign":
      return { agentId: one([w.agents.agentA.id, w.agents.agentB.id, null]) };
    case "POST /api/chats/:id/messages":
      return { text: "Hello from the desk" };
    case "PUT /api/agents/me/status":
      return { status: pick % 3 === 0 ? "offline" : "online" };
    case "PUT /api/agents/me/password":
      return { currentPassword: PASSWORD, newPassword: `${PASSWORD}-${pick}` };
    case "POST /api/agents":
      return { name: "New", email: `n${pick}@test.local`, password: PASSWORD, role: "agent" };
    case "PUT /api/agents/:id":
      return one([{ name: "Renamed" }, { departments: [w.sales] }, { active: true }, {
        role: "agent",
      }]);
    case "POST /api/departments":
      return { name: `Dept ${pick}` };
    case "PUT /api/departments/:id":
      return { name: `Renamed ${pick}` };
    case "POST /api/templates":
      return { name: `t${pick}`, body: "Hello {{1}}" };
    case "PUT /api/templates/:id":
      return { body: "Changed {{1}}" };
    case "PUT /api/settings":
      return one([{ timeouts: { pendingMinutes: 1 + pick % 9 } }, {
        hours: { timeZone: "UTC", weekly: { mon: [["00:00", "24:00"]] }, closures: [] },
      }, { texts: { outOfHours: "Closed." } }]);
    case "PUT /api/channels/webchat":
      return { enabled: pick % 2 === 0, title: "Chat" };
    case "PUT /api/channels/api":
      return { webhookUrl: "https://gateway.example/hook", secret: "s".repeat(24) };
    case "PUT /api/channels/twilio":
      return { accountSid: `AC${"0".repeat(32)}`, fromNumber: "+15550001111" };
    case "PUT /api/channels/whatsapp":
      return { phoneNumberId: "123456", verifyToken: "verify-token-1" };
    case "POST /api/test/clock":
      return { advanceMs: one([60_000, 6 * 60_000, 11 * 60_000, 13 * 3600_000]) };
    default:
      return {};
  }
}

type Ids = Record<
  "tickets" | "customers" | "chats" | "messages" | "departments" | "templates" | "agents",
  () => Promise<string[]>
>;

/** The ids that exist now, per kind of `:param` (each kind read only when asked for). */
function existing(w: World): Ids {
  const cache = new Map<keyof Ids, Promise<string[]>>();
  const list = (kind: keyof Ids, prefix: Deno.KvKey) => {
    let found = cache.get(kind);
    if (!found) {
      cache.set(
        kind,
        found = (async () => {
          const out: string[] = [];
          for await (const e of w.d.kv.list({ prefix }, { limit: 80 })) out.push(String(e.key[1]));
          return out;
        })(),
      );
    }
    return found;
  };
  return {
    tickets: () => list("tickets", keys.tickets()),
    customers: () => list("customers", keys.customer("x").slice(0, 1)),
    chats: () => list("chats", keys.chat("x").slice(0, 1)),
    messages: () => list("messages", keys.messageById("x").slice(0, 1)),
    departments: () => list("departments", keys.departments()),
    templates: () => list("templates", keys.templates()),
    // Admin edits land on agent B only, so the fuzz keeps its admin and supervisor.
    agents: () => Promise.resolve([w.agents.agentB.id]),
  };
}

function paramKind(route: string): keyof Ids {
  for (
    const [prefix, kind] of [
      ["/api/tickets/", "tickets"],
      ["/api/customers/", "customers"],
      ["/api/chats/", "chats"],
      ["/api/messages/", "messages"],
      ["/api/departments/", "departments"],
      ["/api/templates/", "templates"],
      ["/api/agents/", "agents"],
    ] as const
  ) if (route.includes(prefix)) return kind;
  return "tickets";
}

const QUERIES: Record<string, string[]> = {
  "GET /api/tickets": [
    "?queue=unassigned",
    "?queue=assigned",
    "?queue=closed&closedByMe=1",
    "?sort=oldest&q=yes&channel=whatsapp",
    "?cursor=zz",
  ],
  "GET /api/chats": ["?state=pending", "?state=live", "?state=x"],
  "GET /api/transcripts": ["?format=csv", "?format=json&from=2026-01-01", "?format=xml"],
};

async function checkInvariants(kv: Deno.Kv) {
  const tickets: Ticket[] = [];
  for await (const e of kv.list<Ticket>({ prefix: keys.tickets() })) tickets.push(e.value);
  assert.ok(tickets.length > 0, "the fuzz made no tickets: the invariants below would be vacuous");
  const count = async (key: Deno.KvKey) =>
    Number((await kv.get<Deno.KvU64>(key)).value?.value ?? 0n);
  const where = new Map<string, string[]>();
  /** The ticket ids in a queue, each noted where it was found. */
  const queue = async (prefix: Deno.KvKey, name: string) => {
    const ids: string[] = [];
    for await (const e of kv.list<string>({ prefix })) {
      ids.push(e.value);
      where.set(e.value, [...(where.get(e.value) ?? []), name]);
    }
    return ids;
  };
  const dept = (t: Ticket) => t.department ?? NO_DEPARTMENT;

  const departments = new Set(tickets.map(dept));
  for await (const e of kv.list({ prefix: keys.unassigned("x").slice(0, 1) })) {
    departments.add(String(e.key[1]));
  }
  for (const d of departments) {
    const ids = await queue(keys.unassigned(d), `unassigned/${d}`);
    const records = tickets.filter((t) => t.status === "unassigned" && dept(t) === d);
    assert.equal(await count(keys.count("unassigned", d)), ids.length, `unassigned ${d}: counter`);
    assert.equal(ids.length, records.length, `unassigned ${d}: list vs records`);
  }
  const agents = new Set(tickets.flatMap((t) => t.assignedTo ? [t.assignedTo] : []));
  for await (const e of kv.list({ prefix: keys.assigned("x").slice(0, 1) })) {
    agents.add(String(e.key[1]));
  }
  for (const a of agents) {
    const ids = await queue(keys.assigned(a), `assigned/${a}`);
    const records = tickets.filter((t) => t.status === "assigned" && t.assignedTo === a);
    assert.equal(await count(keys.countAssigned(a)), ids.length, `assigned ${a}: counter`);
    assert.equal(ids.length, records.length, `assigned ${a}: list vs records`);
  }
  const closed = await queue(keys.closed(), "closed");
  assert.equal(await count(keys.countClosed()), closed.length, "closed: counter");
  assert.equal(closed.length, tickets.filter((t) => t.status === "closed").length, "closed list");
  await queue(keys.archived(), "archived");

  for (const t of tickets) {
    const expected = t.status === "unassigned"
      ? `unassigned/${dept(t)}`
      : t.status === "assigned"
      ? `assigned/${t.assignedTo}`
      : t.status;
    assert.deepEqual(where.get(t.id) ?? [], [expected], `ticket ${t.id} (${t.status}): queues`);
  }
  const open = new Map<string, string[]>();
  for (const t of tickets) {
    if (t.status === "unassigned" || t.status === "assigned") {
      open.set(t.customerId, [...(open.get(t.customerId) ?? []), t.id]);
    }
  }
  for (const [customerId, ids] of open) {
    assert.equal(ids.length, 1, `customer ${customerId} has ${ids.length} open tickets`);
    assert.equal((await kv.get<string>(keys.openTicketByCustomer(customerId))).value, ids[0]);
  }
  for await (const e of kv.list<string>({ prefix: keys.openTicketByCustomer("x").slice(0, 1) })) {
    const t = tickets.find((x) => x.id === e.value);
    assert.ok(t && (t.status === "unassigned" || t.status === "assigned"), `stale pointer`);
  }
  return tickets;
}

Deno.test("[property] a fixed-seed fuzz of every JSON route keeps the store's invariants", async (t) => {
  let requests = 0;
  const serverErrors: string[] = [];
  const covered = new Set<string>();
  const succeeded = new Set<string>();
  const statuses = new Map<string, number>();
  const probe = await testDesk();
  const routes = apiRoutes(probe.app);
  await probe.close();
  const weighted = routes.flatMap((r, i) => Array<number>(weight(r)).fill(i));

  await t.step(`${RUNS} runs × ${CALLS_PER_RUN} calls over ${routes.length} routes`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(callOf(weighted), { minLength: CALLS_PER_RUN, maxLength: CALLS_PER_RUN }),
        async (calls) => {
          const d = await testDesk({ at: CLOSED_TIME });
          try {
            const sales = await d.department("Sales");
            const people = {
              agentA: await d.person("agent", { departments: [sales] }),
              agentB: await d.person("agent"),
              supervisor: await d.person("supervisor"),
              admin: await d.person("admin"),
            };
            const w: World = {
              d,
              sales,
              tokens: {
                anonymous: "",
                inbound: INBOUND_TOKEN,
                agentA: people.agentA.token,
                agentB: people.agentB.token,
                supervisor: people.supervisor.token,
                admin: people.admin.token,
              },
              agents: {
                agentA: people.agentA.agent,
                agentB: people.agentB.agent,
                supervisor: people.supervisor.agent,
                admin: people.admin.agent,
              },
            };
            let signedAt = d.clock.now();
            const resign = async (who: Caller) => {
              if (who === "anonymous" || who === "inbound") return;
              // A deactivated agent B stays out (its password would only be checked in vain).
              const agent = (await d.kv.get<Agent>(keys.agent(w.agents[who].id))).value;
              if (!agent?.active) return void (w.tokens[who] = "");
              // Straight to a session: the fuzz is about the routes, not about key derivation.
              w.tokens[who] = (await startSession(d.kv, d.clock, agent)).token;
            };
            for (const c of calls) {
              // Sessions last 12 h of the (moving) desk clock: sign in again well before.
              if (d.clock.now() - signedAt > 10 * 3600_000) {
                for (const who of CALLERS) await resign(who);
                signedAt = d.clock.now();
              }
              const route = routes[c.route];
              const method = route.slice(0, route.indexOf(" "));
              let path = route.slice(route.indexOf(" ") + 1);
              const ids = await existing(w);
              if (path.includes(":")) {
                const pool = await ids[paramKind(route)]();
                const id = c.madeUp || pool.length === 0
                  ? ["nope", "X".repeat(26), "%00", "..%2f"][c.pick % 4]
                  : pool[c.pick % pool.length];
                path = path.replace(/:[a-zA-Z]+/g, id);
              }
              const queries = QUERIES[route];
              if (queries) path += queries[c.pick % queries.length];
              const caller = c.fit ? fitCaller(route, c.pick) : c.any;
              const res = await d.call(method, path, {
                token: w.tokens[caller] || undefined,
                body: method === "GET"
                  ? undefined
                  : c.valid
                  ? await validBody(w, route, c.pick, ids)
                  : c.junk,
              });
              if (route === "POST /api/inbound-token" && res.status === 201) {
                // Rule 58: the rotated token is the gateway's from now on.
                w.tokens.inbound = (await res.json() as { token: string }).token;
              } else await res.body?.cancel();
              requests++;
              covered.add(route);
              if (res.status < 300) succeeded.add(route);
              statuses.set(`${res.status}`, (statuses.get(`${res.status}`) ?? 0) + 1);
              if (res.status >= 500) {
                serverErrors.push(`${method} ${path} as ${caller}: ${res.status}`);
              }
              // Whoever signed out or lost its session (agent B's edits) signs in again.
              if (route === "DELETE /api/session" || res.status === 401) await resign(caller);
            }
            await checkInvariants(d.kv);
          } finally {
            await d.close();
          }
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });
  await t.step("no call failed with a server error", () => {
    assert.deepEqual(serverErrors, []);
  });
  await t.step(`at least ${MIN_REQUESTS} requests reached every JSON route`, () => {
    assert.ok(requests >= MIN_REQUESTS, `${requests} requests`);
    assert.deepEqual(routes.filter((r) => !covered.has(r)), [], "routes never called");
  });
  await t.step("most routes also answered with success at least once", () => {
    const never = routes.filter((r) => !succeeded.has(r));
    assert.ok(never.length <= routes.length / 5, `never succeeded: ${never.join(", ")}`);
  });
  const byStatus = [...statuses].sort(([a], [b]) => a.localeCompare(b));
  console.log(
    `fuzz: seed ${SEED}, ${RUNS} runs × ${CALLS_PER_RUN} calls, ${requests} requests; ` +
      byStatus.map(([status, n]) => `${status}: ${n}`).join(", "),
  );
});

Deno.test("[property] the fuzz's invariant check catches a broken counter and a ticket listed in a second queue", async () => {
  const d = await testDesk({ at: CLOSED_TIME });
  try {
    const id = await leaveMessage(d, "+27820090099");
    await checkInvariants(d.kv);
    await d.kv.atomic().sum(keys.countClosed(), 1n).commit();
    await assert.rejects(() => checkInvariants(d.kv), /closed: counter/);
    await d.kv.atomic().sum(keys.countClosed(), 0xffffffffffffffffn).commit();
    await checkInvariants(d.kv);
    await d.kv.set(keys.closed(CLOSED_TIME, id), id);
    await assert.rejects(() => checkInvariants(d.kv), /closed/);
  } finally {
    await d.close();
  }
});
