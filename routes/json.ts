/** JSON shapes of the API: epoch-ms fields become ISO 8601 UTC strings. */
import { publicAgent } from "../domain/agents.ts";
import type { Chat } from "../domain/chats.ts";
import { iso } from "../domain/clock.ts";
import type { Agent, Message, Ticket } from "../domain/types.ts";
import { deliveryJson } from "../domain/messages.ts";
import { attachmentJson } from "../domain/attachments.ts";

const isoOrNull = (ms: number | null) => ms === null ? null : iso(ms);

export function ticketJson(t: Ticket) {
  return {
    ...t,
    createdAt: iso(t.createdAt),
    lastMessageAt: iso(t.lastMessageAt),
    assignedAt: isoOrNull(t.assignedAt),
    closedAt: isoOrNull(t.closedAt),
    archivedAt: isoOrNull(t.archivedAt),
    history: t.history.map((e) => ({ ...e, at: iso(e.at) })),
  };
}

export function messageJson(m: Message) {
  return {
    id: m.id,
    direction: m.direction,
    author: m.author,
    text: m.text,
    ...(m.template ? { template: m.template } : {}),
    at: iso(m.at),
    ...(m.delivery ? { delivery: deliveryJson(m.delivery) } : {}),
    // Rule 46: edited by the customer (its earlier texts, the first first), or deleted by it.
    ...(m.editedAt !== undefined
      ? {
        editedAt: iso(m.editedAt),
        history: (m.edits ?? []).map((e) => ({ text: e.text, at: iso(e.at) })),
      }
      : {}),
    ...(m.deletedAt !== undefined ? { deletedAt: iso(m.deletedAt) } : {}),
    // Rule 49: files and places.
    ...(m.attachments?.length ? { attachments: m.attachments.map(attachmentJson) } : {}),
    ...(m.location ? { location: m.location } : {}),
  };
}

export function chatJson(c: Chat) {
  return { ...c, createdAt: iso(c.createdAt) };
}

export function agentJson(a: Agent) {
  const p = publicAgent(a);
  return { ...p, createdAt: iso(p.createdAt) };
}
