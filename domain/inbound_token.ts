/**
 * Rule 58: the inbound token (`POST /api/inbound` and `/api/inbound/status`) and an admin's
 * rotation of it on Integrations. The desk starts with CHATDESK_INBOUND_TOKEN, or the token it
 * generated at its first start; a rotation replaces that token at once in every instance, and the
 * new token is shown once: only its SHA-256 is kept (rule 31). A rotation names the token it
 * replaced, so setting CHATDESK_INBOUND_TOKEN to a new value later makes the variable win again.
 */
import type { Clock } from "./clock.ts";
import { keys } from "./keys.ts";
import { hashToken, newToken } from "./passwords.ts";
import { timingSafeEqual } from "./providers/provider.ts";
import type { Agent } from "./types.ts";

interface Rotation {
  /** SHA-256 of the token in use since. */
  hash: string;
  /** SHA-256 of the start token it replaced. */
  replaces: string;
  at: number;
  by: string;
}

/**
 * How long an instance trusts what it read of the rotation (real time: a cache, not a rule of
 * rule 21). A request after that re-reads it in the background, beside its own reads, so the
 * inbound path keeps its two round trips (rule 41); a rotation made here applies at once.
 */
const FRESH_MS = 1000;

const encoder = new TextEncoder();

/** The inbound token check of one store, for one start token. */
export class InboundToken {
  #kv: Deno.Kv;
  #start: Promise<string>;
  #rotation: Promise<Rotation | null>;
  #readAt = 0;
  #reading = false;

  constructor(kv: Deno.Kv, start: string) {
    this.#kv = kv;
    this.#start = hashToken(start);
    this.#rotation = this.#read();
    // A store closed before the first request (tests) must not leave a rejection behind.
    this.#rotation.catch(() => {});
  }

  #read(): Promise<Rotation | null> {
    this.#readAt = performance.now();
    return this.#kv.get<Rotation>(keys.inboundTokenRotation()).then((e) => e.value);
  }

  #refresh() {
    if (this.#reading) return;
    this.#reading = true;
    this.#read().then(
      (rotation) => this.#rotation = Promise.resolve(rotation),
      () => {},
    ).finally(() => this.#reading = false);
  }

  /** The rotation in force: one that replaced this instance's start token. */
  async rotation(): Promise<Rotation | null> {
    if (performance.now() - this.#readAt > FRESH_MS) this.#refresh();
    const [rotation, start] = await Promise.all([this.#rotation.catch(() => null), this.#start]);
    return rotation && rotation.replaces === start ? rotation : null;
  }

  /** Whether `given` is the inbound token now (hashes compared in constant time). */
  async verify(given: string): Promise<boolean> {
    if (!given) return false;
    const [rotation, start, hash] = await Promise.all([
      this.rotation(),
      this.#start,
      hashToken(given),
    ]);
    return timingSafeEqual(encoder.encode(hash), encoder.encode(rotation?.hash ?? start));
  }

  /** A rotation was made in this process: the next check reads the store first. */
  forget() {
    this.#rotation = this.#read();
    this.#rotation.catch(() => {});
  }
}

const checks = new WeakMap<Deno.Kv, InboundToken>();
/** Every check made in this process (a store may be reached through several handles). */
const made = new Set<WeakRef<InboundToken>>();

/** This process's inbound token check for the store (made, and its first read started, once). */
export function inboundToken(kv: Deno.Kv, start: string): InboundToken {
  let check = checks.get(kv);
  if (!check) {
    checks.set(kv, check = new InboundToken(kv, start));
    made.add(new WeakRef(check));
  }
  return check;
}

/**
 * Rule 58: an admin rotates the inbound token; the old one stops working at once. Answers the new
 * token, to be shown this once.
 */
export async function rotateInboundToken(
  kv: Deno.Kv,
  clock: Clock,
  admin: Agent,
  start: string,
): Promise<{ token: string; rotatedAt: number }> {
  const token = newToken();
  const rotation: Rotation = {
    hash: await hashToken(token),
    replaces: await hashToken(start),
    at: clock.now(),
    by: admin.id,
  };
  await kv.set(keys.inboundTokenRotation(), rotation);
  // Every check of this process reads again before its next answer (one store may be reached
  // through several handles, each with its check).
  for (const ref of made) {
    const check = ref.deref();
    if (check) check.forget();
    else made.delete(ref);
  }
  return { token, rotatedAt: rotation.at };
}
