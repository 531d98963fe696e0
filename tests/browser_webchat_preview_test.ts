/**
 * [e2e] Rule 30 in headless Chromium: Admin › Integrations › Web chat shows the real widget in a
 * preview frame. It starts from the saved settings, follows the title and colour as the admin
 * types (debounced, no history entries, nothing saved, no visitor API call), shows hostile text
 * as text, is clean for axe-core with the frame, fits 360 px, and without JavaScript still shows
 * the saved settings. Screenshots of the card at 1280 and 360 px go to ./.shots/.
 */
import assert from "node:assert/strict";
import type { Frame } from "playwright-core";
import {
  axeSource,
  type Browser,
  launchBrowser,
  type Page,
  screenshot,
  signInPage,
  startServer,
} from "./browser.ts";

const SAVED = {
  enabled: true,
  title: "Shop help",
  greeting: "Hi! We usually answer within a day.",
  color: "#0a7d4f",
};
const FRAME = 'iframe[title="Web chat preview"]';
const HOSTILE = '<img src=x onerror="window.pwned=1">';

/** The page's getComputedStyle (tests are type-checked without the DOM library). */
type Styled = { getComputedStyle(el: unknown): { backgroundColor: string } };

/** The preview frame (the same Frame across its reloads). */
function previewFrame(page: Page): Frame {
  const frame = page.frames().find((f) => f.url().includes("/webchat/preview"));
  assert.ok(frame, "the preview frame is there");
  return frame;
}

/** Polls `read` until it gives `want` (the preview reloads after a 300 ms pause in typing). */
async function until<T>(read: () => Promise<T>, want: T, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  let got = await read().catch(() => undefined);
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    got = await read().catch(() => undefined);
  }
  assert.equal(got, want, what);
  return got as T;
}

Deno.test({
  name: "[e2e] rule 30: the web chat preview follows the settings as the admin types",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { url, t } = server;
    let browser: Browser | null = null;
    const problems: string[] = [];
    try {
      const admin = await t.person("admin");
      const put = await t.json("PUT", "/api/channels/webchat", { token: admin.token, body: SAVED });
      assert.equal(put.status, 200);
      browser = await launchBrowser();
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const visitorCalls: string[] = [];
      const previewLoads: string[] = [];
      ctx.on("request", (r) => {
        if (r.url().includes("/webchat/api/")) visitorCalls.push(r.url());
        if (r.url().includes("/webchat/preview")) previewLoads.push(r.url());
      });
      const page = await signInPage(ctx, url, admin.agent.email);
      page.on("pageerror", (e) => problems.push(String(e)));
      // A CSP refusal (a blocked script, style or frame) shows up as a console error.
      page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
      await page.goto(`${url}/admin/integrations#webchat`);
      const inFrame = page.frameLocator(FRAME);
      const heading = inFrame.locator("chatdesk-chat .p .hd h2");
      const button = inFrame.locator("chatdesk-chat .go");
      const colourOf = (selector: string) => () =>
        inFrame.locator(selector).evaluate((el) =>
          (globalThis as unknown as Styled).getComputedStyle(el).backgroundColor
        );
      const background = colourOf("chatdesk-chat .go");

      await s.step(
        "it shows the saved settings: the themed button and the open panel",
        async () => {
          await heading.waitFor();
          assert.equal(await heading.textContent(), SAVED.title);
          assert.equal(await background(), "rgb(10, 125, 79)");
          assert.ok(await inFrame.locator("chatdesk-chat .p").isVisible(), "the panel is open");
          assert.ok(await button.isVisible(), "the button shows below it");
          assert.equal(
            await inFrame.locator("chatdesk-chat .log .m").textContent(),
            `Support: ${SAVED.greeting}`,
          );
          const focused = await page.evaluate("document.activeElement.tagName");
          assert.notEqual(focused, "IFRAME", "the preview takes no focus");
        },
      );

      await s.step("a hostile title shows as text in the preview", async () => {
        await page.fill("#webchat-title", HOSTILE);
        await until(() => heading.textContent(), HOSTILE, "the title as typed, as text");
        assert.equal(await inFrame.locator("img").count(), 0, "no image element");
        assert.equal(await previewFrame(page).evaluate("typeof window.pwned"), "undefined");
      });

      await s.step(
        "typing a title and picking a colour change the preview, before saving",
        async () => {
          const history = await page.evaluate("history.length");
          const loads = previewLoads.length;
          await page.fill("#webchat-title", "");
          await page.locator("#webchat-title").pressSequentially("Ask Ana");
          await page.fill("#webchat-color", "#b42318");
          await until(() => heading.textContent(), "Ask Ana", "the typed title");
          await until(background, "rgb(180, 35, 24)", "the picked colour");
          const header = await colourOf("chatdesk-chat .p .hd")();
          assert.equal(header, "rgb(180, 35, 24)", "the panel's header takes the colour too");
          assert.equal(await button.textContent(), "Ask Ana");
          // Debounced: 9 edits, a couple of reloads.
          const reloads = previewLoads.length - loads;
          assert.ok(reloads >= 1 && reloads <= 3, `${reloads} preview reloads`);
          assert.equal(await page.evaluate("history.length"), history, "no history entries");
          assert.equal(await page.inputValue("#webchat-title"), "Ask Ana", "focus stayed here");
          const { body } = await t.json<{ webchat: typeof SAVED }>("GET", "/api/channels", {
            token: admin.token,
          });
          assert.equal(body.webchat.title, SAVED.title, "nothing was saved");
          assert.equal(body.webchat.color, SAVED.color);
        },
      );

      await s.step("the preview never calls the visitor API nor stores anything", async () => {
        const input = inFrame.locator("chatdesk-chat textarea");
        await input.fill("Is anybody there?");
        await input.press("Enter");
        await until(
          () => inFrame.locator("chatdesk-chat .st").textContent(),
          "This is a preview: messages are not sent.",
          "the preview says so",
        );
        assert.deepEqual(visitorCalls, []);
        const stored = await page.evaluate(
          "Object.keys(localStorage).concat(Object.keys(sessionStorage)).filter((k) => k.startsWith('chatdesk-webchat'))",
        );
        assert.deepEqual(stored, []);
        assert.equal(
          await t.kv.list({ prefix: ["webchat_visitors"] }).next().then((r) => r.done),
          true,
        );
      });

      await s.step("axe-core finds nothing on the Integrations page with the preview", async () => {
        for (const frame of [page.mainFrame(), previewFrame(page)]) {
          if (!(await frame.evaluate("typeof axe !== 'undefined'"))) {
            await frame.evaluate(axeSource);
          }
        }
        const result = await page.evaluate(
          `axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] })`,
        ) as Record<"violations" | "passes", { id: string; nodes: { target: unknown[] }[] }[]>;
        // Proof that axe looked inside the frame: rules passed on nodes in it.
        const inside = result.passes.some((r) =>
          r.nodes.some((n) =>
            n.target.length > 1 && JSON.stringify(n.target).includes("chatdesk-chat")
          )
        );
        assert.ok(inside, "axe checked the widget inside the preview frame");
        assert.deepEqual(
          result.violations.map((v) => `${v.id}: ${JSON.stringify(v.nodes.map((n) => n.target))}`),
          [],
        );
      });

      await s.step("screenshots at 1280 and 360 px; no horizontal scroll at 360", async () => {
        const card = page.locator('section[aria-labelledby="webchat"]');
        await card.scrollIntoViewIfNeeded();
        await card.screenshot({ path: "./.shots/webchat-preview-1280.png" });
        await screenshot(page, "admin-integrations-webchat-1280");
        await page.setViewportSize({ width: 360, height: 800 });
        await card.scrollIntoViewIfNeeded();
        const widths = await page.evaluate(
          `[document.documentElement.scrollWidth, document.querySelector("${
            FRAME.replace(/"/g, '\\"')
          }").getBoundingClientRect().right]`,
        ) as number[];
        assert.ok(widths[0] <= 360, `page scroll width ${widths[0]}`);
        assert.ok(widths[1] <= 360, `the frame ends at ${widths[1]}`);
        const panel = await inFrame.locator("chatdesk-chat .p").boundingBox();
        const frameBox = await page.locator(FRAME).boundingBox();
        assert.ok(panel && frameBox && panel.width <= frameBox.width, "the panel fits the frame");
        await card.screenshot({ path: "./.shots/webchat-preview-360.png" });
        await screenshot(page, "admin-integrations-webchat-360");
      });

      await s.step("without JavaScript the preview still shows the saved settings", async () => {
        const plain = await browser!.newContext({
          javaScriptEnabled: false,
          storageState: await ctx.storageState(),
          viewport: { width: 1280, height: 800 },
        });
        const noJs = await plain.newPage();
        await noJs.goto(`${url}/admin/integrations#webchat`);
        const fallback = noJs.frameLocator(FRAME).locator("main");
        await fallback.locator("h2").waitFor();
        assert.equal((await fallback.locator("h2").textContent())?.trim(), SAVED.title);
        const text = await fallback.textContent() ?? "";
        assert.ok(text.includes(SAVED.greeting) && text.includes(SAVED.color), text);
        await noJs.locator('section[aria-labelledby="webchat"]').screenshot({
          path: "./.shots/webchat-preview-nojs-1280.png",
        });
        await plain.close();
      });

      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
