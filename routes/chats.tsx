/**
 * `/chats`: pending live chats with Accept (rule 7 closes the customer's open ticket), the
 * agent's live chats, and a simple message exchange. Plain forms, POST → redirect → GET.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { canReadTicket, messageAccess } from "../domain/access.ts";
import { listAgents } from "../domain/agents.ts";
import { listCannedReplies, renderCannedReply } from "../domain/canned_replies.ts";
import {
  acceptChat,
  type Chat,
  chatHistory,
  endChat,
  listChats,
  sendChatMessage,
} from "../domain/chats.ts";
import { HOUR } from "../domain/clock.ts";
import { visibleDepartments } from "../domain/departments.ts";
import { DeskError, NotFound } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { retryMessage } from "../domain/message_retry.ts";
import { addChatNote, chatNotes, readChat } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import type { Agent, Message, Ticket } from "../domain/types.ts";
import {
  type ChatItem,
  ChatLists,
  ChatMessages,
  ChatMessagesPane,
  type ChatsView,
  ChatThread,
  EndedChatThread,
} from "../views/chats.tsx";
import { Empty, type Flash, FlashMessage } from "../views/components.tsx";
import { CustomerPanel } from "../views/customer_panel.tsx";
import { RETRY_QUEUED, retryRefusal } from "../views/delivery.tsx";
import { Layout } from "../views/layout.tsx";
import { NotesSection } from "../views/notes.tsx";
import type { ThreadProps } from "../views/tickets.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  asideBasics,
  businessTimeZone,
  conversationAside,
  formText,
  insertCanned,
  notesLivePart,
  type PaneState,
  type PaneSubject,
  saveCustomerForm,
  saveNoteForm,
  subjectPanel,
  unfilledRefusal,
} from "./conversation_pane.tsx";
import { type LivePart, liveViews, pageVersion, type Share, unshared } from "./live_views.ts";
import { navCounts } from "./nav_counts.ts";
import { formOf, isHtmx, pageAuth, redirectWithFlash, takeFlash } from "./page_auth.ts";
import { fnv1a } from "../views/assets.ts";

/** A domain refusal (ended, not found) becomes `value`; anything else still throws. */
const ifRefused = <T,>(value: T) => (error: unknown): T => {
  if (error instanceof DeskError) return value;
  throw error;
};

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

const html = async (element: unknown): Promise<string> => String(await element);

/** Failed messages this agent may Retry (rule 29; who may is decided in domain/access.ts). */
async function retryable(deps: AppDeps, agent: Agent, messages: Message[]): Promise<Set<string>> {
  const failed = messages.filter((m) => m.direction === "out" && m.delivery?.status === "failed");
  const access = await Promise.all(
    failed.map((m) => messageAccess(deps.desk, agent, m, m.customerId ?? null)),
  );
  return new Set(failed.filter((_, i) => access[i].retry).map((m) => m.id));
}

/**
 * A chat's messages as this agent sees them (fragment "messages") and their version (the hash
 * without the poller); null once the agent may no longer read the chat. An ended chat's have no
 * poller (nothing more is written in it; the stream still moves its delivery marks).
 */
async function loadChatMessagesPart(
  deps: AppDeps,
  agent: Agent,
  id: string,
  share: Share = unshared,
) {
  let found: Awaited<ReturnType<typeof chatHistory>>;
  try {
    found = await chatHistory(deps.desk, agent, id);
  } catch (error) {
    if (error instanceof NotFound) return null;
    throw error;
  }
  const [agents, timeZone] = await Promise.all([
    share("agents", () => listAgents(deps.desk.kv)),
    share("timeZone", () => businessTimeZone(deps.desk.kv)),
  ]);
  const thread: ThreadProps = {
    messages: found.messages,
    names: new Map(agents.map((a) => [a.id, a.name])),
    me: agent.id,
    retry: { base: `/chats/${id}/messages`, ids: await retryable(deps, agent, found.messages) },
    timeZone,
  };
  const version = fnv1a(await html(<ChatMessages {...thread} pollUrl="" />));
  const pollUrl = found.ended ? "" : `/chats/${id}?part=messages&v=${version}`;
  return {
    found,
    thread,
    version,
    pollUrl,
    html: await html(<ChatMessages {...thread} pollUrl={pollUrl} />),
  };
}

type ChatMessagesPart = NonNullable<Awaited<ReturnType<typeof loadChatMessagesPart>>>;

/** The chats page's live parts: the lists, and the open chat's messages with their marks. */
liveViews.register("chats", (params) => {
  const parts: LivePart[] = [{
    on: ["tickets", "chats"],
    render: async ({ deps, agent }) => {
      const view = await loadChatsView(deps, agent, params.get("selected") ?? undefined);
      const chats = await html(<ChatLists view={view} />);
      return { parts: { chats }, version: fnv1a(chats) };
    },
  }];
  const selected = params.get("selected");
  if (selected) {
    parts.push({
      // Delivery marks change with no chat change: only this part re-renders for them.
      on: ["tickets", "chats", "delivery"],
      render: async ({ deps, agent, share }) => {
        const part = await loadChatMessagesPart(deps, agent, selected, share);
        return part && { parts: { messages: part.html }, version: part.version };
      },
    });
    // Rule 35: a note re-renders only the notes.
    parts.push(notesLivePart("chat", selected));
  }
  return parts;
});

export function chatPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.use("*", pageAuth(deps));

  async function page(
    c: Context<DeskEnv>,
    /** The open chat and its live parts' versions (messages, notes). */
    selected: { id: string; versions: string[] } | null,
    thread: unknown,
    flash: Flash | null,
    /** The open chat has a message box (its help, static/compose.js, is loaded). */
    compose = false,
  ) {
    const agent = c.get("agent");
    const [view, nav] = await Promise.all([
      loadChatsView(deps, agent, selected?.id),
      navCounts(deps, agent),
    ]);
    const chats = await html(<ChatLists view={view} />);
    const events = new URLSearchParams({ view: "chats" });
    if (selected) events.set("selected", selected.id);
    // The parts in the live view's order, then the desk's counts (rule 32).
    const versions = selected ? [fnv1a(chats), ...selected.versions] : [fnv1a(chats)];
    events.set("v", pageVersion([...versions, nav.version]));
    return c.html(
      <Layout
        title="Chats"
        agent={agent}
        active="chats"
        flash={flash}
        wide
        counts={nav.counts}
        compose={compose}
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
    const id = c.req.param("id");
    if (c.req.query("part") === "messages") {
      // The 3 s poll: 204 while unchanged; 286 (htmx stops polling) once the chat is out of reach.
      const part = await loadChatMessagesPart(deps, c.get("agent"), id);
      if (!part) return new Response(null, { status: 286 });
      if (c.req.query("v") === part.version) return c.body(null, 204);
      return c.html(part.html);
    }
    return await chatPage(c, id);
  });

  /**
   * One chat open beside the lists: messages, the message box (its agent), notes and the
   * customer panel. `pane` keeps what a refused form typed, drawn again with `status`.
   */
  async function chatPage(
    c: Context<DeskEnv>,
    id: string,
    pane: PaneState = {},
    status: 200 | 400 | 409 | 422 = 200,
  ) {
    const agent = c.get("agent");
    const part = await loadChatMessagesPart(deps, agent, id);
    if (!part) throw new NotFound("Chat");
    if (part.found.ended) {
      return await endedChatPage(c, { ...part, found: part.found }, pane, status);
    }
    const { chat } = part.found;
    const [state, live, settings, canned, aside] = await Promise.all([
      customerState(desk, chat.customerId),
      listChats(desk, agent, "live"),
      getSettings(desk.kv),
      // An ended chat offers none (its box is gone).
      listCannedReplies(desk, agent, { chatId: id }).catch(ifRefused([])),
      conversationAside(desk, agent, { kind: "chat", chat }, part.thread, pane),
    ]);
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
    const mine = live.some((ch) => ch.id === id && ch.agentId === agent.id);
    const thread = (
      <ChatThread
        item={item}
        thread={part.thread}
        pollUrl={part.pollUrl}
        live={mine}
        windowOpen={windowOpen}
        canned={canned}
        draft={pane.draft ?? ""}
        error={pane.replyError}
        aside={aside.element}
      />
    );
    c.status(status);
    const versions = [part.version, aside.notesVersion];
    return await page(c, { id, versions }, thread, takeFlash(c), mine);
  }

  /**
   * A chat that has ended, read-only (who may read it: `chatHistory`): who had it and when, its
   * messages and marks, its notes, and the customer panel when rule 23 shows the customer. Rule 35
   * adds notes to pending and live chats only, so none is added here, by anyone: the chat's
   * conversation is over, and its ticket (if it joined one) takes notes on its own page.
   */
  async function endedChatPage(
    c: Context<DeskEnv>,
    part: ChatMessagesPart & { found: Extract<ChatMessagesPart["found"], { ended: true }> },
    pane: PaneState,
    status: 200 | 400 | 409 | 422,
  ) {
    const agent = c.get("agent");
    const { chat } = part.found;
    const subject: PaneSubject = { kind: "chat", chat };
    const basics = await asideBasics(desk.kv);
    const [state, notes, ticketHref, panel] = await Promise.all([
      customerState(desk, chat.customerId),
      chatNotes(desk.kv, chat.id),
      ticketLink(agent, chat.ticketId),
      subjectPanel(desk, agent, subject, basics, pane),
    ]);
    const customer = state?.customer;
    const thread = (
      <EndedChatThread
        chat={chat}
        customer={{
          name: customer?.name ?? "",
          from: customer?.from ?? chat.customerId,
          channel: customer?.channel ?? "webchat",
        }}
        thread={part.thread}
        ticketHref={ticketHref}
        aside={
          <>
            <NotesSection
              notes={notes}
              names={basics.names}
              me={agent.id}
              timeZone={basics.timeZone}
              action={null}
              closedText={chat.ticketId
                ? "This chat has ended: notes go on its ticket now."
                : "This chat has ended: no more notes can be added."}
              level={3}
            />
            {panel ? <CustomerPanel {...panel} /> : null}
          </>
        }
      />
    );
    c.status(status);
    // A note refused meanwhile (the chat ended under the form) is said at the top.
    const flash: Flash | null = pane.noteError
      ? { kind: "error", text: pane.noteError }
      : takeFlash(c);
    // The notes' live part draws nothing for an ended chat: its version stays empty.
    return await page(c, { id: chat.id, versions: [part.version, ""] }, thread, flash);
  }

  /** Where this agent opens a ticket (rule 23), or null where it may not. */
  async function ticketLink(agent: Agent, ticketId: string | null): Promise<string | null> {
    if (!ticketId) return null;
    const ticket = (await desk.kv.get<Ticket>(keys.ticket(ticketId))).value;
    if (!ticket) return null;
    if (ticket.status === "closed" || ticket.status === "archived") {
      return `/tickets/closed/${ticket.id}`;
    }
    const visible = await visibleDepartments(desk.kv, agent);
    return canReadTicket(agent, ticket, visible) ? `/tickets/${ticket.status}/${ticket.id}` : null;
  }

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
    if (form.insert) {
      // Rule 34 without JavaScript: the filled canned reply joins the draft; nothing is sent.
      const agent = c.get("agent");
      await readChat(desk, agent, id);
      const { draft, error } = await insertCanned(desk, agent, form, { chatId: id });
      return await chatPage(c, id, { draft, replyError: error }, error ? 400 : 200);
    }
    const unfilled = unfilledRefusal(form.text ?? "");
    if (unfilled) {
      // Rule 34: a placeholder left in the text is never sent; the draft comes back as typed.
      await readChat(desk, c.get("agent"), id);
      return await chatPage(c, id, { draft: formText(form.text), replyError: unfilled }, 422);
    }
    return await act(c, `/chats/${id}`, `/chats/${id}`, async () => {
      await sendChatMessage(desk, c.get("agent"), id, { text: form.text ?? "" });
      return null;
    });
  });

  /** Rule 29: a failed message goes back to the customer's queue; the thread shows its mark. */
  app.post("/:id/messages/:messageId/retry", async (c) => {
    const agent = c.get("agent");
    const id = c.req.param("id");
    let flash = RETRY_QUEUED;
    try {
      await retryMessage(desk, agent, c.req.param("messageId"));
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) {
        throw error;
      }
      const settings = await getSettings(desk.kv);
      flash = retryRefusal(error, settings.timeouts.whatsappWindowHours);
    }
    if (!isHtmx(c)) return redirectWithFlash(c, `/chats/${id}`, flash);
    const part = await loadChatMessagesPart(deps, agent, id);
    return c.html(
      <>
        <FlashMessage flash={flash} />
        {part ? <ChatMessagesPane {...part.thread} pollUrl={part.pollUrl} oob /> : null}
      </>,
    );
  });

  /** Rule 35: a note on the chat; htmx gets the notes back in place (a draft message stays). */
  app.post("/:id/notes", async (c) => {
    const agent = c.get("agent");
    const id = c.req.param("id");
    return await saveNoteForm(c, desk, agent, {
      add: (text) => addChatNote(desk, agent, id, { text }),
      subject: async () => ({ kind: "chat", chat: await readChat(desk, agent, id) }),
      back: () => Promise.resolve(`/chats/${id}`),
      page: (pane, status) => chatPage(c, id, pane, status),
    });
  });

  /**
   * The chat a panel edit comes from: a current one the agent may see (`readChat`), or an ended
   * one it may read (`chatHistory`), whose page shows the panel too.
   */
  async function panelChat(agent: Agent, id: string): Promise<Pick<Chat, "id" | "customerId">> {
    try {
      return await readChat(desk, agent, id);
    } catch (error) {
      if (!(error instanceof DeskError) || (error.status !== 404 && error.status !== 409)) {
        throw error;
      }
      const found = await chatHistory(desk, agent, id);
      if (!found.ended) throw error;
      return found.chat;
    }
  }

  /** Rule 36: the customer panel's edit (name, about), refused when someone edited meanwhile. */
  app.post("/:id/customer", async (c) => {
    const agent = c.get("agent");
    const chat = await panelChat(agent, c.req.param("id"));
    const form = await formOf(c);
    const basics = await asideBasics(desk.kv);
    return await saveCustomerForm(c, desk, agent, chat.customerId, form, {
      back: `/chats/${chat.id}`,
      panel: (pane) => subjectPanel(desk, agent, { kind: "chat", chat }, basics, pane),
      page: (pane, status) => chatPage(c, chat.id, pane, status),
    });
  });

  /** Rule 34 for the message box's picker (static/desk.js): a canned reply filled for the chat. */
  app.get("/:id/canned-replies/:cannedId", async (c) => {
    const context = { chatId: c.req.param("id") };
    return c.json(
      await renderCannedReply(desk, c.get("agent"), c.req.param("cannedId"), context),
    );
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
