/**
 * The Tickets tab (SPEC rules 12–20, 23): three queues with live counts, accept, Quick Accept,
 * the ticket detail with reply (Start Chat) or WhatsApp template, and close. Every action is a
 * plain form post answered with a redirect; htmx requests get the changed fragments in place.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { raw } from "hono/html";
import { messageAccess } from "../domain/access.ts";
import { listAgents } from "../domain/agents.ts";
import { listCannedReplies, renderCannedReply } from "../domain/canned_replies.ts";
import { listChats, replyToTicket } from "../domain/chats.ts";
import { HOUR } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { getAll } from "../domain/kv_util.ts";
import { listDepartments, visibleDepartments } from "../domain/departments.ts";
import { Conflict, DeskError, NotFound } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { retryMessage } from "../domain/message_retry.ts";
import { addTicketNote } from "../domain/notes.ts";
import { getSettings } from "../domain/settings.ts";
import { listTemplates } from "../domain/templates.ts";
import { listTickets, parseTicketQuery } from "../domain/ticket_lists.ts";
import {
  acceptTicket,
  assignedCount,
  closedCount,
  closeTicket,
  QUICK_ACCEPT_MAX,
  quickAccept,
  readTicket,
  ticketMessages,
  unassignedCount,
} from "../domain/tickets.ts";
import type { Agent, Message, Ticket } from "../domain/types.ts";
import type { Flash } from "../views/components.tsx";
import { customerName } from "../views/customer_panel.tsx";
import { FlashMessage } from "../views/components.tsx";
import { RETRY_QUEUED, retryRefusal } from "../views/delivery.tsx";
import { Layout } from "../views/layout.tsx";
import {
  ConversationPane,
  conversationPollUrl,
  cut,
  DetailName,
  Filters,
  LIST_QUEUES,
  ListPoller,
  type ListQueue,
  NoSelection,
  OlderLink,
  Pager,
  patchMarker,
  QueueListBody,
  QueueTab,
  QueueTabs,
  queueUrl,
  type QueueView,
  QuickAcceptBar,
  quickSizes,
  ROW_NAME_MAX,
  RowInsert,
  rowKey,
  RowRemoval,
  type ThreadProps,
  TicketConversation,
  TicketDetail,
  TicketRow,
  ticketUrl,
} from "../views/tickets.tsx";
import type { ReplyState } from "../views/reply_box.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  asideBasics,
  businessTimeZone,
  conversationAside,
  formText,
  insertCanned,
  notesLivePart,
  type PaneState,
  saveCustomerForm,
  saveNoteForm,
  subjectPanel,
  unfilledRefusal,
} from "./conversation_pane.tsx";
import {
  hash53,
  type LivePart,
  type LiveView,
  liveViews,
  pageVersion,
  type PatchDrawing,
  patchHtml,
  type PatchState,
  patchState,
  PatchStates,
  type Share,
  unshared,
} from "./live_views.ts";
import { navCounts } from "./nav_counts.ts";
import {
  formAll,
  formOf,
  isHtmx,
  pageAuth,
  redirectWithFlash,
  safeNext,
  takeFlash,
} from "./page_auth.ts";
import { fnv1a } from "../views/assets.ts";

/** Filter parameters a list keeps in its URL (the cursor and internal ones are not filters). */
const FILTER_NAMES = ["q", "channel", "department", "age", "sort", "closedByMe", "limit"] as const;

/**
 * The filters a list applies, from its URL. `visible`: the department keys the agent may see
 * (rule 13); a department filter outside them is not applied, so it shows or echoes nothing.
 */
export function filtersOf(
  queue: ListQueue,
  params: URLSearchParams,
  visible: readonly string[],
): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    const value = params.get(name)?.trim();
    if (!value) continue;
    if (name === "closedByMe" && queue !== "closed") continue;
    if (name === "sort" && value === "newest") continue;
    if (name === "department" && !visible.includes(value)) continue;
    out.set(name, value);
  }
  return out;
}

export interface QueueParts {
  tabs: string;
  quick: string;
  list: string;
  /** The version of everything the parts show: unchanged means nothing to send. */
  version: string;
  /** The same as keys, what rule 33's live patches are computed from. */
  state: PatchState;
}

const html = async (element: unknown): Promise<string> => String(await element);

/** Rule 33: the queue states pages were recently drawn or sent with, by version. */
const queueStates = new PatchStates();

/**
 * Reads and renders what one queue view shows this agent (rules 12, 13, 16, 19, 20): the view,
 * its live fragments (tab counts, Quick Accept bar, list), its patch state, and how a live patch
 * draws its pieces (rule 33). The list is the same for every agent with the same visible
 * departments (Unassigned) or for the agent itself (Assigned, Closed), so `share` renders its
 * rows once for all of them; only tabs and the poller are per agent.
 */
async function loadQueueParts(
  deps: AppDeps,
  agent: Agent,
  queue: ListQueue,
  params: URLSearchParams,
  share: Share = unshared,
): Promise<{ view: QueueView; parts: QueueParts; drawing: PatchDrawing }> {
  const { kv, clock } = deps.desk;
  const visibleKeys = await share(`visible|${agent.id}`, () => visibleDepartments(kv, agent));
  const visible = visibleKeys.join(",");
  const filters = filtersOf(queue, params, visibleKeys);
  const listParams = new URLSearchParams(filters);
  listParams.set("queue", queue);
  const cursor = params.get("cursor");
  if (cursor) listParams.set("cursor", cursor);
  const query = parseTicketQuery(listParams);
  const selected = params.get("selected") ?? undefined;
  const scope = queue === "unassigned" ? `departments:${visible}` : `agent:${agent.id}`;
  const listKey = `${scope}|${listParams}|${selected ?? ""}`;
  const now = clock.now();
  const [page, unassigned, assigned, closed, departments, agents] = await Promise.all([
    share(`page|${listKey}`, () => listTickets(kv, agent, query, now)),
    share(`unassigned|${visible}`, () => unassignedCount(kv, agent)),
    assignedCount(kv, agent.id),
    share("closed", () => closedCount(kv)),
    share("departments", () => listDepartments(kv)),
    queue === "closed" ? share("agents", () => listAgents(kv)) : Promise.resolve([] as Agent[]),
  ]);
  const view: QueueView = {
    queue,
    query,
    filters,
    page,
    counts: { unassigned, assigned, closed },
    departments,
    filterDepartments: departments.filter((d) => visibleKeys.includes(d.id)),
    agentNames: new Map(agents.map((a) => [a.id, a.name])),
    me: agent.id,
    now,
    selected,
  };
  const back = queueUrl(queue, filters);
  // The rows, their keys and the list around them: once per list, whoever sees it.
  const list = await share(`rows|${listKey}`, async () => {
    const rows = await Promise.all(
      page.tickets.map((t) => html(<TicketRow view={view} ticket={t} />)),
    );
    return {
      ids: page.tickets.map((t) => t.id),
      keys: page.tickets.map((t) => hash53(rowKey(view, t))),
      html: new Map(page.tickets.map((t, i) => [t.id, rows[i]])),
      body: await html(<QueueListBody view={view} rows={raw(rows.join(""))} />),
    };
  });
  // The Unassigned count is the desk's (rule 32): its live event updates the tab and the Quick
  // Accept count too (static/alerts.js), so patches leave those pieces out (rule 33's bytes).
  const pieces: [string, string][] = [
    ["tab-assigned", String(assigned)],
    ["tab-closed", String(closed)],
    ["pager", page.nextCursor ? "next" : ""],
    ["pager-next", page.nextCursor ?? ""],
  ];
  const within: [string, string][] = [["pager-next", "pager"]];
  if (queue === "unassigned") {
    const sizes = unassigned === 0 ? "none" : quickSizes(unassigned).join(",");
    pieces.push(["quick-bar", `${sizes}|${back}`]);
  }
  const state = queueStates.remember(patchState({
    // What no piece or row covers: the list's address, and whether it has rows at all.
    frame: [listKey, page.tickets.length ? "rows" : "empty", page.truncated ? "cut" : ""].join("|"),
    pieces,
    within,
    rows: list.ids,
    rowKeys: list.keys,
  }));
  const version = state.version;
  const [tabs, quick, poller] = await Promise.all([
    html(<QueueTabs view={view} />),
    queue === "unassigned"
      ? share(
        `quick|${visible}|${back}`,
        () => html(<QuickAcceptBar available={unassigned} back={back} />),
      )
      : "",
    html(<ListPoller view={view} version={version} />),
  ]);
  const byId = new Map(page.tickets.map((t) => [t.id, t]));
  const drawing: PatchDrawing = {
    piece(id) {
      if (id.startsWith("tab-")) {
        return html(<QueueTab view={view} queue={id.slice(4) as ListQueue} oob />);
      }
      switch (id) {
        case "quick-bar":
          return html(<QuickAcceptBar available={unassigned} back={back} oob />);
        case "pager":
          return html(<Pager view={view} oob />);
        default:
          return html(<OlderLink view={view} oob />);
      }
    },
    row: (id) => html(<TicketRow view={view} ticket={byId.get(id)!} oob />),
    insert: (id, after) => html(<RowInsert after={after}>{raw(list.html.get(id)!)}</RowInsert>),
    remove: (id) => String(<RowRemoval id={id} />),
    marker: patchMarker,
  };
  return {
    view,
    parts: { tabs, quick, list: list.body + poller, version, state },
    drawing,
  };
}

/** Failed messages this agent may Retry (rule 29; who may is decided in domain/access.ts). */
async function retryable(deps: AppDeps, agent: Agent, messages: Message[]): Promise<Set<string>> {
  const failed = messages.filter((m) => m.direction === "out" && m.delivery?.status === "failed");
  const access = await Promise.all(
    failed.map((m) => messageAccess(deps.desk, agent, m, m.customerId ?? null)),
  );
  return new Set(failed.filter((_, i) => access[i].retry).map((m) => m.id));
}

/** A ticket's thread as this agent sees it: its messages, their authors, what it may Retry. */
async function ticketThread(
  deps: AppDeps,
  agent: Agent,
  ticket: Ticket,
  share: Share = unshared,
): Promise<ThreadProps> {
  const { kv } = deps.desk;
  const [messages, agents, timeZone] = await Promise.all([
    share(`messages|${ticket.id}`, () => ticketMessages(kv, ticket)),
    share("agents", () => listAgents(kv)),
    share("timeZone", () => businessTimeZone(kv)),
  ]);
  return {
    messages,
    names: new Map(agents.map((a) => [a.id, a.name])),
    me: agent.id,
    retry: { base: `/tickets/${ticket.id}/messages`, ids: await retryable(deps, agent, messages) },
    timeZone,
  };
}

/** The conversation fragment and its version (the hash of the thread without its poller). */
async function renderConversation(queue: ListQueue, ticketId: string, thread: ThreadProps) {
  const version = fnv1a(await html(<TicketConversation {...thread} pollUrl="" />));
  const pollUrl = conversationPollUrl(queue, ticketId, version);
  return {
    html: await html(<TicketConversation {...thread} pollUrl={pollUrl} />),
    version,
    pollUrl,
  };
}

/**
 * The open ticket's conversation (fragment "conversation"), if this agent may still read the
 * ticket (rule 23): live updates reach only agents who can see it.
 */
async function loadConversationPart(
  deps: AppDeps,
  agent: Agent,
  queue: ListQueue,
  id: string,
  share: Share = unshared,
): Promise<{ html: string; version: string; thread: ThreadProps; pollUrl: string } | null> {
  let ticket: Ticket;
  try {
    ticket = await readTicket(deps.desk.kv, agent, id);
  } catch (error) {
    if (error instanceof NotFound) return null;
    throw error;
  }
  const thread = await ticketThread(deps, agent, ticket, share);
  return { ...await renderConversation(queue, ticket.id, thread), thread };
}

/** What a ticket queue page updates live: its lists and counts, and its open conversation. */
function ticketLiveView(queue: ListQueue): LiveView {
  return (params) => {
    const parts: LivePart[] = [{
      on: ["tickets", "chats"],
      render: async ({ deps, agent, share }) => {
        const { parts, drawing } = await loadQueueParts(deps, agent, queue, params, share);
        return {
          parts: { tabs: parts.tabs, quick: parts.quick, list: parts.list },
          version: parts.version,
          state: parts.state,
          // Rule 33: single rows and counts, from the state this page had.
          async patch(from, had) {
            const before = (had as PatchState | undefined)?.version === from
              ? had as PatchState
              : queueStates.get(from);
            const patch = before && await patchHtml(before, parts.state, drawing);
            return patch ? { event: "patch", html: patch } : null;
          },
        };
      },
    }];
    const selected = params.get("selected");
    if (selected) {
      parts.push({
        // Delivery marks change with no ticket change: only this part re-renders for them.
        on: ["tickets", "chats", "delivery"],
        render: async ({ deps, agent, share }) => {
          const part = await loadConversationPart(deps, agent, queue, selected, share);
          return part && { parts: { conversation: part.html }, version: part.version };
        },
      });
      // Rule 35: a note re-renders only the notes.
      parts.push(notesLivePart("ticket", selected));
    }
    return parts;
  };
}

for (const queue of LIST_QUEUES) {
  liveViews.register(queue, ticketLiveView(queue), { fallback: queue === "unassigned" });
}

/** The fragments for an htmx swap: the list in place, tabs and Quick Accept out of band. */
function oobParts(parts: QueueParts, withList: boolean): string {
  return (withList ? `<div id="queue-list" hx-swap-oob="innerHTML">${parts.list}</div>` : "") +
    `<nav id="queue-tabs" hx-swap-oob="innerHTML">${parts.tabs}</nav>` +
    (parts.quick ? `<div id="quick" hx-swap-oob="innerHTML">${parts.quick}</div>` : "");
}

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
    /** The open ticket and its live parts' versions (conversation, notes). */
    selected?: { id: string; versions: string[] },
    /** The open ticket has a reply box (its help, static/compose.js, is loaded). */
    compose = false,
  ) {
    const agent = c.get("agent");
    const params = new URL(c.req.url).searchParams;
    if (selected) params.set("selected", selected.id);
    const [{ view, parts }, nav] = await Promise.all([
      loadQueueParts(deps, agent, queue, params),
      navCounts(deps, agent),
    ]);
    const events = new URLSearchParams(view.filters);
    events.set("view", queue);
    if (view.query.cursor) events.set("cursor", view.query.cursor);
    if (selected) events.set("selected", selected.id);
    // The parts in the live view's order, then the desk's counts (rule 32).
    const versions = selected ? [parts.version, ...selected.versions] : [parts.version];
    events.set("v", pageVersion([...versions, nav.version]));
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
        compose={compose}
      >
        {/* One h1 per page: the list's name, or with a ticket open the customer's (DetailName). */}
        {detail ? null : <h1 class="page-title">{title}</h1>}
        {/* The fragments are rendered once (escaped by their components) and reused as is. */}
        <div class="queue" hx-ext="sse" sse-connect={`/events?${events}`}>
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
      const { parts } = await loadQueueParts(deps, c.get("agent"), queue, params);
      if (params.get("v") === parts.version) return c.body(null, 204);
      return c.html(parts.list + oobParts(parts, false));
    }
    return await queuePage(c, queue, null, takeFlash(c));
  });

  app.get("/:queue/:id", async (c) => {
    const queue = asQueue(c.req.param("queue"));
    if (!queue) throw new NotFound("Page");
    const agent = c.get("agent");
    const id = c.req.param("id");
    if (c.req.query("part") === "conversation") {
      // The conversation's 10 s poll: 204 while unchanged; 286 (htmx stops polling) once the
      // agent may no longer read the ticket.
      const part = await loadConversationPart(deps, agent, queue, id);
      if (!part) return new Response(null, { status: 286 });
      if (c.req.query("v") === part.version) return c.body(null, 204);
      return c.html(part.html);
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
    const [thread, departments, visible] = await Promise.all([
      ticketThread(deps, agent, ticket),
      listDepartments(kv),
      visibleDepartments(kv, agent),
    ]);
    const filters = filtersOf(queue, new URL(c.req.url).searchParams, visible);
    const mine = ticket.status === "assigned" && ticket.assignedTo === agent.id;
    const [reply, aside, { version, pollUrl }] = await Promise.all([
      mine ? replyState(ticket, agent, thread, c.req.query("template"), pane) : null,
      conversationAside(desk, agent, { kind: "ticket", ticket }, thread, pane),
      renderConversation(queue, ticket.id, thread),
    ]);
    const detail = (
      <TicketDetail
        ticket={ticket}
        customerName={aside.name}
        messages={thread.messages}
        pollUrl={pollUrl}
        names={thread.names}
        retry={thread.retry}
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
      { id: ticket.id, versions },
      reply !== null,
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
    const [state, settings, templates, live, canned] = await Promise.all([
      customerState(desk, ticket.customerId),
      getSettings(kv),
      listTemplates(kv),
      listChats(desk, agent, "live"),
      listCannedReplies(desk, agent, { ticketId: ticket.id }),
    ]);
    const hours = settings.timeouts.whatsappWindowHours;
    const lastInbound = state?.customer.lastInboundAt ?? 0;
    const windowOpen = ticket.channel !== "whatsapp" || clock.now() - lastInbound <= hours * HOUR;
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
    };
  }

  /** Answers accept and Quick Accept: htmx gets the flash plus fresh fragments, forms a redirect. */
  async function answer(c: Context<DeskEnv>, back: string, flash: Flash) {
    if (!isHtmx(c)) return redirectWithFlash(c, back, flash);
    const url = new URL(back, c.req.url);
    const queue = asQueue(url.pathname.split("/")[2]) ?? "unassigned";
    const { parts } = await loadQueueParts(deps, c.get("agent"), queue, url.searchParams);
    return c.html(String(await <FlashMessage flash={flash} />) + oobParts(parts, true));
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
        text: `You accepted the ticket from ${t.name || t.from}.`,
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
    if (form.insert) {
      // Rule 34 without JavaScript: the filled canned reply joins the draft; nothing is sent.
      const agent = c.get("agent");
      const ticket = await readTicket(kv, agent, id);
      const canned = typeof form.canned === "string" ? form.canned : "";
      const { draft, error } = await insertCanned(desk, agent, { text: typed, canned }, {
        ticketId: id,
      });
      return await ticketPage(c, ticket, { draft, replyError: error }, error ? 400 : 200);
    }
    const unfilled = template ? null : unfilledRefusal(typed);
    if (unfilled) {
      // Rule 34: a placeholder left in the text is never sent; the draft comes back as typed.
      const ticket = await readTicket(kv, c.get("agent"), id);
      return await ticketPage(c, ticket, { draft: formText(typed), replyError: unfilled }, 422);
    }
    const input = template
      ? {
        template,
        params: Array.isArray(form.params) ? form.params : form.params ? [form.params] : [],
      }
      : { text: typeof form.text === "string" ? form.text : "" };
    try {
      const message = await replyToTicket(desk, c.get("agent"), id, input);
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
    let flash = RETRY_QUEUED;
    try {
      await retryMessage(desk, agent, c.req.param("messageId"));
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 404 || error.status === 401) {
        throw error;
      }
      const settings = await getSettings(kv);
      flash = retryRefusal(error, settings.timeouts.whatsappWindowHours);
    }
    if (!isHtmx(c)) {
      return redirectWithFlash(c, ticketUrl(queue, ticket.id, new URLSearchParams()), flash);
    }
    const part = await loadConversationPart(deps, agent, queue, ticket.id);
    return c.html(
      <>
        <FlashMessage flash={flash} />
        {part ? <ConversationPane {...part.thread} pollUrl={part.pollUrl} oob /> : null}
      </>,
    );
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
