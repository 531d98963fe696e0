/** Account settings with the SPEC defaults; admins edit any part (SPEC "Defaults"). */
import {
  type BusinessHours,
  DEFAULT_HOURS,
  type FieldErrors,
  parseBusinessHours,
} from "./business_hours.ts";
import { Invalid } from "./errors.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import type { Texts, Timeouts } from "./types.ts";

export interface Settings {
  hours: BusinessHours;
  timeouts: Timeouts;
  texts: Texts;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  intakeMinutes: 10,
  sessionMinutes: 10,
  pendingMinutes: 5,
  archiveDays: 90,
  whatsappWindowHours: 24,
};

/** Sane bounds for each timeout, [min, max]. */
export const TIMEOUT_BOUNDS: Record<keyof Timeouts, [number, number]> = {
  intakeMinutes: [1, 24 * 60],
  sessionMinutes: [1, 24 * 60],
  pendingMinutes: [1, 24 * 60],
  archiveDays: [1, 3650],
  whatsappWindowHours: [1, 24 * 7],
};

export const DEFAULT_TEXTS: Texts = {
  outOfHours:
    "Thanks for your message. We are closed right now, and an agent will get back to you when we open.",
  noAgent: "Thanks for your message. All our agents are busy right now.",
  prompt:
    'Would you like to leave a message for the agent? Please respond with YES or NO. If you select Yes, after your last message, please send "//end" without the quotes to end the chat.',
  yesAck: "Thank you. Please type your message; send //end when you are done.",
  noGoodbye: "Thank you for contacting us. Goodbye.",
  endAck:
    "Thank you. Your message has been passed to our agents, who will reply as soon as they can.",
};

export const TEXT_LABELS: Record<keyof Texts, string> = {
  outOfHours: "Out-of-hours notice",
  noAgent: "No-agent notice",
  prompt: "YES/NO prompt",
  yesAck: "YES acknowledgement",
  noGoodbye: "NO goodbye",
  endAck: "//end acknowledgement",
};

export const MAX_TEXT_LENGTH = 1000;

export const DEFAULT_SETTINGS: Settings = {
  hours: DEFAULT_HOURS,
  timeouts: DEFAULT_TIMEOUTS,
  texts: DEFAULT_TEXTS,
};

export async function getSettings(kv: Deno.Kv): Promise<Settings> {
  const entry = await kv.get<Settings>(keys.settings());
  return withDefaults(entry.value);
}

/** Stored settings over the defaults (a missing part keeps its default). */
export function withDefaults(value: Partial<Settings> | null): Settings {
  return {
    hours: { ...DEFAULT_HOURS, ...value?.hours },
    timeouts: { ...DEFAULT_TIMEOUTS, ...value?.timeouts },
    texts: { ...DEFAULT_TEXTS, ...value?.texts },
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a partial settings update against the current settings; collects every field error. */
export function parseSettingsUpdate(input: unknown, current: Settings): Settings {
  if (!isRecord(input)) throw new Invalid("invalid_settings", "Settings must be a JSON object.");
  const errors: FieldErrors = {};
  const next: Settings = structuredClone(current);
  for (const key of Object.keys(input)) {
    if (!["hours", "timeouts", "texts"].includes(key)) errors[key] = "Unknown setting.";
  }
  if (input.hours !== undefined) {
    const parsed = parseBusinessHours(input.hours, current.hours);
    if (parsed.ok) next.hours = parsed.value;
    else {for (const [field, message] of Object.entries(parsed.errors)) {
        errors[`hours.${field}`] = message;
      }}
  }
  if (input.timeouts !== undefined) {
    if (!isRecord(input.timeouts)) errors.timeouts = "Timeouts must be an object.";
    else {
      for (const [name, value] of Object.entries(input.timeouts)) {
        const bounds = TIMEOUT_BOUNDS[name as keyof Timeouts];
        if (!bounds) errors[`timeouts.${name}`] = "Unknown timeout.";
        else if (
          typeof value !== "number" || !Number.isInteger(value) || value < bounds[0] ||
          value > bounds[1]
        ) {
          errors[`timeouts.${name}`] = `Must be a whole number from ${bounds[0]} to ${bounds[1]}.`;
        } else next.timeouts[name as keyof Timeouts] = value;
      }
    }
  }
  if (input.texts !== undefined) {
    if (!isRecord(input.texts)) errors.texts = "Texts must be an object.";
    else {
      for (const [name, value] of Object.entries(input.texts)) {
        if (!(name in DEFAULT_TEXTS)) errors[`texts.${name}`] = "Unknown text.";
        else if (typeof value !== "string" || value.trim() === "") {
          errors[`texts.${name}`] = "Must not be empty.";
        } else if (value.length > MAX_TEXT_LENGTH) {
          errors[`texts.${name}`] = `At most ${MAX_TEXT_LENGTH} characters.`;
        } else next.texts[name as keyof Texts] = value.trim();
      }
    }
  }
  if (Object.keys(errors).length) {
    throw new Invalid("invalid_settings", "Some settings are not valid.", errors);
  }
  return next;
}

/** Applies a validated update atomically (a concurrent edit makes the later one retry on fresh data). */
export async function updateSettings(kv: Deno.Kv, input: unknown): Promise<Settings> {
  return await retryCommit(async () => {
    const entry = await kv.get<Settings>(keys.settings());
    const next = parseSettingsUpdate(input, withDefaults(entry.value));
    return (await kv.atomic().check(entry).set(keys.settings(), next).commit()).ok
      ? next
      : undefined;
  });
}
