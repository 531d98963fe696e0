/** `POST /api/inbound`: provider webhooks; never refused for volume, only for bad input or token. */
import { Hono, type MiddlewareHandler } from "hono";
import { inboundToken } from "../domain/inbound_token.ts";
import { Unauthorized } from "../domain/errors.ts";
import { parseInbound, receiveInbound } from "../domain/inbound.ts";
import { applyApiStatus } from "../domain/delivery_status.ts";
import { deliveryJson } from "../domain/messages.ts";
import { messageJson } from "./json.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { readJson } from "./request.ts";

export function inboundRoutes(deps: AppDeps): Hono<DeskEnv> {
  const app = new Hono<DeskEnv>();
  // Made now, so its first read of a rotation (rule 58) is done before the first message.
  const token = inboundToken(deps.desk.kv, deps.inboundToken);
  const requireToken: MiddlewareHandler<DeskEnv> = async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    if (!(await token.verify(given))) {
      throw new Unauthorized("A valid inbound token is required.");
    }
    await next();
  };
  // The API channel's gateway reports later states of what we sent it (rule 25).
  app.post("/status", requireToken, async (c) => {
    const { message, result } = await applyApiStatus(
      deps.desk.kv,
      deps.desk.clock,
      await readJson(c),
    );
    return c.json({ ...messageJson(message), changed: result === "applied" });
  });
  app.post("/", requireToken, async (c) => {
    const message = await parseInbound(deps.desk.kv, await readJson(c));
    const result = await receiveInbound(deps.desk, message);
    return c.json({
      customerId: result.customerId,
      conversation: result.conversation,
      ticketId: result.ticketId,
      // Rule 24: each reply with its delivery; `sent` means this answer is the delivery.
      replies: result.replies.map((m) => ({
        id: m.id,
        text: m.text,
        delivery: deliveryJson(m.delivery!),
      })),
      ...(result.duplicate ? { duplicate: true } : {}),
    });
  });
  return app;
}
