/** Starts chatdesk: configuration, the one KV handle, timers, demo data, and the server. */
import { ManualClock, systemClock } from "./domain/clock.ts";
import {
  browseUrl,
  ConfigError,
  isEveryInterface,
  parseConfig,
  PLATFORM_KV,
  providerConfig,
} from "./domain/config.ts";
import { ensureAdmin, ensureInboundToken } from "./domain/bootstrap.ts";
import { seedDemo } from "./domain/demo.ts";
import { indexCustomerTickets } from "./domain/customer_profile.ts";
import type { Desk } from "./domain/desk.ts";
import { runDueSweeps } from "./domain/sweeps.ts";
import { Courier } from "./domain/delivery.ts";
import { queueDispatcher } from "./domain/queue.ts";
import { createApp } from "./routes/app.ts";
import { withAccessLog } from "./routes/access_log.ts";

let config;
try {
  config = parseConfig(Deno.env.toObject(), { demo: Deno.args.includes("--demo") });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`chatdesk cannot start:\n${error.message}`);
  Deno.exit(2);
}

const isFile = !config.kvPath.startsWith("https://") && config.kvPath !== ":memory:" &&
  config.kvPath !== PLATFORM_KV;
if (isFile) await Deno.mkdir(config.kvPath.replace(/[^/]*$/, "") || ".", { recursive: true });
const kv = await Deno.openKv(config.kvPath === PLATFORM_KV ? undefined : config.kvPath);
const manualClock = config.clock === "manual" ? new ManualClock(Date.now()) : null;
const desk: Desk = { kv, clock: manualClock ?? systemClock, wakeups: !manualClock };
const courier = new Courier(desk, providerConfig(config));
desk.kick = (customerId) => void courier.deliver(customerId).catch((e) => console.error(e));

const admin = await ensureAdmin(
  kv,
  desk.clock,
  config.adminEmail,
  config.adminPassword,
  config.demo,
);
const inbound = await ensureInboundToken(kv, config.inboundToken);
const inboundToken = inbound.token;
// Rule 36: tickets stored before the customer index existed get their entries (idempotent).
await indexCustomerTickets(kv);
if (config.demo && await seedDemo(desk)) {
  console.log("Demo data seeded (agents ana@, ben@, sam@chatdesk.local, password demo-pass-1).");
}

let sweeping: Promise<unknown> = Promise.resolve();
/** Sweeps run one at a time per process (they are idempotent anyway). */
const sweep =
  () => (sweeping = sweeping.then(() => runDueSweeps(desk)).catch((e) =>
    console.error("sweep failed", e)
  ));

Deno.cron("chatdesk sweeps", "* * * * *", async () => {
  await sweep();
  // Retries due by the desk clock and watchdogs of attempts a crash interrupted (rule 27).
  await courier.runDue().catch((e) => console.error("delivery sweep failed", e));
});
kv.listenQueue(queueDispatcher(courier, sweep));
// A crash may have lost queued jobs (KV does not deliver a job again after a kill): every
// customer with queued messages gets a run.
courier.recover().catch((e) => console.error("delivery recovery failed", e));

const app = createApp({ desk, config, manualClock, inboundToken, courier });
Deno.serve({
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
        : "Inbound token: generated at first start (set CHATDESK_INBOUND_TOKEN to choose one)",
    );
  },
}, withAccessLog(app.fetch));
