/**
 * [e2e] The conversation pane in real headless Chromium (rules 34–36, issue points 3–6): a
 * keyboard-only shift (skip link, j / a on the list with focus kept on the next row, open, r, the
 * `/` canned-reply picker with its fields filled, Ctrl+Enter, Tab to Close), an unknown
 * placeholder that blocks Send until edited, a note and a customer edit in place, axe-core over
 * the ticket and chat pages, and screenshots at 1280 and 360 px (./.shots/, git-ignored).
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { updateSettings } from "../domain/settings.ts";
import { closeBusiness, leaveMessage } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  launchBrowser,
  type Page,
  screenshot,
  signInPage,
  startServer,
} from "./browser.ts";

/** The page's DOM as the functions run in it see it (no closures: they are sent as text). */
type Dom = {
  document: {
    activeElement: { closest(s: string): { dataset: Record<string, string> } | null } | null;
    querySelector(s: string): { value: string } | null;
  };
};

/** What has keyboard focus: its id, text and the ticket row it is in. */
const focusOf = (page: Page) =>
  page.evaluate(`(() => {
    const el = document.activeElement;
    return {
      id: el?.id ?? "",
      text: el?.textContent?.trim() ?? "",
      row: el?.closest?.("li.row")?.dataset.ticket ?? null,
    };
  })()`) as Promise<{ id: string; text: string; row: string | null }>;

/** Presses `key` until the focused element's text is `text` (at most `max` times). */
async function keyTo(page: Page, key: string, text: string, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    if ((await focusOf(page)).text === text) return;
  }
  throw new Error(`${key} never reached "${text}"`);
}

Deno.test({
  name: "[e2e] the conversation pane: keyboard shift, canned replies, notes, customer, axe",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    const problems: string[] = [];
    try {
      await closeBusiness(t);
      const sales = await t.department("Sales");
      const ana = await t.person("agent", { name: "Ana Silva", departments: [sales] });
      const admin = await t.person("admin", { name: "Ada Admin" });
      for (
        const body of [
          {
            title: "Shipping update",
            body: "Hi {{customer.name}}, this is {{agent.name}} about ticket {{ticket.id}}.",
            department: null,
          },
          { title: "Order number", body: "Your order is {{order.number}}.", department: sales },
        ]
      ) await t.json("POST", "/api/canned-replies", { token: admin.token, body });
      const older = await leaveMessage(t, "+15550100009", ["Can I change my address?"], {
        channel: "sms",
        department: sales,
        name: "Marcus Reed",
      });
      t.clock.advance(60_000);
      const first = await leaveMessage(t, "+27820000002", ["Where is my order #4411?"], {
        department: sales,
        name: "Thandi Nkosi",
      });
      await t.json("POST", `/api/tickets/${older}/notes`, {
        token: admin.token,
        body: { text: "Asked twice already." },
      });

      browser = await launchBrowser();
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await signInPage(ctx, url, ana.agent.email);
      page.on("console", (m) => {
        if (m.type() === "error" && m.text() !== "[object Event]") problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(String(e)));

      await s.step("the first Tab reaches the skip link", async () => {
        await page.keyboard.press("Tab");
        assert((await focusOf(page)).text === "Skip to main content", "skip link first");
        await page.keyboard.press("Enter");
      });

      await s.step(
        "j focuses the newest row; a accepts it; focus moves to the next row",
        async () => {
          await page.waitForSelector(`#queue-list li[data-ticket="${first}"]`);
          await page.keyboard.press("j");
          assert((await focusOf(page)).row === first, "j: the newest ticket's row");
          await page.keyboard.press("a");
          await page.waitForSelector("#flash >> text=You accepted the ticket from Thandi Nkosi");
          await page.waitForSelector(`#queue-list li[data-ticket="${first}"]`, {
            state: "detached",
          });
          await page.waitForFunction(
            (id) =>
              (globalThis as unknown as Dom).document.activeElement?.closest("li.row")?.dataset
                .ticket === id,
            older,
          );
        },
      );

      await s.step("? lists the shortcuts; Escape closes the list", async () => {
        await page.keyboard.press("?");
        await page.waitForSelector("dialog#shortcuts >> text=Keyboard shortcuts");
        await page.keyboard.press("Escape");
        await page.waitForSelector("dialog#shortcuts", { state: "hidden" });
      });

      await s.step("Shift+Tab reaches the flash's Open it; Enter opens the ticket", async () => {
        // Closing the list gave focus back to the row it came from.
        assert((await focusOf(page)).row === older, "focus is back on the next row");
        await keyTo(page, "Shift+Tab", "Open it");
        await Promise.all([
          page.waitForURL(new RegExp(`/tickets/assigned/${first}$`)),
          page.keyboard.press("Enter"),
        ]);
      });

      await s.step("the thread opens at its newest message", async () => {
        const atEnd = await page.evaluate(`(() => {
          const log = document.querySelector("#conversation");
          return log.scrollHeight - log.scrollTop - log.clientHeight;
        })()`) as number;
        assert(atEnd < 50, `scrolled to the end (${atEnd} px left)`);
      });

      await s.step("r, then / picks a canned reply, inserted with its fields filled", async () => {
        await page.keyboard.press("r");
        assert((await focusOf(page)).id === "reply-text", "r: the reply box");
        await page.keyboard.type("Thanks! /ship");
        await page.waitForSelector('.canned-pop [aria-selected="true"] >> text=Shipping update');
        await screenshot(page, "conversation-picker-1280");
        await page.keyboard.press("Enter");
        const expected = `Thanks! Hi Thandi Nkosi, this is Ana Silva about ticket ${first}.`;
        await page.waitForFunction(
          (text) =>
            (globalThis as unknown as Dom).document.querySelector("#reply-text")?.value === text,
          expected,
        );
        assert(await page.locator(".canned-pop").count() === 0, "the picker closed");
        assert(await page.locator("[data-send]").isEnabled(), "Send is enabled");
      });

      await s.step(
        "an unknown placeholder is highlighted and blocks Send until edited",
        async () => {
          await page.selectOption("#reply-text-canned", { label: "Order number" });
          await page.click("[data-insert]");
          await page.waitForSelector(".compose-backdrop mark >> text={{order.number}}");
          await page.waitForSelector("[data-unfilled] >> text=before sending");
          assert(await page.locator("[data-send]").isDisabled(), "Send is disabled");
          await page.keyboard.press("Control+Enter");
          await page.waitForTimeout(300);
          assert(await page.locator(".msg-out").count() === 0, "nothing was sent");
          // The placeholder is selected after the insert: typing replaces it.
          await page.keyboard.type("A-1001");
          await page.waitForSelector("[data-unfilled]", { state: "hidden" });
          assert(await page.locator("[data-send]").isEnabled(), "Send is enabled again");
        },
      );

      await s.step("Ctrl+Enter sends the reply", async () => {
        await Promise.all([
          page.waitForURL(new RegExp(`/tickets/assigned/${first}$`)),
          page.keyboard.press("Control+Enter"),
        ]);
        await page.waitForSelector("text=Your reply is on its way to the customer");
        await page.waitForSelector(".msg-out >> text=Your order is A-1001.");
        await page.waitForSelector("text=This goes to your live chat with the customer");
      });

      await s.step("a note and a customer edit are saved in place; the draft stays", async () => {
        await page.fill("#reply-text", "Draft: checking the courier");
        await page.fill("#note-text", "Courier says the parcel is at the Durban depot.");
        await page.click("text=Add note");
        await page.waitForSelector(".note >> text=Courier says the parcel is at the Durban depot.");
        await page.fill("#customer-about", "Prefers WhatsApp.");
        await page.fill("#customer-name", "Thandi N.");
        await page.click("text=Save customer");
        await page.waitForSelector("#customer-panel >> text=Customer saved.");
        await page.waitForSelector("h1#detail-name >> text=Thandi N.");
        const draft = await page.inputValue("#reply-text");
        assert(draft === "Draft: checking the courier", `the draft survives (${draft})`);
      });

      await s.step("axe-core finds nothing on the ticket page, picker open or not", async () => {
        const violations = await axeViolations(page);
        assert(violations.length === 0, `axe: ${violations.join(" | ")}`);
        await page.fill("#reply-text", "");
        await page.keyboard.type("/");
        await page.waitForSelector('.canned-pop [role="option"]');
        const open = await axeViolations(page);
        assert(open.length === 0, `axe, picker open: ${open.join(" | ")}`);
        await page.keyboard.press("Escape");
      });

      await s.step(
        "screenshots of the ticket, the picker and the panel at 1280 and 360 px",
        async () => {
          await page.fill("#reply-text", "");
          await screenshot(page, "conversation-ticket-1280");
          await page.locator("#customer-panel").screenshot({
            path: "./.shots/conversation-customer-1280.png",
          });
          await page.setViewportSize({ width: 360, height: 740 });
          await page.goto(`${url}/tickets/assigned/${first}`);
          await screenshot(page, "conversation-ticket-360");
          await page.focus("#reply-text");
          await page.keyboard.type("/");
          await page.waitForSelector(".canned-pop");
          await page.screenshot({ path: "./.shots/conversation-picker-360.png" });
          await page.keyboard.press("Escape");
          await page.locator("#customer-panel").screenshot({
            path: "./.shots/conversation-customer-360.png",
          });
          const width = await page.evaluate(() =>
            (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } })
              .document.documentElement.scrollWidth
          );
          assert(width <= 360, `no horizontal scroll at 360 px (${width})`);
          await page.setViewportSize({ width: 1280, height: 800 });
        },
      );

      await s.step("Tab reaches Close ticket; Enter closes it", async () => {
        await page.goto(`${url}/tickets/assigned/${first}`);
        await keyTo(page, "Tab", "Close ticket");
        await Promise.all([
          page.waitForURL(/\/tickets\/assigned$/),
          page.keyboard.press("Enter"),
        ]);
        await page.waitForSelector("text=Ticket closed.");
      });

      await s.step(
        "the chat page: canned replies and notes there too; axe finds nothing",
        async () => {
          await updateSettings(t.kv, {
            hours: { timeZone: "UTC", weekly: { wed: [["00:00", "24:00"]] }, closures: [] },
          });
          await setStatus(t.kv, ana.agent.id, "online");
          const inbound = await t.inbound({
            channel: "sms",
            from: "+15550100077",
            text: "Hi, is anyone there? My card was charged twice.",
            department: sales,
          });
          const pending = await t.json<{ chats: { id: string; customerId: string }[] }>(
            "GET",
            "/api/chats?state=pending",
            { token: ana.token },
          );
          const chatId = pending.body.chats.find((c) => c.customerId === inbound.customerId)!.id;
          await t.call("POST", `/api/chats/${chatId}/accept`, { token: ana.token });
          await page.goto(`${url}/chats/${chatId}`);
          await page.waitForSelector("#chat-text");
          await page.fill("#note-text", "Refund requested.");
          await page.click("text=Add note");
          await page.waitForSelector(".note >> text=Refund requested.");
          await page.focus("#chat-text");
          await page.keyboard.type("/greet");
          await page.waitForSelector(".canned-pop >> text=No canned reply has that in its title.");
          // axe looks at the page with the picker open, then closed.
          const open = await axeViolations(page);
          assert(open.length === 0, `axe, picker open: ${open.join(" | ")}`);
          await page.keyboard.press("Escape");
          await page.waitForSelector(".canned-pop", { state: "detached" });
          const violations = await axeViolations(page);
          assert(violations.length === 0, `axe: ${violations.join(" | ")}`);
          await screenshot(page, "conversation-chat-1280");
          await page.setViewportSize({ width: 360, height: 740 });
          await page.reload();
          await screenshot(page, "conversation-chat-360");
        },
      );

      assert(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
