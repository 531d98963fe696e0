/** Who is calling: a bearer token (API) or the session cookie (pages); roles checked per route. */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { Forbidden, Unauthorized } from "../domain/errors.ts";
import { authenticate } from "../domain/sessions.ts";
import type { Role } from "../domain/types.ts";
import type { AppDeps, DeskEnv } from "./context.ts";

export const SESSION_COOKIE = "chatdesk_session";
const RANK: Record<Role, number> = { agent: 0, supervisor: 1, admin: 2 };

export function tokenOf(c: Context): string {
  const header = c.req.header("authorization");
  if (header?.startsWith("Bearer ")) return header.slice(7).trim();
  return getCookie(c, SESSION_COOKIE) ?? "";
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

export const hasRole = (agentRole: Role, role: Role): boolean => RANK[agentRole] >= RANK[role];
