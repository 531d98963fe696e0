/**
 * [e2e] Rule 45 in real headless Chromium: the SMS reply box counts characters left and segments
 * as the agent types (static/compose.js), in the same words as the server draws them
 * (`countText`), and a WhatsApp box counts characters only.
 */
import assert from "node:assert/strict";
import { countText } from "../views/reply_box.tsx";
import { closeBusiness, leaveMessage } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  launchBrowser,
  type Page,
  pageProblems,
  signInPage,
  startServer,
  until,
} from "./browser.ts";

const counter = (page: Page, id: string) =>
  page.evaluate(`document.getElementById(${JSON.stringify(id)}).textContent.trim()`) as Promise<
    string
  >;

Deno.test({
  name: "[e2e] rule 45: the reply box counts characters left and SMS segments as the agent types",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    const watch = pageProblems();
    try {
      await closeBusiness(t);
      const me = await t.person("agent", { name: "Ana" });
      const sms = await leaveMessage(t, "+14155550111", ["Where is my order?"], { channel: "sms" });
      const wa = await leaveMessage(t, "+27820000111", ["Hello"], { channel: "whatsapp" });
      for (const id of [sms, wa]) {
        const res = await t.call("POST", `/api/tickets/${id}/accept`, { token: me.token });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
      browser = await launchBrowser();
      const page = watch.watch(await signInPage(await browser.newContext(), url, me.agent.email));

      await s.step("SMS: characters left and segments follow what is typed", async () => {
        await page.goto(`${url}/tickets/assigned/${sms}`);
        assert.equal(
          await counter(page, "reply-text-count"),
          "1,600 characters left · 1 SMS segment (GSM-7)",
        );
        const cases = [
          "a".repeat(160),
          "a".repeat(161),
          "Your parcel ships Monday {with tracking} €5",
          "Ваш заказ в пути",
          "Thanks 😀",
          "x".repeat(1600),
        ];
        for (const text of cases) {
          await page.fill("#reply-text", text);
          const expected = countText("sms", text);
          await until(
            page,
            `document.getElementById("reply-text-count").textContent.trim() === ${
              JSON.stringify(expected)
            }`,
          );
        }
        await page.fill("#reply-text", "a".repeat(161));
        assert.equal(
          await counter(page, "reply-text-count"),
          "1,439 characters left · 2 SMS segments (GSM-7)",
        );
        // Line breaks go out as CR LF: each counts two, as the server counts the posted form.
        await page.fill("#reply-text", "a\nb");
        assert.equal(
          await counter(page, "reply-text-count"),
          "1,596 characters left · 1 SMS segment (GSM-7)",
        );
        // The browser keeps the box within the limit.
        assert.equal(await page.getAttribute("#reply-text", "maxlength"), "1600");
        assert.deepEqual(await axeViolations(page), []);
      });

      await s.step("WhatsApp: characters left of 4,096, no segments", async () => {
        await page.goto(`${url}/tickets/assigned/${wa}`);
        await page.fill("#reply-text", "Hello there");
        await until(
          page,
          `document.getElementById("reply-text-count").textContent.trim() === "4,085 characters left"`,
        );
      });
      assert.deepEqual(watch.problems, []);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
