/**
 * Business hours (SPEC rule 22): per account, an IANA time zone, a weekly schedule with several
 * intervals a day, and dated closures. Daylight-saving changes must not shift opening hours, so
 * every rule is evaluated on the local calendar of the business zone with `Temporal` (from
 * `temporal.ts`, which avoids the runtime's when it gets those changes wrong).
 */
import { Temporal } from "./temporal.ts";

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";
const MAX_LABEL = 80;
const MAX_INTERVALS = 12;
/** About three years of public holidays and shutdowns; keeps the settings value far below 64 KiB. */
const MAX_CLOSURES = 400;

export const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** "HH:MM" local times, start < end; end may be "24:00" (the start of the next local day). */
export type Interval = [string, string];
export interface BusinessHours {
  timeZone: string;
  /** A day missing or [] is closed. */
  weekly: Partial<Record<Weekday, Interval[]>>;
  /** "YYYY-MM-DD" local dates closed all day, sorted and unique. */
  closures: string[];
  closureLabels: Record<string, string>;
}
export type FieldErrors = Record<string, string>;

export const DEFAULT_HOURS: BusinessHours = {
  timeZone: "UTC",
  weekly: Object.fromEntries(
    WEEKDAYS.slice(0, 5).map((d): [Weekday, Interval[]] => [d, [["09:00", "17:00"]]]),
  ),
  closures: [],
  closureLabels: {},
};

const WEEKDAY_NAMES = [
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
  "Sunday",
];
const HORIZON_DAYS = 400;
const MINUTE = 60_000;

const zoned = (timeZone: string, atMs: number) =>
  Temporal.Instant.fromEpochMilliseconds(atMs).toZonedDateTimeISO(timeZone);

/** The local calendar date "YYYY-MM-DD" of an instant in the zone ("today" stats, rule 22). */
export function localDate(timeZone: string, atMs: number): string {
  return zoned(timeZone, atMs).toPlainDate().toString();
}

/** Start of the local day containing atMs; a DST day is 23 or 25 hours long (rule 22). */
export function startOfLocalDay(timeZone: string, atMs: number): number {
  return zoned(timeZone, atMs).startOfDay().epochMilliseconds;
}

/** Open spans [start, end) in epoch ms of one local date, sorted and merged when touching. */
function spansOn(hours: BusinessHours, date: Temporal.PlainDate): [number, number][] {
  const { timeZone } = hours;
  if (hours.closures.includes(date.toString())) return [];
  const dayStart = date.toZonedDateTime(timeZone).epochMilliseconds;
  const dayEnd = date.add({ days: 1 }).toZonedDateTime(timeZone).epochMilliseconds;
  // "compatible": a local time skipped by spring-forward resolves to the later wall time.
  const at = (t: string) =>
    t === "24:00" ? dayEnd : date.toZonedDateTime({ timeZone, plainTime: t }).epochMilliseconds;
  const spans = (hours.weekly[WEEKDAYS[date.dayOfWeek - 1]] ?? [])
    .map(([s, e]): [number, number] => [
      Math.max(dayStart, at(s)),
      Math.min(dayEnd, at(e)),
    ])
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [s, e] of spans) {
    const last = merged.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  return merged;
}

/** Rule 22: is the business open at this instant? Start inclusive, end exclusive. */
export function isOpenAt(hours: BusinessHours, atMs: number): boolean {
  const date = zoned(hours.timeZone, atMs).toPlainDate();
  return spansOn(hours, date).some(([s, e]) => s <= atMs && atMs < e);
}

/** Rule 22: next instant at/after atMs where the open state flips; null if none within 400 days. */
export function nextChangeAt(hours: BusinessHours, atMs: number): number | null {
  const first = zoned(hours.timeZone, atMs).toPlainDate();
  let openUntil = isOpenAt(hours, atMs) ? atMs : null;
  for (let i = 0; i <= HORIZON_DAYS; i++) {
    const date = first.add({ days: i });
    if (openUntil !== null && date.toZonedDateTime(hours.timeZone).epochMilliseconds > openUntil) {
      return openUntil;
    }
    for (const [s, e] of spansOn(hours, date)) {
      if (openUntil === null) {
        if (s > atMs) return s;
      } else if (s <= openUntil) openUntil = Math.max(openUntil, e);
      else return openUntil;
    }
  }
  return null;
}

const hhmm = (z: Temporal.ZonedDateTime) => z.toPlainTime().toString().slice(0, 5);
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;

function relative(ms: number): string {
  const minutes = Math.ceil(ms / MINUTE);
  if (minutes < 60) return plural(minutes, "minute");
  const hours = Math.round(minutes / 60);
  return hours < 24 ? plural(hours, "hour") : plural(Math.round(hours / 24), "day");
}

/**
 * Rule 22 preview for the admin form: "Open now until 17:00", "Closed — opens Monday 09:00 (in 2
 * days)", "Closed — no opening hours set". Local times in the business zone, 24h clock.
 */
export function describeOpening(hours: BusinessHours, atMs: number): string {
  const next = nextChangeAt(hours, atMs);
  const now = zoned(hours.timeZone, atMs);
  const today = now.toPlainDate();
  if (isOpenAt(hours, atMs)) {
    if (next === null) return "Open now";
    const end = zoned(hours.timeZone, next);
    const days = today.until(end.toPlainDate()).days;
    if (days === 0) return `Open now until ${hhmm(end)}`;
    if (days === 1 && next === end.startOfDay().epochMilliseconds) return "Open now until 24:00";
    return `Open now until ${WEEKDAY_NAMES[end.dayOfWeek - 1]} ${hhmm(end)}`;
  }
  if (next === null) return "Closed — no opening hours set";
  const open = zoned(hours.timeZone, next);
  const days = today.until(open.toPlainDate()).days;
  const day = days === 0
    ? "today"
    : days === 1
    ? "tomorrow"
    : days < 7
    ? WEEKDAY_NAMES[open.dayOfWeek - 1]
    : `${WEEKDAY_NAMES[open.dayOfWeek - 1]} ${open.toPlainDate()}`;
  return `Closed — opens ${day} ${hhmm(open)} (in ${relative(next - atMs)})`;
}

/** An IANA zone name such as "Europe/London" or "UTC" (offsets like "+02:00" are refused). */
export function isValidTimeZone(tz: string): boolean {
  return canonicalZone(tz) !== null;
}

function canonicalZone(tz: string): string | null {
  if (!/^[A-Za-z]/.test(tz)) return null;
  try {
    return Temporal.Now.zonedDateTimeISO(tz).timeZoneId;
  } catch {
    return null;
  }
}

/** Zone names for the admin form. */
export function timeZones(): string[] {
  const zones = Intl.supportedValuesOf("timeZone");
  return (zones.includes("UTC") ? zones : [...zones, "UTC"]).sort();
}

const TIME = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const FIELDS = ["timeZone", "weekly", "closures", "closureLabels"];

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function isRealDate(s: string): boolean {
  if (!DATE.test(s)) return false;
  try {
    Temporal.PlainDate.from(s);
    return true;
  } catch {
    return false;
  }
}

function parseInterval(v: unknown): Interval | string {
  if (!Array.isArray(v) || v.length !== 2 || v.some((t) => typeof t !== "string")) {
    return 'Expected ["HH:MM", "HH:MM"]';
  }
  const [s, e] = v as [string, string];
  if (!TIME.test(s)) return `Start "${s}" is not a time (HH:MM, 00:00–23:59)`;
  if (e !== "24:00" && !TIME.test(e)) return `End "${e}" is not a time (HH:MM, up to 24:00)`;
  if (e === "00:00") return "Use 24:00 for an end at midnight";
  if (e === s) return "End must be after start";
  if (e < s) {
    return `Ends before it starts: split it into ${s}–24:00 and next day 00:00–${e}`;
  }
  return [s, e];
}

function parseDay(path: string, v: unknown, errors: FieldErrors): Interval[] {
  if (!Array.isArray(v)) {
    errors[path] = "Expected a list of intervals";
    return [];
  }
  if (v.length > MAX_INTERVALS) {
    errors[path] = `At most ${MAX_INTERVALS} intervals a day`;
    return [];
  }
  const valid: { i: number; iv: Interval }[] = [];
  v.forEach((raw, i) => {
    const iv = parseInterval(raw);
    if (typeof iv === "string") errors[`${path}.${i}`] = iv;
    else valid.push({ i, iv });
  });
  valid.sort((a, b) => a.iv[0].localeCompare(b.iv[0]) || a.iv[1].localeCompare(b.iv[1]));
  // Touching (12:00 end, 12:00 start) is allowed; anything sharing a minute is refused.
  valid.forEach(({ i, iv }, k) => {
    const prev = valid.slice(0, k).find((p) => p.iv[1] > iv[0]);
    if (prev) errors[`${path}.${i}`] = `Overlaps ${prev.iv[0]}–${prev.iv[1]}`;
  });
  return valid.map(({ iv }) => iv);
}

function parseClosures(
  raw: unknown,
  labelsRaw: unknown,
  errors: FieldErrors,
): { closures: string[]; closureLabels: Record<string, string> } {
  const labels: Record<string, string> = {};
  const dates = new Set<string>();
  if (!Array.isArray(raw)) errors.closures = "Expected a list of dates";
  else if (raw.length > MAX_CLOSURES) errors.closures = `At most ${MAX_CLOSURES} closure dates`;
  else {
    raw.forEach((item, i) => {
      const date = isRecord(item) ? item.date : item;
      const label = isRecord(item) ? item.label ?? "" : "";
      if (typeof date !== "string" || !isRealDate(date)) {
        errors[`closures.${i}`] = "Not a valid date (YYYY-MM-DD)";
      } else if (typeof label !== "string") errors[`closures.${i}.label`] = "Expected text";
      else if (label.length > MAX_LABEL) {
        errors[`closures.${i}.label`] = `At most ${MAX_LABEL} characters`;
      } else {
        dates.add(date);
        if (label.trim() && !labels[date]) labels[date] = label.trim();
      }
    });
  }
  if (labelsRaw !== undefined && !isRecord(labelsRaw)) {
    errors.closureLabels = "Expected an object of date → label";
  } else {
    for (const [date, label] of Object.entries(labelsRaw ?? {})) {
      if (typeof label !== "string") errors[`closureLabels.${date}`] = "Expected text";
      else if (label.length > MAX_LABEL) {
        errors[`closureLabels.${date}`] = `At most ${MAX_LABEL} characters`;
      } else if (dates.has(date) && label.trim() && !labels[date]) labels[date] = label.trim();
    }
  }
  return { closures: [...dates].sort(), closureLabels: labels };
}

/**
 * Rule 22: validate untrusted input into BusinessHours. Missing parts come from `base`; a given
 * `weekly` replaces the whole week (a day missing is closed); given `closures` replace the list
 * and its labels. Errors are keyed by field path ("weekly.mon.1", "closures.0", "timeZone").
 */
export function parseBusinessHours(
  input: unknown,
  base: BusinessHours = DEFAULT_HOURS,
): { ok: true; value: BusinessHours } | { ok: false; errors: FieldErrors } {
  if (!isRecord(input)) return { ok: false, errors: { hours: "Expected an object" } };
  const errors: FieldErrors = {};
  for (const key of Object.keys(input)) {
    if (!FIELDS.includes(key)) errors[key] = "Unknown field";
  }

  let timeZone = base.timeZone;
  if (input.timeZone !== undefined) {
    const tz = typeof input.timeZone === "string" ? canonicalZone(input.timeZone.trim()) : null;
    if (tz) timeZone = tz;
    else errors.timeZone = "Unknown time zone";
  }

  let weekly = structuredClone(base.weekly);
  if (input.weekly !== undefined) {
    weekly = {};
    if (!isRecord(input.weekly)) errors.weekly = "Expected an object keyed by weekday";
    else {
      for (const [day, v] of Object.entries(input.weekly)) {
        if (!(WEEKDAYS as readonly string[]).includes(day)) {
          errors[`weekly.${day}`] = "Unknown weekday (use mon, tue, wed, thu, fri, sat, sun)";
        } else weekly[day as Weekday] = parseDay(`weekly.${day}`, v, errors);
      }
    }
  }

  let { closures, closureLabels } = structuredClone(base);
  if (input.closures !== undefined) {
    ({ closures, closureLabels } = parseClosures(input.closures, input.closureLabels, errors));
  } else if (input.closureLabels !== undefined) {
    ({ closureLabels } = parseClosures(closures, input.closureLabels, errors));
  }

  if (Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, value: { timeZone, weekly, closures, closureLabels } };
}
