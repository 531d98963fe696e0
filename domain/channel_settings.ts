/**
 * Provider channel settings (SPEC "Channel settings", rule 31): WhatsApp Cloud API, Twilio, the
 * API channel and web chat. Secrets are write-only: answers say only whether each is set. A
 * replaced secret keeps verifying webhooks for 24 hours. A channel paused by an auth failure
 * resumes when its credentials change.
 */
import type { Clock } from "./clock.ts";
import { DAY } from "./clock.ts";
import { secureUrl } from "./config.ts";
import { Invalid, Unprocessable } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import type { DeliveryError } from "./types.ts";
import { asBody, type Body } from "./validate.ts";

export type ProviderChannel = "whatsapp" | "twilio" | "api";
export type SettingsChannel = ProviderChannel | "webchat";
export const PROVIDER_CHANNELS: readonly ProviderChannel[] = ["whatsapp", "twilio", "api"];

/** A replaced secret, still good for verifying webhooks until `until` (desk clock). */
interface Retired {
  value: string;
  until: number;
}

interface Common {
  enabled: boolean;
  /** Set by an auth failure (rule 25); cleared when the credentials change. */
  authFailed: (DeliveryError & { at: number }) | null;
  /** Bumped whenever a credential changes, so a held queue knows it may try again. */
  credentialsVersion: number;
}

export interface WhatsAppSettings extends Common {
  phoneNumberId: string | null;
  accessToken: string | null;
  appSecret: string | null;
  verifyToken: string | null;
  retiredAppSecrets: Retired[];
}

export interface TwilioSettings extends Common {
  accountSid: string | null;
  authToken: string | null;
  fromNumber: string | null;
  messagingServiceSid: string | null;
  retiredAuthTokens: Retired[];
}

export interface ApiChannelSettings extends Common {
  webhookUrl: string | null;
  secret: string | null;
  retiredSecrets: Retired[];
}

export interface WebchatSettings {
  enabled: boolean;
  allowedOrigins: string[];
  title: string;
  greeting: string;
  color: string;
}

export interface ChannelSettings {
  whatsapp: WhatsAppSettings;
  twilio: TwilioSettings;
  api: ApiChannelSettings;
  webchat: WebchatSettings;
}

const common = (): Common => ({ enabled: false, authFailed: null, credentialsVersion: 0 });

export const DEFAULT_CHANNELS: ChannelSettings = {
  whatsapp: {
    ...common(),
    phoneNumberId: null,
    accessToken: null,
    appSecret: null,
    verifyToken: null,
    retiredAppSecrets: [],
  },
  twilio: {
    ...common(),
    accountSid: null,
    authToken: null,
    fromNumber: null,
    messagingServiceSid: null,
    retiredAuthTokens: [],
  },
  api: { ...common(), webhookUrl: null, secret: null, retiredSecrets: [] },
  webchat: {
    enabled: false,
    allowedOrigins: [],
    title: "Chat with us",
    greeting: "",
    color: "#1f6feb",
  },
};

const CHANNELS: readonly SettingsChannel[] = ["whatsapp", "twilio", "api", "webchat"];

/** Every channel's settings, defaults filled in (one read). */
export async function getChannelSettings(kv: Deno.Kv): Promise<ChannelSettings> {
  return channelSettingsFrom(await kv.getMany<unknown[]>(CHANNEL_SETTINGS_KEYS));
}

/** The keys `getChannelSettings` reads, for callers that fold them into a larger `getMany`. */
export const CHANNEL_SETTINGS_KEYS: Deno.KvKey[] = ["whatsapp", "twilio", "api", "webchat"].map(
  (c) => keys.channelSettings(c),
);

/** The credentials version in one channel's settings entry (0 before any set-up). */
export function credentialsVersionOf(entry: Deno.KvEntryMaybe<unknown>): number {
  const stored = entry.value;
  const version = stored && typeof stored === "object"
    ? (stored as { credentialsVersion?: unknown }).credentialsVersion
    : undefined;
  return typeof version === "number" ? version : 0;
}

/** Settings from the entries of `CHANNEL_SETTINGS_KEYS`, in that order. */
export function channelSettingsFrom(entries: Deno.KvEntryMaybe<unknown>[]): ChannelSettings {
  const out = structuredClone(DEFAULT_CHANNELS) as unknown as Record<string, unknown>;
  CHANNELS.forEach((channel, i) => {
    const stored = entries[i].value;
    if (stored && typeof stored === "object") {
      out[channel] = { ...(out[channel] as object), ...(stored as object) };
    }
  });
  return out as unknown as ChannelSettings;
}

export type ChannelStatus = "disabled" | "active" | "auth_failed";

export function channelStatus(s: Common): ChannelStatus {
  if (!s.enabled) return "disabled";
  return s.authFailed ? "auth_failed" : "active";
}

/** `GET /api/channels`: never a secret, only whether each is set (rule 31). */
export function publicChannels(all: ChannelSettings) {
  const { whatsapp: w, twilio: t, api: a, webchat } = all;
  return {
    whatsapp: {
      enabled: w.enabled,
      phoneNumberId: w.phoneNumberId,
      accessTokenSet: w.accessToken !== null,
      appSecretSet: w.appSecret !== null,
      verifyTokenSet: w.verifyToken !== null,
      status: channelStatus(w),
      ...(w.authFailed
        ? { error: { code: w.authFailed.code, message: w.authFailed.message } }
        : {}),
    },
    twilio: {
      enabled: t.enabled,
      accountSid: t.accountSid,
      fromNumber: t.fromNumber,
      messagingServiceSid: t.messagingServiceSid,
      authTokenSet: t.authToken !== null,
      status: channelStatus(t),
      ...(t.authFailed
        ? { error: { code: t.authFailed.code, message: t.authFailed.message } }
        : {}),
    },
    api: {
      enabled: a.enabled,
      webhookUrl: a.webhookUrl,
      secretSet: a.secret !== null,
      status: channelStatus(a),
      ...(a.authFailed
        ? { error: { code: a.authFailed.code, message: a.authFailed.message } }
        : {}),
    },
    webchat: {
      enabled: webchat.enabled,
      allowedOrigins: webchat.allowedOrigins,
      title: webchat.title,
      greeting: webchat.greeting,
      color: webchat.color,
    },
  };
}

/** Secrets that verify a webhook now: the current one and those replaced less than 24 h ago. */
export function verifyingSecrets(
  current: string | null,
  retired: Retired[],
  now: number,
): string[] {
  return [
    ...(current !== null ? [current] : []),
    ...retired.filter((r) => r.until > now).map((r) => r.value),
  ];
}

/** Reads one field of a PUT: absent → unchanged, null → cleared, else checked by `test`. */
function field(
  body: Body,
  name: string,
  test: (value: string) => boolean,
  hint: string,
  max = 512,
): string | null | undefined {
  if (!(name in body)) return undefined;
  const value = body[name];
  if (value === null) return null;
  if (typeof value !== "string" || value.length > max || !test(value.trim())) {
    throw new Invalid("invalid_field", `"${name}": ${hint}`, { [name]: hint });
  }
  return value.trim();
}

// deno-lint-ignore no-control-regex
const anyText = (v: string) => v.length > 0 && !/[\u0000-\u001f]/.test(v);

function enabledField(body: Body): boolean | undefined {
  if (!("enabled" in body)) return undefined;
  if (typeof body.enabled !== "boolean") {
    throw new Invalid("invalid_field", '"enabled" must be true or false.', {
      enabled: "true or false.",
    });
  }
  return body.enabled;
}

/** Applies a secret change, keeping the old value for 24 h of webhook verification. */
function replaceSecret(
  current: string | null,
  next: string | null | undefined,
  retired: Retired[],
  now: number,
): [string | null, Retired[]] {
  if (next === undefined || next === current) return [current, retired];
  const kept = retired.filter((r) => r.until > now);
  return [next, current !== null ? [...kept, { value: current, until: now + DAY }] : kept];
}

function requireFields(channel: string, missing: string[]) {
  if (missing.length) {
    throw new Unprocessable(
      "channel_incomplete",
      `The ${channel} channel cannot be enabled without: ${missing.join(", ")}.`,
      missing,
    );
  }
}

export interface UpdateContext {
  clock: Clock;
  /** Twilio needs it to sign and receive status callbacks. */
  publicUrl: string | null;
}

/**
 * `PUT /api/channels/:channel`: any part of the channel's settings; `null` clears a field.
 * Returns the new settings and whether its credentials changed (a held queue may go again).
 */
export async function updateChannel(
  kv: Deno.Kv,
  channel: SettingsChannel,
  input: unknown,
  ctx: UpdateContext,
): Promise<{ settings: ChannelSettings; resumed: boolean }> {
  const body = asBody(input);
  return await retryCommit(async () => {
    const entry = await kv.get(keys.channelSettings(channel));
    const all = await getChannelSettings(kv);
    const now = ctx.clock.now();
    let resumed = false;
    switch (channel) {
      case "whatsapp": {
        const before = all.whatsapp;
        const phoneNumberId = field(body, "phoneNumberId", (v) => /^\d{1,32}$/.test(v), "digits.");
        const accessToken = field(body, "accessToken", anyText, "a token.", 4096);
        const appSecret = field(body, "appSecret", anyText, "a secret.");
        const verifyToken = field(body, "verifyToken", anyText, "a token.");
        const enabled = enabledField(body);
        const [secret, retired] = replaceSecret(
          before.appSecret,
          appSecret,
          before.retiredAppSecrets,
          now,
        );
        const next: WhatsAppSettings = {
          ...before,
          phoneNumberId: phoneNumberId === undefined ? before.phoneNumberId : phoneNumberId,
          accessToken: accessToken === undefined ? before.accessToken : accessToken,
          appSecret: secret,
          retiredAppSecrets: retired,
          verifyToken: verifyToken === undefined ? before.verifyToken : verifyToken,
          enabled: enabled ?? before.enabled,
        };
        resumed = next.accessToken !== before.accessToken ||
          next.phoneNumberId !== before.phoneNumberId;
        if (next.enabled) {
          requireFields(
            "WhatsApp",
            (["phoneNumberId", "accessToken", "appSecret", "verifyToken"] as const)
              .filter((k) => next[k] === null),
          );
        }
        all.whatsapp = credentialsChanged(next, resumed, enabled, before.enabled);
        break;
      }
      case "twilio": {
        const before = all.twilio;
        const accountSid = field(body, "accountSid", (v) => /^AC[0-9a-fA-F]{32}$/.test(v), "AC…");
        const authToken = field(body, "authToken", anyText, "a token.");
        const fromNumber = field(body, "fromNumber", (v) => /^\+[1-9][0-9]{4,16}$/.test(v), "+…");
        const service = field(
          body,
          "messagingServiceSid",
          (v) => /^MG[0-9a-fA-F]{32}$/.test(v),
          "MG…",
        );
        if (typeof fromNumber === "string" && typeof service === "string") {
          throw new Invalid(
            "invalid_field",
            'Give "fromNumber" or "messagingServiceSid", not both.',
            { fromNumber: "One sender only." },
          );
        }
        const enabled = enabledField(body);
        const [token, retired] = replaceSecret(
          before.authToken,
          authToken,
          before.retiredAuthTokens,
          now,
        );
        let next: TwilioSettings = {
          ...before,
          accountSid: accountSid === undefined ? before.accountSid : accountSid,
          authToken: token,
          retiredAuthTokens: retired,
          fromNumber: fromNumber === undefined ? before.fromNumber : fromNumber,
          messagingServiceSid: service === undefined ? before.messagingServiceSid : service,
          enabled: enabled ?? before.enabled,
        };
        // Setting one sender clears the other.
        if (typeof fromNumber === "string") next = { ...next, messagingServiceSid: null };
        if (typeof service === "string") next = { ...next, fromNumber: null };
        resumed = next.authToken !== before.authToken || next.accountSid !== before.accountSid;
        if (next.enabled) {
          const missing: string[] = (["accountSid", "authToken"] as const).filter((k) =>
            next[k] === null
          );
          if (next.fromNumber === null && next.messagingServiceSid === null) {
            missing.push("fromNumber or messagingServiceSid");
          }
          if (!ctx.publicUrl) missing.push("CHATDESK_PUBLIC_URL");
          requireFields("Twilio", missing);
        }
        all.twilio = credentialsChanged(next, resumed, enabled, before.enabled);
        break;
      }
      case "api": {
        const before = all.api;
        const webhookUrl = field(
          body,
          "webhookUrl",
          (v) => secureUrl(v) !== null,
          "an https:// URL (http:// only to a loopback address).",
          2048,
        );
        const secret = field(body, "secret", anyText, "a secret.");
        const enabled = enabledField(body);
        const [current, retired] = replaceSecret(before.secret, secret, before.retiredSecrets, now);
        const next: ApiChannelSettings = {
          ...before,
          webhookUrl: webhookUrl === undefined ? before.webhookUrl : webhookUrl,
          secret: current,
          retiredSecrets: retired,
          enabled: enabled ?? before.enabled,
        };
        resumed = next.webhookUrl !== before.webhookUrl || next.secret !== before.secret;
        if (next.enabled) {
          requireFields(
            "API",
            (["webhookUrl", "secret"] as const).filter((k) => next[k] === null),
          );
        }
        all.api = credentialsChanged(next, resumed, enabled, before.enabled);
        break;
      }
      case "webchat":
        all.webchat = parseWebchat(body, all.webchat);
        resumed = false;
        break;
    }
    const op = kv.atomic().check(entry).set(keys.channelSettings(channel), all[channel]);
    return (await op.commit()).ok ? { settings: all, resumed } : undefined;
  });
}

/** New credentials clear an auth pause; enabling again also lets a held queue go. */
function credentialsChanged<T extends Common>(
  next: T,
  changed: boolean,
  enabled: boolean | undefined,
  wasEnabled: boolean,
): T {
  if (!changed && !(enabled === true && !wasEnabled)) return next;
  return {
    ...next,
    authFailed: changed ? null : next.authFailed,
    credentialsVersion: next.credentialsVersion + (changed ? 1 : 0),
  };
}

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-fA-F:]+\](:\d{1,5})?$/;

function parseWebchat(body: Body, before: WebchatSettings): WebchatSettings {
  const next = { ...before };
  const enabled = enabledField(body);
  if (enabled !== undefined) next.enabled = enabled;
  if ("allowedOrigins" in body) {
    const list = body.allowedOrigins;
    if (
      !Array.isArray(list) || list.length > 50 ||
      list.some((o) => typeof o !== "string" || !ORIGIN.test(o))
    ) {
      throw new Invalid(
        "invalid_field",
        '"allowedOrigins" must be a list of exact origins like https://shop.example.',
        { allowedOrigins: "Exact origins: scheme://host[:port]." },
      );
    }
    next.allowedOrigins = [...new Set(list as string[])];
  }
  const text = (name: "title" | "greeting", max: number, min: number) => {
    if (!(name in body)) return;
    const v = body[name];
    if (typeof v !== "string" || v.trim().length < min || v.length > max) {
      throw new Invalid("invalid_field", `"${name}" must be text of at most ${max} characters.`, {
        [name]: `At most ${max} characters.`,
      });
    }
    next[name] = v.trim();
  };
  text("title", 60, 1);
  text("greeting", 500, 0);
  if ("color" in body) {
    if (typeof body.color !== "string" || !/^#[0-9a-fA-F]{6}$/.test(body.color)) {
      throw new Invalid("invalid_field", '"color" must look like #1f6feb.', { color: "#rrggbb" });
    }
    next.color = body.color.toLowerCase();
  }
  return next;
}

/**
 * Rule 30's preview on Admin › Integrations: the look typed settings would give, each field checked
 * by the same rules as a save (`parseWebchat`). A missing or refused field keeps the saved value,
 * which is what visitors go on seeing when such a save is refused.
 */
export function previewWebchatLook(
  typed: { title?: string; greeting?: string; color?: string },
  saved: WebchatSettings,
): Pick<WebchatSettings, "title" | "greeting" | "color"> {
  const look = { title: saved.title, greeting: saved.greeting, color: saved.color };
  for (const field of ["title", "greeting", "color"] as const) {
    if (typed[field] === undefined) continue;
    try {
      look[field] = parseWebchat({ [field]: typed[field] }, saved)[field];
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
    }
  }
  return look;
}

/** Rule 25: an auth failure pauses the channel (until its credentials change). */
export async function pauseChannel(
  kv: Deno.Kv,
  channel: ProviderChannel,
  credentialsVersion: number,
  error: DeliveryError,
  at: number,
): Promise<void> {
  await retryCommit(async () => {
    const entry = await kv.get(keys.channelSettings(channel));
    const current = (await getChannelSettings(kv))[channel];
    // New credentials arrived while the failing call was in flight: they get their own try.
    if (current.credentialsVersion !== credentialsVersion || current.authFailed) return true;
    const next = { ...current, authFailed: { ...error, at } };
    const ok = (await kv.atomic().check(entry).set(keys.channelSettings(channel), next).commit())
      .ok;
    return ok ? true : undefined;
  });
}
