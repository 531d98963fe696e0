/**
 * The Tickets tab (SPEC rules 12–20, 23): three queues with live counts, accept, Quick Accept,
 * the ticket detail with reply (Start Chat) or WhatsApp template, and close. Every action is a
 * plain form post answered with a redirect; htmx requests get the changed fragments in place.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { listAgents } from "../domain/agents.ts";
import { listChats, replyToTicket } from "../domain/chats.ts";
import { HOUR } from "../domain/clock.ts";
import { listDepartments } from "../domain/departments.ts";
import { Conflict, DeskError, NotFound } from "../domain/errors.ts";
import { customerState } from "../domain/inbound.ts";
import { getSettings } from "../domain/settings.ts";
import { listTemplates } from "../domain/templates.ts";
import { listTickets, parseTicketQuery } from "../domain/ticket_lists.ts";
import {
  acceptTicket,
  assignedCount,
  closeTicket,
  QUICK_ACCEPT_MAX,
  quickAccept,
  readTicket,
  ticketMessages,
  unassignedCount,
} from "../domain/tickets.ts";
import type { Agent, Ticket } from "../domain/types.ts";
import type { Flash } from "../views/components.tsx";
import { FlashMessage } from "../views/components.tsx";
import { Layout } from "../views/layout.tsx";
import {
  Filters,
  LIST_QUEUES,
  type ListQueue,
  NoSelection,
  QueueList,
  QueueTabs,
  queueUrl,
  type QueueView,
  QuickAcceptBar,
  type ReplyState,
  TicketDetail,
  ticketUrl,
} from "../views/tickets.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import {
  formAll,
  formOf,
  isHtmx,
  pageAuth,
  redirectWithFlash,
  safeNext,
  takeFlash,
} from "./page_auth.ts";
import { fnv1a } from "./static.ts";

/** Filter parameters a list keeps in its URL (the cursor and internal ones are not filters). */
const FILTER_NAMES = ["q", "channel", "department", "age", "sort", "closedByMe", "limit"] as const;

export function filtersOf(queue: ListQueue, params: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    const value = params.get(name)?.trim();
    if (!value) continue;
    if (name === "closedByMe" && queue !== "closed") continue;
    if (name === "sort" && value === "newest") continue;
    out.set(name, value);
  }
  return out;
}

/** Reads what one queue view shows for this agent (rules 12, 13, 16, 19, 20). */
export async function loadQueueView(
  deps: AppDeps,
  agent: Agent,
  queue: ListQueue,
  params: URLSearchParams,
): Promise<QueueView> {
  const { kv, clock } = deps.desk;
  const filters = filtersOf(queue, params);
  const listParams = new URLSearchParams(filters);
  listParams.set("queue", queue);
  const cursor = params.get("cursor");
  if (cursor) listParams.set("cursor", cursor);
  const query = parseTicketQuery(listParams);
  const now = clock.now();
  const [page, unassigned, assigned, departments, agents] = await Promise.all([
    listTickets(kv, agent, query, now),
    unassignedCount(kv, agent),
    assignedCount(kv, agent.id),
    listDepartments(kv),
    queue === "closed" ? listAgents(kv) : Promise.resolve([] as Agent[]),
  ]);
  return {
    queue,
    query,
    filters,
    page,
    counts: { unassigned, assigned },
    departments,
    agentNames: new Map(agents.map((a) => [a.id, a.name])),
    me: agent.id,
    now,
    selected: params.get("selected") ?? undefined,
  };
}

export interface QueueParts {
  tabs: string;
  quick: string;
  list: string;
  /** Hash of everything the parts show: unchanged means nothing to send. */
  version: string;
}

const html = async (element: unknown): Promise<string> => String(await element);

/** Renders the live fragments of a queue view: tab counts, Quick Accept bar, list. */
export async function renderQueueParts(view: QueueView): Promise<QueueParts> {
  const back = queueUrl(view.queue, view.filters);
  const tabs = await html(<QueueTabs view={view} />);
  const quick = view.queue === "unassigned"
    ? await html(<QuickAcceptBar available={view.counts.unassigned} back={back} />)
    : "";
  // The version covers the list without its poller (which carries the version itself).
  const listBody = await html(<QueueList view={view} version="" />);
  const version = fnv1a(tabs + quick + listBody);
  const list = await html(<QueueList view={view} version={version} />);
  return { tabs, quick, list, version };
}

/** The fragments for an htmx swap: the list in place, tabs and Quick Accept out of band. */
function oobParts(parts: QueueParts, withList: boolean): string {
  return (withList ? `<div id="queue-list" hx-swap-oob="innerHTML">${parts.list}</div>` : "") +
    `<nav id="queue-tabs" hx-swap-oob="innerHTML">${parts.tabs}</nav>` +
    (parts.quick ? `<div id="quick" hx-swap-oob="innerHTML">${parts.quick}</div>` : "");
}

const asQueue = (value: string | undefined): ListQueue | null =>
  LIST_QUEUES.includes(value as ListQueue) ? value as ListQueue : null;

/** The queue a ticket in this state is listed in. */
const queueOf = (t: Ticket): ListQueue =>
  t.status === "unassigned" ? "unassigned" : t.status === "assigned" ? "assigned" : "closed";

export function ticketPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const { kv, clock } = desk;
  const app = new Hono<DeskEnv>();
  app.use("*", pageAuth(deps));

  const pendingChats = async (agent: Agent) => (await listChats(desk, agent, "pending")).length;

  async function queuePage(
    c: Context<DeskEnv>,
    queue: ListQueue,
    detail: unknown,
    flash: Flash | null,
    selected?: string,
  ) {
    const agent = c.get("agent");
    const params = new URL(c.req.url).searchParams;
    if (selected) params.set("selected", selected);
    const view = await loadQueueView(deps, agent, queue, params);
    const parts = await renderQueueParts(view);
    const events = new URLSearchParams(view.filters);
    events.set("view", queue);
    if (view.query.cursor) events.set("cursor", view.query.cursor);
    if (selected) events.set("selected", selected);
    events.set("v", parts.version);
    const split = queue !== "unassigned" || detail;
    return c.html(
      <Layout
        title={`${queue[0].toUpperCase()}${queue.slice(1)} tickets`}
        agent={agent}
        active="tickets"
        flash={flash}
        wide={!!split}
        pendingChats={await pendingChats(agent)}
      >
        <div class="queue" hx-ext="sse" sse-connect={`/events?${events}`}>
          <nav
            id="queue-tabs"
            class="tabs"
            sse-swap="tabs"
            aria-label="Ticket queues"
          >
            <QueueTabs view={view} />
          </nav>
          {queue === "unassigned"
            ? (
              <div id="quick" sse-swap="quick">
                <QuickAcceptBar
                  available={view.counts.unassigned}
                  back={queueUrl(queue, view.filters)}
                />
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
                <QueueList view={view} version={parts.version} />
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
      const view = await loadQueueView(deps, c.get("agent"), queue, params);
      const parts = await renderQueueParts(view);
      if (params.get("v") === parts.version) return c.body(null, 204);
      return c.html(parts.list + oobParts(parts, false));
    }
    return await queuePage(c, queue, null, takeFlash(c));
  });

  app.get("/:queue/:id", async (c) => {
    const queue = asQueue(c.req.param("queue"));
    if (!queue) throw new NotFound("Page");
    const agent = c.get("agent");
    const ticket = await readTicket(kv, agent, c.req.param("id"));
    const filters = filtersOf(queue, new URL(c.req.url).searchParams);
    if (queueOf(ticket) !== queue) {
      return c.redirect(ticketUrl(queueOf(ticket), ticket.id, new URLSearchParams()), 303);
    }
    const [messages, agents, departments] = await Promise.all([
      ticketMessages(kv, ticket),
      listAgents(kv),
      listDepartments(kv),
    ]);
    const mine = ticket.status === "assigned" && ticket.assignedTo === agent.id;
    const reply = mine ? await replyState(ticket, agent, c.req.query("template")) : null;
    const detail = (
      <TicketDetail
        ticket={ticket}
        messages={messages}
        names={new Map(agents.map((a) => [a.id, a.name]))}
        department={departments.find((d) => d.id === ticket.department)?.name ?? null}
        now={clock.now()}
        me={agent.id}
        back={queueUrl(queue, filters)}
        reply={reply}
        canAccept={ticket.status === "unassigned"}
      />
    );
    return await queuePage(c, queue, detail, takeFlash(c), ticket.id);
  });

  /** Rule 18: whether free text may go out, and the templates when it may not. */
  async function replyState(
    ticket: Ticket,
    agent: Agent,
    templateId?: string,
  ): Promise<ReplyState> {
    const [state, settings, templates, live] = await Promise.all([
      customerState(desk, ticket.customerId),
      getSettings(kv),
      listTemplates(kv),
      listChats(desk, agent, "live"),
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
    };
  }

  /** Answers accept and Quick Accept: htmx gets the flash plus fresh fragments, forms a redirect. */
  async function answer(c: Context<DeskEnv>, back: string, flash: Flash) {
    if (!isHtmx(c)) return redirectWithFlash(c, back, flash);
    const url = new URL(back, c.req.url);
    const queue = asQueue(url.pathname.split("/")[2]) ?? "unassigned";
    const view = await loadQueueView(deps, c.get("agent"), queue, url.searchParams);
    const parts = await renderQueueParts(view);
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
    const flash: Flash = accepted.length === 0
      ? { kind: "info", text: "No tickets were left to accept." }
      : {
        kind: "ok",
        text: accepted.length < count
          ? `Accepted ${accepted.length} of ${count}: no more were available.`
          : `Accepted the ${accepted.length} oldest ticket${accepted.length === 1 ? "" : "s"}.`,
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
    const input = template
      ? {
        template,
        params: Array.isArray(form.params) ? form.params : form.params ? [form.params] : [],
      }
      : { text: typeof form.text === "string" ? form.text : "" };
    try {
      const message = await replyToTicket(desk, c.get("agent"), id, input);
      return redirectWithFlash(c, here, {
        kind: "ok",
        text: "Sent. A live chat with the customer is open.",
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
