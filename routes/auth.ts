/** Who is calling the JSON API: a bearer token only; roles checked per route. Pages sign in with the cookie in page_auth.ts. */
import type { Context, MiddlewareHandler } from "hono";
import { Forbidden, Unauthorized } from "../domain/errors.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Role } from "../domain/types.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

export const SESSION_COOKIE = "chatdesk_session";
const RANK: Record<Role, number> = { agent: 0, supervisor: 1, admin: 2 };

/**
 * The API's bearer token. The API never reads the session cookie: a cookie rides along on
 * cross-site form posts, and the API has no CSRF check (pages do, in page_auth.ts).
 */
export function tokenOf(c: Context): string {
  const header = c.req.header("authorization");
  return header?.startsWith("Bearer ") ? header.slice(7).trim() : "";
}

/** Requires a signed-in agent of at least `role`; 401 when signed out, 403 when the role is short. */
export function requireRole(deps: AppDeps, role: Role = "agent"): MiddlewareHandler<DeskEnv> {
  return async (c, next) => {
    const token = tokenOf(c);
    const agent = await authenticate(deps.desk.kv, deps.desk.clock, token);
    if (!agent) throw new Unauthorized();
    if (RANK[agent.role] < RANK[role]) throw new Forbidden(`This needs the ${role} role.`);
    c.set("agent", agent);
    c.set("token", token);
    await next();
  };
}
