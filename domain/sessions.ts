/** Sign-in, bearer/cookie sessions with expiry on the injected clock, and sign-in rate limits. */
import { findAgentByEmail } from "./agents.ts";
import { type Clock, HOUR, MINUTE } from "./clock.ts";
import { TooManyRequests, Unauthorized } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { hashToken, newToken, verifyPassword } from "./passwords.ts";
import type { Agent } from "./types.ts";
import { asBody, str } from "./validate.ts";

export const SESSION_HOURS = 12;
const WINDOW = 15 * MINUTE;
const LIMITS = { email: 5, ip: 30 } as const;

interface Session {
  agentId: string;
  expiresAt: number;
}
interface Attempts {
  count: number;
  since: number;
}

/** `POST /api/session`: failures count per account and per address; past the limit, 429. */
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
  const counters = [keys.loginAttempts("email", email), keys.loginAttempts("ip", address)] as const;
  // The attempt is counted before the password is checked, in a checked commit, so parallel
  // guesses cannot all slip in under the limit; a successful sign-in gives its count back.
  await retryCommit(async () => {
    const entries = await kv.getMany<[Attempts, Attempts]>(counters);
    const op = kv.atomic().check(...entries);
    for (const [i, limit] of [LIMITS.email, LIMITS.ip].entries()) {
      const entry = entries[i];
      const fresh = entry.value && now - entry.value.since < WINDOW ? entry.value : null;
      if (fresh && fresh.count >= limit) {
        const retry = Math.ceil((fresh.since + WINDOW - now) / 1000);
        throw new TooManyRequests(
          `Too many failed sign-ins; try again in ${Math.ceil(retry / 60)} minute(s).`,
          retry,
        );
      }
      const next = fresh
        ? { count: fresh.count + 1, since: fresh.since }
        : { count: 1, since: now };
      op.set(counters[i], next, { expireIn: WINDOW });
    }
    return (await op.commit()).ok ? true : undefined;
  });
  const agent = await findAgentByEmail(kv, email);
  const ok = agent !== null && agent.active && await verifyPassword(password, agent.passwordHash);
  if (!ok || !agent) {
    throw new Unauthorized(
      agent && !agent.active ? "This account is deactivated." : "Wrong e-mail or password.",
    );
  }
  await retryCommit(async () => {
    const byIp = await kv.get<Attempts>(counters[1]);
    const op = kv.atomic().check(byIp).delete(counters[0]);
    if (byIp.value && byIp.value.count > 1) {
      op.set(counters[1], { ...byIp.value, count: byIp.value.count - 1 }, { expireIn: WINDOW });
    } else op.delete(counters[1]);
    return (await op.commit()).ok ? true : undefined;
  });
  const token = newToken();
  const expiresAt = now + SESSION_HOURS * HOUR;
  await kv.set(
    keys.session(await hashToken(token)),
    { agentId: agent.id, expiresAt } satisfies Session,
    {
      expireIn: SESSION_HOURS * HOUR,
    },
  );
  return { token, agent, expiresAt };
}

/** The signed-in agent for a token, or null when unknown, expired (by the clock) or deactivated. */
export async function authenticate(
  kv: Deno.Kv,
  clock: Clock,
  token: string,
): Promise<Agent | null> {
  if (!token || token.length > 200) return null;
  const session = await kv.get<Session>(keys.session(await hashToken(token)));
  if (!session.value || session.value.expiresAt <= clock.now()) return null;
  const agent = await kv.get<Agent>(keys.agent(session.value.agentId));
  return agent.value?.active ? agent.value : null;
}

export async function signOut(kv: Deno.Kv, token: string): Promise<void> {
  await kv.delete(keys.session(await hashToken(token)));
}
