/**
 * Delivery statuses reported after the send (rule 25): provider callbacks by provider id, the
 * API channel's `POST /api/inbound/status` by our message id. A status moves a mark only up its
 * rank; a repeat changes nothing (rule 27); one for an id not recorded yet waits 10 minutes for
 * the commit that records it.
 */
import type { Clock } from "./clock.ts";
import { EARLY_STATUS_MS, type EarlyStatus } from "./delivery.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { advanceDelivery, findMessage, type OutboxEntry } from "./messages.ts";
import type { ProviderStatus } from "./providers/provider.ts";
import type { Message, Route } from "./types.ts";
import { asBody, oneOf } from "./validate.ts";

export type StatusResult = "applied" | "unchanged" | "early";

/** Applies one provider status callback (Meta `statuses`, Twilio's status webhook). */
export async function applyProviderStatus(
  kv: Deno.Kv,
  clock: Clock,
  route: Route,
  status: ProviderStatus,
): Promise<StatusResult> {
  return await retryCommit<StatusResult>(async () => {
    const now = clock.now();
    const pointerKey = keys.providerMessage(route, status.providerId);
    const earlyKey = keys.earlyStatus(route, status.providerId);
    const [pointer, early] = await kv.getMany<[OutboxEntry, EarlyStatus]>([pointerKey, earlyKey]);
    if (!pointer.value) {
      // Not recorded yet: keep it (the better of two early ones) for the sending commit.
      const kept = early.value && now - early.value.at <= EARLY_STATUS_MS ? early.value : null;
      const next: EarlyStatus = { status: status.status, at: now };
      if (status.error) next.error = status.error;
      if (kept) {
        const base = { status: kept.status, attempts: 0, updatedAt: kept.at, error: kept.error };
        const better = advanceDelivery(base, status.status, status.error, now);
        if (!better) return "unchanged";
      }
      const ok = (await kv.atomic().check(pointer, early)
        .set(earlyKey, next, { expireIn: EARLY_STATUS_MS }).commit()).ok;
      return ok ? "early" : undefined;
    }
    const messageKey = keys.message(pointer.value.conversationId, pointer.value.messageId);
    const entry = await kv.get<Message>(messageKey);
    return await advance(kv, entry, status.status, status.error, now);
  });
}

async function advance(
  kv: Deno.Kv,
  entry: Deno.KvEntryMaybe<Message>,
  status: ProviderStatus["status"],
  error: ProviderStatus["error"],
  now: number,
): Promise<StatusResult | undefined> {
  const message = entry.value;
  if (!message?.delivery) return "unchanged";
  const next = advanceDelivery(message.delivery, status, error, now);
  if (!next) return "unchanged";
  const ok = (await kv.atomic().check(entry)
    .set(entry.key, { ...message, delivery: next })
    .sum(keys.deliveryChanged(), 1n)
    .commit()).ok;
  return ok ? "applied" : undefined;
}

/**
 * `POST /api/inbound/status {id, status, error?}` from the API channel's gateway: unknown id 404,
 * a message of another route 409, a repeat changes nothing.
 */
export async function applyApiStatus(
  kv: Deno.Kv,
  clock: Clock,
  input: unknown,
): Promise<{ message: Message; result: StatusResult }> {
  const body = asBody(input);
  if (typeof body.id !== "string" || body.id.length > 64) {
    throw new Invalid("invalid_field", '"id" must be a message id.', { id: "A message id." });
  }
  const status = oneOf(body, "status", ["delivered", "read", "failed"] as const);
  const error = parseError(body.error, status);
  const id = body.id;
  return await retryCommit(async () => {
    const entry = await findMessage(kv, id);
    const message = entry?.value;
    if (!entry || !message || message.direction !== "out") throw new NotFound("Message");
    if (message.delivery?.route !== "api") {
      throw new Conflict("wrong_route", "This message was not sent through the API channel.");
    }
    const result = await advance(kv, entry, status, error, clock.now());
    if (result === undefined) return undefined;
    const after = result === "applied" ? (await kv.get<Message>(entry.key)).value! : message;
    return { message: after, result };
  });
}

/** The gateway's error: a code string, or `{code, message}`. */
function parseError(
  value: unknown,
  status: string,
): { code: string; message: string } | undefined {
  if (value === undefined || value === null) {
    return status === "failed"
      ? { code: "failed", message: "The gateway reported a failure." }
      : undefined;
  }
  if (typeof value === "string" && value.length <= 500) return { code: value, message: value };
  if (typeof value === "object" && !Array.isArray(value)) {
    const { code, message } = value as Record<string, unknown>;
    if (
      (typeof code === "string" || typeof code === "number") && String(code).length <= 100 &&
      (message === undefined || (typeof message === "string" && message.length <= 500))
    ) {
      return { code: String(code), message: (message as string | undefined) ?? String(code) };
    }
  }
  throw new Invalid("invalid_field", '"error" must be a code or {code, message}.', {
    error: "A code or {code, message}.",
  });
}
