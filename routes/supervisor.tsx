/**
 * Supervisor pages (role supervisor or admin): the dashboard, every queue across agents and
 * departments, reassigning (rule 11, logged in the ticket's history), the archive (rule 10)
 * and transcript downloads.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { getAgent, listAgents } from "../domain/agents.ts";
import { DAY, HOUR } from "../domain/clock.ts";
import { listDepartments } from "../domain/departments.ts";
import { DeskError } from "../domain/errors.ts";
import { getSettings } from "../domain/settings.ts";
import { createdPerHour, deskStats } from "../domain/stats.ts";
import { agentLoads, queueAges } from "../domain/supervision.ts";
import { Temporal } from "../domain/temporal.ts";
import { listTickets, parseTicketQuery } from "../domain/ticket_lists.ts";
import { getTicket, reassignTicket, ticketMessages } from "../domain/tickets.ts";
import { parseTranscriptQuery } from "../domain/transcripts.ts";
import { localDate } from "../domain/business_hours.ts";
import type { Agent } from "../domain/types.ts";
import { Dashboard } from "../views/supervisor_dashboard.tsx";
import {
  Pager,
  QUEUE_NAMES,
  type QueueFilter,
  QueueFilters,
  queueHref,
  QueueTable,
  QueueTabs,
  TicketView,
} from "../views/supervisor_queues.tsx";
import { TranscriptsForm } from "../views/supervisor_transcripts.tsx";
import { customerName } from "../views/customer_panel.tsx";
import { areaApp, formErrors } from "./admin.tsx";
import type { AppDeps, DeskEnv } from "./context.ts";
import { formData, redirectWithFlash, safeNext } from "./page_auth.ts";
import { deskUrl, transcriptResponse } from "./downloads.ts";

export function supervisorPages(deps: AppDeps): Hono<DeskEnv> {
  const { desk } = deps;
  const { kv, clock } = desk;
  const { app, page } = areaApp(deps, "supervisor");

  app.get("/", async (c) => {
    const now = clock.now();
    const { hours } = await getSettings(kv);
    // The chart starts at a local midnight six days ago, so each day's bars line up.
    const start = Temporal.Instant.fromEpochMilliseconds(now).toZonedDateTimeISO(hours.timeZone)
      .startOfDay().subtract({ days: 6 }).epochMilliseconds;
    const hoursShown = Math.min(8 * 24, Math.floor(now / HOUR) - Math.floor(start / HOUR) + 1);
    const [stats, hourly, ages, loads] = await Promise.all([
      deskStats(kv, hours.timeZone, now),
      createdPerHour(kv, now, hoursShown, hours.timeZone),
      queueAges(kv, now),
      agentLoads(kv),
    ]);
    return page(
      c,
      "Dashboard",
      "/supervisor",
      <Dashboard
        stats={stats}
        hourly={hourly}
        ages={ages}
        loads={loads}
        timeZone={hours.timeZone}
        now={now}
      />,
    );
  });

  /** Queues and the archive share one list page; `base` decides which. */
  const listPage = async (
    c: Context<DeskEnv>,
    base: "/supervisor/queues" | "/supervisor/archive",
  ) => {
    const params = new URL(c.req.url).searchParams;
    if (base === "/supervisor/archive") params.set("queue", "archived");
    else if (params.get("queue") === "archived") {
      return c.redirect(`/supervisor/archive?${params}`, 303);
    }
    const query = parseTicketQuery(params);
    const me = c.get("agent");
    const [agents, departments] = await Promise.all([listAgents(kv), listDepartments(kv)]);
    const filter: QueueFilter = {
      queue: query.queue,
      agent: query.agent ?? (query.queue === "assigned" ? "all" : ""),
      department: query.department ?? "",
      channel: query.channel ?? "",
      q: query.q ?? "",
      age: query.age ?? "",
      sort: query.sort ?? "",
    };
    // An agent filter lists a queue as that agent has it: the unassigned tickets it may see,
    // the tickets it holds, the tickets it closed.
    let viewer: Agent = me;
    const chosen = filter.agent && filter.agent !== "all"
      ? agents.find((a) => a.id === filter.agent)
      : undefined;
    if (filter.agent && filter.agent !== "all" && !chosen) filter.agent = "";
    if (chosen && (query.queue === "unassigned" || query.queue === "closed")) viewer = chosen;
    const now = clock.now();
    const result = await listTickets(kv, viewer, {
      ...query,
      agent: query.queue === "assigned" ? (chosen?.id ?? "all") : undefined,
      closedByMe: query.queue === "closed" && !!chosen,
    }, now);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const title = base === "/supervisor/archive" ? "Archive" : "Queues";
    return page(
      c,
      title,
      base,
      <div class="stack">
        {base === "/supervisor/queues"
          ? <QueueTabs filter={filter} counts={{}} />
          : (
            <p class="muted">
              Tickets closed longer ago than the archive setting. They stay readable here and in
              transcript downloads.
            </p>
          )}
        <QueueFilters action={base} filter={filter} agents={agents} departments={departments} />
        <p class="muted small" role="status">
          {result.tickets.length} {QUEUE_NAMES[query.queue].toLowerCase()} ticket
          {result.tickets.length === 1 ? "" : "s"} shown
          {chosen
            ? query.queue === "unassigned"
              ? ` that ${chosen.name} may see`
              : query.queue === "assigned"
              ? ` held by ${chosen.name}`
              : ` closed by ${chosen.name}`
            : ""}.
        </p>
        <QueueTable
          tickets={result.tickets}
          queue={query.queue}
          names={names}
          departments={departments}
          now={now}
        />
        <Pager
          next={result.nextCursor ? queueHref(base, filter, { cursor: result.nextCursor }) : null}
          first={query.cursor ? queueHref(base, filter) : null}
          truncated={result.truncated}
        />
      </div>,
      { wide: true },
    );
  };
  app.get("/queues", (c) => listPage(c, "/supervisor/queues"));
  app.get("/archive", (c) => listPage(c, "/supervisor/archive"));

  app.get("/tickets/:id", async (c) => {
    const ticket = await getTicket(kv, c.req.param("id"));
    const [messages, agents, departments, settings] = await Promise.all([
      ticketMessages(kv, ticket),
      listAgents(kv),
      listDepartments(kv),
      getSettings(kv),
    ]);
    const back = ticket.status === "archived"
      ? "/supervisor/archive"
      : `/supervisor/queues?queue=${ticket.status}${
        ticket.status === "assigned" ? "&agent=all" : ""
      }`;
    return page(
      c,
      `Ticket from ${customerName(ticket)}`,
      ticket.status === "archived" ? "/supervisor/archive" : "/supervisor/queues",
      <TicketView
        ticket={ticket}
        messages={messages}
        names={new Map(agents.map((a) => [a.id, a.name]))}
        agents={agents}
        departments={departments}
        now={clock.now()}
        back={safeNext(c.req.query("back"), back)}
        timeZone={settings.hours.timeZone}
      />,
      { wide: true },
    );
  });

  app.post("/tickets/:id/reassign", async (c) => {
    const id = c.req.param("id");
    const form = await formData(c);
    const raw = form.get("agentId");
    const agentId = typeof raw === "string" && raw.trim() ? raw.trim() : null;
    const to = `/supervisor/tickets/${id}`;
    try {
      const ticket = await reassignTicket(desk, c.get("agent"), id, agentId);
      const target = agentId ? (await getAgent(kv, agentId)).name : "Unassigned";
      return redirectWithFlash(c, to, {
        kind: "ok",
        text: `Ticket from ${customerName(ticket)} is now ${
          agentId ? `with ${target}` : "Unassigned"
        }.`,
      });
    } catch (error) {
      if (!(error instanceof DeskError) || error.status === 401 || error.status === 403) {
        throw error;
      }
      const text = error.status === 404 && agentId
        ? "That agent does not exist or is deactivated."
        : error.message;
      if (error.status === 404 && !agentId) throw error;
      return redirectWithFlash(c, to, { kind: "error", text });
    }
  });

  // Transcripts: the form, and its download (same stream as GET /api/transcripts).
  const transcriptsPage = async (
    c: Context<DeskEnv>,
    draft: { from: string; to: string; format: string } | null,
    errors: Record<string, string>,
    status: 200 | 400 = 200,
  ) => {
    const { hours } = await getSettings(kv);
    const now = clock.now();
    return page(
      c,
      "Transcripts",
      "/supervisor/transcripts",
      <TranscriptsForm
        draft={draft ?? {
          from: localDate(hours.timeZone, now - 6 * DAY),
          to: localDate(hours.timeZone, now),
          format: "csv",
        }}
        errors={errors}
        timeZone={hours.timeZone}
      />,
      { status },
    );
  };
  app.get("/transcripts", (c) => transcriptsPage(c, null, {}));
  app.get("/transcripts/download", async (c) => {
    const draft = {
      from: c.req.query("from") ?? "",
      to: c.req.query("to") ?? "",
      format: c.req.query("format") ?? "csv",
    };
    const { hours } = await getSettings(kv);
    try {
      const { range, format } = parseTranscriptQuery(draft, hours.timeZone);
      return transcriptResponse(kv, range, format, { deskUrl: deskUrl(deps) });
    } catch (error) {
      return transcriptsPage(c, draft, formErrors(error), 400);
    }
  });

  return app;
}
