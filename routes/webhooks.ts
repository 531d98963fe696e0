/**
 * Provider webhooks (rule 28, SPEC "Wire formats"): Meta WhatsApp Cloud API and Twilio. Each
 * request is verified the provider's own way (constant time, raw bytes or decoded form) before
 * anything is parsed or stored; a verified one is answered 2xx once every message and status in
 * it is stored or deliberately ignored, 5xx only when storing failed. Nothing here calls a
 * provider: replies leave through the outbox after the commit that wrote them (rule 24).
 */
import { type Context, Hono } from "hono";
import { getChannelSettings, verifyingSecrets } from "../domain/channel_settings.ts";
import { applyProviderStatus } from "../domain/delivery_status.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { metaChallenge, parseMetaWebhook, verifyMetaSignature } from "../domain/providers/meta.ts";
import type { ProviderInbound, ProviderWebhook } from "../domain/providers/provider.ts";
import {
  parseTwilioInbound,
  parseTwilioStatus,
  verifyTwilioSignature,
} from "../domain/providers/twilio.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

/** Rule 28 asks for an answer within 5 s; past this (real time) the provider is told to retry. */
const ANSWER_WITHIN_MS = 4_500;
/** Customers (and status ids) of one webhook stored at once. */
const PARALLEL = 8;
const EMPTY_TWIML = "<Response></Response>";

type Route = "meta" | "twilio";

export function webhookRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk, config } = deps;
  const app = new Hono<DeskEnv>();

  const refuse = (c: Context, status: 400 | 401 | 403, code: string, message: string) =>
    c.json({ error: { code, message } }, status);

  // Meta's subscription handshake: echo the challenge only for our verify token.
  app.get("/whatsapp", async (c) => {
    const { whatsapp } = await getChannelSettings(desk.kv);
    const challenge = metaChallenge(new URL(c.req.url).searchParams, whatsapp.verifyToken);
    if (challenge === null) return refuse(c, 403, "forbidden", "Wrong or missing verify token.");
    return c.text(challenge, 200);
  });

  app.post("/whatsapp", async (c) => {
    // The signature covers the exact bytes Meta sent: verify them before parsing anything.
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const { whatsapp } = await getChannelSettings(desk.kv);
    const secrets = verifyingSecrets(
      whatsapp.appSecret,
      whatsapp.retiredAppSecrets,
      desk.clock.now(),
    );
    if (!(await verifyMetaSignature(raw, c.req.header("x-hub-signature-256") ?? null, secrets))) {
      return refuse(c, 401, "invalid_signature", "The webhook signature does not verify.");
    }
    let webhook: ProviderWebhook;
    try {
      const body: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
      webhook = parseMetaWebhook(body, whatsapp.phoneNumberId);
    } catch {
      return refuse(c, 400, "invalid_payload", "The body is not a WhatsApp webhook object.");
    }
    if (webhook.unroutable > 0) {
      console.warn(`webhooks/whatsapp: ${webhook.unroutable} unroutable message(s) ignored`);
    }
    if (webhook.groups) {
      console.warn(`webhooks/whatsapp: ${webhook.groups} group message(s) ignored (rule 46)`);
    }
    const stored = await store("meta", webhook);
    if (stored !== "ok") return storeFailed(c, stored);
    return c.json({ received: webhook.messages.length + webhook.statuses.length });
  });

  app.post("/twilio", async (c) => {
    const params = await verifiedTwilioForm(c);
    if (!params) {
      return refuse(c, 403, "invalid_signature", "The webhook signature does not verify.");
    }
    const stored = await store("twilio", parseTwilioInbound(params));
    return stored === "ok" ? twiml(c) : storeFailed(c, stored);
  });

  app.post("/twilio/status", async (c) => {
    const params = await verifiedTwilioForm(c);
    if (!params) {
      return refuse(c, 403, "invalid_signature", "The webhook signature does not verify.");
    }
    const stored = await store("twilio", parseTwilioStatus(params));
    return stored === "ok" ? twiml(c) : storeFailed(c, stored);
  });

  /**
   * The decoded form (repeated names kept) when `X-Twilio-Signature` verifies over
   * `CHATDESK_PUBLIC_URL` + the path and query Twilio called, else null. Never from forwarded
   * headers: without a public URL nothing can be verified.
   */
  async function verifiedTwilioForm(c: Context): Promise<[string, string][] | null> {
    const text = await c.req.text();
    if (!config.publicUrl) return null;
    const url = config.publicUrl.replace(/\/+$/, "") + pathAndQuery(c.req.url);
    const params = [...new URLSearchParams(text)];
    const { twilio } = await getChannelSettings(desk.kv);
    const tokens = verifyingSecrets(twilio.authToken, twilio.retiredAuthTokens, desk.clock.now());
    const header = c.req.header("x-twilio-signature") ?? null;
    return await verifyTwilioSignature(url, params, header, tokens) ? params : null;
  }

  /**
   * Stores every message and status of one verified webhook: one customer's messages in order,
   * different customers (and different provider ids) side by side.
   */
  async function store(route: Route, webhook: ProviderWebhook): Promise<"ok" | "failed" | "late"> {
    const byCustomer = groupBy(webhook.messages, (m) => `${m.channel}:${m.from}`);
    const byProviderId = groupBy(webhook.statuses, (s) => s.providerId);
    const jobs: (() => Promise<void>)[] = [
      ...[...byCustomer.values()].map((messages) => async () => {
        for (const m of messages) await receiveInbound(desk, inboundOf(route, m));
      }),
      ...[...byProviderId.values()].map((statuses) => async () => {
        for (const s of statuses) await applyProviderStatus(desk.kv, desk.clock, route, s);
      }),
    ];
    // Storing that outlives the answer still finishes (a provider's retry is then deduped).
    const work = runAll(jobs, PARALLEL).then(
      () => "ok" as const,
      (error) => {
        console.error(`webhooks/${route}: storing failed`, error);
        return "failed" as const;
      },
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), ANSWER_WITHIN_MS);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return app;
}

function inboundOf(route: Route, m: ProviderInbound) {
  return {
    channel: m.channel,
    from: m.from,
    text: m.text,
    id: m.providerId,
    route,
    routeTo: m.to,
    ...(m.profileName !== undefined ? { profileName: m.profileName } : {}),
    ...(m.providerAt !== undefined ? { providerAt: m.providerAt } : {}),
    ...(m.passive ? { passive: true } : {}),
    ...(m.optOut ? { optOut: m.optOut } : {}),
    ...(m.change ? { change: m.change } : {}),
    ...(m.media ? { media: m.media } : {}),
    ...(m.location ? { location: m.location } : {}),
  };
}

/** Storing failed or took too long: 5xx, so Meta retries (the repeat is deduped, rule 27). */
function storeFailed(c: Context, result: "failed" | "late") {
  return c.json(
    {
      error: result === "late"
        ? { code: "timeout", message: "Storing the webhook took too long; please retry." }
        : { code: "internal", message: "The webhook could not be stored; please retry." },
    },
    result === "late" ? 503 : 500,
  );
}

function twiml(c: Context) {
  return c.body(EMPTY_TWIML, 200, { "content-type": "text/xml" });
}

/** The path and query exactly as the request named them (`/webhooks/twilio?x=1`). */
function pathAndQuery(requestUrl: string): string {
  const url = new URL(requestUrl);
  return url.pathname + url.search;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Runs every job, at most `limit` at once; rejects with the first failure once all settled. */
async function runAll(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await job();
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failures.length) throw failures[0];
}
