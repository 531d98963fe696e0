/**
 * Pages' side of auth: the session cookie, redirects to /login, CSRF on form posts, one-time
 * flash messages, and the safe "where to go next" paths forms carry.
 */
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { Forbidden } from "../domain/errors.ts";
import { authenticate, SESSION_HOURS } from "../domain/sessions.ts";
import type { Role } from "../domain/types.ts";
import type { Flash } from "../views/components.tsx";
import { Invalid } from "../domain/errors.ts";
import { SESSION_COOKIE } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

const RANK: Record<Role, number> = { agent: 0, supervisor: 1, admin: 2 };
const FLASH_COOKIE = "chatdesk_flash";

export const isHtmx = (c: Context): boolean => c.req.header("hx-request") === "true";
const isHttps = (c: Context): boolean =>
  new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";

/** The `scheme://host[:port]` of a URL (default ports dropped), or null for anything else. */
function originOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/;

/**
 * Rule 48: form posts must come from our own pages, so a form on another site cannot act for a
 * signed-in agent. The browser's `Origin` (or, when it sent none, its `Referer`) must have the
 * desk's own scheme, host and port: the address the request reached, or `CHATDESK_PUBLIC_URL`'s
 * (a desk behind a proxy that ends TLS is reached over http). Anything else, `Origin: null` and a
 * post naming neither included, is 403.
 */
export function pageCsrf(publicUrl: string | null = null): MiddlewareHandler<DeskEnv> {
  const published = originOf(publicUrl);
  return async (c, next) => {
    if (!SAFE_METHOD.test(c.req.method)) {
      const origin = c.req.header("origin");
      const from = origin !== undefined ? originOf(origin) : originOf(c.req.header("referer"));
      if (!from || (from !== originOf(c.req.url) && from !== published)) {
        throw new HTTPException(403, { res: new Response("Forbidden", { status: 403 }) });
      }
    }
    await next();
  };
}

/**
 * A same-site path only, else the fallback. What goes out in `Location` never starts with `//`
 * or `/\\` (a browser reads both as another host), however it was spelled on the way in:
 * dot segments (`/.//evil`, `/..//evil`, `/%2e%2e//evil`) are resolved first, and the result is
 * checked again until it no longer changes.
 */
export function safeNext(value: unknown, fallback = "/tickets/unassigned"): string {
  let path = value;
  for (let round = 0; round < 4; round++) {
    const clean = cleanPath(path);
    if (clean === null) return fallback;
    if (clean === path) return clean;
    path = clean;
  }
  return fallback;
}

/** One round of safeNext: the normalised same-origin path, or null when it is not one. */
function cleanPath(value: unknown): string | null {
  if (typeof value !== "string" || !value.startsWith("/") || /^\/[/\\]/.test(value)) {
    return null;
  }
  // Browsers drop tabs and newlines from URLs ("/\t/evil" becomes "//evil"): refuse every control
  // character and backslash, then make sure the path resolves on our own origin.
  const control = [...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
  if (value.includes("\\") || control) return null;
  try {
    const url = new URL(value, "http://desk.invalid");
    if (url.origin !== "http://desk.invalid") return null;
    const path = url.pathname + url.search + url.hash;
    // An encoded slash or backslash right after the first one is refused too, in case anything
    // between us and the browser decodes it.
    if (/^\/(?:%2f|%5c)/i.test(path) || /^\/login(?:[/?#]|$)/.test(path)) {
      return null;
    }
    return path;
  } catch {
    return null;
  }
}

/** Where a header form (status switch) came from, if it was one of our pages. */
export function backTo(c: Context, fallback = "/tickets/unassigned"): string {
  const referer = c.req.header("referer");
  if (!referer) return fallback;
  try {
    const url = new URL(referer);
    if (url.host !== new URL(c.req.url).host) return fallback;
    return safeNext(url.pathname + url.search, fallback);
  } catch {
    return fallback;
  }
}

/** Signed-in pages: no session → /login?next=… (htmx: HX-Redirect); role too low → 403 page. */
export function pageAuth(deps: AppDeps, role: Role = "agent"): MiddlewareHandler<DeskEnv> {
  return async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE) ?? "";
    const agent = await authenticate(deps.desk.kv, deps.desk.clock, token);
    if (!agent) {
      const url = new URL(c.req.url);
      const back = c.req.method === "GET" && !url.searchParams.has("part")
        ? url.pathname + url.search
        : isHtmx(c)
        ? new URL(c.req.header("hx-current-url") ?? url.href).pathname
        : url.pathname;
      const login = `/login?next=${encodeURIComponent(safeNext(back))}`;
      if (isHtmx(c)) return c.body(null, 200, { "hx-redirect": login });
      if (c.req.path === "/events") return c.body(null, 204);
      return c.redirect(login, 303);
    }
    // Known before the role check, so a refused page still draws this agent's navigation.
    c.set("agent", agent);
    c.set("token", token);
    if (RANK[agent.role] < RANK[role]) throw new Forbidden(`This page needs the ${role} role.`);
    await next();
  };
}

export function setSessionCookie(c: Context, token: string) {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/",
    // Relative, so a manual test clock never makes the browser drop the cookie.
    maxAge: SESSION_HOURS * 3600,
  });
}

export function clearSessionCookie(c: Context) {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: isHttps(c) });
}

/** Keeps a message for the next page this browser loads (POST → redirect → GET). */
export function setFlash(c: Context, flash: Flash) {
  setCookie(c, FLASH_COOKIE, encodeURIComponent(JSON.stringify(flash)), {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/",
    maxAge: 60,
  });
}

/** Reads and forgets the flash message, if any. */
export function takeFlash(c: Context): Flash | null {
  const value = getCookie(c, FLASH_COOKIE);
  if (!value) return null;
  deleteCookie(c, FLASH_COOKIE, { path: "/", secure: isHttps(c) });
  try {
    const parsed = JSON.parse(decodeURIComponent(value));
    if (
      typeof parsed?.text !== "string" || !["ok", "error", "info"].includes(parsed.kind)
    ) return null;
    const href = typeof parsed.href === "string" ? safeNext(parsed.href, "") : "";
    return {
      kind: parsed.kind,
      text: parsed.text.slice(0, 300),
      ...(href && typeof parsed.link === "string" ? { href, link: parsed.link.slice(0, 60) } : {}),
    };
  } catch {
    return null;
  }
}

/** Answers a form post: htmx gets the flash in place, a plain form a redirect with the flash. */
export function redirectWithFlash(c: Context, to: string, flash: Flash | null): Response {
  if (flash) setFlash(c, flash);
  return c.redirect(to, 303);
}

/** The posted form; a body that is not a form is a 400, not a crash. */
export async function formData(c: Context): Promise<FormData> {
  try {
    return await c.req.formData();
  } catch {
    throw new Invalid("invalid_form", "The request body is not a form.");
  }
}

async function parsedBody<T extends Record<string, unknown>>(c: Context, all: boolean): Promise<T> {
  try {
    return await c.req.parseBody({ all }) as T;
  } catch {
    throw new Invalid("invalid_form", "The request body is not a form.");
  }
}

/** Reads a urlencoded or multipart form into plain strings (repeated names: the last wins). */
export async function formOf(c: Context): Promise<Record<string, string>> {
  const body = await parsedBody<Record<string, unknown>>(c, false);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") out[k] = v;
  return out;
}

/** All values of a repeated form field, e.g. template parameters `p1, p2, …`. */
export async function formAll(c: Context): Promise<Record<string, string | string[]>> {
  const body = await parsedBody<Record<string, unknown>>(c, true);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === "string");
  }
  return out;
}
