/**
 * Sign-in, bearer/cookie sessions with expiry on the injected clock, and sign-in throttling.
 * SECURITY.md describes the threats these answer and names the tests that prove each defence.
 */
import { type AgentRecord, sessionEpochOf } from "./agents.ts";
import { type Clock, HOUR, MINUTE } from "./clock.ts";
import { TooManyRequests, Unauthorized } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { dummyHash, hashToken, newToken, verifyPassword } from "./passwords.ts";
import type { Agent, Session } from "./types.ts";
import { asBody, str } from "./validate.ts";

export const SESSION_HOURS = 12;
const SECOND = 1000;

/** Failed sign-ins counted under one key, and when the latest was. */
interface Failures {
  count: number;
  last: number;
}

/**
 * Throttles: after `free` failures each try waits `2^(n − free)` seconds after the latest
 * failure, up to `maxDelay`; the count is forgotten `forget` after the latest failure.
 * - per (e-mail, address) pair: the guesser waits, the owner from any other address does not;
 * - per address, whatever the e-mail: spraying one password over many accounts is slowed too,
 *   but never for long (a shared address without CHATDESK_TRUSTED_PROXY_HEADER is everyone).
 */
export const THROTTLES = {
  pair: { free: 5, maxDelay: 15 * MINUTE, forget: 24 * HOUR },
  address: { free: 30, maxDelay: MINUTE, forget: HOUR },
} as const;
type Throttle = (typeof THROTTLES)[keyof typeof THROTTLES];

/** How long to wait after the latest of `count` failures before the next try. */
export function throttleDelay(count: number, rule: Throttle): number {
  if (count < rule.free) return 0;
  return Math.min(SECOND * 2 ** Math.min(count - rule.free, 40), rule.maxDelay);
}

/** The same answer for every failed sign-in: which part was wrong, or whether the e-mail exists, is not said. */
export const SIGN_IN_FAILED = "Wrong e-mail or password.";

/**
 * `POST /api/session` and the sign-in form. Each try is counted before the password is checked,
 * in a checked commit, so parallel guesses cannot slip past a throttle; a success gives its
 * count back. Unknown e-mails, deactivated agents and wrong passwords cost the same key
 * derivation and get the same 401. Three KV round trips (rule 41): the counters with the e-mail's
 * agent id, the count with the agent, the count given back with the new session.
 */
export async function signIn(
  kv: Deno.Kv,
  clock: Clock,
  input: unknown,
  address: string,
): Promise<{ token: string; agent: Agent; expiresAt: number }> {
  const body = asBody(input);
  const email = str(body, "email", { max: 200 }).trim().toLowerCase();
  const password = str(body, "password", { max: 200 });
  const now = clock.now();
  const group = addressGroup(address);
  const counters = [
    [keys.loginFailuresOfPair(email, group), THROTTLES.pair],
    [keys.loginFailuresFrom(group), THROTTLES.address],
  ] as const;
  // The e-mail's agent id comes with the first read of the counters; the agent is read while
  // the count commits (it is needed only once the count is in).
  let agentRead: Promise<AgentRecord | null> = Promise.resolve(null);
  let firstRead = true;
  // The address counter as this try's count left it: the give-back checks it is still so.
  const counted = await retryCommit(async () => {
    const [pair, from, byEmail] = await kv.getMany<[Failures, Failures, string]>([
      counters[0][0],
      counters[1][0],
      keys.agentByEmail(email),
    ]);
    if (firstRead) {
      firstRead = false;
      const id = byEmail.value;
      if (id) {
        agentRead = kv.get<AgentRecord>(keys.agent(id)).then((e) => e.value);
        // A refused try (throttled) never awaits it.
        agentRead.catch(() => {});
      }
    }
    const entries = [pair, from];
    const op = kv.atomic().check(...entries);
    let address: Failures | null = null;
    for (const [i, [key, rule]] of counters.entries()) {
      const previous = entries[i].value;
      const fresh = previous && now - previous.last < rule.forget ? previous : null;
      const delay = throttleDelay(fresh?.count ?? 0, rule);
      // A clock moved back (the manual test clock may) never makes the wait longer than the delay.
      const wait = fresh ? Math.min(fresh.last + delay - now, delay) : 0;
      if (wait > 0) throw tooMany(wait);
      const next = { count: (fresh?.count ?? 0) + 1, last: now } satisfies Failures;
      op.set(key, next, { expireIn: rule.forget });
      if (i === 1) address = next;
    }
    const result = await op.commit();
    return result.ok ? { value: address!, versionstamp: result.versionstamp } : undefined;
  });
  const agent = await agentRead;
  const matches = await verifyPassword(password, agent?.passwordHash ?? await dummyHash());
  if (!agent || !agent.active || !matches) throw new Unauthorized(SIGN_IN_FAILED);
  const session = await newSession(clock, agent);
  // The count given back and the session in one commit; the address counter is checked as this
  // try left it, and read again only when another try from the address counted meanwhile.
  let from: Deno.KvEntryMaybe<Failures> = { key: counters[1][0], ...counted };
  await retryCommit(async () => {
    const op = kv.atomic().check(from).delete(counters[0][0]);
    if (from.value && from.value.count > 1) {
      op.set(counters[1][0], { ...from.value, count: from.value.count - 1 }, {
        expireIn: THROTTLES.address.forget,
      });
    } else op.delete(counters[1][0]);
    op.set(session.key, session.record, { expireIn: SESSION_HOURS * HOUR });
    if ((await op.commit()).ok) return true;
    from = await kv.get<Failures>(counters[1][0]);
    return undefined;
  });
  return { token: session.token, expiresAt: session.record.expiresAt, agent };
}

/**
 * A session token names its agent, `<agent id>.<256 random bits>`, so a request reads its session
 * and its agent in one round (rule 41). The id is no secret; the random part is, and the stored
 * hash covers the whole token, so the id cannot be changed.
 */
const SESSION_TOKEN = /^([0-9A-Z]{26})\.[A-Za-z0-9_-]{43}$/;

/** The agent a session token names, or null for one made before tokens named their agent. */
export function tokenAgentId(token: string): string | null {
  return SESSION_TOKEN.exec(token)?.[1] ?? null;
}

/** A new session's token, its key and its record (belonging to the agent's session epoch). */
async function newSession(clock: Clock, agent: AgentRecord) {
  const token = `${agent.id}.${newToken()}`;
  const expiresAt = clock.now() + SESSION_HOURS * HOUR;
  const record: Session = { agentId: agent.id, expiresAt, epoch: sessionEpochOf(agent) };
  return { token, record, key: keys.session(await hashToken(token)) };
}

/**
 * A new session for an agent whose credentials were just checked (signIn; tests that need many
 * sessions without the key derivation). It belongs to the agent's session epoch as read with
 * the password: a reset committed meanwhile voids it at once.
 */
export async function startSession(
  kv: Deno.Kv,
  clock: Clock,
  agent: AgentRecord,
): Promise<{ token: string; expiresAt: number }> {
  const session = await newSession(clock, agent);
  await kv.set(session.key, session.record, { expireIn: SESSION_HOURS * HOUR });
  return { token: session.token, expiresAt: session.record.expiresAt };
}

function tooMany(waitMs: number): TooManyRequests {
  const seconds = Math.max(1, Math.ceil(waitMs / SECOND));
  const when = seconds < 60
    ? `${seconds} second${seconds === 1 ? "" : "s"}`
    : `${Math.ceil(seconds / 60)} minute(s)`;
  return new TooManyRequests(`Too many failed sign-ins; try again in ${when}.`, seconds);
}

/**
 * The signed-in agent for a token, or null when unknown, expired (by the clock), deactivated, or
 * from before the agent's latest password reset, role change or (de)activation.
 */
export async function authenticate(
  kv: Deno.Kv,
  clock: Clock,
  token: string,
): Promise<Agent | null> {
  if (!token || token.length > 200) return null;
  const key = keys.session(await hashToken(token));
  const named = tokenAgentId(token);
  // A token that names its agent reads both at once (rule 41); an older one reads them in turn.
  const [sessionEntry, namedAgent] = named
    ? await kv.getMany<[Session, AgentRecord]>([key, keys.agent(named)])
    : [await kv.get<Session>(key), null];
  const session = sessionEntry.value;
  if (!session || session.expiresAt <= clock.now()) return null;
  if (named && session.agentId !== named) return null;
  const agent = namedAgent
    ? namedAgent.value
    : (await kv.get<AgentRecord>(keys.agent(session.agentId))).value;
  if (!agent?.active || (session.epoch ?? 0) !== sessionEpochOf(agent)) return null;
  return agent;
}

export async function signOut(kv: Deno.Kv, token: string): Promise<void> {
  await kv.delete(keys.session(await hashToken(token)));
}

/**
 * The unit sign-in throttles count an address in: an IPv4 address, or an IPv6 /64 (one host
 * usually holds a whole /64, so counting single IPv6 addresses would count nothing).
 */
export function addressGroup(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1];
  if (!address.includes(":")) return address;
  const [head, tail = null] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail === null ? [] : tail ? tail.split(":") : [];
  const groups = tail === null
    ? left
    : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  if (groups.length !== 8) return address;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
