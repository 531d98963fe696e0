/**
 * The Tickets tab (SPEC rules 12–20, 23): three queues with live counts, accept, Quick Accept,
 * the ticket detail with reply (Start Chat) or WhatsApp template, and close. Every action is a
 * plain form post answered with a redirect; htmx requests get the changed fragments in place.
 * What updates live (the queue's parts, the open ticket's thread) comes from live/.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { raw } from "hono/html";
import { listCannedReplies, renderCannedReply } from "../domain/canned_replies.ts";
import { listChats, replyToTicket } from "../domain/chats.ts";
import { keys } from "../domain/keys.ts";
import { getAll } from "../domain/kv_util.ts";
import { listDepartments, visibleDepartments } from "../domain/departments.ts";
import { Conflict, DeskError, NotFound } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { addTicketNote } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import { listTemplates } from "../domain/templates.ts";
import {
  acceptTicket,
  closeTicket,
  QUICK_ACCEPT_MAX,
  quickAccept,
  readTicket,
} from "../domain/tickets.ts";
import type { Agent, Conversation, Message, Ticket } from "../domain/types.ts";
import { sendRoute } from "../domain/attachments.ts";
import { asideBasics, openTicketThread, ticketThread } from "../live/conversation.tsx";
import { navCounts } from "../live/desk_counts.ts";
import { eventsUrl } from "../live/parts.ts";
import { filtersOf, queueParts, queueSwap } from "../live/queues.tsx";
import type { Flash } from "../views/components.tsx";
import { customerName } from "../views/customer_panel.tsx";
import { FlashMessage } from "../views/components.tsx";
import { Layout } from "../views/layout.tsx";
import {
  ConversationPane,
  cut,
  DetailName,
  Filters,
  foldOf,
  foldValue,
  LIST_QUEUES,
  type ListQueue,
  NoSelection,
  queueUrl,
  ROW_NAME_MAX,
  type ThreadProps,
  TicketDetail,
  ticketUrl,
} from "../views/tickets.tsx";
import type { ReplyState } from "../views/reply_box.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  conversationAside,
  draftAnswer,
  formFold,
  formText,
  type PaneState,
  replyWindowOpen,
  retryForm,
  saveCustomerForm,
  saveNoteForm,
  subjectPanel,
  threadPoll,
} from "./conversation_pane.tsx";
import {
  formAll,
  formOf,
  isHtmx,
  pageAuth,
  redirectWithFlash,
  safeNext,
  takeFlash,
} from "./page_auth.ts";
import { pageMedia } from "./uploads.ts";

const asQueue = (value: string | undefined): ListQueue | null =>
  LIST_QUEUES.includes(value as ListQueue) ? value as ListQueue : null;

/** Rule 18's hint: a template sent since the customer last wrote (free text waits for it). */
function templateSentAt(messages: Message[]): number | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.direction === "in") return null;
    if (m.template && m.author !== "system") return m.at;
  }
  return null;
}

/** The queue a ticket in this state is listed in. */
const queueOf = (t: Ticket): ListQueue =>
  t.status === "unassigned" ? "unassigned" : t.status === "assigned" ? "assigned" : "closed";

export function ticketPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const { kv, clock } = desk;
  const app = new Hono<DeskEnv>();
  app.use("*", pageAuth(deps));

  async function queuePage(
    c: Context<DeskEnv>,
    queue: ListQueue,
    detail: unknown,
    flash: Flash | null,
    /** The open ticket, its live parts' versions (conversation, notes) and its fold (rule 56). */
    selected?: { id: string; versions: string[]; fold: string | null },
  ) {
    const agent = c.get("agent");
    const params = new URL(c.req.url).searchParams;
    if (selected) params.set("selected", selected.id);
    const [{ view, parts }, nav] = await Promise.all([
      queueParts(desk, agent, queue, params),
      navCounts(desk, agent),
    ]);
    const live = new URLSearchParams(view.filters);
    if (view.query.cursor) live.set("cursor", view.query.cursor);
    if (selected) {
      live.set("selected", selected.id);
      live.set("fold", foldValue(selected.fold));
    }
    // The parts in the live view's order, then the desk's counts (rule 32).
    const versions = [parts.version, ...selected?.versions ?? [], nav.version];
    const split = queue !== "unassigned" || detail;
    const title = `${queue[0].toUpperCase()}${queue.slice(1)} tickets`;
    return c.html(
      <Layout
        title={title}
        agent={agent}
        active="tickets"
        flash={flash}
        wide={!!split}
        counts={nav.counts}
      >
        {/* One h1 per page: the list's name, or with a ticket open the customer's (DetailName). */}
        {detail ? null : <h1 class="page-title">{title}</h1>}
        {/* The fragments are rendered once (escaped by their components) and reused as is. */}
        <div class="queue" hx-ext="sse" sse-connect={eventsUrl(queue, live, versions)}>
          {/* Rule 33: row and count patches, swapped out of band (static/alerts.js checks them). */}
          <div hidden sse-swap="patch" hx-swap="none"></div>
          <nav
            id="queue-tabs"
            class="tabs"
            sse-swap="tabs"
            aria-label="Ticket queues"
          >
            {raw(parts.tabs)}
          </nav>
          {queue === "unassigned"
            ? (
              <div id="quick" sse-swap="quick">
                {raw(parts.quick)}
              </div>
            )
            : null}
          <div class={detail ? "split has-detail" : split ? "split two-col" : "split"}>
            <div class="split-list">
              <Filters view={view} />
              <div
                id="queue-list"
                sse-swap="list"
              >
                {raw(parts.list)}
              </div>
            </div>
            {detail
              ? (
                <div class="split-detail">
                  <a class="back-link" href={queueUrl(queue, view.filters)}>← Back to the list</a>
                  {detail}
                </div>
              )
              : split
              ? (
                <div class="split-detail">
                  <NoSelection queue={queue} />
                </div>
              )
              : null}
          </div>
        </div>
      </Layout>,
    );
  }

  app.get("/", (c) => c.redirect("/tickets/unassigned", 303));

  app.get("/:queue", async (c) => {
    const queue = asQueue(c.req.param("queue"));
    if (!queue) throw new NotFound("Page");
    const params = new URL(c.req.url).searchParams;
    if (params.get("part") === "list") {
      // The 10 s poll (the SSE fallback): nothing changed → 204, which htmx leaves alone.
      const { parts } = await queueParts(desk, c.get("agent"), queue, params);
      if (params.get("v") === parts.version) return c.body(null, 204);
      return c.html(parts.list + queueSwap(parts, false));
    }
    return await queuePage(c, queue, null, takeFlash(c));
  });

  app.get("/:queue/:id", async (c) => {
    const queue = asQueue(c.req.param("queue"));
    if (!queue) throw new NotFound("Page");
    const agent = c.get("agent");
    const id = c.req.param("id");
    if (c.req.query("part") === "conversation") {
      // The conversation's 10 s poll.
      return threadPoll(
        c,
        await openTicketThread(desk, agent, queue, id, { fold: foldOf(c.req.query("fold")) }),
      );
    }
    const ticket = await readTicket(kv, agent, id);
    if (queueOf(ticket) !== queue) {
      return c.redirect(ticketUrl(queueOf(ticket), ticket.id, new URLSearchParams()), 303);
    }
    return await ticketPage(c, ticket);
  });

  /**
   * A ticket open in its queue: the thread, the reply box (assignee), notes and the customer
   * panel. `pane` keeps what a refused form typed, drawn again with `status`.
   */
  async function ticketPage(
    c: Context<DeskEnv>,
    ticket: Ticket,
    pane: PaneState = {},
    status: 200 | 400 | 409 | 422 = 200,
  ) {
    const agent = c.get("agent");
    const queue = queueOf(ticket);
    const [{ thread, version, pollUrl }, departments, visible] = await Promise.all([
      ticketThread(desk, agent, queue, ticket),
      listDepartments(kv),
      visibleDepartments(kv, agent),
    ]);
    const filters = filtersOf(queue, new URL(c.req.url).searchParams, visible);
    const mine = ticket.status === "assigned" && ticket.assignedTo === agent.id;
    const [reply, aside] = await Promise.all([
      mine ? replyState(ticket, agent, thread, c.req.query("template"), pane) : null,
      conversationAside(desk, agent, { kind: "ticket", ticket }, thread, pane),
    ]);
    const detail = (
      <TicketDetail
        ticket={ticket}
        customerName={aside.name}
        messages={thread.messages}
        pollUrl={pollUrl}
        names={thread.names}
        retry={thread.retry}
        fold={thread.fold}
        department={departments.find((d) => d.id === ticket.department)?.name ?? null}
        now={clock.now()}
        me={agent.id}
        back={queueUrl(queue, filters)}
        reply={reply}
        canAccept={ticket.status === "unassigned"}
        timeZone={thread.timeZone}
        aside={aside.element}
      />
    );
    // The page is drawn with the answer's status (a refused form shown again in place).
    c.status(status);
    const versions = [version, aside.notesVersion];
    return await queuePage(
      c,
      queue,
      detail,
      takeFlash(c),
      { id: ticket.id, versions, fold: thread.fold },
    );
  }

  /**
   * Rule 18: whether free text may go out, and the templates when it may not; rule 34: the canned
   * replies offered; the draft a refused or inserted reply left.
   */
  async function replyState(
    ticket: Ticket,
    agent: Agent,
    thread: ThreadProps,
    templateId: string | undefined,
    pane: PaneState,
  ): Promise<ReplyState> {
    const [state, settings, templates, live, canned, conversation] = await Promise.all([
      customerState(desk, ticket.customerId),
      getSettings(kv),
      listTemplates(kv),
      listChats(desk, agent, "live"),
      listCannedReplies(desk, agent, { ticketId: ticket.id }),
      kv.get<Conversation>(keys.conversation(ticket.customerId)),
    ]);
    const hours = settings.timeouts.whatsappWindowHours;
    const lastInbound = state?.customer.lastInboundAt;
    const windowOpen = replyWindowOpen(ticket.channel, lastInbound, hours, clock.now());
    const liveChat = live.find((ch) =>
      ch.customerId === ticket.customerId && ch.agentId === agent.id
    );
    return {
      windowOpen,
      windowHours: hours,
      templates,
      chosen: templates.find((t) => t.id === templateId) ?? null,
      liveChatId: liveChat?.id ?? null,
      templateSentAt: templateSentAt(thread.messages),
      canned,
      draft: pane.draft ?? "",
      error: pane.replyError,
      timeZone: settings.hours.timeZone,
      optedOutAt: state?.customer.optedOutAt ?? null,
      // Rule 51: the picker offers what the route the reply takes carries (the server checks it).
      sendRoute: sendRoute(conversation.value?.route),
    };
  }

  /** Answers accept and Quick Accept: htmx gets the flash plus fresh fragments, forms a redirect. */
  async function answer(c: Context<DeskEnv>, back: string, flash: Flash) {
    if (!isHtmx(c)) return redirectWithFlash(c, back, flash);
    const url = new URL(back, c.req.url);
    const queue = asQueue(url.pathname.split("/")[2]) ?? "unassigned";
    const { parts } = await queueParts(desk, c.get("agent"), queue, url.searchParams);
    return c.html(String(await <FlashMessage flash={flash} />) + queueSwap(parts, true));
  }

  app.post("/quick-accept", async (c) => {
    const form = await formOf(c);
    const back = safeNext(form.next);
    const count = Number(form.count);
    if (!Number.isInteger(count) || count < 1 || count > QUICK_ACCEPT_MAX) {
      return await answer(c, back, {
        kind: "error",
        text: `Choose a number from 1 to ${QUICK_ACCEPT_MAX}.`,
      });
    }
    const accepted = await quickAccept(desk, c.get("agent"), count);
    const names = await whoseTickets(desk.kv, accepted);
    const flash: Flash = accepted.length === 0
      ? { kind: "info", text: "No tickets were left to accept." }
      : {
        kind: "ok",
        text: accepted.length < count
          ? `Accepted ${accepted.length} of ${count} (no more were available): ${names}.`
          : `Accepted the ${accepted.length} oldest ticket${
            accepted.length === 1 ? "" : "s"
          }: ${names}.`,
        href: "/tickets/assigned",
        link: "Go to Assigned",
      };
    return await answer(c, back, flash);
  });

  app.post("/:id/accept", async (c) => {
    const form = await formOf(c);
    const back = safeNext(form.next);
    let flash: Flash;
    try {
      const t = await acceptTicket(desk, c.get("agent"), c.req.param("id"));
      flash = {
        kind: "ok",
        text: `You accepted the ticket from ${customerName(t)}.`,
        href: `/tickets/assigned/${t.id}`,
        link: "Open it",
      };
    } catch (error) {
      if (error instanceof Conflict && error.code === "ticket_taken") {
        flash = { kind: "error", text: "Another agent accepted this ticket first." };
      } else if (error instanceof Conflict || error instanceof NotFound) {
        flash = {
          kind: "error",
          text: "This ticket is no longer waiting: it was closed or removed.",
        };
      } else throw error;
    }
    return await answer(c, back, flash);
  });

  app.post("/:id/reply", async (c) => {
    const id = c.req.param("id");
    const form = await formAll(c);
    const here = `/tickets/assigned/${id}`;
    const template = typeof form.template === "string" ? form.template : "";
    const typed = typeof form.text === "string" ? form.text : "";
    const canned = typeof form.canned === "string" ? form.canned : "";
    const agent = c.get("agent");
    let read: Promise<Ticket> | undefined;
    const ticket = () => read ??= readTicket(kv, agent, id);
    const refused = await draftAnswer(
      desk,
      agent,
      { text: typed, canned, insert: !!form.insert, template },
      { ticketId: id },
      {
        readable: ticket,
        page: async (pane, status) => ticketPage(c, await ticket(), pane, status),
      },
    );
    if (refused) return refused;
    try {
      // Rule 51: a file (`file`, `text` its caption) or a place, from a plain multipart form.
      const media = template ? null : await pageMedia(c, form, formText(typed));
      const input = template
        ? {
          template,
          params: Array.isArray(form.params) ? form.params : form.params ? [form.params] : [],
        }
        : media ?? { text: typed };
      const message = await replyToTicket(desk, agent, id, input, deps.media?.files);
      // Rule 29: nothing was handed to the provider yet; the mark tells when it is.
      return redirectWithFlash(c, here, {
        kind: "ok",
        text: "Your reply is on its way to the customer: its mark shows when it is sent, " +
          "delivered and read. A live chat with the customer is open.",
        href: `/chats/${message.conversationId}`,
        link: "Open the chat",
      });
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) {
        throw error;
      }
      const back = template ? `${here}?template=${encodeURIComponent(template)}` : here;
      return redirectWithFlash(c, back, { kind: "error", text: error.message });
    }
  });

  /** Rule 29: a failed message goes back to the customer's queue; the thread shows its mark. */
  app.post("/:id/messages/:messageId/retry", async (c) => {
    const agent = c.get("agent");
    const ticket = await readTicket(kv, agent, c.req.param("id"));
    const queue = queueOf(ticket);
    return await retryForm(c, desk, agent, c.req.param("messageId"), {
      back: ticketUrl(queue, ticket.id, new URLSearchParams()),
      pane: async () => {
        const part = await openTicketThread(desk, agent, queue, ticket.id, {
          fold: await formFold(c),
        });
        return part && <ConversationPane {...part.thread} pollUrl={part.pollUrl} oob />;
      },
    });
  });

  /** Rule 35: a note on the ticket; htmx gets the notes back in place (a draft reply stays). */
  app.post("/:id/notes", async (c) => {
    const agent = c.get("agent");
    const id = c.req.param("id");
    // Read after the note is added (its notes and state as they are now), once, by whichever
    // path answers.
    let read: Promise<Ticket> | undefined;
    const ticket = () => read ??= readTicket(kv, agent, id);
    return await saveNoteForm(c, desk, agent, {
      add: (text) => addTicketNote(desk, agent, id, { text }),
      subject: async () => ({ kind: "ticket", ticket: await ticket() }),
      back: async () => ticketUrl(queueOf(await ticket()), id, new URLSearchParams()),
      page: async (pane, status) => ticketPage(c, await ticket(), pane, status),
    });
  });

  /** Rule 36: the customer panel's edit (name, about), refused when someone edited meanwhile. */
  app.post("/:id/customer", async (c) => {
    const agent = c.get("agent");
    const ticket = await readTicket(kv, agent, c.req.param("id"));
    const form = await formOf(c);
    const basics = await asideBasics(kv);
    return await saveCustomerForm(c, desk, agent, ticket.customerId, form, {
      back: ticketUrl(queueOf(ticket), ticket.id, new URLSearchParams()),
      panel: (pane) => subjectPanel(desk, agent, { kind: "ticket", ticket }, basics, pane),
      page: (pane, status) => ticketPage(c, ticket, pane, status),
      renamed: (name) => <DetailName name={name} oob />,
    });
  });

  /** Rule 34 for the reply box's picker (static/desk.js): a canned reply filled for the ticket. */
  app.get("/:id/canned-replies/:cannedId", async (c) => {
    const context = { ticketId: c.req.param("id") };
    return c.json(
      await renderCannedReply(desk, c.get("agent"), c.req.param("cannedId"), context),
    );
  });

  app.post("/:id/close", async (c) => {
    const id = c.req.param("id");
    try {
      await closeTicket(desk, c.get("agent"), id);
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) {
        throw error;
      }
      return redirectWithFlash(c, `/tickets/assigned/${id}`, {
        kind: "error",
        text: error.message,
      });
    }
    return redirectWithFlash(c, "/tickets/assigned", {
      kind: "ok",
      text: "Ticket closed.",
      href: `/tickets/closed/${id}`,
      link: "View it",
    });
  });

  return app;
}

/** Quick Accept's flash says whose tickets were taken: up to five customers, then how many more. */
async function whoseTickets(kv: Deno.Kv, ids: string[]): Promise<string> {
  const shown = 5;
  const entries = await getAll<Ticket>(kv, ids.slice(0, shown).map((id) => keys.ticket(id)));
  const names = entries.map((e) => e.value ? cut(customerName(e.value), ROW_NAME_MAX) : "?");
  if (ids.length > shown) names.push(`${ids.length - shown} more`);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0] ?? "";
}
