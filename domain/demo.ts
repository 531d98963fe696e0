/** Demo data for a first local start (`CHATDESK_DEMO=1`): real tickets made through the real paths. */
import { updateChannel } from "./channel_settings.ts";
import { createAgent, findAgentByEmail } from "./agents.ts";
import { createDepartment } from "./departments.ts";
import type { Desk } from "./desk.ts";
import { receiveInbound } from "./inbound.ts";
import { keys } from "./keys.ts";
import { createTemplate } from "./templates.ts";
import { acceptTicket, closeTicket } from "./tickets.ts";
import type { Channel } from "./types.ts";

export const DEMO_PASSWORD = "demo-pass-1";

const CUSTOMERS: [Channel, string, string, string[]][] = [
  ["whatsapp", "+27820000001", "Thandi Nkosi", [
    "Hi, my order #4411 has not arrived yet.",
    "It was due on Monday.",
  ]],
  ["sms", "+15550100002", "Marcus Reed", ["Can I change the delivery address for my parcel?"]],
  ["webchat", "visitor-7f3a", "Lena Fischer", [
    "The checkout page shows an error when I pay by card.",
  ]],
  ["whatsapp", "+447700900004", "Oliver Grant", [
    "I was charged twice for the same subscription.",
    "Please refund one.",
  ]],
  ["sms", "+15550100005", "Priya Shah", ["What are your opening hours on public holidays?"]],
  ["webchat", "visitor-91bc", "Diego Alvarez", ["How do I reset my password?"]],
  ["whatsapp", "+27820000007", "Naledi Dube", ["Is the blue jacket back in stock in size M?"]],
  ["webchat", "visitor-22de", "Sofia Rossi", [
    "<b>bold?</b> I typed this in the chat box, is that okay?",
  ]],
  ["sms", "+15550100009", "Hannah Lee", ["My voucher code SAVE10 is not working."]],
  ["whatsapp", "+27820000010", "Sipho Mthembu", ["Can someone call me back about my contract?"]],
];

/** The time the replay moves on after customer `i`: uneven, so tickets have different ages. */
const step = (i: number) => (2 + (i % 4)) * 3600_000 + 7 * 60_000 * i;
/** The replay ends this long before now, so every seeded time is in the past. */
const LAST_ACTION_AGO = 30 * 60_000;

/** Seeds departments, agents, a template and a dozen tickets into an empty store. Returns whether it did. */
export async function seedDemo(real: Desk): Promise<boolean> {
  // Tickets of different ages look like a real queue: the demo is replayed so that its last
  // step (the accepts and the close) lands half an hour ago, whatever the customer list adds to.
  const replay = CUSTOMERS.reduce((sum, _, i) => sum + step(i), 0);
  let at = real.clock.now() - replay - LAST_ACTION_AGO;
  const clock = { now: () => at };
  const desk: Desk = { ...real, clock };
  const { kv } = desk;
  for await (const _ of kv.list({ prefix: keys.tickets() }, { limit: 1 })) return false;
  if (await findAgentByEmail(kv, "ana@chatdesk.local")) return false;
  const sales = await createDepartment(kv, clock, { name: "Sales" });
  const support = await createDepartment(kv, clock, { name: "Support" });
  const ana = await createAgent(kv, clock, {
    name: "Ana Silva",
    email: "ana@chatdesk.local",
    password: DEMO_PASSWORD,
    role: "agent",
    departments: [support.id],
  });
  const ben = await createAgent(kv, clock, {
    name: "Ben Okafor",
    email: "ben@chatdesk.local",
    password: DEMO_PASSWORD,
    role: "agent",
    departments: [sales.id, support.id],
  });
  await createAgent(kv, clock, {
    name: "Sam Patel",
    email: "sam@chatdesk.local",
    password: DEMO_PASSWORD,
    role: "supervisor",
  });
  await createTemplate(kv, clock, {
    name: "follow_up",
    body:
      "Hello {{1}}, this is {{2}} from the support team following up on your message. Reply to continue.",
    language: "en",
  });
  const tickets: string[] = [];
  for (const [i, [channel, from, name, texts]] of CUSTOMERS.entries()) {
    const department = i % 3 === 0 ? sales.id : i % 3 === 1 ? support.id : undefined;
    // The store is fresh, so nobody is online: each customer gets the YES/NO prompt, answers YES.
    const route = "demo" as const;
    await receiveInbound(desk, { channel, from, name, text: texts[0], department, route });
    const yes = await receiveInbound(desk, { channel, from, name, text: "YES", route });
    for (const text of texts.slice(1)) {
      await receiveInbound(desk, { channel, from, name, text, route });
    }
    await receiveInbound(desk, { channel, from, name, text: "//end", route });
    if (yes.ticketId) tickets.push(yes.ticketId);
    at += step(i);
  }
  // The demo's way to play the customer is the web chat page: it starts enabled.
  await updateChannel(kv, "webchat", { enabled: true }, { clock, publicUrl: null });
  await acceptTicket(desk, ana, tickets[1]);
  await acceptTicket(desk, ben, tickets[3]);
  await acceptTicket(desk, ben, tickets[0]);
  await closeTicket(desk, ben, tickets[0]);
  return true;
}
