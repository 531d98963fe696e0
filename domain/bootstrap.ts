/** First start: the bootstrap admin and the inbound token, created once. */
import { createAgent, findAgentByEmail } from "./agents.ts";
import type { Clock } from "./clock.ts";
import { Conflict } from "./errors.ts";
import { newToken } from "./passwords.ts";

const INBOUND_TOKEN_KEY = ["bootstrap", "inbound_token"];
const SHOWN_LOGIN_KEY = ["bootstrap", "admin_login"];

/**
 * Makes sure the admin exists. A generated password is kept (only on a local demo store) so each
 * start can print the login again; with CHATDESK_ADMIN_PASSWORD set, nothing is kept.
 */
export async function ensureAdmin(
  kv: Deno.Kv,
  clock: Clock,
  email: string,
  password: string | null,
  rememberGenerated: boolean,
): Promise<{ email: string; password: string | null; created: boolean }> {
  const existing = await findAgentByEmail(kv, email);
  if (existing) {
    const shown = password ?? (await kv.get<string>(SHOWN_LOGIN_KEY)).value;
    return { email, password: shown, created: false };
  }
  const chosen = password ?? newToken().slice(0, 16);
  try {
    await createAgent(kv, clock, { name: "Admin", email, password: chosen, role: "admin" });
  } catch (error) {
    // Instances starting together on an empty store (Deno Deploy): another one made it first.
    if (!(error instanceof Conflict)) throw error;
    return { email, password, created: false };
  }
  if (!password && rememberGenerated) await kv.set(SHOWN_LOGIN_KEY, chosen);
  return { email, password: chosen, created: true };
}

/**
 * The inbound token from the environment, or one generated on first start and kept. `generated`
 * is true only for the start that made it: rule 31 prints a generated secret once, by that start.
 */
export async function ensureInboundToken(
  kv: Deno.Kv,
  fromEnv: string,
): Promise<{ token: string; generated: boolean }> {
  if (fromEnv) return { token: fromEnv, generated: false };
  const stored = await kv.get<string>(INBOUND_TOKEN_KEY);
  if (stored.value) return { token: stored.value, generated: false };
  const token = newToken();
  const result = await kv.atomic().check(stored).set(INBOUND_TOKEN_KEY, token).commit();
  return result.ok
    ? { token, generated: true }
    : { token: (await kv.get<string>(INBOUND_TOKEN_KEY)).value!, generated: false };
}
