/**
 * Bench helpers: a real app over a file-backed KV in a temp dir, tickets written straight through
 * the domain (newTicket + writeTicket in batched atomic commits), and agents with sessions.
 */
import { createAgent } from "../domain/agents.ts";
import { systemClock } from "../domain/clock.ts";
import { Courier } from "../domain/delivery.ts";
import { parseConfig, providerConfig } from "../domain/config.ts";
import type { Desk } from "../domain/desk.ts";
import { newId } from "../domain/ids.ts";
import { signIn } from "../domain/sessions.ts";
import { updateSettings } from "../domain/settings.ts";
import { linkConversation, newTicket, writeTicket } from "../domain/tickets.ts";
import type { Agent, Channel } from "../domain/types.ts";
import { createApp } from "../routes/app.ts";
import { commitInBatches } from "./batched_commits.ts";
import { seededCustomer } from "./engine_lib.ts";

export const INBOUND_TOKEN = "bench-inbound-token-0123456789";

export interface BenchDesk {
  dir: string;
  kv: Deno.Kv;
  desk: Desk;
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

/** The real app on the system clock over a fresh file-backed store; the business is closed. */
export async function benchDesk(): Promise<BenchDesk> {
  const dir = await Deno.makeTempDir({ prefix: "chatdesk-bench-" });
  const kv = await Deno.openKv(`${dir}/desk.sqlite3`);
  const desk: Desk = { kv, clock: systemClock };
  const config = parseConfig({
    CHATDESK_KV_PATH: `${dir}/desk.sqlite3`,
    CHATDESK_ADMIN_EMAIL: "admin@bench.local",
    CHATDESK_INBOUND_TOKEN: INBOUND_TOKEN,
    CHATDESK_CLOCK: "system",
  });
  const app = createApp({
    desk,
    config,
    manualClock: null,
    inboundToken: INBOUND_TOKEN,
    courier: new Courier(desk, providerConfig(config)),
  });
  // Closed all week: a first message plus YES makes a ticket (rule 4, rule 2).
  await updateSettings(kv, { hours: { timeZone: "UTC", weekly: {}, closures: [] } });
  return {
    dir,
    kv,
    desk,
    app,
    async close() {
      kv.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

const CHANNELS: Channel[] = ["whatsapp", "sms", "webchat"];
const TEXTS = [
  "Hi, my order #4411 has not arrived yet, it was due on Monday.",
  "Can I change the delivery address for my parcel?",
  "The checkout page shows an error when I pay by card.",
  "I was charged twice for the same subscription, please refund one.",
  "What are your opening hours on public holidays?",
];

/**
 * Writes `count` unassigned tickets, oldest first, one minute apart ending now, as many per commit
 * as a commit's limits allow (bench/batched_commits.ts: 1,000 mutations, 10 checks, 800 KiB).
 */
export async function seedTickets(kv: Deno.Kv, count: number, end = Date.now()) {
  await commitInBatches(kv, count, (op, i) => {
    const at = end - (count - i) * 60_000;
    const channel = CHANNELS[i % CHANNELS.length];
    const from = channel === "webchat" ? `visitor-${100000 + i}` : `+2782${1000000 + i}`;
    const { customer, conversation } = seededCustomer(
      at,
      { id: newId(at), channel, from, name: `Customer ${i + 1}` },
      TEXTS[i % TEXTS.length],
    );
    const ticket = newTicket(conversation, customer, at);
    writeTicket(op, null, ticket, at);
    linkConversation(op, ticket.id, conversation.id);
  });
}

/** `count` agents, each signed in once (PBKDF2 makes each about 100 ms: reuse them). */
export async function seedAgents(
  desk: Desk,
  count: number,
): Promise<{ agent: Agent; token: string }[]> {
  const out: { agent: Agent; token: string }[] = [];
  for (let i = 0; i < count; i++) {
    const email = `bench${i}@bench.local`;
    const agent = await createAgent(desk.kv, desk.clock, {
      name: `Bench Agent ${i}`,
      email,
      password: "password-123",
      role: "agent",
      departments: [],
    });
    const { token } = await signIn(
      desk.kv,
      desk.clock,
      { email, password: "password-123" },
      `10.1.${Math.floor(i / 250)}.${i % 250}`,
    );
    out.push({ agent, token });
  }
  return out;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1));
  return sorted[i];
}

export const ms = (n: number) => `${n < 1 ? n.toFixed(3) : n.toFixed(1)} ms`;
