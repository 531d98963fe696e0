/**
 * [e2e] Rules 32 and 33 in headless Chromium: two agents, one on a throttled network and CPU (the
 * issue's profile: 400 ms latency, 50 KB/s, CPU slowed) on the Chats page, and a supervisor on a
 * page with no live list of its own, see the title and navigation counts change without a reload; the agent who opted in gets a desktop notification (permission
 * granted in the test context, the Notification observed) and a sound for new work, none for its
 * own accept; a rule 7 close shows its notice; the stream is gzip.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { updateSettings } from "../domain/settings.ts";
import { closeBusiness, INBOUND_TOKEN } from "./helpers.ts";
import {
  type Browser,
  launchBrowser,
  type Page,
  pageProblems,
  signInPage,
  startServer,
  until,
} from "./browser.ts";

async function inbound(url: string, body: Record<string, string>) {
  const res = await fetch(`${url}/api/inbound`, {
    method: "POST",
    headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`inbound ${res.status}: ${await res.text()}`);
  return await res.json() as { ticketId: string | null };
}

/** Records every Notification the page creates and every announcement alerts.js makes. */
const RECORDER = `(() => {
  globalThis.notes = [];
  globalThis.alerts = [];
  const Real = globalThis.Notification;
  if (Real) {
    globalThis.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        globalThis.notes.push({ title, body: options && options.body });
      }
    };
    Object.defineProperty(globalThis.Notification, "permission", { get: () => Real.permission });
    globalThis.Notification.requestPermission = (...a) => Real.requestPermission(...a);
  }
  document.addEventListener("chatdesk:alert", (e) => globalThis.alerts.push(e.detail));
})()`;

const recorded = (page: Page) =>
  page.evaluate("({ notes: globalThis.notes, alerts: globalThis.alerts })") as Promise<{
    notes: { title: string; body: string }[];
    alerts: { alert: { kind: string }; sound: boolean; notified: boolean }[];
  }>;

Deno.test({
  name: "[e2e] rule 32 in Chromium: live title and counts, opt-in notification and sound, notices",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    const { problems, watch } = pageProblems();
    try {
      await closeBusiness(t);
      const ana = await t.person("agent", { name: "Ana Silva" });
      const ben = await t.person("agent", { name: "Ben Okafor" });
      const boss = await t.person("supervisor", { name: "Sam Boss" });
      browser = await launchBrowser();
      const wide = { viewport: { width: 1280, height: 800 } };
      const anaCtx = await browser.newContext(wide);
      await anaCtx.grantPermissions(["notifications"], { origin: url });
      await anaCtx.addInitScript(RECORDER);
      const anaPage = watch(await signInPage(anaCtx, url, ana.agent.email));
      const encodings: string[] = [];
      anaPage.on("response", (r) => {
        if (r.url().includes("/events")) encodings.push(r.headers()["content-encoding"] ?? "");
      });
      // Ben's desk is on the throttled profile, on the Chats page (its own live stream).
      const benCtx = await browser.newContext(wide);
      const benPage = watch(await signInPage(benCtx, url, ben.agent.email));
      const cdp = await benCtx.newCDPSession(benPage);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 400,
        downloadThroughput: 50 * 1024,
        uploadThroughput: 50 * 1024,
      });
      await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
      await benPage.goto(`${url}/chats`, { timeout: 20_000 });
      // The supervisor's dashboard has no live list: alerts.js opens the desk's stream for it.
      const bossPage = watch(
        await signInPage(await browser.newContext(wide), url, boss.agent.email),
      );
      await bossPage.goto(`${url}/supervisor`);
      const desks = [benPage, bossPage];

      await s.step("every desk page's title and navigation count start at (0)", async () => {
        await anaPage.reload();
        assert(
          (await anaPage.title()) === "(0) Unassigned tickets · chatdesk",
          await anaPage.title(),
        );
        await until(benPage, `document.title === "(0) Chats · chatdesk"`);
        await until(bossPage, `document.title.startsWith("(0) ")`);
        for (const page of desks) {
          await page.waitForSelector("#nav-unassigned[data-count='0']", { timeout: 10_000 });
        }
      });

      await s.step("Ana opts in to a desktop notification and a sound", async () => {
        await anaPage.click("#alert-settings > summary");
        await anaPage.check("#alert-notify");
        await anaPage.check("#alert-sound");
        await until(anaPage, `JSON.parse(localStorage.getItem("chatdesk-alerts")).notify === true`);
        await anaPage.reload();
        assert(await anaPage.isChecked("#alert-notify"), "kept for this browser");
        await anaPage.click("#alert-settings > summary");
        // A click on the page lets it play sound (browsers' autoplay rule).
        await anaPage.click("#alert-sound");
        await anaPage.click("#alert-sound");
        await anaPage.click("#alert-settings > summary");
      });

      let id = "";
      await s.step("a new ticket: titles, counts and the row change on every desk", async () => {
        await inbound(url, { channel: "sms", from: "+15550100001", text: "Where is my parcel?" });
        id = (await inbound(url, { channel: "sms", from: "+15550100001", text: "YES" }))
          .ticketId!;
        await anaPage.waitForSelector(`#queue-list li[data-ticket="${id}"]`, { timeout: 5000 });
        await inbound(url, { channel: "sms", from: "+15550100001", text: "//end" });
        await until(anaPage, `document.title === "(1) Unassigned tickets · chatdesk"`);
        await anaPage.waitForSelector("#nav-unassigned[data-count='1']");
        await anaPage.waitForSelector('#queue-tabs a[data-queue="unassigned"][data-count="1"]');
        await until(benPage, `document.title === "(1) Chats · chatdesk"`);
        await until(bossPage, `document.title.startsWith("(1) ")`);
        for (const page of desks) {
          await page.waitForSelector("#nav-unassigned[data-count='1']", { timeout: 10_000 });
        }
        assert((await recorded(anaPage)).notes.length <= 1, "one notification at most");
      });

      await s.step("Ana's opt-in notification and sound for it", async () => {
        await until(anaPage, "globalThis.notes.length === 1", 5000);
        const { notes, alerts } = await recorded(anaPage);
        assert(notes[0].title === "New ticket", JSON.stringify(notes));
        assert(notes[0].body.includes("Where is my parcel?"), notes[0].body);
        assert(alerts.length === 1 && alerts[0].notified, JSON.stringify(alerts));
        assert(alerts[0].sound === true, "the chime played");
        assert(encodings.includes("gzip"), `the stream is compressed: ${encodings}`);
      });

      await s.step("her own accept is not announced; the counts go back to (0)", async () => {
        await anaPage.click(`#queue-list li[data-ticket="${id}"] button`);
        await anaPage.waitForSelector("#flash >> text=You accepted the ticket");
        await until(anaPage, `document.title === "(0) Unassigned tickets · chatdesk"`);
        await until(benPage, `document.title === "(0) Chats · chatdesk"`);
        await until(bossPage, `document.title.startsWith("(0) ")`);
        await new Promise((r) => setTimeout(r, 300));
        assert((await recorded(anaPage)).notes.length === 1, "no notification for her own action");
      });

      await s.step("a pending chat counts and is announced; rule 7 leaves a notice", async () => {
        await updateSettings(t.kv, {
          hours: {
            timeZone: "UTC",
            weekly: Object.fromEntries(
              ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((
                d,
              ) => [d, [["00:00", "24:00"]]]),
            ),
            closures: [],
          },
        });
        await setStatus(t.kv, ana.agent.id, "online");
        await inbound(url, { channel: "sms", from: "+15550100001", text: "Can we talk now?" });
        await anaPage.waitForSelector("#nav-chats[data-count='1']", { timeout: 5000 });
        await until(anaPage, `document.title === "(1) Unassigned tickets · chatdesk"`);
        await until(anaPage, "globalThis.notes.length === 2", 5000);
        assert((await recorded(anaPage)).notes[1].title === "New chat waiting");
        const chats = await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
          token: boss.token,
        });
        await t.call("POST", `/api/chats/${chats.body.chats[0].id}/accept`, { token: boss.token });
        await anaPage.waitForSelector(`#notices .notice[data-notice="${id}"]`, { timeout: 5000 });
        await anaPage.click(`#notices .notice[data-notice="${id}"] [data-dismiss]`);
        await anaPage.waitForSelector("#notices .notice", { state: "detached" });
        await until(anaPage, `document.title === "(0) Unassigned tickets · chatdesk"`);
      });

      await s.step("the Chats page keeps the same title and counts live", async () => {
        await anaPage.goto(`${url}/chats`);
        await until(anaPage, `document.title === "(0) Chats · chatdesk"`);
        await inbound(url, { channel: "sms", from: "+15550100002", text: "Hello?" });
        await until(anaPage, `document.title === "(1) Chats · chatdesk"`);
        await anaPage.waitForSelector("#nav-chats[data-count='1']");
      });

      assert(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
