/**
 * The one `Temporal` of the desk (SPEC rule 22: daylight-saving changes must not shift opening
 * hours). The runtime's own when it gets time zones right; otherwise the `temporal-polyfill`
 * package. Deno 2.5's built-in (behind `--unstable-temporal`) gives a daylight-saving change day
 * the later offset all day and panics, killing the process, on a local time in the skipped hour;
 * the latest Deno 2's is right, and without the flag Deno 2.5 has none.
 */
import { Temporal as polyfill } from "temporal-polyfill/implementation";

type TemporalApi = typeof globalThis.Temporal;

const PROBE_ZONE = "America/New_York";
/** 01:00 EST on the spring-forward day and 01:30 EDT on the fall-back day, before each change. */
const PROBES = ["2026-03-08T06:00:00Z", "2026-11-01T05:30:00Z"];

const intlOffset = (format: Intl.DateTimeFormat, iso: string) =>
  format.formatToParts(new Date(iso)).find((p) => p.type === "timeZoneName")?.value;

// Trust the built-in only if its offsets before both changes match Intl's (no skipped-hour call).
function trustworthy(builtin: TemporalApi | undefined): builtin is TemporalApi {
  if (!builtin) return false;
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: PROBE_ZONE,
    timeZoneName: "longOffset",
  });
  try {
    return PROBES.every((iso) =>
      `GMT${builtin.Instant.from(iso).toZonedDateTimeISO(PROBE_ZONE).offset}` ===
        intlOffset(format, iso)
    );
  } catch {
    return false;
  }
}

const builtin = (globalThis as { Temporal?: TemporalApi }).Temporal;

/** Typed as the built-in's API, which the polyfill implements (Deno 2.5's types narrow a few). */
export const Temporal: TemporalApi = trustworthy(builtin) ? builtin : polyfill as TemporalApi;

/** Which implementation was chosen, for tests and diagnostics. */
export const temporalSource: "built-in" | "polyfill" = Temporal === builtin
  ? "built-in"
  : "polyfill";
