/** A fresh desk per test: its own in-memory KV, a manual clock, the real app, and API shortcuts. */
import { createAgent } from "../domain/agents.ts";
import { ManualClock } from "../domain/clock.ts";
import {
  type Config,
  DEFAULT_TWILIO_API_BASE,
  DEFAULT_WHATSAPP_API_BASE,
} from "../domain/config.ts";
import { createDepartment } from "../domain/departments.ts";
import { type Desk, type StoreKind, storeKind } from "../domain/desk.ts";
import { openKvConnect, startKvConnectServer } from "./kv_connect_server.ts";
import { signIn } from "../domain/sessions.ts";
import { updateSettings } from "../domain/settings.ts";
import type { Agent, Channel, Conversation, Customer, Message, Role } from "../domain/types.ts";
import { customerIdFor, newId } from "../domain/ids.ts";
import { kindOfMime, storeUpload } from "../domain/attachments.ts";
import { addOutbound } from "../domain/messages.ts";
import { keys } from "../domain/keys.ts";
import { createApp } from "../routes/app.ts";
import { Courier } from "../domain/delivery.ts";
import { MediaFetcher } from "../domain/media_fetch.ts";
import { KvFileStore } from "../domain/file_store.ts";
import type { ProviderConfig } from "../domain/providers/provider.ts";

export const INBOUND_TOKEN = "test-inbound-token-0123456789";
/** A Wednesday, 10:00 UTC: open under the default Mon–Fri 09:00–17:00 UTC hours. */
export const OPEN_TIME = Date.parse("2026-11-25T10:00:00Z");
/** The same Wednesday at 20:00 UTC: closed. */
export const CLOSED_TIME = Date.parse("2026-11-25T20:00:00Z");

export interface CallOptions {
  token?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

export interface TestDesk {
  kv: Deno.Kv;
  clock: ManualClock;
  desk: Desk;
  app: ReturnType<typeof createApp>;
  courier: Courier;
  /** Rule 49: the fetcher of customers' files (its store: `media.files`). */
  media: MediaFetcher;
  /** Calls the app like a client; `token` goes in Authorization: Bearer. */
  call(method: string, path: string, opts?: CallOptions): Promise<Response>;
  /** Calls and parses JSON; asserts nothing. */
  json<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts?: CallOptions,
  ): Promise<{ status: number; body: T }>;
  inbound(body: Record<string, unknown>): Promise<InboundAnswer>;
  /** Creates an agent (or supervisor/admin) and signs it in. */
  person(
    role: Role,
    opts?: { departments?: string[]; name?: string },
  ): Promise<{ agent: Agent; token: string }>;
  department(name: string): Promise<string>;
  /** A fresh token for an agent made by person() (sessions expire on the manual clock too). */
  signIn(agent: Agent): Promise<string>;
  close(): Promise<void>;
}

export interface InboundAnswer {
  customerId: string;
  conversation: { state: string };
  ticketId: string | null;
  replies: {
    id: string;
    text: string;
    delivery: {
      status: string;
      attempts: number;
      providerId?: string;
      error?: { code: string; message: string };
      updatedAt: string;
    };
  }[];
}

let people = 0;

export interface TestDeskOptions {
  at?: number;
  path?: string;
  /** Provider API bases, public URL and timeout (tests point them at fake providers). */
  providers?: Partial<ProviderConfig>;
  /** Start deliveries right after each commit, like main.ts does (its courier's kick). */
  listen?: boolean;
  /** A store already opened (e.g. a KV Connect one); `close()` then leaves it open. */
  kv?: Deno.Kv;
}

/**
 * The store the tests' desks use: `CHATDESK_TEST_STORE=kv-connect` runs the same tests with each
 * desk's store behind its own KV Connect server (Deno's remote client, as on Deno Deploy: rule 37).
 */
const TEST_STORE = Deno.env.get("CHATDESK_TEST_STORE") ?? "memory";
if (TEST_STORE !== "memory" && TEST_STORE !== "kv-connect") {
  throw new Error(`CHATDESK_TEST_STORE must be "memory" or "kv-connect", not "${TEST_STORE}"`);
}

interface TestStore {
  kv: Deno.Kv;
  kind: StoreKind;
  close(): Promise<void>;
}

/** A fresh store: the file given, else memory or a KV Connect server as CHATDESK_TEST_STORE says. */
export async function openTestStore(path?: string): Promise<TestStore> {
  if (path !== undefined || TEST_STORE === "memory") {
    const kv = await Deno.openKv(path ?? ":memory:");
    return { kv, kind: storeKind(path ?? ":memory:"), close: () => Promise.resolve(kv.close()) };
  }
  const server = await startKvConnectServer();
  const kv = await openKvConnect(server);
  return {
    kv,
    kind: "remote",
    async close() {
      kv.close();
      await server.close();
    },
  };
}

export async function testDesk(opts: TestDeskOptions = {}): Promise<TestDesk> {
  const store: TestStore = opts.kv
    ? { kv: opts.kv, kind: "remote", close: () => Promise.resolve() }
    : await openTestStore(opts.path);
  const { kv } = store;
  const clock = new ManualClock(opts.at ?? OPEN_TIME);
  const desk: Desk = { kv, clock, storeKind: store.kind };
  const providers: ProviderConfig = {
    publicUrl: "http://127.0.0.1:8000",
    whatsappApiBase: "http://127.0.0.1:9",
    twilioApiBase: "http://127.0.0.1:9",
    timeoutMs: 2_000,
    ...opts.providers,
  };
  const courier = new Courier(desk, providers);
  const media = new MediaFetcher(desk, new KvFileStore(kv), providers);
  // Like main.ts: deliveries start right after the commit (the due entry is the durable way).
  if (opts.listen) desk.kick = (id, likely) => void courier.deliver(id, likely).catch(() => {});
  // Like main.ts: customers' files are fetched right after the webhook's commit.
  desk.fetchMedia = (id) => media.kick(id);
  const config: Config = {
    port: 0,
    hostname: "127.0.0.1",
    kvPath: ":memory:",
    adminEmail: "admin@test.local",
    adminPassword: null,
    inboundToken: INBOUND_TOKEN,
    clock: "manual",
    demo: false,
    publicUrl: providers.publicUrl,
    whatsappApiBase: DEFAULT_WHATSAPP_API_BASE,
    twilioApiBase: DEFAULT_TWILIO_API_BASE,
    providerTimeoutMs: 10_000,
  };
  const app = createApp({
    desk,
    config,
    manualClock: clock,
    inboundToken: INBOUND_TOKEN,
    courier,
    media,
  });
  const call: TestDesk["call"] = (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const body = method === "GET"
      ? undefined
      : o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (body !== undefined) headers["content-type"] ??= "application/json";
    return Promise.resolve(app.request(path, { method, headers, body }));
  };
  const json: TestDesk["json"] = async (method, path, o) => {
    const res = await call(method, path, o);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return {
    kv,
    clock,
    desk,
    app,
    call,
    json,
    async inbound(body) {
      const res = await call("POST", "/api/inbound", { token: INBOUND_TOKEN, body });
      if (res.status !== 200) throw new Error(`inbound refused ${res.status}: ${await res.text()}`);
      return await res.json();
    },
    async person(role, o = {}) {
      const n = ++people;
      const email = `${role}${n}@test.local`;
      const agent = await createAgent(kv, clock, {
        name: o.name ?? `${role} ${n}`,
        email,
        password: "password-123",
        role,
        departments: o.departments ?? [],
      });
      const { token } = await signIn(
        kv,
        clock,
        { email, password: "password-123" },
        `10.0.0.${n % 250}`,
      );
      return { agent, token };
    },
    async signIn(agent) {
      return (await signIn(kv, clock, { email: agent.email, password: "password-123" }, "10.0.1.1"))
        .token;
    },
    async department(name) {
      return (await createDepartment(kv, clock, { name })).id;
    },
    courier,
    media,
    async close() {
      await Promise.all([courier.stop(0), media.stop(2_000)]);
      await store.close();
    },
  };
}

/** A customer leaves a message out of hours: first message, YES, extra messages, //end. Returns the ticket id. */
export async function leaveMessage(
  t: TestDesk,
  from: string,
  texts: string[] = ["hello"],
  extra: Record<string, unknown> = {},
) {
  const base = { channel: "whatsapp", from, ...extra };
  await t.inbound({ ...base, text: texts[0] });
  const yes = await t.inbound({ ...base, text: "YES" });
  for (const text of texts.slice(1)) await t.inbound({ ...base, text });
  await t.inbound({ ...base, text: "//end" });
  return yes.ticketId!;
}

/**
 * A ticket left out of hours whose intake is still open: `texts[0]`, YES, then the rest. Later
 * messages from `customer` join it (rule 1). Returns the ticket's id.
 */
export async function intakeTicket(
  t: TestDesk,
  customer: Record<string, unknown>,
  texts: string[],
): Promise<string> {
  await t.inbound({ ...customer, text: texts[0] });
  const yes = await t.inbound({ ...customer, text: "YES" });
  for (const text of texts.slice(1)) await t.inbound({ ...customer, text });
  return yes.ticketId!;
}

/** Closes the business so every new conversation asks YES/NO. */
export async function closeBusiness(t: TestDesk) {
  await updateSettings(t.kv, { hours: { timeZone: "UTC", weekly: {}, closures: [] } });
}

/** Waits until `condition` holds (polled every 10 ms); throws after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The customer's record, its conversation and that conversation's messages, read from the store. */
export async function customerOf(t: TestDesk, channel: Channel, from: string) {
  const id = await customerIdFor(channel, from);
  const [customer, conversation] = await t.kv.getMany<[Customer, Conversation]>([
    keys.customer(id),
    keys.conversation(id),
  ]);
  const messages: Message[] = [];
  if (conversation.value) {
    const prefix = keys.messages(conversation.value.id);
    for await (const e of t.kv.list<Message>({ prefix })) messages.push(e.value);
  }
  return {
    id,
    customer: customer.value,
    conversation: conversation.value,
    inbound: messages.filter((m) => m.direction === "in"),
    outbound: messages.filter((m) => m.direction === "out"),
  };
}

/**
 * A file the desk sent into a conversation, written as an agent's reply writes one (rule 51):
 * stored in the desk's file store, then an outbound message carrying it (and `fields`, e.g. a
 * place or a caption), delivered in the answer like a web chat reply. `filename` replaces the
 * cleaned name (a hostile one, to test what shows it). Answers the message.
 */
export async function sentFile(
  t: TestDesk,
  to: { conversationId: string; customerId: string },
  file: File,
  fields: Partial<Message> = {},
  filename?: string,
): Promise<Message> {
  const at = t.clock.now();
  const attachment = await storeUpload(t.media.files, file, {
    id: newId(at),
    kind: kindOfMime(file.type),
    mime: file.type,
    maxBytes: 16 * 1024 * 1024,
    at,
  });
  const op = t.kv.atomic();
  const sent = addOutbound(op, { ...to, route: "webchat" }, at, "in_answer", {
    author: "system",
    text: "",
    ...fields,
    attachments: [filename === undefined ? attachment : { ...attachment, filename }],
  });
  if (!(await op.commit()).ok) throw new Error("the file's message was not written");
  return sent;
}

/** A desk out of hours with web chat on for any site (rules 30, 52). */
export async function webchatDesk(): Promise<TestDesk> {
  const d = await testDesk({ at: CLOSED_TIME });
  const admin = await d.person("admin");
  const res = await d.json("PUT", "/api/channels/webchat", {
    token: admin.token,
    body: { enabled: true, allowedOrigins: [] },
  });
  if (res.status !== 200) throw new Error(`web chat not turned on: ${JSON.stringify(res.body)}`);
  return d;
}
