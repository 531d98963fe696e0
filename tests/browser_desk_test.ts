/**
 * [e2e] The Agent Desk in real headless Chromium: live Unassigned lists in two browsers, Quick
 * Accept availability, Start Chat, the WhatsApp template picker, close, Closed by me, and
 * screenshots of every tab at 360 px and 1280 px (into ./.shots/, git-ignored).
 */
import assert from "node:assert/strict";
import { HOUR } from "../domain/clock.ts";
import { closeBusiness, INBOUND_TOKEN } from "./helpers.ts";
import {
  type Browser,
  type BrowserContext,
  launchBrowser,
  type Page,
  pageProblems,
  screenshot,
  signInPage,
  startServer,
} from "./browser.ts";

/** One customer message through the real webhook over HTTP. */
async function inboundHttp(
  url: string,
  body: { channel: string; from: string; text: string; name?: string },
): Promise<{ ticketId: string | null }> {
  const res = await fetch(`${url}/api/inbound`, {
    method: "POST",
    headers: { authorization: `Bearer ${INBOUND_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`inbound ${res.status}: ${await res.text()}`);
  return await res.json();
}

/** A customer leaves a message through the real webhook over HTTP; returns the ticket id. */
async function leaveMessageHttp(
  url: string,
  from: string,
  text: string,
  channel = "whatsapp",
  name?: string,
): Promise<string> {
  const send = (body: string) =>
    inboundHttp(url, { channel, from, text: body, ...(name ? { name } : {}) });
  await send(text);
  const yes = await send("YES");
  await send("//end");
  return yes.ticketId!;
}

const rowOf = (id: string) => `#queue-list li[data-ticket="${id}"]`;

Deno.test({
  name: "[e2e] the Agent Desk in Chromium: live queues, accept, reply, templates, close",
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
      const admin = await t.person("admin", { name: "Ada Admin" });
      browser = await launchBrowser();
      const wide = { viewport: { width: 1280, height: 800 } };
      const anaCtx: BrowserContext = await browser.newContext(wide);
      const benCtx: BrowserContext = await browser.newContext(wide);
      const anaPage = watch(await signInPage(anaCtx, url, ana.agent.email));
      const benPage = watch(await signInPage(benCtx, url, ben.agent.email));
      let first = "";
      let page = anaPage;

      await s.step("both agents land on Unassigned, connected for live updates", async () => {
        for (const page of [anaPage, benPage]) {
          assert(new URL(page.url()).pathname === "/tickets/unassigned", page.url());
          await page.waitForSelector("text=No unassigned tickets");
        }
        await screenshot(anaPage, "unassigned-empty-1280");
      });

      await s.step(
        "a ticket sent to /api/inbound appears at the top of both lists, no reload",
        async () => {
          await leaveMessageHttp(url, "+27820000001", "Older question", "sms");
          for (const page of [anaPage, benPage]) {
            await page.waitForSelector("#queue-list li.row", { timeout: 5000 });
          }
          first = await leaveMessageHttp(
            url,
            "+27820000002",
            "Where is my order #4411?",
            "whatsapp",
            "Thandi Nkosi",
          );
          for (const page of [anaPage, benPage]) {
            await page.waitForSelector(rowOf(first), { timeout: 5000 });
            const top = await page.locator("#queue-list li.row").first().getAttribute(
              "data-ticket",
            );
            assert(top === first, `the new ticket is on top (got ${top})`);
            await page.waitForSelector('#queue-tabs a[data-queue="unassigned"][data-count="2"]', {
              timeout: 5000,
            });
          }
        },
      );

      await s.step(
        "Accept shows on keyboard focus; when Ana accepts, it leaves Ben's list",
        async () => {
          const accept = anaPage.locator(`${rowOf(first)} button`);
          await accept.focus();
          const opacity = await accept.evaluate((el) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } })
              .getComputedStyle(el.closest(".row-actions")).opacity
          );
          assert(opacity === "1", `Accept visible on focus (opacity ${opacity})`);
          await accept.click();
          await anaPage.waitForSelector("#flash >> text=You accepted the ticket from Thandi Nkosi");
          await benPage.waitForSelector(rowOf(first), { state: "detached", timeout: 5000 });
          await anaPage.waitForSelector(rowOf(first), { state: "detached", timeout: 5000 });
        },
      );

      await s.step("Quick Accept buttons appear and disappear with availability", async () => {
        assert(await benPage.locator('[data-quick="3"]').count() === 0, "no 3 with 1 available");
        await leaveMessageHttp(
          url,
          "visitor-7f3a",
          "Checkout shows an error",
          "webchat",
          "Lena Fischer",
        );
        await leaveMessageHttp(
          url,
          "+15550100005",
          "Opening hours on holidays?",
          "sms",
          "Priya Shah",
        );
        await benPage.waitForSelector('[data-quick="3"]', { timeout: 5000 });
        assert(await benPage.locator('[data-quick="5"]').count() === 0, "no 5 with 3 available");
        await anaPage.waitForSelector('[data-quick="3"]', { timeout: 5000 });
        await benPage.click('[data-quick="3"]');
        await benPage.waitForSelector("#flash >> text=Accepted the 3 oldest tickets:");
        await anaPage.waitForSelector('[data-quick="3"]', { state: "detached", timeout: 5000 });
        await anaPage.waitForSelector("text=No unassigned tickets", { timeout: 5000 });
      });

      await s.step("Ben closes one of his tickets (for Closed by me later)", async () => {
        await benPage.goto(`${url}/tickets/assigned`);
        await benPage.click("#queue-list li.row >> nth=0 >> a");
        await benPage.waitForSelector("text=Close ticket");
        await Promise.all([
          benPage.waitForURL(/\/tickets\/assigned$/),
          benPage.click("text=Close ticket"),
        ]);
        await benPage.waitForSelector("text=Ticket closed.");
        // Ana, still on Unassigned, sees the Closed count go up without reloading.
        await anaPage.waitForSelector('#queue-tabs a[data-queue="closed"][data-count="1"]', {
          timeout: 10_000,
        });
      });

      await s.step("Ana replies with Start Chat", async () => {
        await anaPage.goto(`${url}/tickets/assigned`);
        await anaPage.click(`${rowOf(first)} a`);
        await anaPage.fill(
          "textarea[name=text]",
          "Hi Thandi, your parcel left our warehouse today.",
        );
        await Promise.all([
          anaPage.waitForURL(new RegExp(`/tickets/assigned/${first}$`)),
          anaPage.click("text=Start Chat"),
        ]);
        await anaPage.waitForSelector("text=Your reply is on its way to the customer");
        await anaPage.waitForSelector(".msg-out >> text=your parcel left our warehouse");
        await screenshot(anaPage, "assigned-detail-1280");
      });

      await s.step(
        "a new message from the customer appears in the open ticket without reload",
        async () => {
          // A draft and a marker on the page: a reload would lose both.
          await anaPage.fill("textarea[name=text]", "Draft: let me check the courier");
          await anaPage.evaluate(() => {
            (globalThis as unknown as { deskMarker: number }).deskMarker = 42;
          });
          await inboundHttp(url, {
            channel: "whatsapp",
            from: "+27820000002",
            text: "Thanks! Could you send me the tracking number?",
          });
          await anaPage.waitForSelector(
            "#conversation .msg-in >> text=Could you send me the tracking number?",
            { timeout: 10_000 },
          );
          const marker = await anaPage.evaluate(() =>
            (globalThis as unknown as { deskMarker?: number }).deskMarker
          );
          assert(marker === 42, "the page was not reloaded");
          const draft = await anaPage.inputValue("textarea[name=text]");
          assert(draft === "Draft: let me check the courier", `the draft survives (${draft})`);
          await screenshot(anaPage, "assigned-live-message-1280");
        },
      );

      await s.step("after 24 hours a WhatsApp ticket offers only templates", async () => {
        await t.json("POST", "/api/templates", {
          token: admin.token,
          body: { name: "order_update", body: "Hello {{1}}, an update on your order: {{2}}" },
        });
        t.clock.advance(25 * HOUR);
        // Sessions follow the same clock (12 h), so sign in again.
        page = watch(await signInPage(anaCtx, url, ana.agent.email));
        await anaPage.close();
        await page.goto(`${url}/tickets/assigned/${first}`);
        await page.waitForSelector("text=WhatsApp window closed");
        assert(await page.locator("textarea[name=text]").count() === 0, "no free-text box");
        await page.selectOption("select[name=template]", { label: "order_update (en)" });
        await page.waitForSelector("input[name=params] >> nth=1");
        await screenshot(page, "assigned-template-1280");
        const params = page.locator("input[name=params]");
        await params.nth(0).fill("Thandi");
        await params.nth(1).fill("it arrives tomorrow");
        await Promise.all([
          page.waitForURL(new RegExp(`/tickets/assigned/${first}$`)),
          page.click("text=Start Chat"),
        ]);
        await page.waitForSelector(
          ".msg-out >> text=Hello Thandi, an update on your order: it arrives tomorrow",
        );
      });

      await s.step("close, then Closed by me lists only Ana's", async () => {
        await Promise.all([
          page.waitForURL(/\/tickets\/assigned$/),
          page.click("text=Close ticket"),
        ]);
        await page.waitForSelector("text=Ticket closed.");
        await page.goto(`${url}/tickets/closed`);
        await page.waitForSelector("#queue-list li.row >> nth=1");
        await page.check("input[name=closedByMe]");
        await Promise.all([page.waitForURL(/closedByMe=1/), page.click("text=Apply")]);
        await page.waitForSelector(rowOf(first));
        assert(await page.locator("#queue-list li.row").count() === 1, "only Ana's closed ticket");
      });

      await s.step("screenshots of every tab at 360 px and 1280 px", async () => {
        const names: [string, string, string][] = [
          ["Naledi Dube", "+27820000007", "Is the blue jacket back in stock in size M?"],
          ["Marcus Reed", "+15550100009", "Can I change the delivery address for my parcel?"],
          [
            "Sofia Rossi",
            "visitor-22de",
            "<b>bold?</b> I typed this in the chat box, is that okay?",
          ],
          ["Oliver Grant", "+447700900004", "I was charged twice for the same subscription."],
        ];
        for (const [name, from, text] of names) {
          const channel = from.startsWith("visitor")
            ? "webchat"
            : from.startsWith("+1")
            ? "sms"
            : "whatsapp";
          await leaveMessageHttp(url, from, text, channel, name);
          t.clock.advance(7 * 60_000);
        }
        const shots: [string, string][] = [
          ["unassigned", "/tickets/unassigned"],
          ["assigned", "/tickets/assigned"],
          ["closed", `/tickets/closed/${first}`],
          ["chats", "/chats"],
        ];
        for (const width of [1280, 360]) {
          await page.setViewportSize({ width, height: width === 360 ? 740 : 800 });
          for (const [name, path] of shots) {
            await page.goto(`${url}${path}`);
            await page.waitForSelector("main");
            await screenshot(page, `${name}-${width}`);
          }
        }
        const login = await browser!.newPage({ viewport: { width: 360, height: 640 } });
        await login.goto(`${url}/login`);
        await screenshot(login, "login-360");
        await login.close();
      });

      assert(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});

/**
 * Every select of a page's filter bar is at least as wide as its chosen text needs: the natural
 * width (`width: auto`) of a copy of it that holds only the chosen option.
 */
async function cutSelects(page: Page): Promise<string[]> {
  return await page.evaluate(
    `[...document.querySelectorAll("form.filters select")].flatMap((el) => {
    // A copy holding only the chosen option takes the width that option's text needs.
    const copy = el.cloneNode(false);
    if (el.selectedOptions[0]) copy.append(el.selectedOptions[0].cloneNode(true));
    copy.removeAttribute("id");
    copy.style.width = "auto";
    copy.style.position = "absolute";
    copy.style.visibility = "hidden";
    el.after(copy);
    const need = copy.getBoundingClientRect().width;
    copy.remove();
    const has = el.getBoundingClientRect().width;
    const text = el.selectedOptions[0] ? el.selectedOptions[0].text : "";
    return has + 0.5 < need ? [el.id + ' "' + text + '" is ' + has + " px wide, needs " + need] : [];
  })`,
  ) as string[];
}

Deno.test({
  name: "[e2e] filter bars: no select is cut at 360 px or 1280 px (tickets, queues, archive)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    try {
      await closeBusiness(t);
      const sam = await t.person("supervisor", { name: "Sam Patel" });
      await leaveMessageHttp(url, "+27820000301", "A ticket so the lists are not empty");
      browser = await launchBrowser();
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await signInPage(context, url, sam.agent.email);
      const cut: string[] = [];
      for (const width of [1280, 1024, 360]) {
        await page.setViewportSize({ width, height: 800 });
        for (
          const path of [
            "/tickets/unassigned",
            "/tickets/closed",
            "/supervisor/queues",
            "/supervisor/queues?queue=closed",
            "/supervisor/archive",
            "/supervisor/archive?sort=oldest",
          ]
        ) {
          await page.goto(`${url}${path}`);
          await page.waitForSelector("form.filters");
          for (const problem of await cutSelects(page)) cut.push(`${width} px ${path}: ${problem}`);
        }
      }
      await page.goto(`${url}/supervisor/archive`);
      await page.setViewportSize({ width: 1280, height: 800 });
      await screenshot(page, "archive-1280");
      assert(cut.length === 0, cut.join("\n"));
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
