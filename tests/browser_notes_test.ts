/**
 * [e2e] Rule 35 live and rules 34, 36 in headless Chromium: two people (an agent and a
 * supervisor, each in their own browser context) have one ticket open; a note either adds shows
 * on the other's page within about a second, once on each page (the author's htmx answer and the
 * stream never double it), without touching the thread, the list or a note being typed. The
 * customer panel lists the customer's chats, past and live. Without JavaScript, a reply with an
 * unfilled placeholder comes back with the form and the reason, and nothing is sent. Screenshots
 * of the ticket page with its notes and panel at 1280 and 360 px (./.shots/, git-ignored).
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { closeBusiness, leaveMessage } from "./helpers.ts";
import {
  type Browser,
  launchBrowser,
  type Page,
  pageProblems,
  screenshot,
  signInPage,
  startServer,
  until,
} from "./browser.ts";

/** Notes when the page's live stream is open (htmx's sse extension says so on the document). */
const SSE_WATCH =
  `document.addEventListener("htmx:sseOpen", () => { globalThis.sseOpen = true; });`;

/** How many notes on the page hold exactly `text`. */
const notesWith = (page: Page, text: string) =>
  page.evaluate(
    `[...document.querySelectorAll("#notes .note-text")].filter((p) => p.textContent === ${
      JSON.stringify(text)
    }).length`,
  ) as Promise<number>;

const noteCount = (page: Page) =>
  page.evaluate(`document.querySelector("#notes-count").textContent`) as Promise<string>;

Deno.test({
  name: "[e2e] rule 35 live: a note reaches the other open page once; the panel lists chats",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    const { problems, watch } = pageProblems();
    try {
      const sales = await t.department("Sales");
      const ana = await t.person("agent", { name: "Ana Silva", departments: [sales] });
      const sam = await t.person("supervisor", { name: "Sam Boss" });
      const from = "+27820000321";
      // A past chat: Ana takes it, answers, ends it (the business is open at the test's time).
      await setStatus(t.kv, ana.agent.id, "online");
      const first = await t.inbound({ channel: "whatsapp", from, text: "Hi", department: sales });
      const chatId = (await t.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      )).body.chats.find((c) => c.customerId === first.customerId)!.id;
      await t.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token });
      t.clock.advance(60_000);
      await t.call("POST", `/api/chats/${chatId}/messages`, {
        token: ana.token,
        body: { text: "Hello! How can I help?" },
      });
      await t.call("POST", `/api/chats/${chatId}/end`, { token: ana.token });
      // Then a message out of hours: a ticket, which Ana takes and answers (a live chat).
      await setStatus(t.kv, ana.agent.id, "offline");
      await closeBusiness(t);
      t.clock.advance(3_600_000);
      const ticketId = await leaveMessage(t, from, ["Where is my order #4411?"], {
        department: sales,
        name: "Thandi Nkosi",
      });
      await t.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token });
      await t.call("POST", `/api/tickets/${ticketId}/reply`, {
        token: ana.token,
        body: { text: "Checking with the courier now." },
      });
      const path = `/tickets/assigned/${ticketId}`;

      browser = await launchBrowser();
      const wide = { viewport: { width: 1280, height: 800 } };
      const anaCtx = await browser.newContext(wide);
      await anaCtx.addInitScript(SSE_WATCH);
      const samCtx = await browser.newContext(wide);
      await samCtx.addInitScript(SSE_WATCH);
      const anaPage = watch(await signInPage(anaCtx, url, ana.agent.email));
      const samPage = watch(await signInPage(samCtx, url, sam.agent.email));
      await anaPage.goto(`${url}${path}`);
      await samPage.goto(`${url}${path}`);
      await until(anaPage, "globalThis.sseOpen === true");
      await until(samPage, "globalThis.sseOpen === true");

      await s.step("Ana adds a note: Sam's page shows it within a second", async () => {
        // What the note must not redraw on Sam's page: the thread, the list, a note being typed.
        await samPage.evaluate(`(() => {
          globalThis.kept = [
            document.querySelector("#conversation").firstElementChild,
            document.querySelector("#queue-list").firstElementChild,
          ];
        })()`);
        await samPage.fill("#note-text", "Half-typed thought");
        await anaPage.fill("#note-text", "Courier says the parcel is at the Durban depot.");
        const started = Date.now();
        await anaPage.click("text=Add note");
        await samPage.waitForSelector(
          "#notes .note >> text=Courier says the parcel is at the Durban depot.",
          { timeout: 3_000 },
        );
        const took = Date.now() - started;
        assert(took < 1_500, `Sam saw the note after ${took} ms`);
        assert((await noteCount(samPage)) === "1", "Sam's count says 1");
        const draft = await samPage.inputValue("#note-text");
        assert(draft === "Half-typed thought", `Sam's draft survives (${draft})`);
        assert(
          await samPage.evaluate("globalThis.kept.every((el) => el && el.isConnected)"),
          "the thread and the list were not redrawn",
        );
        assert(
          await samPage.evaluate(`document.querySelector(".note-meta").textContent.startsWith(
            "Ana Silva")`),
          "Sam sees who wrote it",
        );
        const heard = await samPage.evaluate(
          `document.querySelector("#notes-status[role=status]").textContent`,
        );
        assert(
          heard === "New note from Ana Silva: Courier says the parcel is at the Durban depot.",
          `a screen reader hears it: ${heard}`,
        );
      });

      await s.step(
        "Ana's own page shows her note once, after her answer and the stream",
        async () => {
          await anaPage.waitForSelector("#notes .note >> text=Durban depot");
          // Long enough for the stream's copy of the list to have come too.
          await anaPage.waitForTimeout(800);
          const text = "Courier says the parcel is at the Durban depot.";
          assert((await notesWith(anaPage, text)) === 1, "one note, not two");
          assert((await noteCount(anaPage)) === "1", "Ana's count says 1");
          assert((await anaPage.inputValue("#note-text")) === "", "her form is fresh");
        },
      );

      await s.step("Sam adds one back: both pages list both, once each", async () => {
        await samPage.fill("#note-text", "VIP: call her back today.");
        await samPage.click("text=Add note");
        await anaPage.waitForSelector("#notes .note >> text=VIP: call her back today.", {
          timeout: 3_000,
        });
        await samPage.waitForTimeout(800);
        for (const page of [anaPage, samPage]) {
          assert((await notesWith(page, "VIP: call her back today.")) === 1, "once");
          assert(
            (await notesWith(page, "Courier says the parcel is at the Durban depot.")) === 1,
            "once",
          );
          assert((await noteCount(page)) === "2", "the count says 2");
        }
      });

      await s.step("the customer panel lists the live chat and the past one", async () => {
        const items = await anaPage.evaluate(`[...document.querySelectorAll(
          "#customer-panel .customer-list li")].map((li) => li.textContent.trim())`) as string[];
        assert(items.some((i) => i.startsWith("Live with you") && i.endsWith("in this ticket")));
        assert(items.some((i) => i.startsWith("Chat with you · started")), items.join(" | "));
      });

      await s.step("screenshots: the ticket with notes and panel at 1280 and 360 px", async () => {
        await screenshot(anaPage, "notes-ticket-1280");
        await anaPage.locator(".detail-side").screenshot({ path: "./.shots/notes-side-1280.png" });
        await anaPage.setViewportSize({ width: 360, height: 740 });
        await anaPage.reload();
        await screenshot(anaPage, "notes-ticket-360");
        await anaPage.locator(".detail-side").screenshot({ path: "./.shots/notes-side-360.png" });
        const width = await anaPage.evaluate("document.documentElement.scrollWidth") as number;
        assert(width <= 360, `no horizontal scroll at 360 px (${width})`);
      });

      await s.step(
        "without JavaScript, a reply with {{order.number}} is refused, unsent",
        async () => {
          const plain = await browser!.newContext({ ...wide, javaScriptEnabled: false });
          const page = await signInPage(plain, url, ana.agent.email);
          await page.goto(`${url}${path}`);
          const text = "Your order is {{order.number}}.";
          await page.fill("#reply-text", text);
          await page.click("[data-send]");
          await page.waitForSelector(".flash-error >> text=Not sent: {{order.number}} still needs");
          assert((await page.inputValue("#reply-text")) === text, "the draft comes back as typed");
          await screenshot(page, "notes-nojs-refused-1280");
          const ticket = await t.json<{ messages: { text: string }[] }>(
            "GET",
            `/api/tickets/${ticketId}`,
            { token: sam.token },
          );
          assert(!ticket.body.messages.some((m) => m.text.includes("{{")), "nothing was sent");
          await plain.close();
        },
      );

      assert(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
