/**
 * The Tickets tab: queue tabs with counts, the Quick Accept bar, filters, the queue list and its
 * rows, and the ticket detail (conversation, reply box or WhatsApp template picker, Close).
 * Each fragment is one component used in its page and sent on its own to htmx (SSE or polling).
 */
import type { Child } from "hono/jsx";
import { parameterCount } from "../domain/templates.ts";
import type { TicketPage, TicketQuery } from "../domain/ticket_lists.ts";
import type { Department, Message, Template, Ticket } from "../domain/types.ts";
import {
  AgeFilter,
  ChannelBadge,
  ChannelFilter,
  DepartmentFilter,
  Empty,
  SearchFilter,
  SortFilter,
  stamp,
  TimeAgo,
} from "./components.tsx";
import { DeliveryMark, type QueuePlace, queuePlaces, RetryForm } from "./delivery.tsx";

export type ListQueue = "unassigned" | "assigned" | "closed";
export const LIST_QUEUES: readonly ListQueue[] = ["unassigned", "assigned", "closed"];
export const QUICK_SIZES = [3, 5, 10] as const;

/** Everything a queue page and its live fragments are drawn from. */
export interface QueueView {
  queue: ListQueue;
  query: TicketQuery;
  /** The list's filters as a query string (no cursor): kept in links and forms. */
  filters: URLSearchParams;
  page: TicketPage;
  counts: Record<ListQueue, number>;
  departments: Department[];
  /** Agent id → name, for "closed by". */
  agentNames: Map<string, string>;
  me: string;
  now: number;
  selected?: string;
}

export function queueUrl(
  queue: ListQueue,
  filters: URLSearchParams,
  extra: Record<string, string> = {},
) {
  const params = new URLSearchParams(filters);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const qs = params.toString();
  return `/tickets/${queue}${qs ? `?${qs}` : ""}`;
}

export function ticketUrl(queue: ListQueue, id: string, filters: URLSearchParams) {
  const qs = filters.toString();
  return `/tickets/${queue}/${id}${qs ? `?${qs}` : ""}`;
}

const QUEUE_NAMES: Record<ListQueue, string> = {
  unassigned: "Unassigned",
  assigned: "Assigned",
  closed: "Closed",
};

/** The three queue tabs, each with its live count. (fragment "tabs") */
export function QueueTabs({ view }: { view: QueueView }) {
  return (
    <>
      {LIST_QUEUES.map((q) => (
        <a
          class="tab"
          href={`/tickets/${q}`}
          aria-current={view.queue === q ? "page" : undefined}
          data-queue={q}
          data-count={view.counts[q]}
        >
          {QUEUE_NAMES[q]}
          <span class="count">{view.counts[q]}</span>
        </a>
      ))}
    </>
  );
}

/**
 * Rule 15: Quick Accept takes the N oldest tickets the agent may see, whatever the filters; a
 * size is offered only when that many are available. (fragment "quick")
 */
export function QuickAcceptBar({ available, back }: { available: number; back: string }) {
  if (available === 0) {
    return (
      <div class="quick">
        <span class="quick-label">Quick Accept</span>
        <span class="muted small">No tickets are waiting.</span>
      </div>
    );
  }
  const max = Math.min(available, 100);
  const form = (children: Child, extra?: string) => (
    <form
      method="post"
      action="/tickets/quick-accept"
      hx-post="/tickets/quick-accept"
      hx-target="#flash"
      class={extra}
    >
      <input type="hidden" name="next" value={back} />
      {children}
    </form>
  );
  return (
    <div class="quick" aria-label="Quick Accept">
      <span class="quick-label">Quick Accept</span>
      {QUICK_SIZES.filter((n) => available >= n).map((n) =>
        form(
          <>
            <input type="hidden" name="count" value={String(n)} />
            <button
              type="submit"
              class="btn btn-sm"
              data-quick={String(n)}
              title={`Accept the ${n} oldest tickets`}
            >
              {n}
            </button>
          </>,
        )
      )}
      {form(
        <>
          <label class="sr-only" for="quick-count">Number of tickets to accept</label>
          <input
            id="quick-count"
            type="number"
            name="count"
            min="1"
            max={String(max)}
            value={String(Math.min(available, 1))}
            required
          />
          <button type="submit" class="btn btn-sm btn-primary">Accept oldest</button>
        </>,
        "quick-custom",
      )}
      <span class="muted small">{available} available</span>
    </div>
  );
}

/** Search, filters and sort as a GET form, so the view lives in the URL. */
export function Filters({ view }: { view: QueueView }) {
  const q = view.query;
  return (
    <form method="get" action={`/tickets/${view.queue}`} class="filters" role="search">
      <SearchFilter
        label="Search customer or text"
        placeholder="Search customer or text"
        value={q.q ?? ""}
      />
      <ChannelFilter value={q.channel} />
      <DepartmentFilter id="f-dept" value={q.department} departments={view.departments} />
      <AgeFilter value={q.age} />
      <SortFilter
        value={q.sort}
        newest={view.queue === "closed" ? "Newest closed first" : "Newest first"}
      />
      <div class="actions">
        {view.queue === "closed"
          ? (
            <label class="check">
              <input type="checkbox" name="closedByMe" value="1" checked={!!q.closedByMe} />
              Closed by me
            </label>
          )
          : null}
        <button type="submit" class="btn btn-sm">Apply</button>
        {view.filters.toString()
          ? <a class="btn btn-sm btn-ghost" href={`/tickets/${view.queue}`}>Clear</a>
          : null}
      </div>
    </form>
  );
}

function departmentName(view: QueueView, id: string | null): string | null {
  if (!id) return null;
  return view.departments.find((d) => d.id === id)?.name ?? null;
}

export function TicketRow({ view, ticket }: { view: QueueView; ticket: Ticket }) {
  const dept = departmentName(view, ticket.department);
  const selected = view.selected === ticket.id;
  const back = queueUrl(view.queue, view.filters);
  const when = view.queue === "closed"
    ? ticket.closedAt ?? ticket.lastMessageAt
    : view.queue === "assigned"
    ? ticket.lastMessageAt
    : ticket.createdAt;
  return (
    <li
      class="row"
      id={`t-${ticket.id}`}
      data-ticket={ticket.id}
      aria-current={selected ? "true" : undefined}
    >
      <div class="row-main">
        <div class="row-title">
          <a href={ticketUrl(view.queue, ticket.id, view.filters)}>{ticket.name || ticket.from}</a>
          {ticket.name ? <span class="row-from">{ticket.from}</span> : null}
        </div>
        <div class="row-preview">{ticket.preview || "(no text)"}</div>
      </div>
      <div class="row-meta">
        <ChannelBadge channel={ticket.channel} />
        {dept ? <span class="badge badge-muted">{dept}</span> : null}
        <TimeAgo at={when} now={view.now} />
        {view.queue === "closed"
          ? <span>{ticket.closedBy === view.me ? "Closed by me" : closedByText(view, ticket)}</span>
          : null}
      </div>
      {view.queue === "unassigned"
        ? (
          <div class="row-actions">
            <form
              method="post"
              action={`/tickets/${ticket.id}/accept`}
              hx-post={`/tickets/${ticket.id}/accept`}
              hx-target="#flash"
            >
              <input type="hidden" name="next" value={back} />
              <button
                type="submit"
                class="btn btn-primary btn-sm"
                aria-label={`Accept ticket from ${ticket.name || ticket.from}`}
              >
                Accept
              </button>
            </form>
          </div>
        )
        : null}
    </li>
  );
}

function closedByText(view: QueueView, t: Ticket): string {
  if (t.closeReason === "live_chat") return "Closed by live chat";
  if (!t.closedBy) return "Closed";
  return `Closed by ${view.agentNames.get(t.closedBy) ?? "an agent"}`;
}

const EMPTY_TEXT: Record<ListQueue, [string, string]> = {
  unassigned: ["No unassigned tickets", "New tickets appear here as customers leave messages."],
  assigned: ["No tickets assigned to you", "Accept a ticket from Unassigned to work on it."],
  closed: ["No closed tickets", "Tickets you and your team close are listed here."],
};

/**
 * The list and pager (fragment "list", followed by its ListPoller): the same for every agent
 * who sees the same tickets.
 */
export function QueueListBody({ view }: { view: QueueView }) {
  const { page } = view;
  const filtered = view.filters.toString() !== "";
  const [emptyTitle, emptyText] = filtered
    ? ["Nothing matches", "Try other filters or clear the search."]
    : EMPTY_TEXT[view.queue];
  return (
    <>
      {page.tickets.length
        ? (
          <ul
            class={view.queue === "unassigned" ? "rows rows-accept" : "rows"}
            aria-label={`${QUEUE_NAMES[view.queue]} tickets`}
          >
            {page.tickets.map((t) => <TicketRow key={t.id} view={view} ticket={t} />)}
          </ul>
        )
        : (
          <div class="rows">
            <Empty title={emptyTitle}>
              <p>{emptyText}</p>
            </Empty>
          </div>
        )}
      {page.truncated
        ? <p class="note">The search stopped early to stay fast: narrow it down or page on.</p>
        : null}
      {page.nextCursor || view.query.cursor
        ? (
          <nav class="pager" aria-label="Pages">
            {view.query.cursor
              ? <a class="btn btn-sm" href={queueUrl(view.queue, view.filters)}>← Newest</a>
              : <span></span>}
            {page.nextCursor
              ? (
                <a
                  class="btn btn-sm"
                  rel="next"
                  href={queueUrl(view.queue, view.filters, { cursor: page.nextCursor })}
                >
                  {view.query.sort === "oldest" ? "Newer →" : "Older →"}
                </a>
              )
              : null}
          </nav>
        )
        : null}
    </>
  );
}

/**
 * The list's 10 s poll, the fallback when SSE is down. `version` is the hash of what the page
 * shows; an unchanged one gets 204.
 */
export function ListPoller({ view, version }: { view: QueueView; version: string }) {
  return (
    <div
      hx-get={pollUrl(view, version)}
      hx-trigger="every 10s"
      hx-target="#queue-list"
      hx-swap="innerHTML"
    >
    </div>
  );
}

function pollUrl(view: QueueView, version: string) {
  const params = new URLSearchParams(view.filters);
  if (view.query.cursor) params.set("cursor", view.query.cursor);
  if (view.selected) params.set("selected", view.selected);
  params.set("part", "list");
  params.set("v", version);
  return `/tickets/${view.queue}?${params}`;
}

/** Failed messages this agent may Retry (rule 29), and where their forms post. */
export interface RetryActions {
  /** `${base}/${messageId}/retry` */
  base: string;
  ids: ReadonlySet<string>;
}

/**
 * One message bubble with, when it is outbound and has a delivery, its mark (rule 29) and maybe a
 * Retry form; customer text is escaped by JSX like all text.
 */
export function MessageBubble(
  { message, names, agentId, place, retry }: {
    message: Message;
    names: Map<string, string>;
    agentId?: string;
    place?: QueuePlace;
    retry?: RetryActions;
  },
) {
  const system = message.author === "system";
  const cls = system ? "msg msg-system" : message.direction === "in" ? "msg msg-in" : "msg msg-out";
  const who = message.direction === "in"
    ? "Customer"
    : system
    ? "Auto-reply"
    : message.author === agentId
    ? "You"
    : names.get(message.author) ?? "Agent";
  const delivery = message.direction === "out" ? message.delivery : undefined;
  const markId = `mark-${message.id}`;
  return (
    <div
      class={cls}
      data-direction={message.direction}
      data-message={message.id}
      data-delivery={delivery?.status}
    >
      {message.text}
      <span class="msg-meta">
        {who}
        {message.template ? ` · template ${message.template}` : ""} ·{" "}
        <time datetime={new Date(message.at).toISOString()}>{stamp(message.at)}</time>
        {delivery ? <DeliveryMark delivery={delivery} place={place} id={markId} /> : null}
      </span>
      {delivery?.status === "failed" && retry?.ids.has(message.id)
        ? <RetryForm action={`${retry.base}/${message.id}/retry`} describedBy={markId} />
        : null}
    </div>
  );
}

/**
 * A thread of message bubbles and, given `poll`, its poller: new messages arrive through SSE or
 * this poll when the stream is down (204: no change). Used by tickets and chats.
 */
export interface ThreadProps {
  messages: Message[];
  names: Map<string, string>;
  me: string;
  retry?: RetryActions;
}

export function MessageThread(
  { messages, names, me, retry, empty, poll }: ThreadProps & {
    empty: string;
    poll: { url: string; every: string; target: string } | null;
  },
) {
  const places = queuePlaces(messages);
  return (
    <>
      {messages.length
        ? messages.map((m) => (
          <MessageBubble
            key={m.id}
            message={m}
            names={names}
            agentId={me}
            place={places.get(m.id)}
            retry={retry}
          />
        ))
        : <p class="muted">{empty}</p>}
      {poll
        ? (
          <div
            hx-get={poll.url}
            hx-trigger={`every ${poll.every}`}
            hx-target={poll.target}
            hx-swap="innerHTML"
          >
          </div>
        )
        : null}
    </>
  );
}

/** A ticket's messages with their 10 s poller (fragment "conversation"). */
export function TicketConversation(
  { pollUrl, ...thread }: ThreadProps & {
    /** Empty: no poller (the hash of the messages alone is taken without it). */
    pollUrl: string;
  },
) {
  return (
    <MessageThread
      {...thread}
      empty="No messages."
      poll={pollUrl ? { url: pollUrl, every: "10s", target: "#conversation" } : null}
    />
  );
}

/**
 * The conversation's container (SSE fragment "conversation"); `oob` for an htmx answer that
 * refreshes it out of band (a Retry).
 */
export function ConversationPane(
  { oob, ...props }: ThreadProps & { pollUrl: string; oob?: boolean },
) {
  return (
    <div
      class="conversation"
      id="conversation"
      sse-swap="conversation"
      aria-label="Conversation"
      aria-live="polite"
      hx-swap-oob={oob ? "innerHTML" : undefined}
    >
      <TicketConversation {...props} />
    </div>
  );
}

export function conversationPollUrl(queue: ListQueue, id: string, version: string): string {
  return `/tickets/${queue}/${id}?part=conversation&v=${version}`;
}

export interface TicketDetailProps {
  ticket: Ticket;
  messages: Message[];
  /** The conversation's poller (conversationPollUrl). */
  pollUrl: string;
  names: Map<string, string>;
  /** Failed messages this agent may Retry. */
  retry?: RetryActions;
  department: string | null;
  now: number;
  me: string;
  /** Where "back" and forms return to (the list with its filters). */
  back: string;
  /** For the assignee: the reply box, or null on read-only previews. */
  reply?: ReplyState | null;
  canAccept?: boolean;
}

export interface ReplyState {
  /** Rule 18: WhatsApp customer silent longer than the window: templates only. */
  windowOpen: boolean;
  windowHours: number;
  templates: Template[];
  chosen: Template | null;
  /** The live chat this ticket's reply started, if it is still going. */
  liveChatId: string | null;
  error?: string | null;
}

export function TicketDetail(props: TicketDetailProps) {
  const t = props.ticket;
  const readOnly = t.status !== "assigned" || t.assignedTo !== props.me;
  return (
    <article class="card detail" aria-label="Ticket">
      <div class="card-head">
        <div>
          <h2>{t.name || t.from}</h2>
          <div class="inline small muted">
            <ChannelBadge channel={t.channel} />
            <span>{t.from}</span>
            {props.department ? <span class="badge badge-muted">{props.department}</span> : null}
          </div>
        </div>
        <div class="inline">
          {props.canAccept
            ? (
              <form method="post" action={`/tickets/${t.id}/accept`}>
                <input type="hidden" name="next" value={props.back} />
                <button type="submit" class="btn btn-primary">Accept</button>
              </form>
            )
            : null}
          {!readOnly
            ? (
              <form method="post" action={`/tickets/${t.id}/close`}>
                <button type="submit" class="btn btn-danger">Close ticket</button>
              </form>
            )
            : null}
        </div>
      </div>
      <dl class="facts card-body">
        <dt>Status</dt>
        <dd>{statusText(t, props.names, props.me)}</dd>
        <dt>Created</dt>
        <dd>
          <TimeAgo at={t.createdAt} now={props.now} />
        </dd>
        <dt>Last message</dt>
        <dd>
          <TimeAgo at={t.lastMessageAt} now={props.now} />
        </dd>
      </dl>
      <ConversationPane
        messages={props.messages}
        names={props.names}
        me={props.me}
        retry={props.retry}
        pollUrl={props.pollUrl}
      />
      {!readOnly && props.reply ? <ReplyBox ticket={t} state={props.reply} /> : null}
      {readOnly && t.status === "closed"
        ? <p class="reply muted small">Closed tickets are read-only.</p>
        : null}
    </article>
  );
}

function statusText(t: Ticket, names: Map<string, string>, me: string): string {
  switch (t.status) {
    case "unassigned":
      return "Unassigned";
    case "assigned":
      return t.assignedTo === me
        ? "Assigned to you"
        : `Assigned to ${names.get(t.assignedTo!) ?? "another agent"}`;
    case "closed": {
      const by = t.closeReason === "live_chat"
        ? "closed when a live chat started"
        : t.closedBy === me
        ? "closed by you"
        : `closed by ${names.get(t.closedBy ?? "") ?? "an agent"}`;
      return `Closed ${t.closedAt ? stamp(t.closedAt) : ""}, ${by}`;
    }
    default:
      return "Archived";
  }
}

/** Rule 17 and 18: free text with Start Chat, or, outside the WhatsApp window, a template. */
export function ReplyBox({ ticket, state }: { ticket: Ticket; state: ReplyState }) {
  const action = `/tickets/${ticket.id}/reply`;
  const label = state.liveChatId ? "Send" : "Start Chat";
  return (
    <div class="reply stack" id="reply">
      {state.error ? <div class="flash flash-error" role="alert">{state.error}</div> : null}
      {state.liveChatId
        ? (
          <p class="small">
            <span class="badge badge-ok">Live chat</span> The customer is in a live chat with you.
            {" "}
            <a href={`/chats/${state.liveChatId}`}>Open the chat</a>
          </p>
        )
        : null}
      {state.windowOpen
        ? (
          <form method="post" action={action} class="stack">
            <div class="field">
              <label for="reply-text">Reply to {ticket.name || ticket.from}</label>
              <textarea
                id="reply-text"
                name="text"
                required
                maxlength={4096}
                placeholder="Type your reply…"
              >
              </textarea>
              <span class="hint">
                Sending starts a live chat with the customer; the ticket stays assigned to you.
              </span>
            </div>
            <div class="form-actions">
              <button type="submit" class="btn btn-primary">{label}</button>
            </div>
          </form>
        )
        : <TemplatePicker ticket={ticket} state={state} label={label} />}
    </div>
  );
}

function TemplatePicker(
  { ticket, state, label }: { ticket: Ticket; state: ReplyState; label: string },
) {
  const here = `/tickets/assigned/${ticket.id}`;
  return (
    <div class="template-picker stack">
      <p>
        <strong>WhatsApp window closed.</strong> The customer's last message is older than{" "}
        {state.windowHours} hours, so WhatsApp only allows an approved template.
      </p>
      {state.templates.length === 0
        ? <p class="error">No approved templates yet: ask an admin to add one.</p>
        : (
          <form
            method="get"
            action={here}
            class="inline"
            hx-get={here}
            hx-trigger="change"
            hx-target="#reply"
            hx-select="#reply"
            hx-swap="outerHTML"
          >
            <div class="field">
              <label for="template">Template</label>
              <select id="template" name="template">
                <option value="">Choose a template…</option>
                {state.templates.map((tpl) => (
                  <option value={tpl.id} selected={state.chosen?.id === tpl.id}>
                    {tpl.name} ({tpl.language})
                  </option>
                ))}
              </select>
            </div>
            <button type="submit" class="btn btn-sm">Use template</button>
          </form>
        )}
      {state.chosen
        ? (
          <form method="post" action={`/tickets/${ticket.id}/reply`} class="stack">
            <input type="hidden" name="template" value={state.chosen.id} />
            <div class="template-body">{state.chosen.body}</div>
            {paramNumbers(state.chosen.body).map((n) => (
              <div class="field">
                <label for={`param-${n}`}>Parameter {`{{${n}}}`}</label>
                <input id={`param-${n}`} name="params" required maxlength={1024} />
              </div>
            ))}
            <div class="form-actions">
              <button type="submit" class="btn btn-primary">{label}</button>
            </div>
          </form>
        )
        : null}
    </div>
  );
}

function paramNumbers(body: string): number[] {
  return Array.from({ length: parameterCount(body) }, (_, i) => i + 1);
}

/** Shown in the detail pane when nothing is selected (wide screens). */
export function NoSelection({ queue }: { queue: ListQueue }) {
  return (
    <div class="card no-selection">
      <Empty title={queue === "assigned" ? "Select a ticket" : "Select a ticket to preview it"}>
        <p>
          {queue === "assigned"
            ? "Open one of your tickets to read it and reply."
            : "Its conversation is shown here, read-only."}
        </p>
      </Empty>
    </div>
  );
}
