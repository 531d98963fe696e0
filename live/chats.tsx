/**
 * The chat lists as they update live (rules 7, 8): the pending chats the agent may take, oldest
 * first, and its own live chats, newest first. The chats page draws them when it loads too.
 */
import { type Chat, listChats } from "../domain/chats.ts";
import type { Desk } from "../domain/desk.ts";
import { customerState } from "../domain/inbound.ts";
import type { Agent } from "../domain/types.ts";
import { fnv1a } from "../views/assets.ts";
import { type ChatItem, ChatLists, type ChatsView } from "../views/chats.tsx";
import { foldOf } from "../views/tickets.tsx";
import { notesLivePart, threadLivePart } from "./conversation.tsx";
import { type LiveView, rendered } from "./parts.ts";

async function chatItems(desk: Desk, chats: Chat[]): Promise<ChatItem[]> {
  const states = await Promise.all(chats.map((ch) => customerState(desk, ch.customerId)));
  return chats.flatMap((chat, i) => {
    const customer = states[i]?.customer;
    return customer
      ? [{ chat, name: customer.name, from: customer.from, channel: customer.channel }]
      : [];
  });
}

/** The chat lists this agent sees (`selected`: the chat open beside them), drawn, and their version. */
export async function chatLists(
  desk: Desk,
  agent: Agent,
  selected?: string,
): Promise<{ view: ChatsView; html: string; version: string }> {
  const [pending, live] = await Promise.all([
    listChats(desk, agent, "pending"),
    listChats(desk, agent, "live"),
  ]);
  const view: ChatsView = {
    // Oldest waiting first: the customer who waited longest is served first.
    pending: await chatItems(desk, pending.sort((a, b) => a.createdAt - b.createdAt)),
    live: await chatItems(
      desk,
      live.filter((ch) => ch.agentId === agent.id).sort((a, b) => b.createdAt - a.createdAt),
    ),
    now: desk.clock.now(),
    selected,
  };
  const html = await rendered(<ChatLists view={view} />);
  return { view, html, version: fnv1a(html) };
}

/** The chats page's live parts: the lists, and the open chat's messages (with marks) and notes. */
export const chatsLiveView: LiveView = (params) => {
  const selected = params.get("selected");
  return [
    {
      on: ["tickets", "chats"],
      render: async ({ desk, agent }) => {
        const { html, version } = await chatLists(desk, agent, selected ?? undefined);
        return { parts: { chats: html }, version };
      },
    },
    ...selected
      ? [
        threadLivePart({ kind: "chat" }, selected, foldOf(params.get("fold"))),
        notesLivePart("chat", selected),
      ]
      : [],
  ];
};
