/**
 * Several real `main.ts` instances on one store behind a KV Connect server, as Deno Deploy runs
 * the desk (rules 37–41): a gateway on the API channel counts what customers receive.
 */
import assert from "node:assert/strict";
import { FakeProvider, type Responder } from "./fake_provider.ts";
import { freePort, type MainProcess, startMain } from "./main_process.ts";
import { type KvConnectServer, startKvConnectServer } from "./kv_connect_server.ts";

export const INBOUND = "edge-inbound-token-0123456789";
export const ADMIN = { email: "boss@edge.local", password: "boss-password-1" };

export interface Instance {
  base: string;
  process: MainProcess;
}

export interface Sent {
  id: string;
  customerId: string;
  at: number;
}

export class EdgeCluster {
  instances: (Instance | null)[] = [];
  admin = "";
  /** The desk's customer id of each address that wrote. */
  customerOf = new Map<string, string>();

  private constructor(readonly store: KvConnectServer, readonly gateway: FakeProvider) {}

  /** A KV Connect store (with `delayMs` per call) and a gateway answering with `responder`. */
  static async start(responder: Responder, delayMs = 0): Promise<EdgeCluster> {
    const store = await startKvConnectServer({ delayMs });
    return new EdgeCluster(store, FakeProvider.start(responder));
  }

  /** Starts instance `i` (again, after a kill) and waits until it listens. */
  async launch(i: number, env: Record<string, string> = {}): Promise<Instance> {
    const port = freePort();
    const process = startMain({
      PORT: String(port),
      CHATDESK_KV_PATH: this.store.url,
      DENO_KV_ACCESS_TOKEN: this.store.token,
      CHATDESK_CLOCK: "system",
      CHATDESK_DEMO: "0",
      CHATDESK_ADMIN_EMAIL: ADMIN.email,
      CHATDESK_ADMIN_PASSWORD: ADMIN.password,
      CHATDESK_INBOUND_TOKEN: INBOUND,
      CHATDESK_PROVIDER_TIMEOUT_MS: "2000",
      ...env,
    });
    await process.ready;
    const instance = { base: `http://127.0.0.1:${port}`, process };
    this.instances[i] = instance;
    return instance;
  }

  /** Signs the admin in, points the API channel at the gateway, and closes the business. */
  async setUp() {
    const session = await this.call(0, "POST", "/api/session", "", ADMIN);
    assert.equal(session.status, 200, JSON.stringify(session.body));
    this.admin = (session.body as { token: string }).token;
    const channel = await this.call(0, "PUT", "/api/channels/api", this.admin, {
      webhookUrl: `${this.gateway.url}/hook`,
      secret: "edge-secret",
      enabled: true,
    });
    assert.equal(channel.status, 200, JSON.stringify(channel.body));
    const hours = await this.call(0, "PUT", "/api/settings", this.admin, {
      hours: { timeZone: "UTC", weekly: {}, closures: [] },
    });
    assert.equal(hours.status, 200);
  }

  async call(i: number, method: string, path: string, token: string, body?: unknown) {
    const instance = this.instances[i];
    if (!instance) throw new Error(`instance ${i} is not running`);
    const res = await fetch(instance.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) as unknown : null };
  }

  /**
   * A customer writes through instance `i`; returns the ids of the replies it was sent. Like a
   * provider, a delivery cut by a killed instance is sent again with the same message id to an
   * instance that is up (the desk stores it once and answers the repeat with the same replies).
   */
  async inbound(i: number, from: string, text: string): Promise<string[]> {
    const body = { channel: "sms", from, text, id: `in-${crypto.randomUUID()}` };
    for (let attempt = 0;; attempt++) {
      const up = this.instances.flatMap((x, n) => x ? [n] : []);
      const target = this.instances[i] ? i : up[attempt % Math.max(1, up.length)];
      try {
        const res = await this.call(target, "POST", "/api/inbound", INBOUND, body);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const answer = res.body as { customerId: string; replies: { id: string }[] };
        this.customerOf.set(from, answer.customerId);
        return answer.replies.map((r) => r.id);
      } catch (error) {
        if (attempt >= 20 || error instanceof assert.AssertionError) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * The replies the desk stored for a customer, in the order written (the source of truth when an
   * answer was lost with a killed instance and its repeat was answered without them).
   */
  async storedReplies(from: string): Promise<string[]> {
    const up = this.instances.findIndex((x) => x);
    const res = await this.call(
      up,
      "GET",
      `/api/customers/${this.customerOf.get(from)}/messages`,
      this.admin,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body as { messages: { id: string }[] }).messages.map((m) => m.id);
  }

  /** What the gateway received, in arrival order. */
  sent(): Sent[] {
    return this.gateway.requests.map((r) => {
      const body = JSON.parse(r.body) as { id: string; customerId: string };
      return { id: body.id, customerId: body.customerId, at: r.at };
    });
  }

  /** Waits until every id in `expected` reached the gateway; returns how long it took. */
  async drained(expected: Iterable<string>, timeoutMs: number): Promise<number> {
    const started = Date.now();
    const want = new Set(expected);
    while (true) {
      const got = new Set(this.sent().map((s) => s.id));
      if ([...want].every((id) => got.has(id))) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        const missing = [...want].filter((id) => !got.has(id));
        throw new Error(`${missing.length} of ${want.size} never reached the gateway`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(i: number, signal: Deno.Signal) {
    await this.instances[i]?.process.kill(signal);
    this.instances[i] = null;
  }

  async close() {
    await Promise.all(this.instances.map((_, i) => this.kill(i, "SIGKILL")));
    await this.gateway.close();
    await this.store.close();
  }
}

/** Counts what a delivery run lost, repeated or reordered, against what each answer promised. */
export function tally(expected: Map<string, string[]>, sent: Sent[]) {
  const seen = new Map<string, number>();
  for (const s of sent) seen.set(s.id, (seen.get(s.id) ?? 0) + 1);
  let lost = 0, repeated = 0, reordered = 0;
  for (const ids of expected.values()) {
    for (const id of ids) {
      const n = seen.get(id) ?? 0;
      if (n === 0) lost++;
      repeated += Math.max(0, n - 1);
    }
    // Per customer, first arrivals follow the order the desk wrote them (rule 26).
    const firsts = [...new Set(sent.map((s) => s.id).filter((id) => ids.includes(id)))];
    if (firsts.join() !== ids.filter((id) => seen.has(id)).join()) reordered++;
  }
  return { lost, repeated, reordered };
}
