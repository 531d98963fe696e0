/**
 * What supervisors watch (rule 11, issue 4): each agent's status and load, and how old the
 * Unassigned queue is. Counts come from counters and index keys; tickets are not read.
 */
import { listAgents } from "./agents.ts";
import { DAY, HOUR } from "./clock.ts";
import { allDepartmentKeys } from "./departments.ts";
import { idTime } from "./ids.ts";
import { keys } from "./keys.ts";
import { getAll, mergeLists } from "./kv_util.ts";
import { countUnassigned } from "./tickets.ts";
import type { Agent } from "./types.ts";

export interface AgentLoad {
  agent: Agent;
  /** Open tickets assigned to the agent (the maintained counter). */
  assigned: number;
  /** Creation time of the oldest ticket the agent holds, null when none. */
  oldestAssignedAt: number | null;
}

/**
 * Every active agent, and every deactivated one still holding tickets (those stay visible to
 * supervisors so they can reassign them), with their load. Sorted by name.
 */
export async function agentLoads(kv: Deno.Kv): Promise<AgentLoad[]> {
  const agents = await listAgents(kv);
  const counts = await getAll<Deno.KvU64>(kv, agents.map((a) => keys.countAssigned(a.id)));
  const out: AgentLoad[] = [];
  for (const [i, agent] of agents.entries()) {
    const assigned = Number(counts[i].value?.value ?? 0n);
    if (!agent.active && assigned === 0) continue;
    let oldestAssignedAt: number | null = null;
    if (assigned > 0) {
      // Index keys end in the ticket id, whose first characters are its creation time.
      for await (const e of kv.list<string>({ prefix: keys.assigned(agent.id) }, { limit: 1 })) {
        const at = idTime(e.value);
        oldestAssignedAt = Number.isFinite(at) ? at : null;
      }
    }
    out.push({ agent, assigned, oldestAssignedAt });
  }
  return out;
}

export interface AgeBucket {
  label: string;
  /** Upper bound of the age in ms (exclusive); null for the last, open-ended bucket. */
  below: number | null;
  count: number;
}

export interface QueueAges {
  buckets: AgeBucket[];
  /** Tickets in the Unassigned queue (from the counters). */
  total: number;
  /** Tickets older than the walk reached: the walk stops at `budget` keys, newest first. */
  notWalked: number;
  /** Age of the oldest ticket the walk reached, when it stopped early. */
  notWalkedOlderThan: number | null;
}

const BUCKETS: [string, number | null][] = [
  ["< 1 h", HOUR],
  ["1–4 h", 4 * HOUR],
  ["4–24 h", DAY],
  ["1–3 d", 3 * DAY],
  ["3–7 d", 7 * DAY],
  ["> 7 d", null],
];

/**
 * The current Unassigned queue by age. Walks the index newest first, reading only keys (ids hold
 * their creation time), and stops after `budget` keys so a huge queue costs a bounded walk; the
 * rest is reported as older than the last key reached.
 */
export async function queueAges(kv: Deno.Kv, now: number, budget = 2000): Promise<QueueAges> {
  const departments = await allDepartmentKeys(kv);
  const total = await countUnassigned(kv, departments);
  const buckets: AgeBucket[] = BUCKETS.map(([label, below]) => ({ label, below, count: 0 }));
  let walked = 0;
  let lastAge: number | null = null;
  const prefixes = departments.map((d) => keys.unassigned(d));
  for await (
    const [id] of mergeLists<string>(kv, prefixes, {
      reverse: true,
      batchSize: Math.min(budget, 500),
    })
  ) {
    if (walked >= budget) break;
    const created = idTime(String(id));
    if (!Number.isFinite(created)) continue;
    const age = Math.max(0, now - created);
    const bucket = buckets.find((b) => b.below === null || age < b.below)!;
    bucket.count++;
    walked++;
    lastAge = age;
  }
  const notWalked = Math.max(0, total - walked);
  return {
    buckets,
    total,
    notWalked,
    notWalkedOlderThan: notWalked > 0 ? lastAge : null,
  };
}

/** "45 min", "3 h 20 min", "2 d 4 h": a compact age for tables. */
export function formatAge(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}
