/**
 * [e2e] Rule 30 in headless Chromium, two contexts: a visitor on a shop of another origin that
 * embeds the widget with one script tag, and an agent on the desk. The visitor writes out of
 * hours, says YES, leaves messages (across a page navigation) and //end; the agent accepts and
 * presses Start Chat; the reply reaches the visitor without reload and the agent sees its mark
 * go to read; the network drops and comes back (and a stored message's answer is lost) without
 * a message lost or doubled. Keyboard use, axe-core, 360 px, reduced motion, and screenshots of
 * the widget and the `/webchat` page at 360 and 1280 px into /tmp/shots/.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { customerIdFor } from "../domain/ids.ts";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import { CLOSED_TIME, sentFile } from "./helpers.ts";
import {
  axeSource,
  type Browser,
  launchBrowser,
  type Page,
  signInPage,
  startServer,
} from "./browser.ts";

const SHOTS = "/tmp/shots";
/** A real 1×1 PNG, so the browser decodes what the widget shows. */
const PIXEL = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  ),
  (c) => c.charCodeAt(0),
);
const GREETING = "Hi! We usually answer within a day.";
/** A desk message with markup in it: the widget must show it as text. */
const AWAY = 'Still here while you were away. <img src=x onerror="window.pwned=1"></script>';

/** A shop on its own origin: two pages, each with the one-tag snippet. */
function startShop(deskUrl: string) {
  const ac = new AbortController();
  const page = (title: string, link: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>` +
    `</head><body style="font-family:sans-serif;margin:0"><main style="padding:24px">` +
    `<h1>${title}</h1><p>Blue jackets, red scarves and everything in between.</p>` +
    `<p><a href="${link}">Next page</a></p></main>` +
    `<script src="${deskUrl}/webchat/widget.js" defer></script></body></html>`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/favicon.ico") return new Response(null, { status: 204 });
      const html = path === "/jackets" ? page("Jackets", "/") : page("Shop", "/jackets");
      return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    },
  );
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    close: async () => {
      ac.abort();
      await Promise.race([server.finished, new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}

/** Runs in the page: the widget's shadow root (open, so tests and axe can see inside). */
const inWidget = <T>(page: Page, fn: string): Promise<T> =>
  page.evaluate(
    `(() => { const root = document.querySelector("chatdesk-chat, #chatdesk-webchat").shadowRoot; ${fn} })()`,
  ) as Promise<T>;

/** Texts of the messages in the widget's log, in order (greeting excluded). */
const logTexts = (page: Page) =>
  inWidget<string[]>(
    page,
    `return [...root.querySelectorAll(".log .m[data-id], .log .m.wait, .log .m.bad")].map((m) => m.childNodes[1].textContent);`,
  );

/** Waits until the widget's log shows a stored message with exactly this text. */
const waitForMessage = (page: Page, text: string, timeout = 10_000) =>
  page.waitForFunction(
    `[...document.querySelector("chatdesk-chat, #chatdesk-webchat").shadowRoot.querySelectorAll(".log .m[data-id]")].some((m) => m.childNodes[1].textContent === ${
      JSON.stringify(text)
    })`,
    undefined,
    { timeout },
  );

async function axeViolations(page: Page) {
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(axeSource);
  const result = await page.evaluate(
    `axe.run(document, {
      runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] })`,
  ) as Record<"violations" | "passes", { id: string; nodes: { target: unknown }[] }[]>;
  // Proof that axe looked inside the widget's shadow tree: rules passed on nodes in it.
  const inside = result.passes.some((r) =>
    r.nodes.some((n) => /chatdesk-chat|#chatdesk-webchat/.test(JSON.stringify(n.target)))
  );
  assert.ok(inside, "axe checked the widget's own elements");
  return result.violations.map((v) => `${v.id}: ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

async function shot(page: Page, name: string) {
  await Deno.mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

Deno.test({
  name: "[e2e] rule 30: a visitor on another site chats with an agent through the widget",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer({ at: CLOSED_TIME });
    const { url: desk, t } = server;
    const shop = startShop(desk);
    let browser: Browser | null = null;
    const problems: string[] = [];
    const watch = (page: Page) => {
      page.on("pageerror", (e) => problems.push(String(e)));
      return page;
    };
    try {
      const admin = await t.person("admin");
      const agent = await t.person("agent", { name: "Ana Silva" });
      const put = await t.json("PUT", "/api/channels/webchat", {
        token: admin.token,
        body: {
          enabled: true,
          allowedOrigins: [shop.url],
          title: "Shop help",
          greeting: GREETING,
          color: "#0a7d4f",
        },
      });
      assert.equal(put.status, 200);
      browser = await launchBrowser();
      const visitorCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const visitor = watch(await visitorCtx.newPage());
      visitor.setDefaultTimeout(10_000);
      let visitorId = "";
      let ticketId = "";

      await s.step(
        "the widget draws a themed button that Tab reaches; Enter opens the panel",
        async () => {
          await visitor.goto(shop.url);
          await visitor.waitForSelector("chatdesk-chat", { state: "attached" });
          let focused = "";
          for (let i = 0; i < 6 && focused !== "go"; i++) {
            await visitor.keyboard.press("Tab");
            focused = await inWidget<string>(visitor, `return root.activeElement?.className ?? ""`);
          }
          assert.equal(focused, "go", "Tab reaches the chat button");
          const look = await inWidget<string[]>(
            visitor,
            `const b = root.querySelector(".go"); return [b.textContent, getComputedStyle(b).backgroundColor];`,
          );
          assert.deepEqual(look, ["Shop help", "rgb(10, 125, 79)"]);
          await visitor.keyboard.press("Enter");
          const state = await inWidget<string[]>(
            visitor,
            `return [String(root.querySelector(".p").hidden), root.activeElement?.id, root.querySelector(".go").getAttribute("aria-expanded"), root.querySelector(".log .m").textContent];`,
          );
          assert.deepEqual(state, ["false", "in", "true", `Support: ${GREETING}`]);
        },
      );

      await s.step(
        "the first message out of hours brings the notice and the YES/NO prompt",
        async () => {
          await visitor.keyboard.type("Hello, my parcel has not arrived");
          await visitor.keyboard.press("Enter");
          await visitor.waitForFunction(
            `document.querySelector("chatdesk-chat").shadowRoot.querySelectorAll(".log .m[data-id]").length >= 3`,
          );
          assert.deepEqual(await logTexts(visitor), [
            "Hello, my parcel has not arrived",
            DEFAULT_TEXTS.outOfHours,
            DEFAULT_TEXTS.prompt,
          ]);
          const saved = await visitor.evaluate(
            `JSON.parse(localStorage.getItem("chatdesk-webchat:${desk}/webchat/api"))`,
          ) as { visitorId: string; token: string };
          assert.match(saved.visitorId, /^wv_/);
          assert.ok(saved.token, "the visitor token is kept in localStorage");
          visitorId = saved.visitorId;
        },
      );

      await s.step("Escape closes the panel and gives focus back to the button", async () => {
        await visitor.keyboard.press("Escape");
        const state = await inWidget<string[]>(
          visitor,
          `return [String(root.querySelector(".p").hidden), root.activeElement?.className];`,
        );
        assert.deepEqual(state, ["true", "go"]);
        await visitor.keyboard.press("Enter");
      });

      await s.step(
        "YES, a message, a page navigation with the thread intact, and //end",
        async () => {
          const sendAndWait = async (text: string, reply?: string) => {
            await visitor.fill("chatdesk-chat >> textarea", text);
            await visitor.keyboard.press("Enter");
            await waitForMessage(visitor, reply ?? text);
          };
          await sendAndWait("YES", DEFAULT_TEXTS.yesAck);
          await sendAndWait("Order 4411, it was due on Monday");
          await Promise.all([visitor.waitForURL(/\/jackets$/), visitor.click("text=Next page")]);
          await visitor.waitForFunction(
            `document.querySelector("chatdesk-chat")?.shadowRoot.querySelectorAll(".log .m[data-id]").length >= 6`,
          );
          const open = await inWidget<boolean>(visitor, `return !root.querySelector(".p").hidden`);
          assert.ok(open, "the panel stays open across navigation");
          await sendAndWait("//end", DEFAULT_TEXTS.endAck);
          assert.deepEqual(await logTexts(visitor), [
            "Hello, my parcel has not arrived",
            DEFAULT_TEXTS.outOfHours,
            DEFAULT_TEXTS.prompt,
            "YES",
            DEFAULT_TEXTS.yesAck,
            "Order 4411, it was due on Monday",
            "//end",
            DEFAULT_TEXTS.endAck,
          ]);
          const customerId = await customerIdFor("webchat", visitorId);
          const customer = await t.json<{ openTicketId: string }>(
            "GET",
            `/api/customers/${customerId}`,
            {
              token: admin.token,
            },
          );
          ticketId = customer.body.openTicketId;
          assert.ok(ticketId, "a ticket was left");
        },
      );

      await s.step("axe-core finds nothing in the open panel or on the shop page", async () => {
        // The whole page, the widget's open shadow tree included.
        assert.deepEqual(await axeViolations(visitor), []);
      });

      const agentCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const agentPage = watch(await signInPage(agentCtx, desk, agent.agent.email));
      const reply = "Hi! Your parcel is with the courier and arrives tomorrow.";
      let replyId = "";
      let chatId = "";

      await s.step(
        "the agent accepts and presses Start Chat; the visitor sees it without reload",
        async () => {
          await visitor.evaluate("globalThis.notReloaded = true");
          await agentPage.click(`#queue-list li[data-ticket="${ticketId}"] button`);
          await agentPage.waitForSelector("#flash >> text=You accepted");
          await agentPage.goto(`${desk}/tickets/assigned/${ticketId}`);
          await agentPage.fill("textarea[name=text]", reply);
          await Promise.all([
            agentPage.waitForURL(new RegExp(`/tickets/assigned/${ticketId}$`)),
            agentPage.click("text=Start Chat"),
          ]);
          const started = Date.now();
          await waitForMessage(visitor, reply, 5000);
          const waited = Date.now() - started;
          assert.ok(waited < 2000, `the reply took ${waited} ms to show`);
          assert.equal(await visitor.evaluate("globalThis.notReloaded"), true, "no reload");
          replyId = await inWidget<string>(
            visitor,
            `return [...root.querySelectorAll(".log .m[data-id]")].at(-1).dataset.id`,
          );
        },
      );

      await s.step(
        "the visitor has the panel open, so the agent sees the mark go to read",
        async () => {
          const status = async () =>
            (await t.json<{ delivery: { status: string } }>("GET", `/api/messages/${replyId}`, {
              token: agent.token,
            })).body.delivery.status;
          const deadline = Date.now() + 8000;
          while ((await status()) !== "read" && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(await status(), "read");
          // The desk page shows marks (rule 29) on its messages; this one moves live to read.
          if (await agentPage.locator("[data-delivery]").count()) {
            await agentPage.waitForSelector(`[data-delivery="read"] >> text=${reply}`, {
              timeout: 5000,
            });
          }
          await shot(agentPage, "agent-reply-read-1280");
        },
      );

      await s.step("the network drops and comes back: nothing is lost or doubled", async () => {
        await visitorCtx.setOffline(true);
        await visitor.fill("chatdesk-chat >> textarea", "Are you still there?");
        await visitor.keyboard.press("Enter");
        await visitor.waitForFunction(
          `document.querySelector("chatdesk-chat").shadowRoot.querySelector(".log .m.wait")?.lastChild.textContent.includes("Waiting")`,
        );
        // The agent answers meanwhile (in the live chat Start Chat opened).
        const customerId = await customerIdFor("webchat", visitorId);
        chatId = (await t.json<{ conversation: { chatId: string } }>(
          "GET",
          `/api/customers/${customerId}`,
          { token: admin.token },
        )).body.conversation.chatId;
        const sent = await t.json("POST", `/api/chats/${chatId}/messages`, {
          token: agent.token,
          body: { text: AWAY },
        });
        assert.equal(sent.status, 201, JSON.stringify(sent.body));
        await new Promise((r) => setTimeout(r, 300));
        await visitorCtx.setOffline(false);
        await visitor.waitForFunction(
          `[...document.querySelector("chatdesk-chat").shadowRoot.querySelectorAll(".log .m[data-id]")].some((m) => m.textContent.includes("while you were away."))`,
          undefined,
          { timeout: 10_000 },
        );
        await visitor.waitForFunction(
          `!document.querySelector("chatdesk-chat").shadowRoot.querySelector(".log .m.wait")`,
        );

        // A message the desk stored whose answer never reached the page: resent, stored once.
        let dropped = 0;
        await visitor.route("**/webchat/api/messages", async (route) => {
          if (route.request().method() === "POST" && dropped++ === 0) {
            await route.fetch();
            await route.abort("connectionreset");
          } else await route.continue();
        });
        await visitor.fill("chatdesk-chat >> textarea", "Thank you!");
        await visitor.keyboard.press("Enter");
        await visitor.waitForFunction(
          `[...document.querySelector("chatdesk-chat").shadowRoot.querySelectorAll(".log .m[data-id]")].some((m) => m.childNodes[1].textContent === "Thank you!")`,
          undefined,
          { timeout: 10_000 },
        );
        await visitor.waitForFunction(
          `JSON.parse(localStorage.getItem("chatdesk-webchat:${desk}/webchat/api")).outbox.length === 0`,
        );
        await visitor.unroute("**/webchat/api/messages");
        assert.equal(dropped, 2, "the lost answer was followed by one resend");

        const texts = await logTexts(visitor);
        const count = (text: string) => texts.filter((x) => x === text).length;
        assert.equal(count("Are you still there?"), 1);
        assert.equal(count(AWAY), 1);
        assert.equal(count("Thank you!"), 1);
        assert.equal(count(reply), 1);
        const inert = await inWidget<[number, unknown]>(
          visitor,
          `return [root.querySelectorAll("img, b").length, globalThis.pwned];`,
        );
        assert.deepEqual(inert, [0, undefined], "markup in a message stays text");
        // The desk stored each once, in order.
        const token = (await visitor.evaluate(
          `JSON.parse(localStorage.getItem("chatdesk-webchat:${desk}/webchat/api")).token`,
        )) as string;
        const stored = await t.json<{ messages: { text: string }[] }>(
          "GET",
          "/webchat/api/messages",
          {
            token,
          },
        );
        assert.deepEqual(stored.body.messages.map((m) => m.text).slice(-4), [
          reply,
          // Written while the visitor was offline, so before the visitor's message got through.
          AWAY,
          "Are you still there?",
          "Thank you!",
        ]);
        assert.deepEqual(
          texts,
          stored.body.messages.map((m) => m.text),
          "the page shows the thread",
        );
      });

      await s.step("a reload keeps the thread; screenshots at 1280 px and 360 px", async () => {
        await visitor.reload();
        await visitor.waitForFunction(
          `document.querySelector("chatdesk-chat")?.shadowRoot.querySelectorAll(".log .m[data-id]").length >= 12`,
        );
        await visitor.waitForTimeout(250);
        await shot(visitor, "widget-open-1280");
        await visitor.setViewportSize({ width: 360, height: 740 });
        await visitor.waitForTimeout(100);
        await shot(visitor, "widget-open-360");
        const widths = await inWidget<number[]>(
          visitor,
          `const log = root.querySelector(".log"); return [document.documentElement.scrollWidth, log.scrollWidth - log.clientWidth, Math.round(root.querySelector(".p").getBoundingClientRect().width)];`,
        );
        assert.ok(widths[0] <= 360, `page scroll width ${widths[0]}`);
        assert.equal(widths[1], 0, "no horizontal scroll in the log");
        assert.ok(widths[2] <= 360, `panel width ${widths[2]}`);
        await visitor.click("chatdesk-chat >> .x");
        await shot(visitor, "widget-closed-360");
        await visitor.setViewportSize({ width: 1280, height: 800 });
        await shot(visitor, "widget-closed-1280");
      });

      await s.step(
        "a desk message to a closed panel is delivered, badged, and read on open",
        async () => {
          const sent = await t.json<{ id: string }>("POST", `/api/chats/${chatId}/messages`, {
            token: agent.token,
            body: { text: "One more thing: the courier calls ahead." },
          });
          assert.equal(sent.status, 201);
          await visitor.waitForSelector("chatdesk-chat >> .n:not([hidden])");
          const mark = async () =>
            (await t.json<{ delivery: { status: string } }>(
              "GET",
              `/api/messages/${sent.body.id}`,
              {
                token: agent.token,
              },
            )).body.delivery.status;
          for (const end = Date.now() + 8000; (await mark()) !== "delivered" && Date.now() < end;) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(await mark(), "delivered", "received, but nobody has seen it yet");
          const label = await inWidget<string>(
            visitor,
            `return root.querySelector(".go").getAttribute("aria-label")`,
          );
          assert.equal(label, "Shop help, 1 new");
          await shot(visitor, "widget-unread-1280");
          await visitor.click("chatdesk-chat >> .go");
          for (const end = Date.now() + 8000; (await mark()) !== "read" && Date.now() < end;) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(await mark(), "read");
          await visitor.click("chatdesk-chat >> .x");
        },
      );

      await s.step(
        "rule 52: the visitor sends an image and sees it, and a file the desk sent as a link",
        async () => {
          await visitor.click("chatdesk-chat >> .go");
          await visitor.fill("chatdesk-chat >> textarea", "The box, as it came");
          await visitor.setInputFiles("chatdesk-chat >> input[type=file]", {
            name: "box.png",
            mimeType: "image/png",
            buffer: Buffer.from(PIXEL),
          });
          // Shown from the bytes fetched with the token (a blob: URL), decoded by the browser.
          await visitor.waitForFunction(
            `[...document.querySelector("chatdesk-chat").shadowRoot.querySelectorAll(".log .m[data-id] img")].some((i) => i.src.startsWith("blob:") && i.complete && i.naturalWidth === 1)`,
          );
          await waitForMessage(visitor, "The box, as it came");
          // A file from the desk: written as an agent's reply path writes one (stored, pointed).
          const customerId = await customerIdFor("webchat", visitorId);
          const label = new TextEncoder().encode("%PDF-1.4\n% label\n");
          await sentFile(
            t,
            { conversationId: chatId, customerId },
            new File([label], "return label.pdf", { type: "application/pdf" }),
            { author: agent.agent.id, text: "[document]" },
          );
          await visitor.waitForSelector(
            "chatdesk-chat >> .log .m[data-id] a >> text=return label.pdf",
          );
          const [download] = await Promise.all([
            visitor.waitForEvent("download"),
            visitor.click("chatdesk-chat >> .log a >> text=return label.pdf"),
          ]);
          assert.equal(download.suggestedFilename(), "return label.pdf");
          await shot(visitor, "widget-files-1280");
          await visitor.click("chatdesk-chat >> .x");
        },
      );

      await s.step("with reduced motion the panel opens without animation", async () => {
        await visitor.emulateMedia({ reducedMotion: "reduce" });
        await visitor.keyboard.press("Enter");
        const animation = await inWidget<string>(
          visitor,
          `return getComputedStyle(root.querySelector(".p")).animationName`,
        );
        assert.equal(animation, "none");
      });

      await s.step("/webchat is the same chat as a plain page, clean for axe-core", async () => {
        const plain = watch(await visitorCtx.newPage());
        await plain.goto(`${desk}/webchat`);
        // The page's CSP forbids string evaluation, so waits here use selectors only.
        await plain.waitForSelector("#chatdesk-webchat >> textarea");
        assert.equal(await plain.title(), "Shop help");
        await plain.fill("#chatdesk-webchat >> textarea", "Hello from the chat page");
        await plain.keyboard.press("Enter");
        await plain.locator("#chatdesk-webchat .log .m[data-id]").nth(2).waitFor();
        assert.deepEqual(await axeViolations(plain), []);
        await plain.waitForTimeout(100);
        await shot(plain, "webchat-page-1280");
        await plain.setViewportSize({ width: 360, height: 740 });
        await shot(plain, "webchat-page-360");
        const width = await plain.evaluate("document.documentElement.scrollWidth") as number;
        assert.ok(width <= 360, `page scroll width ${width}`);
      });

      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await shop.close();
      await server.close();
    }
  },
});
