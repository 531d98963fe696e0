/**
 * Starts chatdesk: configuration, the crons, the one KV handle, this instance's courier and
 * timers, demo data, and the server; stops it gracefully on SIGINT or SIGTERM (rule 39).
 *
 * Rule 38: the crons are registered before the module's first `await` (Deno Deploy evaluates the
 * top level to find them), and a start reads a bounded number of keys whatever the store holds:
 * migrations and the outbox run in the background, from due entries, never as a scan at start.
 */
import { ManualClock, systemClock } from "./domain/clock.ts";
import {
  browseUrl,
  type Config,
  ConfigError,
  DEPLOY_KV_HELP,
  isEveryInterface,
  isOnDeploy,
  parseConfig,
  PLATFORM_KV,
  providerConfig,
} from "./domain/config.ts";
import { ensureAdmin, ensureInboundToken } from "./domain/bootstrap.ts";
import { seedDemo } from "./domain/demo.ts";
import { crossProcessPollMs, type Desk, storeKind } from "./domain/desk.ts";
import { runMigrations } from "./domain/migrations.ts";
import { runArchive, runConversationTimers } from "./domain/sweeps.ts";
import { Courier } from "./domain/delivery.ts";
import { MediaFetcher } from "./domain/media_fetch.ts";
import { sweepOrphanUploads } from "./domain/attachments.ts";
import { KvFileStore } from "./domain/file_store.ts";
import { keys } from "./domain/keys.ts";
import { Wakeups } from "./domain/wakeups.ts";
import { createApp } from "./routes/app.ts";
import { withAccessLog } from "./routes/access_log.ts";

/** How often processes sharing one SQLite file look for each other's due entries (rule 37). */
const SHARED_FILE_POLL_MS = 1_000;
/** Rule 39: how long a stopping instance lets provider calls in flight finish. */
const STOP_GRACE_MS = 4_000;

let config: Config;
try {
  config = parseConfig(Deno.env.toObject(), { demo: Deno.args.includes("--demo") });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`chatdesk cannot start:\n${error.message}`);
  Deno.exit(2);
}

/** The store; on Deno Deploy a missing database says how to assign one (rule 42). */
async function openStore(path: string | undefined): Promise<Deno.Kv> {
  try {
    return await Deno.openKv(path);
  } catch (error) {
    if (!isOnDeploy(Deno.env.toObject()) || path !== undefined) throw error;
    console.error(`chatdesk cannot start: no KV database (${error})\n${DEPLOY_KV_HELP}`);
    Deno.exit(2);
  }
}

interface Instance {
  desk: Desk;
  courier: Courier;
  wakeups: Wakeups;
  media: MediaFetcher;
}
const { promise: started, resolve: ready } = Promise.withResolvers<Instance>();

// Rule 37: the floor when no instance lives. Delivery and sweeps are separate crons, so a long
// archive pass never delays a retry; an overlapping run is skipped by the platform.
Deno.cron("chatdesk delivery", "* * * * *", async () => {
  const { wakeups } = await started;
  await wakeups.runNow("delivery");
  await wakeups.runNow("media");
});
Deno.cron("chatdesk sweeps", "* * * * *", async () => {
  const { desk, wakeups, media } = await started;
  await wakeups.runNow("timers");
  await runArchive(desk).catch((e) => console.error("archive failed", e));
  await sweepOrphanUploads(desk.kv, media.files, desk.clock.now())
    .catch((e) => console.error("upload sweep failed", e));
  await runMigrations(desk).catch((e) => console.error("migration failed", e));
});

const kvPath = config.kvPath === PLATFORM_KV ? undefined : config.kvPath;
const kind = storeKind(kvPath);
if (kind === "file") {
  await Deno.mkdir(config.kvPath.replace(/[^/]*$/, "") || ".", { recursive: true });
}
const kv = await openStore(kvPath);
const manualClock = config.clock === "manual" ? new ManualClock(Date.now()) : null;
const desk: Desk = { kv, clock: manualClock ?? systemClock, storeKind: kind };
const courier = new Courier(desk, providerConfig(config));
desk.kick = (customerId, likely) =>
  void courier.deliver(customerId, likely).catch((e) => console.error(e));
// Rule 49: customers' files, fetched after the webhook's answer and kept in the store.
const media = new MediaFetcher(desk, new KvFileStore(kv), providerConfig(config));
desk.fetchMedia = (id) => media.kick(id);
const wakeups = new Wakeups(kv, desk.clock, [
  { name: "delivery", prefix: keys.deliveryDue(), run: () => courier.startDue() },
  { name: "timers", prefix: keys.dueAll(), run: () => runConversationTimers(desk) },
  { name: "media", prefix: keys.mediaDue(), run: () => media.startDue() },
], {
  // A manual clock moves only by `POST /api/test/clock`, which runs what is due itself.
  timers: !manualClock,
  pollMs: crossProcessPollMs(kind, SHARED_FILE_POLL_MS),
});

// Rule 41: the start's few reads go out together.
const [admin, inbound] = await Promise.all([
  ensureAdmin(kv, desk.clock, config.adminEmail, config.adminPassword, config.demo),
  ensureInboundToken(kv, config.inboundToken),
]);
const inboundToken = inbound.token;
if (config.demo && await seedDemo(desk)) {
  console.log("Demo data seeded (agents ana@, ben@, sam@chatdesk.local, password demo-pass-1).");
}

const app = createApp({ desk, config, manualClock, inboundToken, courier, media });
const server = Deno.serve({
  // 127.0.0.1 unless HOST says otherwise (Deno Deploy picks the address itself).
  hostname: config.hostname,
  port: config.port,
  onListen: ({ hostname, port }) => {
    const url = browseUrl(hostname, port);
    console.log(`chatdesk on ${url}/  (store: ${config.kvPath}, clock: ${config.clock})`);
    console.log(
      isEveryInterface(hostname)
        ? `Listening on every interface (HOST=${hostname}): other machines can reach this desk.`
        : `Listening on ${hostname} only (set HOST=0.0.0.0 to accept other machines).`,
    );
    // Rule 31: a secret given by environment is never printed; a generated one by its start only.
    const password = config.adminPassword
      ? "(the password in CHATDESK_ADMIN_PASSWORD)"
      : admin.password ?? "(the password you set at first start)";
    console.log(`Admin login: ${admin.email} / ${password}`);
    console.log(`Web chat as a customer: ${url}/webchat`);
    console.log(
      config.inboundToken
        ? "Inbound token: from CHATDESK_INBOUND_TOKEN"
        : inbound.generated
        ? `Inbound token (generated; shown this once): ${inboundToken}`
        : "Inbound token: kept in the store (rotate it on Admin › Integrations, or set CHATDESK_INBOUND_TOKEN)",
    );
  },
}, withAccessLog(app.fetch));

// After the first answer can be given: timers armed from the store, then what a stopped instance
// left due, then migrations this store lacks.
wakeups.start();
ready({ desk, courier, wakeups, media });
if (manualClock) {
  void courier.startDue().catch((e) => console.error("delivery failed", e));
  void media.startDue().catch((e) => console.error("media failed", e));
}
void runMigrations(desk).then(
  (done) => done.length && console.log(`Migrated: ${done.join("; ")}`),
  (e) => console.error("migration failed", e),
);

let stopping = false;
/** Rule 39: no new head, the calls in flight finish and are recorded, leases released. */
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping (provider calls in flight get ${STOP_GRACE_MS} ms)`);
  await wakeups.stop();
  const [{ unfinished }] = await Promise.all([
    courier.stop(STOP_GRACE_MS),
    media.stop(STOP_GRACE_MS),
  ]);
  if (unfinished) console.error(`${unfinished} customer queue(s) still in a provider call`);
  // Open event streams never end by themselves: give the rest a moment, then go.
  await Promise.race([server.shutdown(), new Promise((r) => setTimeout(r, 500))]).catch(() => {});
  kv.close();
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // Windows has no SIGTERM listener; there Deno's default applies.
  try {
    Deno.addSignalListener(signal, () => void stop(signal));
  } catch {
    // Not supported on this platform.
  }
}
