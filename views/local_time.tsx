/**
 * Times in the business time zone (the zone of rule 22's business hours), labelled with it, for
 * conversation threads, notes and the customer panel. The machine-readable `datetime` stays UTC.
 */
import { Temporal } from "../domain/temporal.ts";

/** "2026-11-25 12:00" in `timeZone`; an unknown zone falls back to UTC rather than failing a page. */
export function zonedStamp(ms: number, timeZone: string): string {
  let local: Temporal.ZonedDateTime;
  try {
    local = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone);
  } catch {
    local = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO("UTC");
  }
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${local.toPlainDate()} ${pad(local.hour)}:${pad(local.minute)}`;
}

/** A time in the business zone; the zone is in its tooltip, and the pane says it once. */
export function LocalTime({ at, timeZone }: { at: number; timeZone: string }) {
  const text = zonedStamp(at, timeZone);
  return <time datetime={new Date(at).toISOString()} title={`${text} (${timeZone})`}>{text}</time>;
}
