/**
 * The admin business-hours form (rule 22) in plain form fields, and back: rows of intervals per
 * weekday and rows of closures, which the form adds and removes with submit buttons, so it needs
 * no JavaScript. Validation is parseBusinessHours'; this layer adds what a form needs: row-level
 * messages keyed by field, blank rows ignored, and an end of 00:00 read as midnight (24:00),
 * because a time input cannot show 24:00.
 */
import {
  type BusinessHours,
  type FieldErrors,
  type Interval,
  parseBusinessHours,
  type Weekday,
  WEEKDAYS,
} from "./business_hours.ts";

export interface IntervalRow {
  start: string;
  end: string;
}
export interface ClosureRow {
  date: string;
  label: string;
}
export interface HoursDraft {
  timeZone: string;
  days: Record<Weekday, IntervalRow[]>;
  closures: ClosureRow[];
}

export type HoursAction =
  | { kind: "save" }
  | { kind: "preview" }
  | { kind: "add"; day: Weekday }
  | { kind: "remove"; day: Weekday; index: number }
  | { kind: "addClosure" }
  | { kind: "removeClosure"; index: number };

/** Form rows per day / closures; more is refused as a sign of a broken or hostile post. */
export const MAX_INTERVAL_ROWS = 8;
export const MAX_CLOSURE_ROWS = 200;
export const MAX_LABEL_LENGTH = 80;

/** Anything with `getAll`: FormData or URLSearchParams. */
export interface FormFields {
  getAll(name: string): unknown[];
}

const text = (v: unknown): string => typeof v === "string" ? v : "";
const first = (form: FormFields, name: string): string => text(form.getAll(name)[0]).trim();
const emptyDays = (): Record<Weekday, IntervalRow[]> =>
  Object.fromEntries(WEEKDAYS.map((d) => [d, []])) as unknown as Record<Weekday, IntervalRow[]>;

/** The form's starting rows: what is stored, 24:00 shown as 00:00 (a time input's midnight). */
export function draftFromHours(hours: BusinessHours): HoursDraft {
  const days = emptyDays();
  for (const day of WEEKDAYS) {
    days[day] = (hours.weekly[day] ?? []).map(([start, end]) => ({
      start,
      end: end === "24:00" ? "00:00" : end,
    }));
  }
  return {
    timeZone: hours.timeZone,
    days,
    closures: hours.closures.map((date) => ({ date, label: hours.closureLabels[date] ?? "" })),
  };
}

/** Field names: `timeZone`, `mon.start`/`mon.end` (one pair per row), `closure.date`/`closure.label`. */
export const fieldName = {
  start: (day: Weekday) => `${day}.start`,
  end: (day: Weekday) => `${day}.end`,
  closureDate: "closure.date",
  closureLabel: "closure.label",
  /** The key an error of one row is reported under. */
  row: (day: Weekday, index: number) => `${day}.${index}`,
  closureRow: (index: number) => `closure.${index}`,
} as const;

/** Which button was pressed: `op=save|preview|add:mon|remove:mon:1|add:closure|remove:closure:2`. */
export function parseAction(op: string): HoursAction {
  const [verb, what, index] = op.split(":");
  const n = Number(index);
  const isDay = (WEEKDAYS as readonly string[]).includes(what);
  if (verb === "preview") return { kind: "preview" };
  if (verb === "add" && what === "closure") return { kind: "addClosure" };
  if (verb === "add" && isDay) return { kind: "add", day: what as Weekday };
  if (verb === "remove" && Number.isInteger(n) && n >= 0) {
    if (what === "closure") return { kind: "removeClosure", index: n };
    if (isDay) return { kind: "remove", day: what as Weekday, index: n };
  }
  return { kind: "save" };
}

/** Reads the posted fields back into rows exactly as typed (trimmed), so a refusal can show them. */
export function draftFromForm(form: FormFields): { draft: HoursDraft; action: HoursAction } {
  const days = emptyDays();
  for (const day of WEEKDAYS) {
    const starts = form.getAll(fieldName.start(day)).map(text);
    const ends = form.getAll(fieldName.end(day)).map(text);
    const rows = Math.min(Math.max(starts.length, ends.length), MAX_INTERVAL_ROWS);
    for (let i = 0; i < rows; i++) {
      days[day].push({ start: (starts[i] ?? "").trim(), end: (ends[i] ?? "").trim() });
    }
  }
  const dates = form.getAll(fieldName.closureDate).map(text);
  const labels = form.getAll(fieldName.closureLabel).map(text);
  const closures: ClosureRow[] = [];
  const rows = Math.min(Math.max(dates.length, labels.length), MAX_CLOSURE_ROWS);
  for (let i = 0; i < rows; i++) {
    closures.push({ date: (dates[i] ?? "").trim(), label: (labels[i] ?? "").trim() });
  }
  return {
    draft: { timeZone: first(form, "timeZone"), days, closures },
    action: parseAction(first(form, "op")),
  };
}

/** Adds or removes one row; save and preview leave the draft as it is. */
export function applyAction(draft: HoursDraft, action: HoursAction): HoursDraft {
  const next = structuredClone(draft);
  switch (action.kind) {
    case "add":
      if (next.days[action.day].length < MAX_INTERVAL_ROWS) {
        next.days[action.day].push({ start: "", end: "" });
      }
      break;
    case "remove":
      next.days[action.day].splice(action.index, 1);
      break;
    case "addClosure":
      if (next.closures.length < MAX_CLOSURE_ROWS) next.closures.push({ date: "", label: "" });
      break;
    case "removeClosure":
      next.closures.splice(action.index, 1);
      break;
  }
  return next;
}

/** "9:00", "09:00:00" → "09:00"; anything else is passed on for the domain to refuse. */
function normalTime(value: string): string {
  const m = /^(\d{1,2}):(\d{2})(?::00(?:\.0+)?)?$/.exec(value);
  return m ? `${m[1].padStart(2, "0")}:${m[2]}` : value;
}

/**
 * Rule 22: validates the rows into BusinessHours with parseBusinessHours. Blank rows are ignored;
 * errors are keyed by form row (`mon.1`, `closure.0`) or `timeZone`, next to what was typed.
 */
export function hoursFromDraft(
  draft: HoursDraft,
  base: BusinessHours,
): { ok: true; value: BusinessHours } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (!draft.timeZone) errors.timeZone = "Choose a time zone.";

  const weekly: Partial<Record<Weekday, Interval[]>> = {};
  /** Domain index → form row index, per day, to put messages next to the right row. */
  const rowOf: Partial<Record<Weekday, number[]>> = {};
  for (const day of WEEKDAYS) {
    const intervals: Interval[] = [];
    const rows: number[] = [];
    draft.days[day].forEach(({ start, end }, i) => {
      if (!start && !end) return;
      if (!start || !end) {
        errors[fieldName.row(day, i)] = `Enter both a start and an end time.`;
        return;
      }
      const s = normalTime(start);
      const e = normalTime(end);
      intervals.push([s, e === "00:00" ? "24:00" : e]);
      rows.push(i);
    });
    if (intervals.length) weekly[day] = intervals;
    rowOf[day] = rows;
  }

  const closures: { date: string; label: string }[] = [];
  const closureRow: number[] = [];
  draft.closures.forEach(({ date, label }, i) => {
    if (!date && !label) return;
    if (!date) errors[fieldName.closureRow(i)] = "Enter the date of this closure.";
    else if (label.length > MAX_LABEL_LENGTH) {
      errors[fieldName.closureRow(i)] = `Keep the label to ${MAX_LABEL_LENGTH} characters.`;
    } else {
      closures.push({ date, label });
      closureRow.push(i);
    }
  });

  const parsed = parseBusinessHours(
    { ...(draft.timeZone ? { timeZone: draft.timeZone } : {}), weekly, closures },
    base,
  );
  if (!parsed.ok) {
    for (const [path, message] of Object.entries(parsed.errors)) {
      const parts = path.split(".");
      if (parts[0] === "weekly" && parts.length >= 3) {
        const day = parts[1] as Weekday;
        const row = rowOf[day]?.[Number(parts[2])];
        errors[row === undefined ? `${day}` : fieldName.row(day, row)] ??= message;
      } else if (parts[0] === "closures" && parts.length >= 2) {
        const row = closureRow[Number(parts[1])];
        errors[row === undefined ? "closures" : fieldName.closureRow(row)] ??= message;
      } else errors[parts[0] === "timeZone" ? "timeZone" : "form"] ??= message;
    }
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  if (!parsed.ok) return { ok: false, errors: { form: "Not valid." } };
  return { ok: true, value: parsed.value };
}

/** The part of a settings update the form saves. */
export function hoursUpdate(hours: BusinessHours): { hours: Record<string, unknown> } {
  return {
    hours: {
      timeZone: hours.timeZone,
      weekly: hours.weekly,
      closures: hours.closures.map((date) => ({ date, label: hours.closureLabels[date] ?? "" })),
    },
  };
}

/** Current IANA names that ICU still lists under an older alias (Intl lists "Asia/Calcutta"). */
const MODERN_NAMES: Record<string, string> = {
  "Asia/Calcutta": "Asia/Kolkata",
  "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon",
  "Europe/Kiev": "Europe/Kyiv",
  "America/Godthab": "America/Nuuk",
  "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
  "America/Indianapolis": "America/Indiana/Indianapolis",
  "America/Louisville": "America/Kentucky/Louisville",
  "Africa/Asmera": "Africa/Asmara",
  "Atlantic/Faeroe": "Atlantic/Faroe",
  "Pacific/Truk": "Pacific/Chuuk",
  "Pacific/Ponape": "Pacific/Pohnpei",
  "Pacific/Enderbury": "Pacific/Kanton",
};

/**
 * The form's searchable zone list: every zone the runtime knows, plus the current names of the
 * ones it lists under an old alias (so "Kolkata" is found), plus the stored zone if still missing.
 */
export function zoneChoices(zones: string[], stored: string): string[] {
  const all = new Set(zones);
  for (const z of zones) if (MODERN_NAMES[z]) all.add(MODERN_NAMES[z]);
  if (stored) all.add(stored);
  return [...all].sort();
}
