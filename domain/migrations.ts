/**
 * Rule 38: data migrations run once per store, off the start path: in the background after the
 * first start that finds them missing (and from the sweeps cron, should that start stop first),
 * in batches, recorded by a version key. A lease keeps many instances starting together from
 * doing the same work; every step is idempotent, so a lease that ran out repeats nothing harmful.
 */
import { indexCustomerTickets } from "./customer_profile.ts";
import type { Desk } from "./desk.ts";
import { keys } from "./keys.ts";
import { scheduleDelivery } from "./messages.ts";

interface Migration {
  version: number;
  name: string;
  run: (desk: Desk) => Promise<number>;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "tickets indexed by customer (rule 36)",
    run: (desk) => indexCustomerTickets(desk.kv),
  },
  { version: 2, name: "stored outboxes get a due entry (rule 37)", run: scheduleStoredOutboxes },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
/** Real time a migrating instance holds the store's migration lease. */
const LEASE_MS = 10 * 60_000;

interface MigrationLease {
  owner: string;
  until: number;
}

/** Runs the migrations this store lacks; a cheap read of one key when it lacks none. */
export async function runMigrations(desk: Desk): Promise<string[]> {
  const { kv } = desk;
  const [version, lease] = await kv.getMany<[number, MigrationLease]>([
    keys.schemaVersion(),
    keys.migrationLease(),
  ]);
  const from = version.value ?? 0;
  if (from >= SCHEMA_VERSION) return [];
  if (lease.value && lease.value.until > Date.now()) return [];
  const owner = crypto.randomUUID();
  const taken = await kv.atomic().check(version, lease)
    .set(keys.migrationLease(), { owner, until: Date.now() + LEASE_MS }).commit();
  if (!taken.ok) return [];
  const done: string[] = [];
  for (const migration of MIGRATIONS.filter((m) => m.version > from)) {
    const count = await migration.run(desk);
    await kv.set(keys.schemaVersion(), migration.version);
    done.push(`${migration.name}: ${count}`);
  }
  await kv.delete(keys.migrationLease());
  return done;
}

/**
 * Outbox entries written while delivery jobs were KV queue messages have no due entry: each such
 * customer gets one now, so the timers and the delivery cron hand its queue over.
 */
async function scheduleStoredOutboxes(desk: Desk): Promise<number> {
  const { kv, clock } = desk;
  const customers = new Set<string>();
  for await (const e of kv.list({ prefix: keys.outboxAll() }, { batchSize: 500 })) {
    customers.add(e.key[1] as string);
  }
  const all = [...customers];
  for (let i = 0; i < all.length; i += 200) {
    const op = kv.atomic();
    for (const customerId of all.slice(i, i + 200)) {
      scheduleDelivery(op, customerId, clock.now());
    }
    await op.commit();
  }
  return all.length;
}
