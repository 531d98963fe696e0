/** Supervisor › Queues and Archive (every queue, any agent or department) and the ticket view. */
import type { Queue } from "../domain/ticket_lists.ts";
import { formatAge } from "../domain/supervision.ts";
import type { Agent, Department, Message, Ticket, TicketEvent } from "../domain/types.ts";
import { Card } from "./admin_shell.tsx";
import {
  AgeFilter,
  ChannelBadge,
  ChannelFilter,
  DepartmentFilter,
  Empty,
  FilterSelect,
  SearchFilter,
  SortFilter,
  stamp,
  TimeAgo,
} from "./components.tsx";
import { addressOf, customerName, hasName } from "./customer_panel.tsx";
import { LocalTime } from "./local_time.tsx";
import { captionOf, MessageMedia } from "./media.tsx";

export const QUEUE_NAMES: Record<Queue, string> = {
  unassigned: "Unassigned",
  assigned: "Assigned",
  closed: "Closed",
  archived: "Archived",
};

export interface QueueFilter {
  queue: Queue;
  agent: string;
  department: string;
  channel: string;
  q: string;
  age: string;
  sort: string;
}

/** The list's URL with some filters changed (the cursor is dropped unless given). */
export function queueHref(base: string, f: QueueFilter, change: Partial<QueueFilter> & {
  cursor?: string;
} = {}): string {
  const all = { ...f, ...change };
  const params = new URLSearchParams();
  if (base !== "/supervisor/archive") params.set("queue", all.queue);
  for (const key of ["agent", "department", "channel", "q", "age", "sort", "cursor"] as const) {
    const v = all[key];
    if (v) params.set(key, v);
  }
  return `${base}?${params}`;
}

export function QueueTabs(
  { filter, counts }: { filter: QueueFilter; counts: Partial<Record<Queue, number>> },
) {
  const queues: Queue[] = ["unassigned", "assigned", "closed"];
  return (
    <nav class="tabs sub-tabs" aria-label="Queue">
      {queues.map((q) => (
        <a
          class="tab"
          href={queueHref("/supervisor/queues", filter, {
            queue: q,
            agent: q === "assigned" && !filter.agent ? "all" : filter.agent,
          })}
          aria-current={filter.queue === q ? "page" : undefined}
        >
          {QUEUE_NAMES[q]}
          {counts[q] !== undefined ? <span class="count">{counts[q]}</span> : null}
        </a>
      ))}
    </nav>
  );
}

export function QueueFilters(props: {
  action: string;
  filter: QueueFilter;
  agents: Agent[];
  departments: Department[];
}) {
  const { filter } = props;
  const agentHint: Record<Queue, string> = {
    unassigned: "Tickets this agent may see",
    assigned: "Assigned to",
    closed: "Closed by",
    archived: "",
  };
  return (
    <form method="get" action={props.action} class="filters supervisor-filters">
      {props.action === "/supervisor/queues"
        ? <input type="hidden" name="queue" value={filter.queue} />
        : null}
      <SearchFilter
        label="Search"
        placeholder="Search name, number, text or id"
        value={filter.q}
        maxlength={200}
      />
      {filter.queue !== "archived"
        ? (
          <FilterSelect
            id="f-agent"
            name="agent"
            label={agentHint[filter.queue]}
            title={agentHint[filter.queue]}
            value={filter.agent}
            any={filter.queue === "assigned" ? ["all", "All agents"] : ["", "Any agent"]}
            options={props.agents.map((
              a,
            ) => [a.id, `${a.name}${a.active ? "" : " (deactivated)"}`])}
          />
        )
        : null}
      <DepartmentFilter
        id="f-department"
        value={filter.department}
        departments={props.departments}
      />
      <ChannelFilter value={filter.channel} />
      <AgeFilter value={filter.age} />
      <SortFilter value={filter.sort} newest="Newest first" class="actions">
        <button type="submit" class="btn">Apply</button>
      </SortFilter>
    </form>
  );
}

export function QueueTable(props: {
  tickets: Ticket[];
  queue: Queue;
  names: Map<string, string>;
  departments: Department[];
  now: number;
}) {
  const { tickets, queue, names, now } = props;
  if (!tickets.length) {
    return (
      <Empty title={`No ${QUEUE_NAMES[queue].toLowerCase()} tickets`}>
        <p>Nothing matches these filters.</p>
      </Empty>
    );
  }
  const department = (id: string | null) =>
    id ? props.departments.find((d) => d.id === id)?.name ?? "—" : "—";
  return (
    <div class="card table-wrap">
      <table class="table queue-table">
        <thead>
          <tr>
            <th scope="col">Customer</th>
            <th scope="col">Channel</th>
            <th scope="col">Department</th>
            <th scope="col">
              {queue === "assigned"
                ? "Assigned to"
                : queue === "unassigned"
                ? "Waiting"
                : "Closed by"}
            </th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {tickets.map((t) => (
            <tr>
              <td>
                <a href={`/supervisor/tickets/${t.id}`} class="strong">{customerName(t)}</a>
                {hasName(t) ? <div class="muted small">{addressOf(t)}</div> : null}
                <div class="muted small clip">{t.preview}</div>
              </td>
              <td>
                <ChannelBadge channel={t.channel} />
              </td>
              <td>{department(t.department)}</td>
              <td>
                {queue === "assigned"
                  ? (
                    <>
                      {names.get(t.assignedTo ?? "") ?? "—"}
                      {t.assignedAt
                        ? <div class="muted small">for {formatAge(now - t.assignedAt)}</div>
                        : null}
                    </>
                  )
                  : queue === "unassigned"
                  ? formatAge(now - t.createdAt)
                  : (
                    <>
                      {t.closedBy ? names.get(t.closedBy) ?? "—" : closeReason(t)}
                      {t.closedAt ? <div class="muted small">{stamp(t.closedAt)}</div> : null}
                    </>
                  )}
              </td>
              <td>
                <TimeAgo at={t.createdAt} now={now} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const closeReason = (t: Ticket) =>
  t.closeReason === "live_chat" ? "Live chat started" : t.closeReason === "admin" ? "Admin" : "—";

export function Pager(
  { next, first, truncated }: { next: string | null; first: string | null; truncated: boolean },
) {
  if (!next && !first) return null;
  return (
    <div class="pager">
      {first ? <a class="btn btn-sm" href={first}>← Back to start</a> : <span></span>}
      {truncated
        ? <span class="note">Searched 2,000 tickets without filling the page.</span>
        : null}
      {next ? <a class="btn btn-sm" href={next}>More →</a> : null}
    </div>
  );
}

function eventText(e: TicketEvent, name: (id: string | null | undefined) => string): string {
  switch (e.action) {
    case "created":
      return "Created";
    case "merged":
      return "Another conversation was merged in";
    case "accepted":
      return `Accepted by ${name(e.by)}`;
    case "reassigned":
      return `Reassigned by ${name(e.by)} from ${e.from ? name(e.from) : "Unassigned"} to ${
        e.to ? name(e.to) : "Unassigned"
      }`;
    case "replied":
      return `${name(e.by)} replied`;
    case "closed":
      return e.to === "live_chat"
        ? "Closed: the customer started a live chat"
        : `Closed by ${name(e.by)}`;
    case "archived":
      return "Archived";
  }
}

/** A ticket's events; with `timeZone`, times are in the business zone (the page labels it). */
export function TicketHistory(
  { history, names, timeZone }: {
    history: TicketEvent[];
    names: Map<string, string>;
    timeZone?: string;
  },
) {
  const name = (id: string | null | undefined) => id ? names.get(id) ?? "a removed agent" : "—";
  const time = (at: number) =>
    timeZone
      ? <LocalTime at={at} timeZone={timeZone} />
      : <time datetime={new Date(at).toISOString()}>{stamp(at)}</time>;
  return (
    <ol class="history">
      {history.map((e) => (
        <li class={e.action === "reassigned" ? "history-reassigned" : undefined}>
          <span>{eventText(e, name)}</span> <span class="muted small">{time(e.at)}</span>
        </li>
      ))}
    </ol>
  );
}

export function ReassignForm(
  { ticket, agents }: { ticket: Ticket; agents: Agent[] },
) {
  const choices = agents.filter((a) => a.active && a.id !== ticket.assignedTo);
  // No `key`: hono/jsx would print it as an HTML attribute, and these lists render once.
  // deno-lint-ignore jsx-key
  const options = choices.map((a) => <option value={a.id}>{a.name} ({a.role})</option>);
  return (
    <form method="post" action={`/supervisor/tickets/${ticket.id}/reassign`} class="stack">
      <div class="field">
        <label for="reassign-to">
          {ticket.status === "assigned" ? "Reassign to" : "Assign to"}
        </label>
        <select id="reassign-to" name="agentId" required>
          {ticket.status === "assigned"
            ? <option value="">Unassigned (back to the queue)</option>
            : null}
          {options}
        </select>
      </div>
      <div class="form-actions">
        <button type="submit" class="btn btn-primary">
          {ticket.status === "assigned" ? "Reassign" : "Assign"}
        </button>
      </div>
      <p class="hint">Recorded in the ticket's history with your name and the time.</p>
    </form>
  );
}

export function TicketView(props: {
  ticket: Ticket;
  messages: Message[];
  names: Map<string, string>;
  agents: Agent[];
  departments: Department[];
  now: number;
  back: string;
  /** The business time zone: every time on the page is shown in it, and labelled once. */
  timeZone: string;
}) {
  const { ticket: t, names, timeZone } = props;
  const when = (at: number) => <LocalTime at={at} timeZone={timeZone} />;
  const name = (id: string | null) => id ? names.get(id) ?? "a removed agent" : "—";
  const department = t.department
    ? props.departments.find((d) => d.id === t.department)?.name ?? "—"
    : "None";
  const open = t.status === "unassigned" || t.status === "assigned";
  return (
    <div class="ticket-layout">
      <Card
        id="conv-h"
        title="Conversation"
        aside={<span class="muted small">{props.messages.length} messages</span>}
        class="card conversation-card"
      >
        {props.messages.length
          ? (
            <div class="conversation">
              {props.messages.map((m) => {
                const system = m.author === "system";
                return (
                  <div
                    class={`msg ${m.direction === "in" ? "msg-in" : "msg-out"}${
                      system ? " msg-system" : ""
                    }`}
                  >
                    {captionOf(m)}
                    <MessageMedia message={m} />
                    <span class="msg-meta">
                      {m.author === "customer"
                        ? customerName(t)
                        : system
                        ? "Auto-reply"
                        : name(m.author)}
                      {m.template ? ` · template ${m.template}` : ""} · {when(m.at)}
                    </span>
                  </div>
                );
              })}
            </div>
          )
          : <Empty title="No messages" />}
      </Card>
      <div class="stack">
        <Card
          id="facts-h"
          title="Ticket"
          aside={<span class={`badge ${open ? "badge-ok" : "badge-muted"}`}>{t.status}</span>}
        >
          <div class="card-body">
            <dl class="facts">
              {hasName(t)
                ? (
                  <>
                    <dt>Customer</dt>
                    <dd>{customerName(t)}</dd>
                  </>
                )
                : null}
              <dt>From</dt>
              <dd>
                {addressOf(t)} <ChannelBadge channel={t.channel} />
              </dd>
              <dt>Department</dt>
              <dd>{department}</dd>
              <dt>Created</dt>
              <dd>{when(t.createdAt)}</dd>
              <dt>Last message</dt>
              <dd>
                <TimeAgo at={t.lastMessageAt} now={props.now} />
              </dd>
              {t.assignedTo
                ? (
                  <>
                    <dt>Assigned to</dt>
                    <dd>{name(t.assignedTo)}</dd>
                  </>
                )
                : null}
              {t.closedAt
                ? (
                  <>
                    <dt>Closed</dt>
                    <dd>
                      {when(t.closedAt)} · {t.closedBy ? name(t.closedBy) : closeReason(t)}
                    </dd>
                  </>
                )
                : null}
              {t.archivedAt
                ? (
                  <>
                    <dt>Archived</dt>
                    <dd>{when(t.archivedAt)}</dd>
                  </>
                )
                : null}
              <dt>Times</dt>
              <dd class="small">in {timeZone}</dd>
              <dt>Id</dt>
              <dd class="small">{t.id}</dd>
            </dl>
          </div>
        </Card>
        {open
          ? (
            <Card id="reassign-h" title={t.status === "assigned" ? "Reassign" : "Assign"}>
              <div class="card-body">
                <ReassignForm ticket={t} agents={props.agents} />
              </div>
            </Card>
          )
          : null}
        <Card id="history-h" title="History">
          <div class="card-body">
            <TicketHistory history={t.history} names={names} timeZone={timeZone} />
          </div>
        </Card>
        <a href={props.back} class="small">← Back to the list</a>
      </div>
    </div>
  );
}
