/** Field readers for untrusted JSON: each throws a clear `Invalid` naming the field. */
import { Invalid } from "./errors.ts";

export type Body = Record<string, unknown>;

/** C0 and C1 control characters (NUL, ESC, BEL, line breaks, tabs, …): never part of a name. */
const CONTROL = /\p{Cc}/u;
const CONTROLS = /\p{Cc}+/gu;

/**
 * A name a provider or gateway sent, made one line: control characters become one space (the
 * message is never refused for its sender's name).
 */
export function oneLineName(text: string): string {
  return text.replace(CONTROLS, " ").replace(/ {2,}/g, " ").trim();
}

export function asBody(input: unknown): Body {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new Invalid("invalid_body", "The request body must be a JSON object.");
  }
  return input as Body;
}

export function str(
  body: Body,
  field: string,
  opts: { max?: number; min?: number; optional?: false; line?: boolean },
): string;
export function str(
  body: Body,
  field: string,
  opts: { max?: number; min?: number; optional: true; line?: boolean },
): string | undefined;
export function str(
  body: Body,
  field: string,
  opts: { max?: number; min?: number; optional?: boolean; line?: boolean } = {},
) {
  const value = body[field];
  if (value === undefined || value === null) {
    if (opts.optional) return undefined;
    throw new Invalid("missing_field", `"${field}" is required.`, { [field]: "Required." });
  }
  if (typeof value !== "string") {
    throw new Invalid("invalid_field", `"${field}" must be a string.`, {
      [field]: "Must be text.",
    });
  }
  const min = opts.min ?? 1;
  if (value.trim().length < min) {
    throw new Invalid("invalid_field", `"${field}" must have at least ${min} character(s).`, {
      [field]: "Too short.",
    });
  }
  if (opts.max !== undefined && value.length > opts.max) {
    throw new Invalid("invalid_field", `"${field}" must have at most ${opts.max} characters.`, {
      [field]: `At most ${opts.max} characters.`,
    });
  }
  // A name or title staff type (`line`): one line, no control characters (a NUL shows as nothing
  // on a page but as U+FFFD in a form field, so saving the form again would change it).
  if (opts.line && CONTROL.test(value)) {
    throw new Invalid(
      "invalid_field",
      `"${field}" must be one line of text without control characters.`,
      { [field]: "One line, no control characters." },
    );
  }
  return value;
}

export function oneOf<T extends string>(body: Body, field: string, allowed: readonly T[]): T {
  const value = body[field];
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new Invalid("invalid_field", `"${field}" must be one of ${allowed.join(", ")}.`, {
      [field]: `One of ${allowed.join(", ")}.`,
    });
  }
  return value as T;
}

export function int(body: Body, field: string, min: number, max: number): number {
  const value = body[field];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new Invalid("invalid_field", `"${field}" must be a whole number from ${min} to ${max}.`, {
      [field]: `A whole number from ${min} to ${max}.`,
    });
  }
  return value;
}

export function strList(body: Body, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new Invalid("invalid_field", `"${field}" must be a list of strings.`, {
      [field]: "A list of ids.",
    });
  }
  return [...new Set(value as string[])];
}

export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
