/**
 * Rule 41's actions, each measured in sequential KV round trips with the real app on a KV Connect
 * store 90 ms away (tests/kv_connect_server.ts counts the rounds). The data is set up with no
 * delay; the delay and the counters are set just around each action. Used by
 * tests/round_trips_test.ts (which asserts the rule's limits) and bench/round_trips.ts (the table
 * in BENCHMARKS.md).
 */
import { type KvConnectServer, openKvConnect, startKvConnectServer } from "./kv_connect_server.ts";
import { INBOUND_TOKEN, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import type { Agent } from "../domain/types.ts";

export const DELAY_MS = 90;

export interface Measured {
  action: string;
  /** Sequential round trips (the server's `rounds`). */
  rounds: number;
  /** KV calls made (reads + writes). */
  calls: number;
  ms: number;
  /** The HTTP status the action was answered with. */
  status: number;
}

/** Rule 41's limit for each measured action. */
export const LIMITS: Record<string, number> = {
  "inbound: a new customer's first message": 2,
  "inbound: a later message in an open intake": 2,
  "agent reply: POST /api/tickets/:id/reply": 3,
  "agent reply: POST /api/chats/:id/messages": 3,
  "agent reply: POST /tickets/:id/reply (form)": 3,
  "agent reply: POST /chats/:id/messages (form)": 3,
  "queue page: an agent's first page on a running instance": 2,
  "queue page: GET /tickets/unassigned, 5 tickets": 2,
  "queue page: GET /tickets/unassigned, 50 tickets": 2,
  "ticket page: GET /tickets/assigned/:id": 3,
  "ticket page: a returning customer (past tickets and chats)": 3,
  "sign-in: POST /api/session": 3,
  "sign-in: POST /login (form)": 3,
  "Quick Accept of 10: POST /api/tickets/quick-accept": 12,
};

/** A desk on its own KV Connect server, and a way to time one action on it. */
export interface RoundTripDesk {
  t: TestDesk;
  server: KvConnectServer;
  /** Runs `action` with the delay on and the counters reset just around it. */
  measure(action: string, run: () => Promise<Response | number>): Promise<Measured>;
  close(): Promise<void>;
}

export async function roundTripDesk(): Promise<RoundTripDesk> {
  const server = await startKvConnectServer({ delayMs: 0 });
  const kv = await openKvConnect(server);
  const t = await testDesk({ kv });
  return {
    t,
    server,
    async measure(action, run) {
      server.delayMs = DELAY_MS;
      server.calls = { reads: 0, writes: 0, watches: 0 };
      server.rounds = 0;
      const started = performance.now();
      let status: number;
      try {
        const answer = await run();
        status = typeof answer === "number" ? answer : answer.status;
        if (typeof answer !== "number") await answer.body?.cancel();
      } finally {
        server.delayMs = 0;
      }
      const ms = performance.now() - started;
      const calls = server.calls.reads + server.calls.writes;
      return { action, rounds: server.rounds, calls, ms, status };
    },
    async close() {
      await t.close();
      kv.close();
      await server.close();
    },
  };
}

const ORIGIN = "http://localhost";

/** A page request as a signed-in browser makes it (the session cookie, HTML accepted). */
export function page(t: TestDesk, token: string, path: string): Promise<Response> {
  return Promise.resolve(
    t.app.request(path, {
      headers: { accept: "text/html", cookie: `chatdesk_session=${token}` },
    }),
  );
}

/** A form post from the desk's own pages. */
export function form(
  t: TestDesk,
  path: string,
  fields: Record<string, string>,
  token?: string,
): Promise<Response> {
  const headers: Record<string, string> = {
    accept: "text/html",
    origin: ORIGIN,
    "content-type": "application/x-www-form-urlencoded",
  };
  if (token) headers.cookie = `chatdesk_session=${token}`;
  return Promise.resolve(
    t.app.request(path, { method: "POST", headers, body: new URLSearchParams(fields).toString() }),
  );
}

/** Leaves `count` tickets in the Unassigned queue, from new WhatsApp customers. */
export async function leaveTickets(t: TestDesk, count: number, from = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) {
    ids.push(await leaveMessage(t, `+1555${String(100000 + i).padStart(7, "0")}`, [`hello ${i}`]));
  }
  return ids;
}

/** Every action of rule 41, measured on one desk, in the order a working day has them. */
export async function measureActions(): Promise<Measured[]> {
  const d = await roundTripDesk();
  const { t, measure } = d;
  const out: Measured[] = [];
  try {
    const sales = await t.department("Sales");
    const { agent, token } = await t.person("agent", { departments: [sales] });
    // Open hours, nobody online: a new customer is told so and may leave a message (rule 5).
    await leaveTickets(t, 5);

    // Inbound: a new customer's first message, then (after YES) a message in the intake.
    const customer = { channel: "whatsapp", from: "+15559990001" };
    const inbound = (text: string) =>
      t.call("POST", "/api/inbound", { token: INBOUND_TOKEN, body: { ...customer, text } });
    out.push(await measure("inbound: a new customer's first message", () => inbound("hi there")));
    await inbound("YES");
    out.push(
      await measure("inbound: a later message in an open intake", () => inbound("my order")),
    );
    await inbound("//end");

    // The queue page: the very first page a fresh instance serves cannot know the agent's
    // departments before reading them (one round more); every later one can.
    out.push(
      await measure(
        "queue page: the first page a fresh instance serves",
        () => page(t, token, "/tickets/unassigned"),
      ),
    );
    const other = await t.person("agent", { departments: [sales] });
    out.push(
      await measure(
        "queue page: an agent's first page on a running instance",
        () => page(t, other.token, "/tickets/unassigned"),
      ),
    );
    out.push(
      await measure(
        "queue page: GET /tickets/unassigned, 5 tickets",
        () => page(t, token, "/tickets/unassigned"),
      ),
    );
    await leaveTickets(t, 45, 5);
    out.push(
      await measure(
        "queue page: GET /tickets/unassigned, 50 tickets",
        () => page(t, token, "/tickets/unassigned"),
      ),
    );

    let accepted: string[] = [];
    out.push(
      await measure("Quick Accept of 10: POST /api/tickets/quick-accept", async () => {
        const res = await t.call("POST", "/api/tickets/quick-accept", {
          token,
          body: { count: 10 },
        });
        accepted = (await res.json()).accepted ?? [];
        return res.status;
      }),
    );
    if (accepted.length !== 10) throw new Error(`Quick Accept took ${accepted.length} of 10`);
    const [first, second] = accepted;

    out.push(
      await measure(
        "ticket page: GET /tickets/assigned/:id",
        () => page(t, token, `/tickets/assigned/${first}`),
      ),
    );

    out.push(
      await measure(
        "agent reply: POST /api/tickets/:id/reply",
        () =>
          t.call("POST", `/api/tickets/${second}/reply`, {
            token,
            body: { text: "Hello, we are on it." },
          }),
      ),
    );
    // The reply opened a live chat with the customer (rule 17).
    const live = await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=live", {
      token,
    });
    const chatId = live.body.chats[0]?.id;
    if (!chatId) throw new Error("the reply opened no live chat");
    out.push(
      await measure(
        "agent reply: POST /api/chats/:id/messages",
        () =>
          t.call("POST", `/api/chats/${chatId}/messages`, {
            token,
            body: { text: "Anything else?" },
          }),
      ),
    );

    out.push(
      await measure(
        "agent reply: POST /tickets/:id/reply (form)",
        () => form(t, `/tickets/${second}/reply`, { text: "One more thing." }, token),
      ),
    );
    out.push(
      await measure(
        "agent reply: POST /chats/:id/messages (form)",
        () => form(t, `/chats/${chatId}/messages`, { text: "Still there?" }, token),
      ),
    );

    // The customer comes back after its chat ended and its ticket closed: its panel lists both.
    await t.call("POST", `/api/chats/${chatId}/end`, { token });
    await t.call("POST", `/api/tickets/${second}/close`, { token });
    const { body: old } = await t.json<{ from: string }>("GET", `/api/tickets/${second}`, {
      token,
    });
    const again = await leaveMessage(t, old.from, ["me again"]);
    await t.call("POST", `/api/tickets/${again}/accept`, { token });
    out.push(
      await measure(
        "ticket page: a returning customer (past tickets and chats)",
        () => page(t, token, `/tickets/assigned/${again}`),
      ),
    );

    out.push(await measure("sign-in: POST /api/session", () => apiSignIn(t, agent)));
    out.push(
      await measure(
        "sign-in: POST /login (form)",
        () => form(t, "/login", { email: agent.email, password: "password-123" }),
      ),
    );
  } finally {
    await d.close();
  }
  return out;
}

function apiSignIn(t: TestDesk, agent: Agent): Promise<Response> {
  return t.call("POST", "/api/session", {
    body: { email: agent.email, password: "password-123" },
  });
}
