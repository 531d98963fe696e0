/**
 * Rule 58, people manage their own access: any staff member changes its own password, giving the
 * current one. The change ends every other session of the person at once (the session epoch,
 * `updateAgent`); the session it was made from stays. Wrong current passwords are counted: after
 * five within 15 minutes the next try waits, so a stolen session cannot guess the password here.
 */
import { getAgent, MIN_PASSWORD, updateAgent } from "./agents.ts";
import { type Clock, MINUTE } from "./clock.ts";
import { Invalid, TooManyRequests } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { verifyPassword } from "./passwords.ts";
import { asBody, str } from "./validate.ts";

/** Wrong current passwords allowed in `FAILURE_WINDOW` before tries wait. */
export const FREE_FAILURES = 5;
const FAILURE_WINDOW = 15 * MINUTE;

interface Failures {
  count: number;
  last: number;
}

/**
 * Rule 58: `{currentPassword, newPassword}` from the signed-in agent `agentId`; `keepSession` is
 * the token it signed in with (that session stays, every other one ends). 400 `wrong_password`
 * for a wrong current password, `same_password` for an unchanged one; 429 after five wrong ones.
 */
export async function changeOwnPassword(
  kv: Deno.Kv,
  clock: Clock,
  agentId: string,
  input: unknown,
  keepSession: string,
): Promise<void> {
  const body = asBody(input);
  const current = str(body, "currentPassword", { max: 200 });
  const next = str(body, "newPassword", { min: MIN_PASSWORD, max: 200 });
  const failuresKey = keys.passwordChangeFailures(agentId);
  const agentRead = getAgent(kv, agentId);
  agentRead.catch(() => {});
  // Each try is counted before the password is checked, in a checked commit, so parallel
  // guesses cannot all pass under the limit; the right password gives its count back.
  await retryCommit(async () => {
    const failures = await kv.get<Failures>(failuresKey);
    const now = clock.now();
    const recent = failures.value && now - failures.value.last < FAILURE_WINDOW
      ? failures.value
      : null;
    if (recent && recent.count >= FREE_FAILURES) {
      const minutes = Math.ceil((recent.last + FAILURE_WINDOW - now) / MINUTE);
      throw new TooManyRequests(
        `Too many wrong passwords: try again in ${minutes} min.`,
        minutes * 60,
      );
    }
    const counted: Failures = { count: (recent?.count ?? 0) + 1, last: now };
    const op = kv.atomic().check(failures).set(failuresKey, counted, { expireIn: FAILURE_WINDOW });
    return (await op.commit()).ok || undefined;
  });
  const agent = await agentRead;
  if (!(await verifyPassword(current, agent.passwordHash))) {
    throw new Invalid("wrong_password", "That is not your current password.", {
      currentPassword: "Not your current password.",
    });
  }
  await kv.delete(failuresKey);
  if (next === current) {
    throw new Invalid("same_password", "The new password is the one you have now.", {
      newPassword: "Choose a password you do not use now.",
    });
  }
  await updateAgent(kv, agentId, { password: next }, { keepSession });
}
