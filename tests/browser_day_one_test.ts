/**
 * [e2e] Rules 54–59 ("Day one with a real team") in headless Chromium, each at 360 × 640 and
 * 1280 × 800: one name everywhere (a rename reaches another agent's open list and ticket live;
 * no raw visitor id on any page), a web chat visitor who sees agents' names, a joined and an
 * ended notice and the YES/NO prompt as buttons, agent and automatic messages told apart on the
 * desk, threads that open on the customer's first message with the newest and the reply box in
 * the window, Accept and the whole navigation without hover, a password changed by its owner and
 * an inbound token rotated by an admin, and a widget the desk refuses that says so. Every page
 * is checked with axe-core and must log no console error; screenshots go to ./.shots/.
 */
import assert from "node:assert/strict";
import { DEFAULT_TEXTS } from "../domain/settings.ts";
import { closeBusiness, CLOSED_TIME, INBOUND_TOKEN, OPEN_TIME, type TestDesk } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  type BrowserContext,
  launchBrowser,
  type Page,
  pageProblems,
  screenshot,
  signInPage,
  startServer,
  startShop,
  TIMEOUT,
  until,
} from "./browser.ts";

const SIZES = [
  { width: 360, height: 640 },
  { width: 1280, height: 800 },
] as const;

/** A web chat visitor through the API (what the widget does), for desk-side scenes. */
async function apiVisitor(t: TestDesk) {
  const made = await t.json<{ visitorId: string; token: string }>(
    "POST",
    "/webchat/api/visitors",
  );
  assert.equal(made.status, 201);
  let n = 0;
  return {
    ...made.body,
    async say(text: string) {
      const res = await t.call("POST", "/webchat/api/messages", {
        token: made.body.token,
        body: { text, clientId: `b${++n}` },
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
    },
  };
}

async function enableWebchat(t: TestDesk, allowedOrigins: string[] = []) {
  const admin = await t.person("admin", { name: "Ada Admin" });
  const res = await t.json("PUT", "/api/channels/webchat", {
    token: admin.token,
    body: { enabled: true, allowedOrigins },
  });
  assert.equal(res.status, 200);
  return admin;
}

/** Whether the element is wholly inside the window (no scrolling needed to see it). */
const inWindow = (page: Page, selector: string) =>
  page.evaluate(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    if (!el) return "missing";
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth
      ? "yes" : "no: " + JSON.stringify([r.top, r.bottom, r.left, r.right, innerHeight]);
  })()`) as Promise<string>;

/** What the window shows now (not the whole page), into ./.shots/. */
async function windowShot(page: Page, name: string) {
  await Deno.mkdir("./.shots", { recursive: true });
  await page.screenshot({ path: `./.shots/${name}.png` });
}

/** axe-core finds nothing on the page. */
async function assertAxeClean(page: Page, what: string) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${what}: axe-core violations`);
}

/** Runs the scene in a fresh browser and desk; closes both whatever happens. */
async function scene(
  at: number,
  fn: (
    ctx: {
      url: string;
      t: TestDesk;
      browser: Browser;
      problems: string[];
      watch: (p: Page) => Page;
    },
  ) => Promise<void>,
) {
  const server = await startServer({ at });
  const browser = await launchBrowser();
  const { problems, watch } = pageProblems();
  try {
    await fn({ url: server.url, t: server.t, browser, problems, watch });
    assert.deepEqual(problems, [], "no page logged a console error");
  } finally {
    await browser.close();
    await server.close();
  }
}

Deno.test({
  name: "[e2e] rules 54, 56, 57: one name live everywhere, threads from the start, no hover",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    await scene(OPEN_TIME, async ({ url, t, browser, watch }) => {
      await closeBusiness(t);
      await enableWebchat(t);
      const ana = await t.person("agent", { name: "Ana Silva" });
      const ben = await t.person("agent", { name: "Ben Okafor" });
      // A visitor leaves a message (its ticket stays unassigned), and a WhatsApp customer's
      // ticket Ana works on: a thread long enough to fold.
      const v = await apiVisitor(t);
      for (const text of ["My voucher code is not working", "YES", "//end"]) await v.say(text);
      const unassigned = (await t.json<{ tickets: { id: string }[] }>(
        "GET",
        "/api/tickets?queue=unassigned",
        { token: ana.token },
      )).body.tickets[0].id;
      const w = await apiVisitor(t);
      const say = (text: string) => w.say(text);
      for (
        const text of [
          "Hi, my order 4411 arrived with a cracked screen. What can I do?",
          "YES",
          "I bought it last Tuesday on your website.",
          "//end",
        ]
      ) await say(text);
      const worked = (await t.json<{ tickets: { id: string; from: string }[] }>(
        "GET",
        "/api/tickets?queue=unassigned",
        { token: ana.token },
      )).body.tickets.find((x) => x.from === w.visitorId)!.id;
      await t.call("POST", `/api/tickets/${worked}/accept`, { token: ana.token });
      const reply = (text: string) =>
        t.call("POST", `/api/tickets/${worked}/reply`, { token: ana.token, body: { text } });
      await reply("Hello, sorry to hear that. Could you send a photo?");
      await say("Sure, here it is.");
      await reply("Thank you, a replacement leaves today.");
      await say("Great, thank you!");

      for (const size of SIZES) {
        const tag = size.width;
        const anaCtx: BrowserContext = await browser.newContext({ viewport: size });
        const benCtx: BrowserContext = await browser.newContext({ viewport: size });
        const anaPage = watch(await signInPage(anaCtx, url, ana.agent.email));
        const benPage = watch(await signInPage(benCtx, url, ben.agent.email));

        await s.step(`${tag}: Accept shows without hover; the navigation is whole`, async () => {
          await benPage.goto(`${url}/tickets/unassigned`);
          const accept = benPage.locator(`li[data-ticket="${unassigned}"] .row-actions button`);
          await accept.waitFor();
          const opacity = await accept.evaluate((el) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } })
              .getComputedStyle(el.closest(".row-actions")).opacity
          );
          assert.equal(opacity, "1", "Accept is shown before any hover or focus");
          assert.equal(
            await inWindow(benPage, `li[data-ticket="${unassigned}"] .row-actions button`),
            "yes",
          );
          const cut = await benPage.evaluate(`(() => {
            const nav = document.querySelector(".nav");
            const out = [...nav.querySelectorAll("a")].filter((a) => {
              const r = a.getBoundingClientRect();
              return r.left < 0 || r.right > innerWidth || r.right > nav.getBoundingClientRect().right + 1;
            }).map((a) => a.textContent);
            return nav.scrollWidth > nav.clientWidth ? ["scrolls", ...out] : out;
          })()`);
          assert.deepEqual(cut, [], "no navigation link is cut");
          await assertAxeClean(benPage, `${tag} unassigned`);
          await screenshot(benPage, `day-one-unassigned-${tag}`);
        });

        await s.step(`${tag}: a visitor is named by its label, never its raw id`, async () => {
          const text = await benPage.evaluate("document.body.innerText") as string;
          assert.ok(text.includes(`Visitor ${v.visitorId.slice(-5)}`), "the label");
          assert.ok(!text.includes(v.visitorId), "no raw id");
          assert.ok(!(await benPage.content()).includes(v.visitorId), "not even in the markup");
        });

        await s.step(
          `${tag}: a ticket opens on the customer's first message, the newest and the reply box`,
          async () => {
            await anaPage.goto(`${url}/tickets/assigned/${worked}`);
            await anaPage.waitForSelector("[data-compose-text]");
            await until(anaPage, "document.readyState === 'complete'");
            await windowShot(anaPage, `day-one-ticket-window-${tag}`);
            const first = '#conversation [data-ends~="first"]';
            assert.match(
              await anaPage.locator(first).innerText(),
              /my order 4411 arrived with a cracked screen/,
            );
            assert.match(
              await anaPage.locator('#conversation [data-ends~="newest"]').innerText(),
              /Great, thank you!/,
            );
            for (
              const part of [
                first,
                '#conversation [data-ends~="newest"]',
                "[data-compose-text]",
                "[data-send]",
              ]
            ) {
              assert.equal(await inWindow(anaPage, part), "yes", `${part} in the window`);
            }
            assert.ok(
              await anaPage.locator(".msg-earlier > summary").isVisible(),
              "the middle folds",
            );
            // Agents' and automatic messages look different, and say who wrote them.
            const looks = await anaPage.evaluate(`(() => {
              const look = (sel) => {
                const el = document.querySelector(sel);
                const s = getComputedStyle(el);
                return [el.querySelector(".msg-author").textContent.split(" · ")[0], s.backgroundColor, s.borderStyle];
              };
              document.querySelectorAll("#conversation details").forEach((d) => d.open = true);
              return { agent: look("#conversation .msg-out"), auto: look("#conversation .msg-system") };
            })()`) as { agent: string[]; auto: string[] };
            assert.equal(looks.agent[0], "You");
            assert.equal(looks.auto[0], "Automatic reply");
            assert.notDeepEqual(looks.agent.slice(1), looks.auto.slice(1), "distinct styles");
            await anaPage.reload();
            await anaPage.waitForSelector("[data-compose-text]");
            await assertAxeClean(anaPage, `${tag} ticket`);
            await screenshot(anaPage, `day-one-ticket-${tag}`);
          },
        );

        await s.step(
          `${tag}: a rename in the profile reaches another agent's open pages`,
          async () => {
            const name = `Thabo Nkosi ${tag}`;
            await benPage.goto(`${url}/tickets/unassigned`);
            const benTicket = await benCtx.newPage();
            watch(benTicket);
            await benTicket.goto(`${url}/tickets/unassigned/${unassigned}`);
            await benTicket.waitForSelector("#detail-name");
            // Ana renames the customer from the ticket's preview.
            await anaPage.goto(`${url}/tickets/unassigned/${unassigned}`);
            await anaPage.fill("#customer-name", name);
            await anaPage.click("text=Save customer");
            await anaPage.waitForSelector(`#detail-name >> text=${name}`);
            await benPage.waitForSelector(`li[data-ticket="${unassigned}"] >> text=${name}`, {
              timeout: TIMEOUT,
            });
            await benTicket.waitForSelector(`#detail-name >> text=${name}`, { timeout: TIMEOUT });
            await screenshot(benPage, `day-one-renamed-row-${tag}`);
            await benTicket.close();
          },
        );
        await anaCtx.close();
        await benCtx.close();
      }
    });
  },
});

/** Runs in the page: the web chat's shadow root. */
const inChat = <T>(page: Page, body: string): Promise<T> =>
  page.evaluate(
    `(() => { const root = document.querySelector("#chatdesk-webchat, chatdesk-chat").shadowRoot; ${body} })()`,
  ) as Promise<T>;

const chatText = (page: Page) =>
  inChat<string>(page, "return root.querySelector('.log').innerText;");

async function visitorWrites(page: Page, text: string) {
  await inChat(
    page,
    `const box = root.querySelector("textarea"); box.value = ${JSON.stringify(text)};
     root.querySelector("form").requestSubmit(); return true;`,
  );
}

Deno.test({
  name: "[e2e] rule 55: the customer knows what is happening in the web chat",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    await scene(OPEN_TIME, async ({ url, t, browser, watch }) => {
      await enableWebchat(t);
      const ana = await t.person("agent", { name: "Ana Silva" });
      let autoLook: string[] = [];
      for (const size of SIZES) {
        const tag = size.width;

        await s.step(
          `${tag}: out of hours the prompt is two buttons; a tap answers it`,
          async () => {
            await closeBusiness(t);
            const ctx = await browser.newContext({ viewport: size });
            const visitor = watch(await ctx.newPage());
            await visitor.goto(`${url}/webchat`);
            await visitorWrites(visitor, "Hello, is anyone there?");
            await until(
              visitor,
              `(() => {
            const q = document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".q");
            return q && !q.hidden && q.querySelectorAll("button").length === 2;
          })()`,
            );
            const labels = await inChat<string[]>(
              visitor,
              `return [...root.querySelectorAll(".q button")].map((b) => b.textContent);`,
            );
            assert.deepEqual(labels, ["Yes", "No"]);
            assert.ok((await chatText(visitor)).includes("Automatic reply"), "auto replies named");
            autoLook = await inChat<string[]>(
              visitor,
              `const s = getComputedStyle(root.querySelector(".m.a")); return [s.backgroundColor, s.borderStyle];`,
            );
            await assertAxeClean(visitor, `${tag} web chat prompt`);
            await screenshot(visitor, `day-one-webchat-prompt-${tag}`);
            await inChat(visitor, `root.querySelector(".q button").click(); return true;`);
            await until(
              visitor,
              `document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".log").innerText.includes(${
                JSON.stringify(DEFAULT_TEXTS.yesAck.slice(0, 30))
              })`,
            );
            assert.equal(
              await inChat<boolean>(visitor, `return root.querySelector(".q").hidden;`),
              true,
              "answered: the buttons go",
            );
            await ctx.close();
          },
        );

        await s.step(
          `${tag}: waiting, the agent joins by name, writes, and ends the chat`,
          async () => {
            await t.kv.delete(["settings"]);
            await t.json("PUT", "/api/agents/me/status", {
              token: ana.token,
              body: { status: "online" },
            });
            const ctx = await browser.newContext({ viewport: size });
            const visitor = watch(await ctx.newPage());
            await visitor.goto(`${url}/webchat`);
            await visitorWrites(visitor, `Can someone help me with my order? (${tag})`);
            await until(
              visitor,
              `document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".log").innerText.includes("Waiting for an agent")`,
            );
            // Ana sees the waiting chat with what the visitor wrote, and accepts it.
            const agentCtx = await browser.newContext({ viewport: size });
            const agent = watch(await signInPage(agentCtx, url, ana.agent.email));
            await agent.goto(`${url}/chats`);
            const row = agent.locator("li[data-chat]").first();
            await row.waitFor();
            assert.match(await row.innerText(), /Can someone help me with my order\?/);
            assert.equal(
              await row.locator(".row-actions").evaluate((el) =>
                (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } })
                  .getComputedStyle(el).opacity
              ),
              "1",
            );
            await assertAxeClean(agent, `${tag} chats`);
            await screenshot(agent, `day-one-chats-waiting-${tag}`);
            const waitingId = (await row.getAttribute("data-chat"))!;
            await row.locator("button").click();
            await until(
              visitor,
              `document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".log").innerText.includes("Ana Silva joined the chat")`,
            );
            await agent.goto(`${url}/chats/${waitingId}`);
            await agent.fill("textarea[name=text]", "Hi, I am Ana. Which order is it?");
            await agent.click("[data-send]");
            await agent.waitForSelector(".msg-out >> text=Which order is it?");
            await windowShot(agent, `day-one-chat-agent-${tag}`);
            await until(
              visitor,
              `[...document.querySelector("#chatdesk-webchat").shadowRoot.querySelectorAll(".log .m")].some((m) => m.querySelector(".w")?.textContent === "Ana Silva" && m.textContent.includes("Which order is it?"))`,
            );
            const agentLook = await inChat<string[]>(
              visitor,
              `const el = [...root.querySelectorAll(".m")].find((m) => m.querySelector(".w")?.textContent === "Ana Silva");
               const s = getComputedStyle(el); return [s.backgroundColor, s.borderStyle];`,
            );
            assert.notDeepEqual(agentLook, autoLook, "automatic and agent messages look different");
            await assertAxeClean(visitor, `${tag} web chat live`);
            await screenshot(visitor, `day-one-webchat-live-${tag}`);
            await agent.click("text=End chat");
            await until(
              visitor,
              `document.querySelector("#chatdesk-webchat").shadowRoot.querySelector(".log").innerText.includes("The chat has ended")`,
            );
            await screenshot(visitor, `day-one-webchat-ended-${tag}`);
            // Everything in the order it happened.
            const order = await inChat<string[]>(
              visitor,
              `return [...root.querySelector(".log").children].map((el) => el.textContent);`,
            );
            const at = (text: string) => order.findIndex((x) => x.includes(text));
            const steps = [
              "Can someone help me",
              "Waiting for an agent",
              "Ana Silva joined the chat",
              "Which order is it?",
              "The chat has ended",
            ].map(at);
            assert.ok(
              steps.every((i, n) => i >= 0 && (n === 0 || i > steps[n - 1])),
              order.join(" | "),
            );
            await ctx.close();
            await agentCtx.close();
            await t.json("PUT", "/api/agents/me/status", {
              token: ana.token,
              body: { status: "offline" },
            });
          },
        );
      }
    });
  },
});

Deno.test({
  name: "[e2e] rule 58: people change their own password; an admin rotates the inbound token",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    await scene(CLOSED_TIME, async ({ url, t, browser, watch }) => {
      const admin = await t.person("admin", { name: "Ada Admin" });
      for (const size of SIZES) {
        const tag = size.width;
        const who = await t.person("agent", { name: `Ana ${tag}` });

        await s.step(`${tag}: from the account menu, with the current password`, async () => {
          const elsewhere = await browser.newContext({ viewport: size });
          const other = watch(await signInPage(elsewhere, url, who.agent.email));
          const ctx = await browser.newContext({ viewport: size });
          const page = watch(await signInPage(ctx, url, who.agent.email));
          await page.click(".account-menu > summary");
          assert.equal(await inWindow(page, ".account-pop"), "yes", "the menu fits the window");
          await page.click("text=Your account and password");
          await page.waitForSelector("h1 >> text=Your account");
          await assertAxeClean(page, `${tag} account`);
          await page.fill("#current-password", "password-123");
          await page.fill("#new-password", "a-new-password-1");
          await page.fill("#confirm-password", "a-new-password-1");
          await page.click("text=Change password");
          await page.waitForSelector("text=Password changed.");
          await screenshot(page, `day-one-account-${tag}`);
          // This session goes on; the other browser is signed out.
          await page.goto(`${url}/tickets/unassigned`);
          assert.ok(new URL(page.url()).pathname.startsWith("/tickets"));
          await other.goto(`${url}/tickets/unassigned`);
          assert.ok(new URL(other.url()).pathname.startsWith("/login"), other.url());
          await ctx.close();
          await elsewhere.close();
        });

        await s.step(
          `${tag}: Integrations rotates the inbound token and shows it once`,
          async () => {
            const ctx = await browser.newContext({ viewport: size });
            const page = watch(await signInPage(ctx, url, admin.agent.email));
            await page.goto(`${url}/admin/integrations#inbound-token`);
            await assertAxeClean(page, `${tag} integrations`);
            await page.click("text=Rotate inbound token");
            const token = await page.locator("code[data-token]").innerText();
            await windowShot(page, `day-one-token-window-${tag}`);
            assert.ok(token.length >= 32);
            // Shown where it was made: the answer opens at the token's section.
            await until(
              page,
              `(() => { const r = document.querySelector("code[data-token]").getBoundingClientRect();
                return r.top >= 0 && r.bottom <= innerHeight; })()`,
            );
            await screenshot(page, `day-one-token-${tag}`);
            const inbound = (bearer: string) =>
              fetch(`${url}/api/inbound`, {
                method: "POST",
                headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
                body: JSON.stringify({ channel: "sms", from: "+15550100123", text: "hello" }),
              }).then(async (r) => (await r.body?.cancel(), r.status));
            assert.equal(await inbound(token), 200);
            assert.equal(await inbound(INBOUND_TOKEN), 401);
            await page.goto(`${url}/admin/integrations`);
            assert.ok(!(await page.content()).includes(token), "never shown again");
            await assertAxeClean(page, `${tag} integrations after`);
            await ctx.close();
          },
        );
      }
    });
  },
});

Deno.test({
  name: "[e2e] rule 59: a widget the desk refuses says the chat is unavailable and names the fix",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer({ at: CLOSED_TIME });
    const shop = startShop(server.url);
    const browser = await launchBrowser();
    try {
      const admin = await enableWebchat(server.t, ["https://another-shop.example"]);
      for (const size of SIZES) {
        const tag = size.width;
        const open = async () => {
          const ctx = await browser.newContext({ viewport: size });
          const page = await ctx.newPage();
          const console: string[] = [];
          page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
          await page.goto(shop.url);
          await page.waitForSelector("chatdesk-chat", { state: "attached" });
          await inChat(page, `root.querySelector(".go").click(); return true;`);
          return { ctx, page, console };
        };
        const status = (page: Page) =>
          inChat<string>(page, `return root.querySelector(".st").textContent;`);

        await s.step(`${tag}: a site not in the allowed origins`, async () => {
          await server.t.json("PUT", "/api/channels/webchat", {
            token: admin.token,
            body: { allowedOrigins: ["https://another-shop.example"] },
          });
          const { ctx, page, console } = await open();
          await until(
            page,
            `document.querySelector("chatdesk-chat").shadowRoot.querySelector(".st").textContent.includes("unavailable")`,
          );
          await visitorWrites(page, "Hello?");
          assert.equal(await status(page), "The chat is unavailable right now.");
          assert.equal(
            await inChat<boolean>(page, `return root.querySelector("textarea").disabled;`),
            true,
          );
          assert.ok(!(await chatText(page)).includes("Waiting to send"));
          const fix = console.find((m) => m.includes("chatdesk:"));
          assert.ok(fix, console.join("\n"));
          assert.ok(fix.includes(shop.url) && fix.includes("Admin › Integrations"), fix);
          assert.ok(!console.some((m) => /CORS/.test(m)), "no request was refused by CORS");
          await screenshot(page, `day-one-widget-refused-${tag}`);
          await ctx.close();
        });

        await s.step(`${tag}: web chat turned off after the page loaded`, async () => {
          await server.t.json("PUT", "/api/channels/webchat", {
            token: admin.token,
            body: { allowedOrigins: [shop.url] },
          });
          const { ctx, page, console } = await open();
          await server.t.json("PUT", "/api/channels/webchat", {
            token: admin.token,
            body: { enabled: false },
          });
          await visitorWrites(page, "Hello?");
          await until(
            page,
            `document.querySelector("chatdesk-chat").shadowRoot.querySelector(".st").textContent.includes("unavailable")`,
          );
          const bubble = await chatText(page);
          assert.ok(bubble.includes("Not sent: the chat is unavailable"), bubble);
          assert.ok(console.some((m) => m.includes("chatdesk:") && m.includes("turned off")));
          await ctx.close();
          await server.t.json("PUT", "/api/channels/webchat", {
            token: admin.token,
            body: { enabled: true },
          });
        });

        await s.step(`${tag}: a desk that cannot be reached`, async () => {
          const { ctx, page, console } = await open();
          await page.route("**/webchat/api/**", (route) => route.abort("connectionrefused"));
          await visitorWrites(page, "Anyone?");
          await until(
            page,
            `document.querySelector("chatdesk-chat").shadowRoot.querySelector(".st").textContent.includes("unavailable")`,
          );
          assert.ok(!(await chatText(page)).includes("Waiting to send"));
          assert.ok(
            console.some((m) => m.includes("chatdesk:") && m.includes("cannot be reached")),
          );
          await screenshot(page, `day-one-widget-unreachable-${tag}`);
          // Back again: the message goes, and the panel stops saying so.
          await page.unroute("**/webchat/api/**");
          await until(
            page,
            `!document.querySelector("chatdesk-chat").shadowRoot.querySelector(".st").textContent.includes("unavailable")`,
            20_000,
          );
          await ctx.close();
        });
      }
    } finally {
      await browser.close();
      await shop.close();
      await server.close();
    }
  },
});
