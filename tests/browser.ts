/**
 * Shared helpers for browser tests (headless Debian Chromium driven by playwright-core).
 *
 * API:
 * - `startServer(opts?)` → `{ url, t, close }`: a fresh `testDesk()` (in-memory KV, manual clock
 *   at `OPEN_TIME`) served on 127.0.0.1, port 0. `url` has no trailing slash; `t` is the
 *   TestDesk (use `t.person()`, `t.inbound()`, `t.clock`); `close()` stops the server and KV.
 * - `launchBrowser()` → a playwright `Browser` with the PLATFORM.md flags. Each launch gets a
 *   fresh temporary profile (user-data dir) that Playwright deletes on `browser.close()`; use
 *   `browser.newContext()` per signed-in person (contexts share nothing, cookies included).
 * - `signInPage(context, url, email, password?)` → a `Page` signed in through the /login form,
 *   left on the page /login redirects to (the Unassigned tab). `password` defaults to
 *   `PASSWORD`, the one `t.person()` gives everyone.
 * - `screenshot(page, name)` saves `./.shots/<name>.png` (git-ignored) and returns its path.
 *
 * Deno.test options for tests using these: `{ sanitizeOps: false, sanitizeResources: false }`.
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type TestDesk, testDesk } from "./helpers.ts";
import axe from "axe-core";

export type { Browser, BrowserContext, Page };

/**
 * axe-core's own source, for `page.evaluate` into a page or frame. The package gives it as
 * `axe.source`, so no text import is needed (those need Deno 2.8, or an unstable flag on 2.5).
 */
export const axeSource: string = axe.source;

/** The password `t.person()` in tests/helpers.ts gives every person it creates. */
export const PASSWORD = "password-123";
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
/** Generous timeouts: CI machines are small and loaded. */
export const TIMEOUT = 10_000;

export interface DeskServer {
  url: string;
  t: TestDesk;
  close(): Promise<void>;
}

export async function startServer(opts: { at?: number } = {}): Promise<DeskServer> {
  const t = await testDesk({ at: opts.at });
  const served = serveDesk(t);
  return {
    ...served,
    t,
    async close() {
      await served.close();
      await t.close();
    },
  };
}

/** Serves a desk made elsewhere (with its own channels or clock) on 127.0.0.1. */
export function serveDesk(t: TestDesk): { url: string; close(): Promise<void> } {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (request, info) => t.app.fetch(request, info),
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      ac.abort();
      // Open SSE streams keep `finished` pending until the browser lets go; do not wait forever.
      await Promise.race([server.finished, new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
    timeout: 30_000,
  });
}

/** Signs in through the real form and waits for the desk to load. */
export async function signInPage(
  context: BrowserContext,
  url: string,
  email: string,
  password = PASSWORD,
): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(`${url}/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith("/login")),
    page.click("button[type=submit]"),
  ]);
  return page;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir("./.shots", { recursive: true });
  const path = `./.shots/${name.replace(/[^a-z0-9_.-]+/gi, "-")}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Collects what goes wrong in pages: uncaught errors and every console error (rule 58: no desk
 * page logs one, a CSP refusal or a failed request included), each with the page it came from.
 * A test asserts `problems` is empty, or calls `assertClean()`.
 */
export function pageProblems(): {
  problems: string[];
  watch(page: Page): Page;
  assertClean(): void;
} {
  const problems: string[] = [];
  return {
    problems,
    watch(page: Page) {
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`${page.url()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`${page.url()}: ${e}`));
      return page;
    },
    assertClean() {
      if (problems.length) {
        throw new Error(`pages logged errors:\n${problems.join("\n")}`);
      }
    },
  };
}

/** Waits until `expression` (evaluated in the page) is true; the desk's CSP forbids waitForFunction. */
export async function until(page: Page, expression: string, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${expression}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * axe-core's WCAG 2.1 A/AA and best-practice violations on the page, as "rule: [targets]" lines.
 * Only the violations come back: the passes of a big page are megabytes of JSON.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(axeSource);
  return await page.evaluate(
    `axe.run(document, {
      runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
      resultTypes: ["violations"],
    }).then((r) => r.violations.map((v) => v.id + ": " + JSON.stringify(v.nodes.map((n) => n.target))))`,
  ) as string[];
}

/** A shop on its own origin with the one-tag snippet. */
export function startShop(deskUrl: string) {
  const ac = new AbortController();
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>` +
    `</head><body><main><h1>Shop</h1><p>Jackets and scarves.</p></main>` +
    `<script src="${deskUrl}/webchat/widget.js" defer></script></body></html>`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/favicon.ico"
        ? new Response(null, { status: 204 })
        : new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    close: async () => {
      ac.abort();
      await Promise.race([server.finished, new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}
