/**
 * [e2e] The Admin and Supervisor desks in real headless Chromium: business hours changed with the
 * form route the next inbound message, a supervisor's reassign reaches the agent's Assigned tab,
 * a transcript downloads as CSV, and screenshots at 360 and 1280 px (into ./.shots/).
 */
import assert from "node:assert/strict";
import { DAY, HOUR, MINUTE } from "../domain/clock.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import { archiveClosed } from "../domain/tickets.ts";
import { closeBusiness, INBOUND_TOKEN, leaveMessage, type TestDesk } from "./helpers.ts";
import {
  type Browser,
  launchBrowser,
  type Page,
  screenshot,
  signInPage,
  startServer,
  TIMEOUT,
} from "./browser.ts";

interface Inbound {
  conversation: { state: string };
  replies: { text: string }[];
}

async function inbound(url: string, from: string, text: string): Promise<Inbound> {
  const res = await fetch(`${url}/api/inbound`, {
    method: "POST",
    headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ channel: "sms", from, text }),
  });
  if (!res.ok) throw new Error(`inbound ${res.status}: ${await res.text()}`);
  return await res.json();
}

/** Fails the test on any console error or failed request the page reports. */
function watch(page: Page, problems: string[]) {
  page.on("console", (m) => {
    // A refused form answers 400 on purpose; Chromium logs that as a failed resource.
    const refusedForm = /status of 400/.test(m.text());
    if (m.type() === "error" && m.text() !== "[object Event]" && !refusedForm) {
      problems.push(m.text());
    }
  });
  page.on("pageerror", (e) => problems.push(String(e)));
}

/**
 * A browser test against a real server (`startServer`); `launch` starts Chromium. Both are closed
 * when the test ends, whatever happened.
 */
function e2e(
  name: string,
  run: (s: { url: string; t: TestDesk; launch: () => Promise<Browser> }) => Promise<void>,
) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await startServer();
      const browsers: Browser[] = [];
      const launch = async () => {
        const browser = await launchBrowser();
        browsers.push(browser);
        return browser;
      };
      try {
        await run({ url: server.url, t: server.t, launch });
      } finally {
        for (const browser of browsers) await browser.close();
        await server.close();
      }
    },
  });
}

async function shots(page: Page, name: string) {
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await screenshot(page, `${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

e2e(
  "[e2e] admin business hours form: the next inbound message follows the new hours",
  async ({ url, t, launch }) => {
    const problems: string[] = [];
    const admin = await t.person("admin", { name: "Ada Admin" });
    // An online agent: when open, a new conversation becomes a pending live chat (rule 4).
    const agent = await t.person("agent");
    await t.json("PUT", "/api/agents/me/status", {
      token: agent.token,
      body: { status: "online" },
    });
    const before = await inbound(url, "+15550101001", "hello before");
    assert(before.conversation.state === "pending", `open: ${JSON.stringify(before)}`);

    const browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInPage(context, url, admin.agent.email);
    watch(page, problems);
    await page.goto(`${url}/admin/hours`);
    assert((await page.textContent("#hours-preview"))?.includes("Open now until 17:00"));

    // Refused first: an interval across midnight keeps what was typed and says why.
    await page.fill("#wed-0-start", "22:00");
    await page.fill("#wed-0-end", "02:00");
    await page.click("button.btn-primary[value=save]");
    await page.waitForSelector("#wed-0-error");
    assert((await page.textContent("#wed-0-error"))?.includes("split it into"));
    assert(await page.inputValue("#wed-0-start") === "22:00", "typed value kept");
    await shots(page, "admin-hours-refused");

    // Kolkata, Wednesday 09:00–12:00 (it is 15:30 there now), Saturday added with a button.
    await page.fill("#timeZone", "Asia/Kolkata");
    await page.fill("#wed-0-start", "09:00");
    await page.fill("#wed-0-end", "12:00");
    await page.click("button[value='add:sat']");
    await page.waitForSelector("#sat-0-start");
    assert(await page.inputValue("#timeZone") === "Asia/Kolkata", "zone kept across add");
    await page.fill("#sat-0-start", "10:00");
    await page.fill("#sat-0-end", "14:00");
    await page.click("button[value='add:closure']");
    await page.waitForSelector("#closure-0-date");
    await page.fill("#closure-0-date", "2026-12-25");
    await page.fill("#closure-0-label", "Christmas Day");
    await page.click("button.btn-primary[value=save]");
    await page.waitForSelector(".flash-ok");
    const flash = await page.textContent(".flash-ok");
    assert(flash?.includes("Business hours saved"), `flash: ${flash}`);
    assert((await page.textContent("#hours-preview"))?.includes("Closed — opens"));
    await shots(page, "admin-hours");

    const after = await inbound(url, "+15550101002", "hello after");
    assert(after.conversation.state === "awaiting_reply", `closed: ${JSON.stringify(after)}`);
    assert(after.replies[0]?.text === DEFAULT_TEXTS.outOfHours, "the out-of-hours notice");
    assert(after.replies[1]?.text === DEFAULT_TEXTS.prompt, "then the YES/NO prompt");

    // And open again: Wednesday all day (00:00–00:00 means to midnight).
    await page.fill("#wed-0-start", "00:00");
    await page.fill("#wed-0-end", "00:00");
    await page.click("button.btn-primary[value=save]");
    await page.waitForSelector(".flash-ok");
    assert((await page.textContent("#hours-preview"))?.includes("Open now until 24:00"));
    const reopened = await inbound(url, "+15550101003", "hello again");
    assert(reopened.conversation.state === "pending", `open: ${JSON.stringify(reopened)}`);
    assert(reopened.replies.length === 0);
    assert(problems.length === 0, `page problems: ${problems.join("; ")}`);
  },
);

e2e(
  "[e2e] supervisor reassigns a ticket; the agent's Assigned tab shows it; CSV download",
  async ({ url, t, launch }) => {
    const problems: string[] = [];
    await closeBusiness(t);
    const sales = await t.department("Sales");
    const support = await t.department("Support");
    const supervisor = await t.person("supervisor", { name: "Sam Patel" });
    const ana = await t.person("agent", { name: "Ana Silva", departments: [support] });
    const ben = await t.person("agent", { name: "Ben Okafor", departments: [sales, support] });
    // A queue with some history: tickets of different ages, one closed, one archived.
    t.clock.advance(-3 * DAY);
    const old = await leaveMessage(t, "+27820000701", ["Order #4411 never arrived."], {
      name: "Thandi Nkosi",
      department: sales,
    });
    t.clock.advance(2 * DAY);
    const archived = await leaveMessage(t, "+27820000702", ["Refund, please"], {
      name: "Oliver Grant",
    });
    t.clock.advance(20 * HOUR);
    const ticket = await leaveMessage(t, "+27820000703", [
      'Checkout says "card declined", twice.',
      "=1+1 is not a formula",
    ], { name: "Lena Fischer", department: support });
    t.clock.advance(2 * HOUR);
    for (let i = 0; i < 4; i++) {
      await leaveMessage(t, `+2782000071${i}`, [`Question ${i}`], {
        name: `Customer ${i}`,
        department: i % 2 ? sales : undefined,
      });
      t.clock.advance(17 * MINUTE);
    }
    // Sessions are 12 h on the desk clock: sign in again after moving it.
    const anaNow = await t.json<{ token: string }>("POST", "/api/session", {
      body: { email: ana.agent.email, password: "password-123" },
    });
    await t.json("POST", `/api/tickets/${ticket}/accept`, { token: anaNow.body.token });
    await t.json("POST", `/api/tickets/${archived}/accept`, { token: anaNow.body.token });
    await t.json("POST", `/api/tickets/${archived}/close`, { token: anaNow.body.token });
    await archiveClosed(t.desk, 0);
    void old;

    const browser = await launch();
    const supContext = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    const sup = await signInPage(supContext, url, supervisor.agent.email);
    watch(sup, problems);
    await sup.goto(`${url}/supervisor`);
    await sup.waitForSelector("svg[aria-labelledby='hourly-title hourly-desc']");
    await shots(sup, "supervisor-dashboard");

    await sup.goto(`${url}/supervisor/queues?queue=assigned&agent=all`);
    await shots(sup, "supervisor-queues-assigned");
    await sup.goto(`${url}/supervisor/queues?queue=unassigned`);
    await shots(sup, "supervisor-queues-unassigned");
    await sup.goto(`${url}/supervisor/archive`);
    assert((await sup.textContent("main"))?.includes("Oliver Grant"), "archived ticket listed");
    await shots(sup, "supervisor-archive");

    await sup.goto(`${url}/supervisor/queues?queue=assigned&agent=all`);
    await sup.click(`a[href='/supervisor/tickets/${ticket}']`);
    await sup.waitForSelector("#reassign-to");
    await sup.selectOption("#reassign-to", ben.agent.id);
    await sup.click("button:has-text('Reassign')");
    await sup.waitForSelector(".flash-ok");
    assert((await sup.textContent(".flash-ok"))?.includes("with Ben Okafor"));
    const history = await sup.textContent(".history");
    assert(history?.includes("Reassigned by Sam Patel from Ana Silva to Ben Okafor"), history!);
    await shots(sup, "supervisor-ticket");

    const benContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const benPage = await signInPage(benContext, url, ben.agent.email);
    watch(benPage, problems);
    await benPage.goto(`${url}/tickets/assigned`);
    await benPage.waitForSelector(`text=Lena Fischer`, { timeout: TIMEOUT });
    const anaContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const anaPage = await signInPage(anaContext, url, ana.agent.email);
    await anaPage.goto(`${url}/tickets/assigned`);
    assert(!(await anaPage.textContent("main"))?.includes("Lena Fischer"), "gone from Ana");

    // Transcripts: the form downloads a CSV file.
    await sup.goto(`${url}/supervisor/transcripts`);
    await shots(sup, "supervisor-transcripts");
    await sup.fill("#t-from", "2026-11-20");
    await sup.fill("#t-to", "2026-11-30");
    const [download] = await Promise.all([
      sup.waitForEvent("download"),
      sup.click("button:has-text('Download')"),
    ]);
    const name = download.suggestedFilename();
    assert(name === "chatdesk-transcripts-2026-11-20_2026-11-30.csv", name);
    const csv = await Deno.readTextFile((await download.path())!);
    const lines = csv.split("\r\n");
    assert(
      lines[0] === "ticketId,customer,from,channel,direction,author,authorName,text,at,kind",
      lines[0],
    );
    assert(csv.includes(`"Checkout says ""card declined"", twice."`), "quotes escaped");
    assert(csv.includes("'=1+1 is not a formula"), "formula defused");
    assert(csv.includes("Oliver Grant"), "archived ticket included");
    // The same request, with its headers.
    const res = await supContext.request.get(
      `${url}/supervisor/transcripts/download?from=2026-11-20&to=2026-11-30&format=csv`,
    );
    assert(res.headers()["content-type"] === "text/csv; charset=utf-8");
    assert(res.headers()["content-disposition"]?.startsWith("attachment; filename="));
    assert((await res.text()).startsWith("ticketId,customer,"));
    assert(problems.length === 0, `page problems: ${problems.join("; ")}`);
  },
);

e2e("[e2e] admin pages at 360 and 1280 px", async ({ url, t, launch }) => {
  const problems: string[] = [];
  const admin = await t.person("admin", { name: "Ada Admin" });
  const sales = await t.department("Sales");
  await t.department("Support");
  await t.person("agent", { name: "Ana Silva", departments: [sales] });
  await t.person("supervisor", { name: "Sam Patel" });
  await t.json("POST", "/api/templates", {
    token: admin.token,
    body: {
      name: "follow_up",
      body: "Hello {{1}}, this is {{2}} from support following up on your message.",
    },
  });
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signInPage(context, url, admin.agent.email);
  watch(page, problems);
  for (const path of ["agents", "departments", "texts", "templates"]) {
    await page.goto(`${url}/admin/${path}`);
    await shots(page, `admin-${path}`);
  }
  await page.goto(`${url}/admin/agents`);
  await page.click("a:has-text('Ana Silva')");
  await page.waitForSelector("#reset-password");
  await shots(page, "admin-agent-edit");
  // The live preview follows typing (htmx); the Preview button is the no-JS path.
  await page.goto(`${url}/admin/texts`);
  await page.fill("#text-outOfHours", "We are closed for the holidays.");
  await page.waitForSelector("#texts-preview :text('We are closed for the holidays.')", {
    timeout: TIMEOUT,
  });
  assert(problems.length === 0, `page problems: ${problems.join("; ")}`);
});
