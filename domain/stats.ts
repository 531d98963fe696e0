/** Supervisor numbers from counters and time indexes, never from scanning every ticket. */
import { startOfLocalDay } from "./business_hours.ts";
import { allDepartmentKeys } from "./departments.ts";
import { idTime } from "./ids.ts";
import { keys, type StatKind } from "./keys.ts";
import { Temporal } from "./temporal.ts";
import { countUnassigned } from "./tickets.ts";
import { HOUR } from "./clock.ts";

export interface Stats {
  unassigned: number;
  oldestUnassignedAt: number | null;
  createdToday: number;
  acceptedToday: number;
  closedToday: number;
  medianAcceptSeconds: number | null;
}

/** Values of one kind's events in [from, to). */
async function eventValues(
  kv: Deno.Kv,
  kind: StatKind,
  from: number,
  to: number,
): Promise<number[]> {
  const out: number[] = [];
  const selector = { start: [...keys.statEvents(kind), from], end: [...keys.statEvents(kind), to] };
  for await (const e of kv.list<number>(selector, { batchSize: 500 })) out.push(e.value);
  return out;
}

export function median(values: number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

/** `GET /api/stats`; "today" is the business time zone's day. */
export async function deskStats(kv: Deno.Kv, timeZone: string, now: number): Promise<Stats> {
  const departments = await allDepartmentKeys(kv);
  // The oldest unassigned ticket heads each department's index; its id carries its creation time.
  const heads = await Promise.all(departments.map(async (d) => {
    for await (const e of kv.list<string>({ prefix: keys.unassigned(d) }, { limit: 1 })) {
      return idTime(e.value);
    }
    return Infinity;
  }));
  const oldest = Math.min(...heads);
  const dayStart = startOfLocalDay(timeZone, now);
  const [created, accepted, closed] = await Promise.all(
    (["created", "accepted", "closed"] as const).map((kind) =>
      eventValues(kv, kind, dayStart, now + 1)
    ),
  );
  return {
    unassigned: await countUnassigned(kv, departments),
    oldestUnassignedAt: Number.isFinite(oldest) ? oldest : null,
    createdToday: created.length,
    acceptedToday: accepted.length,
    closedToday: closed.length,
    medianAcceptSeconds: median(accepted),
  };
}

/**
 * Tickets created per local hour of the business time zone over the last `hours` hours, oldest
 * first. Counters are kept per quarter hour, so zones offset by :30 or :45 (Asia/Kolkata,
 * Asia/Kathmandu) get hours that start on their own clock, not on UTC's.
 */
export async function createdPerHour(
  kv: Deno.Kv,
  now: number,
  hours = 7 * 24,
  timeZone = "UTC",
): Promise<{ hour: number; count: number }[]> {
  const last = Temporal.Instant.fromEpochMilliseconds(now).toZonedDateTimeISO(timeZone)
    .round({ smallestUnit: "hour", roundingMode: "floor" }).epochMilliseconds;
  const first = last - (hours - 1) * HOUR;
  const counts = new Array<number>(hours).fill(0);
  const range = { start: keys.quarterCreated(first), end: keys.quarterCreated(last + HOUR) };
  for await (const e of kv.list<Deno.KvU64>(range)) {
    counts[Math.floor((Number(e.key[1]) - first) / HOUR)] += Number(e.value.value);
  }
  return counts.map((count, i) => ({ hour: first + i * HOUR, count }));
}
