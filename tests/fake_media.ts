/**
 * A fake of the providers' media servers on 127.0.0.1, speaking the SPEC's wire formats (rule 49):
 *
 * - Meta "Retrieve media URL": `GET {base}/{media-id}` with the bearer token answers `{messaging_
 *   product, url, mime_type, sha256, file_size, id}` (tests/fixtures/meta_media_url.json is its
 *   shape); `GET url` with the same bearer answers the bytes. The URL is only good for a while.
 * - Twilio media: `GET /2010-04-01/Accounts/{sid}/Messages/{sid}/Media/{sid}` with HTTP Basic
 *   `accountSid:authToken` answers a redirect to its store, which serves the bytes (Twilio's
 *   Media resource, twilio.com/docs/messaging/api/media-resource).
 *
 * Each file can be told to fail first (status codes answered before the bytes), to stall half way
 * (for a kill mid-download) or to announce another hash. Every request is recorded.
 */
import { createHash } from "node:crypto";

export interface FakeFile {
  bytes: Uint8Array<ArrayBuffer>;
  mime: string;
  /** Statuses answered to the download before it succeeds (e.g. [500, 503]). */
  failFirst?: number[];
  /** The hash Meta announces; the bytes' own (hex) unless given. */
  sha256?: string;
  /** Serve half the bytes, then wait until `release()` (a kill mid-download). */
  stall?: boolean;
}

export interface MediaRequest {
  path: string;
  authorization: string | null;
  at: number;
}

export const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class FakeMedia {
  readonly files = new Map<string, FakeFile>();
  readonly requests: MediaRequest[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #release = Promise.withResolvers<void>();
  /** Resolves when a stalled download has sent its first half. */
  stalled = Promise.withResolvers<string>();

  constructor(
    readonly bearer: string,
    readonly basic: { user: string; password: string },
  ) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** The MediaUrl Twilio would send for a file added with `add(id, …)`. */
  twilioUrl(accountSid: string, id: string): string {
    return `${this.origin}/2010-04-01/Accounts/${accountSid}/Messages/MM${
      "0".repeat(32)
    }/Media/${id}`;
  }

  add(id: string, file: FakeFile) {
    this.files.set(id, file);
    return this;
  }

  /** Lets stalled downloads finish. */
  release() {
    this.#release.resolve();
  }

  downloads(id: string): number {
    return this.requests.filter((r) => r.path === `/download/${id}` || r.path === `/cdn/${id}`)
      .length;
  }

  async close() {
    this.release();
    await this.#server.shutdown();
  }

  #handle(request: Request): Response {
    const url = new URL(request.url);
    const authorization = request.headers.get("authorization");
    this.requests.push({ path: url.pathname, authorization, at: Date.now() });
    const bearerOk = authorization === `Bearer ${this.bearer}`;
    const basicOk = authorization ===
      `Basic ${btoa(`${this.basic.user}:${this.basic.password}`)}`;

    const twilio = /^\/2010-04-01\/Accounts\/[^/]+\/Messages\/[^/]+\/Media\/([^/]+)$/.exec(
      url.pathname,
    );
    if (twilio) {
      if (!basicOk) return json(401, { code: 20003, message: "Authenticate" });
      if (!this.files.has(twilio[1])) return json(404, { code: 20404, message: "Not found" });
      return new Response(null, { status: 307, headers: { location: `/cdn/${twilio[1]}` } });
    }
    const download = /^\/(download|cdn)\/([^/]+)$/.exec(url.pathname);
    if (download) {
      if (download[1] === "download" && !bearerOk) return json(401, { error: { code: 190 } });
      return this.#bytes(download[2]);
    }
    const info = /^\/([^/]+)$/.exec(url.pathname);
    if (info && request.method === "GET") {
      if (!bearerOk) {
        return json(401, {
          error: { message: "Invalid OAuth access token.", type: "OAuthException", code: 190 },
        });
      }
      const file = this.files.get(info[1]);
      if (!file) {
        return json(404, {
          error: { message: "Unsupported get request.", type: "GraphMethodException", code: 100 },
        });
      }
      return json(200, {
        messaging_product: "whatsapp",
        url: `${this.origin}/download/${info[1]}`,
        mime_type: file.mime,
        sha256: file.sha256 ?? sha256Hex(file.bytes),
        file_size: String(file.bytes.length),
        id: info[1],
      });
    }
    return json(404, { error: "no such route" });
  }

  #bytes(id: string): Response {
    const file = this.files.get(id);
    if (!file) return json(404, { error: "gone" });
    const failure = file.failFirst?.shift();
    if (failure !== undefined) return json(failure, { error: "try again" });
    const headers = {
      "content-type": file.mime,
      "content-length": String(file.bytes.length),
    };
    if (!file.stall) return new Response(file.bytes, { headers });
    const half = Math.floor(file.bytes.length / 2);
    const release = this.#release.promise;
    const stalled = this.stalled;
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(file.bytes.slice(0, half));
        stalled.resolve(id);
        await release;
        controller.enqueue(file.bytes.slice(half));
        controller.close();
      },
    });
    return new Response(body, { headers });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Deterministic bytes of a given length (not compressible into a trick: a simple LCG). */
export function bytesOf(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
