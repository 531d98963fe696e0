/** `POST /api/inbound`: provider webhooks; never refused for volume, only for bad input or token. */
import { Hono } from "hono";
import { Unauthorized } from "../domain/errors.ts";
import { parseInbound, receiveInbound } from "../domain/inbound.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { readJson } from "./request.ts";

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

export function inboundRoutes(deps: AppDeps): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  app.post("/", async (c) => {
    const header = c.req.header("authorization") ?? "";
    if (!header.startsWith("Bearer ") || !sameSecret(header.slice(7).trim(), deps.inboundToken)) {
      throw new Unauthorized("A valid inbound token is required.");
    }
    const message = await parseInbound(deps.desk.kv, await readJson(c));
    const result = await receiveInbound(deps.desk, message);
    return c.json({
      customerId: result.customerId,
      conversation: result.conversation,
      ticketId: result.ticketId,
      replies: result.replies,
      ...(result.duplicate ? { duplicate: true } : {}),
    });
  });
  return app;
}
