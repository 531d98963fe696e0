/**
 * Desk pages requested as a browser requests them, in-process: the person's cookies (the session,
 * the flash a redirect sets) kept in a jar, and form posts with the desk's own Origin (rule 48).
 */
import type { Agent, Role } from "../domain/types.ts";
import type { TestDesk } from "./helpers.ts";

/** The Origin a browser on the desk's own pages sends with a form post. */
export const ORIGIN = "http://localhost";

/** Whoever visits: its session token and the cookies pages set, kept like a browser would. */
export interface Visitor {
  token: string;
  jar: Map<string, string>;
}

/** A signed-in person who visits pages. */
export interface PagePerson extends Visitor {
  agent: Agent;
}

/** A jar holding only this session. */
export const sessionJar = (token: string) => new Map([["chatdesk_session", token]]);

/** A new person of `role` (in `departments`), signed in. */
export async function pagePerson(
  t: TestDesk,
  role: Role = "agent",
  departments: string[] = [],
): Promise<PagePerson> {
  const { agent, token } = await t.person(role, { departments });
  return { agent, token, jar: sessionJar(token) };
}

/**
 * A page request with the visitor's cookies (none for null); a form post (repeated fields as
 * arrays) carries our Origin unless `headers` say otherwise. Cookies the answer sets are kept.
 */
export async function visit(
  t: TestDesk,
  who: Visitor | null,
  path: string,
  opts: { form?: Record<string, string | string[]>; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { accept: "text/html", ...opts.headers };
  if (who) headers.cookie = [...who.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  let body: string | undefined;
  if (opts.form) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.form)) {
      for (const value of Array.isArray(v) ? v : [v]) params.append(k, value);
    }
    body = params.toString();
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers.origin ??= ORIGIN;
  }
  const res = await t.app.request(path, { method: opts.form ? "POST" : "GET", headers, body });
  if (who) {
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const [name, value] = [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)];
      if (/max-age=0/i.test(cookie) || value === "") who.jar.delete(name);
      else who.jar.set(name, value);
    }
  }
  return res;
}
