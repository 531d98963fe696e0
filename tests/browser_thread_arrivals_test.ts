/**
 * [e2e] Rule 56 on an open page: the thread folds its middle when the page opens, never later.
 * When messages arrive while an agent reads a ticket, whether three at once (one redraw, as the
 * 10 s poll or a busy stream brings them) or one by one (live), each is drawn after the fold
 * where the agent sees it, and so is everything the page showed before; the fold keeps only what
 * it held and says how many. A reload folds afresh. (A burst once folded its first message away
 * unseen: the browser test of hostile text caught it under load.)
 */
import assert from "node:assert/strict";
import { closeBusiness, intakeTicket } from "./helpers.ts";
import {
  type Browser,
  launchBrowser,
  type Page,
  screenshot,
  signInPage,
  startServer,
  until,
} from "./browser.ts";

/** What the open thread shows outside its fold, in order, and what the fold holds and says. */
async function threadNow(page: Page) {
  return await page.evaluate(`(() => {
    const thread = document.querySelector("#conversation");
    const fold = thread.querySelector("details.msg-earlier");
    const text = (m) => m.textContent.replace(/^.*?\\d\\d:\\d\\d/, "").trim();
    const all = [...thread.querySelectorAll("[data-message]")];
    return {
      shown: all.filter((m) => !m.closest("details.msg-earlier")).map(text),
      folded: all.filter((m) => m.closest("details.msg-earlier")).map(text),
      says: fold ? fold.querySelector("summary").textContent : null,
      open: fold ? fold.open : null,
    };
  })()`) as { shown: string[]; folded: string[]; says: string | null; open: boolean | null };
}

Deno.test({
  name: "[e2e] rule 56: messages that arrive while a thread is open are never folded away unseen",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const server = await startServer();
    const { t, url } = server;
    let browser: Browser | null = null;
    try {
      await closeBusiness(t);
      const customer = { channel: "whatsapp", from: "+27820005601", name: "Thandi Mokoena" };
      const ticketId = await intakeTicket(t, customer, [
        "first: order 4411 has not arrived",
        ...[1, 2, 3, 4, 5, 6].map((i) => `detail ${i}`),
      ]);
      const ana = await t.person("agent", { name: "Ana Silva" });
      const accepted = await t.call("POST", `/api/tickets/${ticketId}/accept`, {
        token: ana.token,
      });
      await accepted.body?.cancel();
      assert.equal(accepted.status, 200);

      browser = await launchBrowser();
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await signInPage(context, url, ana.agent.email);
      const open = async () => {
        await page.goto(`${url}/tickets/assigned/${ticketId}`);
        await page.waitForSelector("#conversation [data-ends~='newest']");
      };

      let folded = 0;
      await s.step("the page opens folded: the first message, then the newest two", async () => {
        await open();
        const now = await threadNow(page);
        assert.deepEqual(now.shown, ["first: order 4411 has not arrived", "detail 5", "detail 6"]);
        // YES, details 1-4 and the automatic replies (the prompt, its acknowledgement).
        assert.deepEqual(now.folded.filter((m) => /^(YES|detail)/.test(m)), [
          "YES",
          "detail 1",
          "detail 2",
          "detail 3",
          "detail 4",
        ]);
        folded = now.folded.length;
        assert.equal(now.says, `${folded} earlier messages`);
      });

      await s.step(
        "three messages in one redraw: all three after the fold, with what was shown",
        async () => {
          // The stream is held back, so the redraw that brings them is the 10 s poll's, at once.
          await page.route("**/events?**", (route) => route.abort());
          await open();
          for (const text of ["burst a", "burst b", "burst c"]) {
            await t.inbound({ ...customer, text });
          }
          const poll = await page.locator("#conversation [hx-trigger^='every']").getAttribute(
            "hx-get",
          );
          await page.evaluate(
            `htmx.ajax("GET", ${
              JSON.stringify(poll)
            }, { target: "#conversation", swap: "innerHTML" })`,
          );
          await until(
            page,
            `document.querySelector("#conversation").textContent.includes("burst c")`,
          );
          const now = await threadNow(page);
          assert.deepEqual(now.shown, [
            "first: order 4411 has not arrived",
            "detail 5",
            "detail 6",
            "burst a",
            "burst b",
            "burst c",
          ]);
          assert.equal(now.folded.length, folded, "the fold holds what it held");
          assert.equal(now.says, `${folded} earlier messages`, "and counts it");
          assert.equal(now.open, false);
          for (const text of ["burst a", "burst b", "burst c"]) {
            assert(await page.getByText(text).first().isVisible(), `${text} visible`);
          }
          await screenshot(page, "thread-arrivals-1280");
          await page.unroute("**/events?**");
        },
      );

      await s.step("live, one by one: each arrival stays in view as more come", async () => {
        await open();
        let now = await threadNow(page);
        assert.deepEqual(now.shown.slice(1), ["burst b", "burst c"], "a reload folds afresh");
        for (const text of ["live 1", "live 2", "live 3"]) {
          await t.inbound({ ...customer, text });
        }
        await until(page, `document.querySelector("#conversation").textContent.includes("live 3")`);
        now = await threadNow(page);
        assert.deepEqual(now.shown.slice(-5), ["burst b", "burst c", "live 1", "live 2", "live 3"]);
        assert.equal(now.says, `${now.folded.length} earlier messages`);
      });
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
