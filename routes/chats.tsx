/**
 * `/chats`: pending live chats with Accept (rule 7 closes the customer's open ticket), the
 * agent's live chats, and a simple message exchange. Plain forms, POST → redirect → GET.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { listAgents } from "../domain/agents.ts";
import {
  acceptChat,
  type Chat,
  chatMessages,
  endChat,
  listChats,
  sendChatMessage,
} from "../domain/chats.ts";
import { HOUR } from "../domain/clock.ts";
import { DeskError } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { getSettings } from "../domain/settings.ts";
import type { Agent } from "../domain/types.ts";
import {
  type ChatItem,
  ChatLists,
  ChatMessages,
  type ChatsView,
  ChatThread,
} from "../views/chats.tsx";
import { Empty, type Flash } from "../views/components.tsx";
import { Layout } from "../views/layout.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import type { LiveParts } from "./events.ts";
import { formOf, pageAuth, redirectWithFlash, takeFlash } from "./page_auth.ts";
import { fnv1a } from "./static.ts";

async function chatItems(deps: AppDeps, chats: Chat[]): Promise<ChatItem[]> {
  const states = await Promise.all(chats.map((ch) => customerState(deps.desk, ch.customerId)));
  return chats.flatMap((chat, i) => {
    const customer = states[i]?.customer;
    return customer
      ? [{ chat, name: customer.name, from: customer.from, channel: customer.channel }]
      : [];
  });
}

async function loadChatsView(deps: AppDeps, agent: Agent, selected?: string): Promise<ChatsView> {
  const [pending, live] = await Promise.all([
    listChats(deps.desk, agent, "pending"),
    listChats(deps.desk, agent, "live"),
  ]);
  return {
    // Oldest waiting first: the customer who waited longest is served first.
    pending: await chatItems(deps, pending.sort((a, b) => a.createdAt - b.createdAt)),
    live: await chatItems(
      deps,
      live.filter((ch) => ch.agentId === agent.id).sort((a, b) => b.createdAt - a.createdAt),
    ),
    now: deps.desk.clock.now(),
    selected,
  };
}

/** The chats page's live fragment for /events. */
export async function renderChatParts(
  deps: AppDeps,
  agent: Agent,
  params: URLSearchParams,
): Promise<LiveParts> {
  const view = await loadChatsView(deps, agent, params.get("selected") ?? undefined);
  const chats = String(await <ChatLists view={view} />);
  return { parts: { chats }, version: fnv1a(chats) };
}

export function chatPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.use("*", pageAuth(deps));

  async function page(
    c: Context<DeskEnv>,
    selected: string | null,
    thread: unknown,
    flash: Flash | null,
  ) {
    const agent = c.get("agent");
    const view = await loadChatsView(deps, agent, selected ?? undefined);
    const chats = String(await <ChatLists view={view} />);
    const events = new URLSearchParams({ view: "chats", v: fnv1a(chats) });
    if (selected) events.set("selected", selected);
    return c.html(
      <Layout
        title="Chats"
        agent={agent}
        active="chats"
        flash={flash}
        wide
        pendingChats={view.pending.length}
      >
        <div class="page-head">
          <h1>Chats</h1>
          {agent.status === "offline"
            ? <p class="muted small">You are offline: new chats are not routed to you.</p>
            : null}
        </div>
        <div
          class={thread ? "split two-col has-detail" : "split two-col"}
          hx-ext="sse"
          sse-connect={`/events?${events}`}
        >
          <div class="split-list" id="chat-lists" sse-swap="chats">
            <ChatLists view={view} />
          </div>
          <div class="split-detail">
            {thread
              ? (
                <>
                  <a class="back-link" href="/chats">← Back to chats</a>
                  {thread}
                </>
              )
              : (
                <div class="card no-selection">
                  <Empty title="Select a live chat">
                    <p>Accept a waiting chat to start talking with the customer.</p>
                  </Empty>
                </div>
              )}
          </div>
        </div>
      </Layout>,
    );
  }

  app.get("/", async (c) => await page(c, null, null, takeFlash(c)));

  app.get("/:id", async (c) => {
    const agent = c.get("agent");
    const id = c.req.param("id");
    const { chat, messages } = await chatMessages(desk, agent, id);
    const [state, agents, live, settings] = await Promise.all([
      customerState(desk, chat.customerId),
      listAgents(desk.kv),
      listChats(desk, agent, "live"),
      getSettings(desk.kv),
    ]);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const rendered = String(
      await <ChatMessages messages={messages} names={names} me={agent.id} pollUrl="" />,
    );
    const version = fnv1a(rendered);
    const pollUrl = `/chats/${id}?part=messages&v=${version}`;
    if (c.req.query("part") === "messages") {
      if (c.req.query("v") === version) return c.body(null, 204);
      return c.html(
        <ChatMessages messages={messages} names={names} me={agent.id} pollUrl={pollUrl} />,
      );
    }
    const customer = state?.customer;
    const item: ChatItem = {
      chat,
      name: customer?.name ?? "",
      from: customer?.from ?? chat.customerId,
      channel: customer?.channel ?? "webchat",
    };
    const hours = settings.timeouts.whatsappWindowHours;
    const windowOpen = item.channel !== "whatsapp" ||
      desk.clock.now() - (customer?.lastInboundAt ?? 0) <= hours * HOUR;
    const thread = (
      <ChatThread
        item={item}
        messages={messages}
        names={names}
        me={agent.id}
        pollUrl={pollUrl}
        live={live.some((ch) => ch.id === id && ch.agentId === agent.id)}
        windowOpen={windowOpen}
      />
    );
    return await page(c, id, thread, takeFlash(c));
  });

  /** Domain refusals (taken, ended, window closed) come back as a message on the page. */
  async function act(
    c: Context<DeskEnv>,
    to: string,
    fallback: string,
    run: () => Promise<Flash | null>,
  ) {
    try {
      return redirectWithFlash(c, to, await run());
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 401) throw error;
      return redirectWithFlash(c, fallback, { kind: "error", text: error.message });
    }
  }

  app.post("/:id/accept", async (c) => {
    const id = c.req.param("id");
    return await act(c, `/chats/${id}`, "/chats", async () => {
      await acceptChat(desk, c.get("agent"), id);
      return { kind: "ok", text: "Chat accepted: you are now talking with the customer." };
    });
  });

  app.post("/:id/messages", async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    return await act(c, `/chats/${id}`, `/chats/${id}`, async () => {
      await sendChatMessage(desk, c.get("agent"), id, { text: form.text ?? "" });
      return null;
    });
  });

  app.post("/:id/end", async (c) => {
    const id = c.req.param("id");
    return await act(c, "/chats", `/chats/${id}`, async () => {
      await endChat(desk, c.get("agent"), id);
      return { kind: "ok", text: "Chat ended." };
    });
  });

  return app;
}
