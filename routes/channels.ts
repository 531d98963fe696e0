/** Channel settings (SPEC "Channel settings") and message delivery calls (rules 25, 29). */
import { Hono } from "hono";
import { maySeeCustomer, messageAccess } from "../domain/access.ts";
import { getChannelSettings, publicChannels } from "../domain/channel_settings.ts";
import { saveChannel } from "./channel_forms.ts";
import { NotFound } from "../domain/errors.ts";
import { keys } from "../domain/keys.ts";
import { findMessage } from "../domain/messages.ts";
import { retryMessage } from "../domain/message_retry.ts";
import type { Message } from "../domain/types.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { messageJson } from "./json.ts";
import { readJson } from "./request.ts";

export function channelRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const api = new Hono<DeskEnv>();
  const agent = requireRole(deps, "agent");
  const admin = requireRole(deps, "admin");

  api.get(
    "/channels",
    admin,
    async (c) => c.json(publicChannels(await getChannelSettings(desk.kv))),
  );
  for (const channel of ["whatsapp", "twilio", "api", "webchat"] as const) {
    api.put(`/channels/${channel}`, admin, async (c) => {
      const settings = await saveChannel(deps, channel, await readJson(c));
      return c.json(publicChannels(settings)[channel]);
    });
  }

  api.get("/messages/:id", agent, async (c) => {
    const entry = await findMessage(desk.kv, c.req.param("id"));
    const message = entry?.value;
    if (!message) throw new NotFound("Message");
    const access = await messageAccess(desk, c.get("agent"), message, message.customerId ?? null);
    if (!access.read) throw new NotFound("Message");
    return c.json(messageJson(message));
  });
  api.post("/messages/:id/retry", agent, async (c) => {
    return c.json(messageJson(await retryMessage(desk, c.get("agent"), c.req.param("id"))));
  });

  api.get("/customers/:id/messages", agent, async (c) => {
    const customerId = c.req.param("id");
    const known = (await desk.kv.get(keys.customer(customerId))).value;
    if (!known || !(await maySeeCustomer(desk, c.get("agent"), customerId))) {
      throw new NotFound("Customer");
    }
    const messages: Message[] = [];
    for await (
      const e of desk.kv.list<string>({ prefix: keys.customerMessages(customerId) })
    ) {
      const conversationId = e.value;
      const [ticket, chat, message] = await desk.kv.getMany<[string, string, Message]>([
        keys.conversationTicket(conversationId),
        keys.chat(conversationId),
        keys.message(conversationId, e.key[2] as string),
      ]);
      // Outside any ticket or chat: a NO goodbye, an expired YES/NO prompt.
      if (!ticket.value && !chat.value && message.value) messages.push(message.value);
    }
    return c.json({ messages: messages.map(messageJson) });
  });

  return api;
}
