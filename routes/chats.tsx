/**
 * `/chats`: pending live chats with Accept (rule 7 closes the customer's open ticket), the
 * agent's live chats, and a simple message exchange. Plain forms, POST → redirect → GET.
 * What updates live (the lists, the open chat's messages) comes from live/.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { raw } from "hono/html";
import { canReadTicket } from "../domain/access.ts";
import { listCannedReplies, renderCannedReply } from "../domain/canned_replies.ts";
import {
  acceptChat,
  type Chat,
  chatHistory,
  endChat,
  listChats,
  sendChatMessage,
} from "../domain/chats.ts";
import { visibleDepartments } from "../domain/departments.ts";
import { DeskError, NotFound } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { addChatNote, chatNotes, readChat } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import type { Agent, Conversation, Ticket } from "../domain/types.ts";
import { sendRoute } from "../domain/attachments.ts";
import { chatLists } from "../live/chats.tsx";
import { asideBasics, chatThread } from "../live/conversation.tsx";
import { navCounts } from "../live/desk_counts.ts";
import { eventsUrl } from "../live/parts.ts";
import { type ChatItem, ChatMessagesPane, ChatThread, EndedChatThread } from "../views/chats.tsx";
import { foldOf, foldValue } from "../views/tickets.tsx";
import { Empty, type Flash } from "../views/components.tsx";
import { CustomerPanel } from "../views/customer_panel.tsx";
import { Layout } from "../views/layout.tsx";
import { NotesSection } from "../views/notes.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  conversationAside,
  draftAnswer,
  formFold,
  formText,
  type PaneState,
  type PaneSubject,
  refusedAs,
  replyWindowOpen,
  retryForm,
  saveCustomerForm,
  saveNoteForm,
  subjectPanel,
  threadPoll,
} from "./conversation_pane.tsx";
import { formOf, pageAuth, redirectWithFlash, takeFlash } from "./page_auth.ts";
import { pageMedia } from "./uploads.ts";

type ChatThreadPart = NonNullable<Awaited<ReturnType<typeof chatThread>>>;

export function chatPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const app = new Hono<DeskEnv>();
  app.use("*", pageAuth(deps));

  async function page(
    c: Context<DeskEnv>,
    /** The open chat, its live parts' versions (messages, notes) and its fold (rule 56). */
    selected: { id: string; versions: string[]; fold: string | null } | null,
    thread: unknown,
    flash: Flash | null,
  ) {
    const agent = c.get("agent");
    const [lists, nav] = await Promise.all([
      chatLists(desk, agent, selected?.id),
      navCounts(desk, agent),
    ]);
    const live = new URLSearchParams(
      selected ? { selected: selected.id, fold: foldValue(selected.fold) } : {},
    );
    // The parts in the live view's order, then the desk's counts (rule 32).
    const versions = [lists.version, ...selected?.versions ?? [], nav.version];
    return c.html(
      <Layout
        title="Chats"
        agent={agent}
        active="chats"
        flash={flash}
        wide
        counts={nav.counts}
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
          sse-connect={eventsUrl("chats", live, versions)}
        >
          <div class="split-list" id="chat-lists" sse-swap="chats">
            {raw(lists.html)}
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
      // The messages' 3 s poll.
      return threadPoll(
        c,
        await chatThread(desk, c.get("agent"), id, { fold: foldOf(c.req.query("fold")) }),
      );
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
    const part = await chatThread(desk, agent, id);
    if (!part) throw new NotFound("Chat");
    if (part.found.ended) {
      return await endedChatPage(c, { ...part, found: part.found }, pane, status);
    }
    const { chat } = part.found;
    const [state, live, settings, canned, aside, conversation] = await Promise.all([
      customerState(desk, chat.customerId),
      listChats(desk, agent, "live"),
      getSettings(desk.kv),
      // An ended chat offers none (its box is gone).
      listCannedReplies(desk, agent, { chatId: id }).catch(refusedAs([])),
      conversationAside(desk, agent, { kind: "chat", chat }, part.thread, pane),
      desk.kv.get<Conversation>(keys.conversation(chat.customerId)),
    ]);
    const customer = state?.customer;
    const item: ChatItem = {
      chat,
      name: customer?.name ?? "Unknown customer",
      from: customer?.from ?? "",
      channel: customer?.channel ?? "webchat",
    };
    const windowOpen = replyWindowOpen(
      item.channel,
      customer?.lastInboundAt,
      settings.timeouts.whatsappWindowHours,
      desk.clock.now(),
    );
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
        optedOutAt={customer?.optedOutAt ?? null}
        sendRoute={sendRoute(conversation.value?.route)}
        aside={aside.element}
      />
    );
    c.status(status);
    const versions = [part.version, aside.notesVersion];
    return await page(c, { id, versions, fold: part.thread.fold }, thread, takeFlash(c));
  }

  /**
   * A chat that has ended, read-only (who may read it: `chatHistory`): who had it and when, its
   * messages and marks, its notes, and the customer panel when rule 23 shows the customer. Rule 35
   * adds notes to pending and live chats only, so none is added here, by anyone: the chat's
   * conversation is over, and its ticket (if it joined one) takes notes on its own page.
   */
  async function endedChatPage(
    c: Context<DeskEnv>,
    part: ChatThreadPart & { found: Extract<ChatThreadPart["found"], { ended: true }> },
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
          name: customer?.name ?? "Unknown customer",
          from: customer?.from ?? "",
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
    return await page(
      c,
      { id: chat.id, versions: [part.version, ""], fold: part.thread.fold },
      thread,
      flash,
    );
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
    const agent = c.get("agent");
    const refused = await draftAnswer(
      desk,
      agent,
      { text: form.text ?? "", canned: form.canned ?? "", insert: !!form.insert },
      { chatId: id },
      {
        readable: () => readChat(desk, agent, id),
        page: (pane, status) => chatPage(c, id, pane, status),
      },
    );
    if (refused) return refused;
    return await act(c, `/chats/${id}`, `/chats/${id}`, async () => {
      // Rule 51: a file (`file`, `text` its caption) or a place, from a plain multipart form.
      const media = await pageMedia(c, form, formText(form.text));
      await sendChatMessage(desk, agent, id, media ?? { text: form.text ?? "" }, deps.media?.files);
      return null;
    });
  });

  /** Rule 29: a failed message goes back to the customer's queue; the thread shows its mark. */
  app.post("/:id/messages/:messageId/retry", async (c) => {
    const agent = c.get("agent");
    const id = c.req.param("id");
    return await retryForm(c, desk, agent, c.req.param("messageId"), {
      back: `/chats/${id}`,
      pane: async () => {
        const part = await chatThread(desk, agent, id, { fold: await formFold(c) });
        return part && <ChatMessagesPane {...part.thread} pollUrl={part.pollUrl} oob />;
      },
    });
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
