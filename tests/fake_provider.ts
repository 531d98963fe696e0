/**
 * A real HTTP server on 127.0.0.1 standing in for Meta, Twilio or an API-channel gateway. Tests
 * script its answers (2xx, 4xx, 429 with Retry-After, 5xx, a hang, a dropped connection) and read
 * every request it got, raw body and headers included.
 */

export interface Recorded {
  method: string;
  path: string;
  headers: Headers;
  body: string;
  /** The raw body (a multipart upload's bytes, which `body` as text would garble). */
  bytes: Uint8Array<ArrayBuffer>;
  /** Real time it arrived (Date.now). */
  at: number;
}

export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  /** Never answers (until the server closes). */
  | "hang"
  /** Closes the connection without an answer. */
  | "drop";

export type Responder = (request: Recorded, index: number) => Reply;

/** Meta's success answer for a send (`{messages: [{id}]}`) with a fresh wamid. */
export const metaAccepted: Responder = (_r, i) => ({
  status: 200,
  body: {
    messaging_product: "whatsapp",
    contacts: [{ input: "27820000001", wa_id: "27820000001" }],
    messages: [{ id: `wamid.TEST${String(i).padStart(6, "0")}` }],
  },
});

/** Twilio's 201 for a created message, with a fresh SM sid. */
export const twilioAccepted: Responder = (_r, i) => ({
  status: 201,
  body: { sid: `SM${String(i).padStart(32, "0")}`, status: "queued" },
});

export class FakeProvider {
  readonly requests: Recorded[] = [];
  #script: Reply[] = [];
  #responder: Responder;
  #server: Deno.HttpServer;
  #hung = new Set<() => void>();
  #waiters: { n: number; resolve: () => void }[] = [];
  readonly url: string;

  private constructor(responder: Responder) {
    this.#responder = responder;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
    const addr = this.#server.addr as Deno.NetAddr;
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  /** Starts a server answering with `responder` unless a scripted reply is waiting. */
  static start(responder: Responder = () => ({ status: 200, body: {} })): FakeProvider {
    return new FakeProvider(responder);
  }

  /** The next requests get these replies, in order; then the responder again. */
  script(...replies: Reply[]) {
    this.#script.push(...replies);
  }

  respond(responder: Responder) {
    this.#responder = responder;
  }

  /** Resolves once `n` requests in all have arrived (or throws after `timeoutMs`). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<Recorded[]> {
    if (this.requests.length < n) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ n, resolve })),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`fake provider got ${this.requests.length} of ${n} requests`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.requests.slice(0, n);
  }

  /** Requests' JSON bodies (for Meta and the API channel). */
  json<T = Record<string, unknown>>(): T[] {
    return this.requests.map((r) => JSON.parse(r.body) as T);
  }

  /** Requests' form bodies (for Twilio). */
  forms(): URLSearchParams[] {
    return this.requests.map((r) => new URLSearchParams(r.body));
  }

  /** Releases hung requests (they then get a 500) and stops the server. */
  async close() {
    for (const release of this.#hung) release();
    this.#hung.clear();
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const bytes = new Uint8Array(await req.arrayBuffer());
    const recorded: Recorded = {
      method: req.method,
      path: url.pathname + url.search,
      headers: req.headers,
      body: new TextDecoder().decode(bytes),
      bytes,
      // Sub-millisecond, on the epoch scale of Date.now(): benchmarks time provider arrivals.
      at: performance.timeOrigin + performance.now(),
    };
    const index = this.requests.length;
    this.requests.push(recorded);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.requests.length >= w.n) w.resolve();
      return this.requests.length < w.n;
    });
    const reply = this.#script.shift() ?? this.#responder(recorded, index);
    if (reply === "hang") {
      await new Promise<void>((resolve) => this.#hung.add(resolve));
      return new Response("released", { status: 500 });
    }
    if (reply === "drop") {
      // Headers go out, then the body breaks: the client sees a dropped connection mid-answer.
      const body = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("{"));
          controller.error(new Error("dropped on purpose"));
        },
      });
      return new Response(body, { status: 200 });
    }
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    const body = reply.body === undefined
      ? null
      : typeof reply.body === "string"
      ? reply.body
      : JSON.stringify(reply.body);
    return new Response(body, {
      status: reply.status,
      headers: { "content-type": "application/json", ...reply.headers },
    });
  }
}
