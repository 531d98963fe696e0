/** The JSON API (SPEC "JSON API"): every page action is also a call here. */
import { type Context, Hono } from "hono";
import { createAgent, getAgent, listAgents, setStatus, updateAgent } from "../domain/agents.ts";
import {
  acceptChat,
  chatHistory,
  endChat,
  listChats,
  replyToTicket,
  sendChatMessage,
} from "../domain/chats.ts";
import { iso } from "../domain/clock.ts";
import {
  createDepartment,
  deactivateDepartment,
  listDepartments,
  updateDepartment,
} from "../domain/departments.ts";
import { Invalid } from "../domain/errors.ts";
import { rotateInboundToken } from "../domain/inbound_token.ts";
import { changeOwnPassword } from "../domain/own_password.ts";
import { chatNotes, noteJson, ticketNotes } from "../domain/notes.ts";
import { signIn, signOut } from "../domain/sessions.ts";
import { getSettings, updateSettings } from "../domain/settings.ts";
import { deskStats } from "../domain/stats.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import {
  createTemplate,
  deleteTemplate,
  listTemplates,
  updateTemplate,
} from "../domain/templates.ts";
import { listTickets, parseTicketQuery } from "../domain/ticket_lists.ts";
import {
  acceptTicket,
  closeTicket,
  QUICK_ACCEPT_MAX,
  quickAccept,
  readTicket,
  reassignTicket,
  ticketMessages,
} from "../domain/tickets.ts";
import { asBody, int, oneOf } from "../domain/validate.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { agentJson, chatJson, messageJson, ticketJson } from "./json.ts";
import { clientAddress, readJson } from "./request.ts";
import { readReply } from "./uploads.ts";

export function apiRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const { kv, clock } = desk;
  const api = new Hono<DeskEnv>();
  const agent = requireRole(deps, "agent");
  const supervisor = requireRole(deps, "supervisor");
  const admin = requireRole(deps, "admin");

  api.post("/session", async (c) => {
    const { token, agent, expiresAt } = await signIn(
      kv,
      clock,
      await readJson(c),
      clientAddress(c, deps.config),
    );
    return c.json({ token, agent: agentJson(agent), expiresAt: iso(expiresAt) });
  });
  api.delete("/session", agent, async (c) => {
    await signOut(kv, c.get("token"));
    return c.body(null, 204);
  });

  api.get("/tickets", agent, async (c) => {
    const query = parseTicketQuery(new URL(c.req.url).searchParams);
    const page = await listTickets(kv, c.get("agent"), query, clock.now());
    return c.json({
      tickets: page.tickets.map(ticketJson),
      nextCursor: page.nextCursor,
      truncated: page.truncated,
    });
  });
  api.post("/tickets/quick-accept", agent, async (c) => {
    const count = int(asBody(await readJson(c)), "count", 1, QUICK_ACCEPT_MAX);
    return c.json({ accepted: await quickAccept(desk, c.get("agent"), count) });
  });
  api.get("/tickets/:id", agent, async (c) => {
    const ticket = await readTicket(kv, c.get("agent"), c.req.param("id"));
    return c.json({
      ...ticketJson(ticket),
      messages: (await ticketMessages(kv, ticket)).map(messageJson),
      notes: (await ticketNotes(kv, ticket)).map(noteJson),
    });
  });
  api.post(
    "/tickets/:id/accept",
    agent,
    async (c) => c.json(ticketJson(await acceptTicket(desk, c.get("agent"), c.req.param("id")))),
  );
  /** Rule 51: a ticket reply or chat message: JSON, or multipart with one `file` and `text`. */
  const sending = (send: typeof replyToTicket) => async (c: Context<DeskEnv, "/:id">) =>
    c.json(
      messageJson(
        await send(desk, c.get("agent"), c.req.param("id"), await readReply(c), deps.media?.files),
      ),
      201,
    );
  api.post("/tickets/:id/reply", agent, sending(replyToTicket));
  api.post(
    "/tickets/:id/close",
    agent,
    async (c) => c.json(ticketJson(await closeTicket(desk, c.get("agent"), c.req.param("id")))),
  );
  api.post("/tickets/:id/reassign", supervisor, async (c) => {
    const body = asBody(await readJson(c));
    if (!("agentId" in body) || (body.agentId !== null && typeof body.agentId !== "string")) {
      throw new Invalid("invalid_field", '"agentId" must be an agent id or null.', {
        agentId: "An agent id or null.",
      });
    }
    return c.json(
      ticketJson(
        await reassignTicket(
          desk,
          c.get("agent"),
          c.req.param("id"),
          body.agentId as string | null,
        ),
      ),
    );
  });

  api.get("/stats", supervisor, async (c) => {
    const settings = await getSettings(kv);
    const s = await deskStats(kv, settings.hours.timeZone, clock.now());
    return c.json({
      ...s,
      oldestUnassignedAt: s.oldestUnassignedAt === null ? null : iso(s.oldestUnassignedAt),
    });
  });

  api.get("/chats", agent, async (c) => {
    const state = c.req.query("state") ?? "pending";
    if (state !== "pending" && state !== "live") {
      throw new Invalid("invalid_query", "state must be pending or live.");
    }
    return c.json({ chats: (await listChats(desk, c.get("agent"), state)).map(chatJson) });
  });
  // Rule 48: an ended chat too, read-only, for whoever may open its page (`chatHistory`).
  api.get("/chats/:id", agent, async (c) => {
    const found = await chatHistory(desk, c.get("agent"), c.req.param("id"));
    const notes = (await chatNotes(kv, found.chat.id)).map(noteJson);
    const messages = found.messages.map(messageJson);
    if (!found.ended) return c.json({ ...chatJson(found.chat), messages, notes });
    const { chat } = found;
    return c.json({
      id: chat.id,
      customerId: chat.customerId,
      state: "ended",
      agentId: chat.agentIds[0] ?? null,
      agentIds: chat.agentIds,
      createdAt: iso(chat.startedAt),
      lastMessageAt: chat.lastMessageAt === null ? null : iso(chat.lastMessageAt),
      ticketId: chat.ticketId,
      messages,
      notes,
    });
  });
  api.post(
    "/chats/:id/accept",
    agent,
    async (c) => c.json(chatJson(await acceptChat(desk, c.get("agent"), c.req.param("id")))),
  );
  api.post("/chats/:id/messages", agent, sending(sendChatMessage));
  api.post(
    "/chats/:id/end",
    agent,
    async (c) => c.json(chatJson(await endChat(desk, c.get("agent"), c.req.param("id")))),
  );

  api.get("/agents/me", agent, (c) => c.json(agentJson(c.get("agent"))));
  api.put("/agents/me/status", agent, async (c) => {
    const status = oneOf(asBody(await readJson(c)), "status", ["online", "offline"] as const);
    return c.json(agentJson(await setStatus(kv, c.get("agent").id, status)));
  });
  // Rule 58: one's own password, the current one required; every other session ends.
  api.put("/agents/me/password", agent, async (c) => {
    await changeOwnPassword(kv, clock, c.get("agent").id, await readJson(c), c.get("token"));
    return c.body(null, 204);
  });
  // Rule 58: a new inbound token, answered this once; the old one stops working at once.
  api.post("/inbound-token", admin, async (c) => {
    const rotated = await rotateInboundToken(kv, clock, c.get("agent"), deps.inboundToken);
    return c.json({ token: rotated.token, rotatedAt: iso(rotated.rotatedAt) }, 201);
  });
  api.get("/agents", admin, async (c) => c.json({ agents: (await listAgents(kv)).map(agentJson) }));
  api.get(
    "/agents/:id",
    admin,
    async (c) => c.json(agentJson(await getAgent(kv, c.req.param("id")))),
  );
  api.post(
    "/agents",
    admin,
    async (c) => c.json(agentJson(await createAgent(kv, clock, await readJson(c))), 201),
  );
  api.put(
    "/agents/:id",
    admin,
    async (c) => {
      // An admin changing its own password keeps this session; every other session ends.
      const options = { keepSession: c.get("token") };
      return c.json(
        agentJson(await updateAgent(kv, c.req.param("id"), await readJson(c), options)),
      );
    },
  );
  api.delete("/agents/:id", admin, async (c) => {
    return c.json(agentJson(await updateAgent(kv, c.req.param("id"), { active: false })));
  });

  api.get("/departments", admin, async (c) => c.json({ departments: await listDepartments(kv) }));
  api.post(
    "/departments",
    admin,
    async (c) => c.json(await createDepartment(kv, clock, await readJson(c)), 201),
  );
  api.put(
    "/departments/:id",
    admin,
    async (c) => c.json(await updateDepartment(kv, c.req.param("id"), await readJson(c))),
  );
  api.delete(
    "/departments/:id",
    admin,
    async (c) => c.json(await deactivateDepartment(kv, c.req.param("id"))),
  );

  api.get("/templates", agent, async (c) => c.json({ templates: await listTemplates(kv) }));
  api.post(
    "/templates",
    admin,
    async (c) => c.json(await createTemplate(kv, clock, await readJson(c)), 201),
  );
  api.put(
    "/templates/:id",
    admin,
    async (c) => c.json(await updateTemplate(kv, c.req.param("id"), await readJson(c))),
  );
  api.delete("/templates/:id", admin, async (c) => {
    await deleteTemplate(kv, c.req.param("id"));
    return c.body(null, 204);
  });

  api.get("/settings", admin, async (c) => c.json(await getSettings(kv)));
  api.put("/settings", admin, async (c) => c.json(await updateSettings(kv, await readJson(c))));

  // Exists only under CHATDESK_CLOCK=manual: otherwise the path is simply not found.
  const manual = deps.manualClock;
  if (manual) {
    api.post("/test/clock", admin, async (c) => {
      const body = asBody(await readJson(c));
      const next = typeof body.advanceMs === "number" && body.advanceMs >= 0
        ? manual.now() + body.advanceMs
        : typeof body.now === "string"
        ? Date.parse(body.now)
        : NaN;
      // Keep the clock within the dates JavaScript (and ISO 8601 answers) can represent.
      if (!Number.isFinite(next) || Math.abs(next) > 8.64e15) {
        throw new Invalid(
          "invalid_field",
          'Send {"advanceMs": n ≥ 0} or {"now": ISO time}, within valid dates.',
        );
      }
      manual.set(next);
      const swept = await runDueSweeps(desk);
      // Rule 25: every retry due at the new time runs before the answer.
      const deliveries = await deps.courier.runDue();
      // Rule 49: files whose fetch is due (a retry) are fetched before the answer too.
      const media = await deps.media?.runDue() ?? 0;
      return c.json({ now: iso(manual.now()), swept, deliveries, media });
    });
  }

  return api;
}
