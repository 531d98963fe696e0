/**
 * [browser] Rule 29 in real headless Chromium: an agent presses Start Chat on a WhatsApp ticket
 * and watches the reply's mark go queued → sent → delivered → read without reload, as the fake
 * Meta API accepts it and its status webhook reports; a failed message shows ⚠ and its reason
 * and Retry brings it back through queued to sent; a thread with every mark is photographed at
 * 1280 and 360 px (into /tmp/shots/).
 */
import assert from "node:assert/strict";
import { updateChannel } from "../domain/channel_settings.ts";
import { applyProviderStatus } from "../domain/delivery_status.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { type Browser, launchBrowser, type Page, signInPage, TIMEOUT } from "./browser.ts";
import { FakeProvider, metaAccepted } from "./fake_provider.ts";
import { closeBusiness, type TestDesk, testDesk } from "./helpers.ts";

const SHOTS = "/tmp/shots";
const WHATSAPP = {
  phoneNumberId: "106540352242922",
  accessToken: "EAAG-test-token",
  appSecret: "app-secret-1",
  verifyToken: "verify-1",
  enabled: true,
};
const CUSTOMER = "+27820000002";

/** The desk served on 127.0.0.1 with its courier listening, sending WhatsApp to `fake`. */
async function serve(fake: FakeProvider) {
  const t = await testDesk({ listen: true, providers: { whatsappApiBase: fake.url } });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (request, info) => t.app.fetch(request, info),
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    t,
    async close() {
      ac.abort();
      // Open SSE streams keep `finished` pending until the browser lets go; do not wait forever.
      await Promise.race([server.finished, new Promise((r) => setTimeout(r, 2000))]);
      await t.close();
    },
  };
}

let inbound = 0;
/** A customer's WhatsApp message as the Meta webhook stores it. */
const fromCustomer = (t: TestDesk, text: string) =>
  receiveInbound(t.desk, {
    channel: "whatsapp",
    from: CUSTOMER,
    text,
    route: "meta",
    id: `wamid.IN${++inbound}`,
    profileName: "Thandi Nkosi",
  });

const metaOk = (id: string, delayMs = 0) => ({
  status: 200,
  body: { messaging_product: "whatsapp", messages: [{ id }] },
  delayMs,
});

async function shot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SHOTS, { recursive: true });
  const path = `${SHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

const bubble = (id: string, status?: string) =>
  `#conversation [data-message="${id}"]${status ? `[data-delivery="${status}"]` : ""}`;

/** The newest outbound bubble's message id. */
async function newestOut(page: Page): Promise<string> {
  const id = await page.locator("#conversation .msg-out").last().getAttribute("data-message");
  assert(id, "an outbound message is on the page");
  return id;
}

/**
 * Waits for a mark; returns how long after `since` (real ms) the page swapped in the fragment
 * that shows it (the page notes each swap's time: one clock on one machine).
 */
async function markAfter(page: Page, id: string, status: string, since: number) {
  await page.waitForSelector(bubble(id, status), { timeout: TIMEOUT });
  const swaps = await page.evaluate(() => (globalThis as unknown as { swaps: number[] }).swaps);
  const swap = swaps.find((at) => at >= since);
  return swap === undefined ? Date.now() - since : swap - since;
}

Deno.test({
  name: "[browser] rule 29: an agent watches a WhatsApp reply go queued → sent → delivered → read",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const fake = FakeProvider.start(metaAccepted);
    const server = await serve(fake);
    const { url, t } = server;
    let browser: Browser | null = null;
    const problems: string[] = [];
    const timings: Record<string, number> = {};
    try {
      await closeBusiness(t);
      const ctx = { clock: t.clock, publicUrl: "http://127.0.0.1:8000" };
      await updateChannel(t.kv, "whatsapp", WHATSAPP, ctx);
      const answers = [
        await fromCustomer(t, "Where is my order #4411?"),
        await fromCustomer(t, "YES"),
        await fromCustomer(t, "//end"),
      ];
      const ticketId = answers[1].ticketId!;
      // The auto-replies (out-of-hours notice, YES/NO prompt, acknowledgements) went out through
      // the fake Meta API first.
      let sends = answers.reduce((n, a) => n + a.replies.length, 0);
      await fake.waitFor(sends);
      const ana = await t.person("agent", { name: "Ana Silva" });
      const accepted = await t.call("POST", `/api/tickets/${ticketId}/accept`, {
        token: ana.token,
      });
      assert(accepted.status === 200, `accept: ${accepted.status}`);

      browser = await launchBrowser();
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      // Note when the page's event stream is open, so statuses are sent only once it listens.
      await context.addInitScript(() => {
        const w = globalThis as unknown as {
          sseOpen: number;
          swaps: number[];
          document: { addEventListener(n: string, f: () => void): void };
        };
        w.sseOpen = 0;
        w.swaps = [];
        w.document.addEventListener("htmx:sseOpen", () => w.sseOpen++);
        // When each fragment went in, by the stream or an htmx answer (a Retry).
        w.document.addEventListener("htmx:sseMessage", () => w.swaps.push(Date.now()));
        w.document.addEventListener("htmx:afterSwap", () => w.swaps.push(Date.now()));
      });
      const page = await signInPage(context, url, ana.agent.email);
      page.on("console", (m) => {
        // htmx logs the EventSource "error" Event when a stream drops on navigation; not a bug.
        if (m.type() === "error" && m.text() !== "[object Event]") problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(String(e)));
      const streamOpen = () =>
        page.waitForFunction(() => (globalThis as unknown as { sseOpen: number }).sseOpen > 0);
      const setMarker = () =>
        page.evaluate(() => {
          (globalThis as unknown as { deskMarker: number }).deskMarker = 42;
        });
      const notReloaded = async () => {
        const marker = await page.evaluate(() =>
          (globalThis as unknown as { deskMarker?: number }).deskMarker
        );
        assert(marker === 42, "the page was not reloaded");
      };

      let reply = "";
      await s.step("Start Chat: the reply shows Queued while the provider thinks", async () => {
        await page.goto(`${url}/tickets/assigned/${ticketId}`);
        // The first send is answered after 1.5 s, so "Queued" is there to see.
        fake.script(metaOk("wamid.REPLY1", 1500));
        await page.fill("textarea[name=text]", "Hi Thandi, your parcel left our warehouse today.");
        await Promise.all([
          page.waitForURL(new RegExp(`/tickets/assigned/${ticketId}$`)),
          page.click("text=Start Chat"),
        ]);
        await page.waitForSelector("text=Your reply is on its way to the customer");
        assert(
          await page.locator("#flash").innerText().then((x) => !/\bSent\b/.test(x)),
          "the flash never says Sent before the provider accepted",
        );
        reply = await newestOut(page);
        await page.waitForSelector(`${bubble(reply, "queued")} >> text=Queued`);
        await streamOpen();
        await setMarker();
        await page.fill("textarea[name=text]", "Draft: tracking number is");
      });

      await s.step("the provider accepts: ✓ Sent, without reload", async () => {
        const request = (await fake.waitFor(++sends))[sends - 1];
        timings.sent = await markAfter(page, reply, "sent", request.at + 1500);
        const label = await page.locator(`${bubble(reply)} .mark`).getAttribute("aria-label");
        assert(label === "Sent", `aria-label ${label}`);
        await notReloaded();
      });

      await s.step(
        "Meta reports delivered, then read: ✓✓ and blue ✓✓, without reload",
        async () => {
          let since = Date.now();
          await applyProviderStatus(t.kv, t.clock, "meta", {
            providerId: "wamid.REPLY1",
            status: "delivered",
          });
          timings.delivered = await markAfter(page, reply, "delivered", since);
          since = Date.now();
          await applyProviderStatus(t.kv, t.clock, "meta", {
            providerId: "wamid.REPLY1",
            status: "read",
          });
          timings.read = await markAfter(page, reply, "read", since);
          const mark = page.locator(`${bubble(reply)} .mark`);
          assert(await mark.getAttribute("aria-label") === "Read", "Read label");
          assert(await mark.innerText() === "✓✓", "two ticks");
          await notReloaded();
          const draft = await page.inputValue("textarea[name=text]");
          assert(draft === "Draft: tracking number is", `the draft survives (${draft})`);
        },
      );

      let failed = "";
      await s.step("a refused message shows ⚠ and the provider's reason, with Retry", async () => {
        fake.script({
          status: 400,
          body: { error: { message: "Recipient phone number not in allowed list", code: 131030 } },
        });
        await page.fill("textarea[name=text]", "Here is your tracking number: ZA123.");
        await Promise.all([
          page.waitForURL(/\/tickets\/assigned\//),
          page.click("#reply button[type=submit]"),
        ]);
        await streamOpen();
        await setMarker();
        failed = await newestOut(page);
        await page.waitForSelector(bubble(failed, "failed"), { timeout: TIMEOUT });
        const text = await page.locator(`${bubble(failed)} .mark-failed`).innerText();
        assert(text.includes("⚠") && text.includes("Recipient phone number not in allowed list"));
        assert(text.includes("131030"), `the code is there for screen readers: ${text}`);
        assert(await page.locator(`${bubble(failed)} button`).innerText() === "Retry");
      });

      await s.step("Retry: queued again, then sent, without reload", async () => {
        fake.script(metaOk("wamid.REPLY2", 1500));
        const since = Date.now();
        await page.click(`${bubble(failed)} button:text("Retry")`);
        await page.waitForSelector("#flash >> text=Queued again");
        timings.retryQueued = await markAfter(page, failed, "queued", since);
        assert(await page.locator(`${bubble(failed)} button`).count() === 0, "no Retry now");
        sends += 2; // the refused attempt, then the Retry
        const request = (await fake.waitFor(sends))[sends - 1];
        timings.retrySent = await markAfter(page, failed, "sent", request.at + 1500);
        await notReloaded();
      });

      await s.step("a thread with every mark, at 1280 and 360 px", async () => {
        await applyProviderStatus(t.kv, t.clock, "meta", {
          providerId: "wamid.REPLY2",
          status: "delivered",
        });
        await page.waitForSelector(bubble(failed, "delivered"));
        // Refused for good, then one in retry (HTTP 503) with one more waiting behind it.
        fake.script(
          { status: 400, body: { error: { message: "Message undeliverable", code: 131026 } } },
          { status: 503, body: { error: { message: "Service unavailable", code: 131016 } } },
        );
        for (const text of ["Did it arrive?", "Hello?", "Are you there?"]) {
          await page.fill("textarea[name=text]", text);
          await Promise.all([
            page.waitForURL(/\/tickets\/assigned\//),
            page.click("#reply button[type=submit]"),
          ]);
          const id = await newestOut(page);
          if (text === "Did it arrive?") await page.waitForSelector(bubble(id, "failed"));
          if (text === "Hello?") {
            await page.waitForSelector(`${bubble(id)} .mark-retry`);
          }
        }
        await page.waitForSelector("text=1 later message waits for it");
        await page.waitForSelector("text=Queued · waits for an earlier message");
        const paths = [await shot(page, "delivery-thread-1280")];
        await page.setViewportSize({ width: 360, height: 740 });
        paths.push(await shot(page, "delivery-thread-360"));
        const marks = `${SHOTS}/delivery-marks-360.png`;
        await page.locator("#conversation .msg-out >> nth=0").scrollIntoViewIfNeeded();
        await page.locator("#conversation").screenshot({ path: marks });
        paths.push(marks);
        // Disabling WhatsApp pauses the queue at its next attempt.
        await updateChannel(t.kv, "whatsapp", { enabled: false }, ctx);
        t.clock.advance(6_000);
        await t.courier.runDue();
        await page.waitForSelector("text=Paused: channel disabled");
        paths.push(await shot(page, "delivery-paused-360"));
        await page.setViewportSize({ width: 1280, height: 900 });
        paths.push(await shot(page, "delivery-paused-1280"));
        const width = await page.evaluate(() => {
          const d = (globalThis as unknown as {
            document: { documentElement: { scrollWidth: number } };
          }).document;
          return d.documentElement.scrollWidth;
        });
        assert(width <= 1280, `no horizontal scroll (${width})`);
        console.log(`screenshots: ${paths.join(", ")}`);
      });

      console.log(
        `mark latency (ms after the provider's answer or status): ${JSON.stringify(timings)}`,
      );
      assert(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
    } finally {
      await browser?.close();
      await server.close();
      await fake.close();
    }
  },
});
