/** Supervisor numbers from counters and time indexes, never from scanning every ticket. */
import { startOfLocalDay } from "./business_hours.ts";
import { listDepartments } from "./departments.ts";
import { keys, NO_DEPARTMENT, type StatKind } from "./keys.ts";
import { getAll } from "./kv_util.ts";
import type { Ticket } from "./types.ts";
import { HOUR } from "./clock.ts";

export interface Stats {
  unassigned: number;
  oldestUnassignedAt: number | null;
  createdToday: number;
  acceptedToday: number;
  closedToday: number;
  medianAcceptSeconds: number | null;
}

async function allDepartmentKeys(kv: Deno.Kv): Promise<string[]> {
  return [...(await listDepartments(kv)).map((d) => d.id), NO_DEPARTMENT];
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
  const counts = await getAll<Deno.KvU64>(kv, departments.map((d) => keys.count("unassigned", d)));
  let oldest: number | null = null;
  for (const d of departments) {
    for await (const e of kv.list<string>({ prefix: keys.unassigned(d) }, { limit: 1 })) {
      const t = (await kv.get<Ticket>(keys.ticket(e.value))).value;
      if (t && (oldest === null || t.createdAt < oldest)) oldest = t.createdAt;
    }
  }
  const dayStart = startOfLocalDay(timeZone, now);
  const [created, accepted, closed] = await Promise.all(
    (["created", "accepted", "closed"] as const).map((kind) =>
      eventValues(kv, kind, dayStart, now + 1)
    ),
  );
  return {
    unassigned: counts.reduce((sum, e) => sum + Number(e.value?.value ?? 0n), 0),
    oldestUnassignedAt: oldest,
    createdToday: created.length,
    acceptedToday: accepted.length,
    closedToday: closed.length,
    medianAcceptSeconds: median(accepted),
  };
}

/** Tickets created per hour over the last `hours` hours, oldest first. */
export async function createdPerHour(
  kv: Deno.Kv,
  now: number,
  hours = 7 * 24,
): Promise<{ hour: number; count: number }[]> {
  const last = Math.floor(now / HOUR) * HOUR;
  const first = last - (hours - 1) * HOUR;
  const byHour = new Map<number, number>();
  for await (
    const e of kv.list<Deno.KvU64>({
      start: keys.hourlyCreated(first),
      end: keys.hourlyCreated(last + 1),
    })
  ) {
    byHour.set(Number(e.key[1]), Number(e.value.value));
  }
  return Array.from(
    { length: hours },
    (_, i) => ({ hour: first + i * HOUR, count: byHour.get(first + i * HOUR) ?? 0 }),
  );
}
