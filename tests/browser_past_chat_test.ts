/**
 * [e2e] A past chat in headless Chromium: from the customer panel beside the customer's ticket,
 * the agent who had the chat opens it; the page says it has ended, shows the thread and its note
 * read-only (no message box, no End chat), and axe-core finds nothing at 1280 or 360 px.
 * Screenshots in ./.shots/ (git-ignored): past-chat-1280.png, past-chat-360.png.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { MINUTE } from "../domain/clock.ts";
import { closeBusiness, leaveMessage } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  launchBrowser,
  pageProblems,
  screenshot,
  signInPage,
  startServer,
} from "./browser.ts";

Deno.test({
  name: "[e2e] a past chat opens from the customer panel, read-only, accessible at 1280 and 360",
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
      const from = "+27820000432";
      const name = "Thandi Nkosi";
      // A chat Ana takes, answers and ends while the business is open: it joins no ticket.
      await setStatus(t.kv, ana.agent.id, "online");
      const first = await t.inbound({
        channel: "whatsapp",
        from,
        text: "Hi, my parcel has not arrived.",
        department: sales,
        name,
      });
      const chatId = (await t.json<{ chats: { id: string; customerId: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ana.token },
      )).body.chats.find((c) => c.customerId === first.customerId)!.id;
      await t.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token });
      t.clock.advance(MINUTE);
      await t.call("POST", `/api/chats/${chatId}/messages`, {
        token: ana.token,
        body: { text: "Sorry to hear that! Could you send me the order number?" },
      });
      t.clock.advance(MINUTE);
      await t.inbound({ channel: "whatsapp", from, text: "It is #4411.", department: sales });
      t.clock.advance(MINUTE);
      await t.call("POST", `/api/chats/${chatId}/messages`, {
        token: ana.token,
        body: { text: "Thanks, the courier has it: it arrives tomorrow." },
      });
      await t.call("POST", `/api/chats/${chatId}/notes`, {
        token: sam.token,
        body: { text: "Courier confirmed by phone; follow up if it is late again." },
      });
      await t.call("POST", `/api/chats/${chatId}/end`, { token: ana.token });
      // Later, out of hours: a ticket, which Ana takes (its page shows the panel).
      await setStatus(t.kv, ana.agent.id, "offline");
      await closeBusiness(t);
      t.clock.advance(60 * MINUTE);
      const ticketId = await leaveMessage(t, from, ["It did not come."], { department: sales });
      await t.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token });

      browser = await launchBrowser();
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = watch(await signInPage(context, url, ana.agent.email));
      await page.goto(`${url}/tickets/assigned/${ticketId}`);

      await s.step("the panel links the past chat; it opens read-only", async () => {
        const link = page.locator(`#customer-panel a[href="/chats/${chatId}"]`);
        assert.equal(await link.textContent(), "Chat with you");
        await Promise.all([page.waitForURL(`**/chats/${chatId}`), link.click()]);
        await page.waitForSelector(".chat-ended >> text=This chat has ended.");
        const texts = await page.evaluate(
          `[...document.querySelectorAll("#chat-messages .msg")].map((m) => m.textContent)`,
        ) as string[];
        const order = ["my parcel", "order number", "#4411", "arrives tomorrow"]
          .map((x) => texts.findIndex((t) => t.includes(x)));
        assert.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1])), `${order}`);
        assert.equal(await page.locator("#reply-text").count(), 0, "no message box");
        assert.equal(await page.locator("text=End chat").count(), 0, "no End chat");
        assert.equal(await page.locator("#note-text").count(), 0, "no note form");
        assert.equal(
          await page.locator("#notes .note-text").textContent(),
          "Courier confirmed by phone; follow up if it is late again.",
        );
      });

      await s.step("axe-core finds nothing; screenshots at 1280 and 360 px", async () => {
        const wide = await axeViolations(page);
        assert(wide.length === 0, `axe at 1280: ${wide.join(" | ")}`);
        await screenshot(page, "past-chat-1280");
        await page.setViewportSize({ width: 360, height: 740 });
        await page.reload();
        await page.waitForSelector(".chat-ended");
        const narrow = await axeViolations(page);
        assert(narrow.length === 0, `axe at 360: ${narrow.join(" | ")}`);
        await screenshot(page, "past-chat-360");
        const width = await page.evaluate("document.documentElement.scrollWidth") as number;
        assert(width <= 360, `no horizontal scroll at 360 px (${width})`);
      });

      await s.step("no errors in the page", () => {
        assert.deepEqual(problems, []);
      });
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
