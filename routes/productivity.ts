/**
 * Agent productivity in the JSON API (SPEC rules 34–36): canned replies, internal notes and the
 * customer profile. Mounted at `/api` before `apiRoutes`, whose `GET /customers/:id` this replaces.
 */
import { Hono } from "hono";
import {
  createCannedReply,
  deleteCannedReply,
  listCannedReplies,
  renderCannedReply,
  type ReplyContext,
  updateCannedReply,
} from "../domain/canned_replies.ts";
import { iso } from "../domain/clock.ts";
import {
  type CustomerProfile,
  customerProfile,
  updateCustomer,
} from "../domain/customer_profile.ts";
import { addChatNote, addTicketNote, noteJson } from "../domain/notes.ts";
import { requireRole } from "./auth.ts";
import type { AppDeps, DeskEnv } from "./context.ts";
import { readJson } from "./request.ts";

/** The API shape of a profile: epoch-ms fields become ISO 8601 UTC strings. */
function customerProfileJson(p: CustomerProfile) {
  return {
    ...p,
    firstSeenAt: iso(p.firstSeenAt),
    // Rule 44: opted out by texting STOP, and when.
    optedOut: p.optedOutAt !== null,
    optedOutAt: p.optedOutAt === null ? null : iso(p.optedOutAt),
    tickets: p.tickets.map((t) => ({ ...t, createdAt: iso(t.createdAt) })),
  };
}

/** `?ticketId=` or `?chatId=`: where a canned reply is inserted. */
function replyContext(query: (name: string) => string | undefined): ReplyContext {
  return { ticketId: query("ticketId") || undefined, chatId: query("chatId") || undefined };
}

export function productivityRoutes(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const { kv, clock } = desk;
  const api = new Hono<DeskEnv>();
  const agent = requireRole(deps, "agent");
  const admin = requireRole(deps, "admin");

  // Rule 34: canned replies.
  api.get("/canned-replies", agent, async (c) => {
    const context = replyContext((name) => c.req.query(name));
    return c.json({ cannedReplies: await listCannedReplies(desk, c.get("agent"), context) });
  });
  api.get("/canned-replies/:id/render", agent, async (c) => {
    const context = replyContext((name) => c.req.query(name));
    return c.json(await renderCannedReply(desk, c.get("agent"), c.req.param("id"), context));
  });
  api.post(
    "/canned-replies",
    admin,
    async (c) => c.json(await createCannedReply(kv, clock, await readJson(c)), 201),
  );
  api.put(
    "/canned-replies/:id",
    admin,
    async (c) => c.json(await updateCannedReply(kv, c.req.param("id"), await readJson(c))),
  );
  api.delete("/canned-replies/:id", admin, async (c) => {
    await deleteCannedReply(kv, c.req.param("id"));
    return c.body(null, 204);
  });

  // Rule 35: internal notes (append-only: no edit or delete route).
  api.post("/tickets/:id/notes", agent, async (c) => {
    const note = await addTicketNote(desk, c.get("agent"), c.req.param("id"), await readJson(c));
    return c.json(noteJson(note), 201);
  });
  api.post("/chats/:id/notes", agent, async (c) => {
    const note = await addChatNote(desk, c.get("agent"), c.req.param("id"), await readJson(c));
    return c.json(noteJson(note), 201);
  });

  // Rule 36: the customer profile.
  api.get("/customers/:id", agent, async (c) => {
    const profile = await customerProfile(
      desk,
      c.get("agent"),
      c.req.param("id"),
      c.req.query("cursor") || null,
    );
    return c.json(customerProfileJson(profile));
  });
  api.patch("/customers/:id", agent, async (c) => {
    const id = c.req.param("id");
    await updateCustomer(desk, c.get("agent"), id, await readJson(c));
    return c.json(customerProfileJson(await customerProfile(desk, c.get("agent"), id)));
  });

  return api;
}
