/**
 * The Tickets tab: queue tabs with counts, the Quick Accept bar, filters, the queue list and its
 * rows, and the ticket detail (conversation, reply box or WhatsApp template picker, Close).
 * Each fragment is one component used in its page and sent on its own to htmx (SSE or polling);
 * rule 33's live patches send single rows and small pieces of them out of band (`oob`).
 */
import type { Child } from "hono/jsx";
import type { TicketPage, TicketQuery } from "../domain/ticket_lists.ts";
import { cutText } from "../domain/providers/provider.ts";
import type { Department, Message, Ticket } from "../domain/types.ts";
import {
  AgeFilter,
  ago,
  ChannelBadge,
  ChannelFilter,
  DepartmentFilter,
  Empty,
  isoTime,
  SearchFilter,
  SortFilter,
  TimeAgo,
} from "./components.tsx";
import { addressOf, customerName, hasName } from "./customer_panel.tsx";
import { DeliveryMark, type QueuePlace, queuePlaces, RetryForm } from "./delivery.tsx";
import { LocalTime } from "./local_time.tsx";
import { captionOf, MessageMedia } from "./media.tsx";
import { CustomerChanges } from "./message_changes.tsx";
import { ReplyBox, type ReplyState } from "./reply_box.tsx";
import { TicketHistory } from "./supervisor_queues.tsx";

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
  /** Every department, for the names on rows. */
  departments: Department[];
  /** The departments the filter offers: the agent's own (all for staff, or with none set up). */
  filterDepartments: Department[];
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
  return <>{LIST_QUEUES.map((q) => <QueueTab key={q} view={view} queue={q} />)}</>;
}

/** One queue tab; `oob` when a live patch sends it alone (its count changed). */
export function QueueTab(
  { view, queue, oob }: { view: QueueView; queue: ListQueue; oob?: boolean },
) {
  return (
    <a
      class="tab"
      id={`tab-${queue}`}
      href={`/tickets/${queue}`}
      aria-current={view.queue === queue ? "page" : undefined}
      data-queue={queue}
      data-count={view.counts[queue]}
      hx-swap-oob={oob ? "true" : undefined}
    >
      {QUEUE_NAMES[queue]}
      <span class="count">{view.counts[queue]}</span>
    </a>
  );
}

/**
 * Rule 15: Quick Accept takes the N oldest tickets the agent may see, whatever the filters; a
 * size is offered only when that many are available. (fragment "quick"; `oob` when a live patch
 * sends the bar whole, because the sizes offered changed)
 */
export function QuickAcceptBar(
  { available, back, oob }: { available: number; back: string; oob?: boolean },
) {
  const swap = oob ? "true" : undefined;
  if (available === 0) {
    return (
      <div class="quick" id="quick-bar" hx-swap-oob={swap}>
        <span class="quick-label">Quick Accept</span>
        <span class="muted small">No tickets are waiting.</span>
      </div>
    );
  }
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
    <div class="quick" id="quick-bar" aria-label="Quick Accept" hx-swap-oob={swap}>
      <span class="quick-label">Quick Accept</span>
      {quickSizes(available).map((n) =>
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
          <QuickCount available={available} />
          <button type="submit" class="btn btn-sm btn-primary">Accept oldest</button>
        </>,
        "quick-custom",
      )}
      <QuickAvailable available={available} />
    </div>
  );
}

/** The sizes Quick Accept offers with `available` tickets (rule 15). */
export const quickSizes = (available: number): number[] =>
  QUICK_SIZES.filter((n) => available >= n);

/** Quick Accept's custom count, up to what is available (static/alerts.js keeps `max` live). */
function QuickCount({ available }: { available: number }) {
  return (
    <input
      id="quick-count"
      type="number"
      name="count"
      min="1"
      max={String(Math.min(available, 100))}
      value={String(Math.min(available, 1))}
      required
    />
  );
}

/** "N available" in the Quick Accept bar (static/alerts.js keeps it live). */
function QuickAvailable({ available }: { available: number }) {
  return <span class="muted small" id="quick-n">{available} available</span>;
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
      <DepartmentFilter id="f-dept" value={q.department} departments={view.filterDepartments} />
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

/** Rule 33: longer names and first messages are cut in the row (the ticket shows them whole). */
export const ROW_NAME_MAX = 40;
export const ROW_PREVIEW_MAX = 140;
/** Cut for a list row, never inside an emoji (a surrogate pair). */
export const cut = (text: string, max: number) =>
  text.length > max ? `${cutText(text, max - 1).trimEnd()}…` : text;

/** When a row's time counts from: created, last message, or closed, by queue. */
const rowTime = (view: QueueView, ticket: Ticket) =>
  view.queue === "closed"
    ? ticket.closedAt ?? ticket.lastMessageAt
    : view.queue === "assigned"
    ? ticket.lastMessageAt
    : ticket.createdAt;

/**
 * What a row shows, as a key: a live patch re-sends the row only when this changes. The age
 * text is left out (it moves with the clock; static/alerts.js keeps it current in the page).
 */
export function rowKey(view: QueueView, ticket: Ticket): string {
  return [
    ticket.name,
    ticket.from,
    ticket.preview,
    ticket.channel,
    departmentName(view, ticket.department) ?? "",
    rowTime(view, ticket),
    view.queue === "closed" ? closedByText(view, ticket) : "",
    view.selected === ticket.id ? "selected" : "",
  ].join("\u0000");
}

/** A queue row; `oob` when a live patch sends it alone to replace the one in the list. */
export function TicketRow(
  { view, ticket, oob }: { view: QueueView; ticket: Ticket; oob?: boolean },
) {
  const dept = departmentName(view, ticket.department);
  const selected = view.selected === ticket.id;
  const back = queueUrl(view.queue, view.filters);
  const name = cut(customerName(ticket), ROW_NAME_MAX);
  return (
    <li
      class="row"
      id={`t-${ticket.id}`}
      data-ticket={ticket.id}
      aria-current={selected ? "true" : undefined}
      hx-swap-oob={oob ? "true" : undefined}
    >
      <div class="row-main">
        <div class="row-title">
          <a href={ticketUrl(view.queue, ticket.id, view.filters)}>{name}</a>
          {hasName(ticket) ? <span class="row-from">{addressOf(ticket)}</span> : null}
        </div>
        <div class="row-preview">{cut(ticket.preview, ROW_PREVIEW_MAX) || "(no text)"}</div>
      </div>
      <div class="row-meta">
        <ChannelBadge channel={ticket.channel} />
        {dept ? <span class="badge badge-muted">{dept}</span> : null}
        <RowAge at={rowTime(view, ticket)} now={view.now} />
        {view.queue === "closed" ? <span>{closedByText(view, ticket)}</span> : null}
      </div>
      {view.queue === "unassigned"
        ? (
          <div class="row-actions">
            {/* Its answer goes to #flash (hx-target on the list); no `next` means Unassigned. */}
            <form
              method="post"
              action={`/tickets/${ticket.id}/accept`}
              hx-post={`/tickets/${ticket.id}/accept`}
            >
              {back === "/tickets/unassigned"
                ? null
                : <input type="hidden" name="next" value={back} />}
              <button
                type="submit"
                class="btn btn-primary btn-sm"
                aria-label={`Accept ticket from ${name}`}
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

/**
 * A row's age, as TimeAgo words it but without the hover stamp (rule 33 counts a row's bytes;
 * the ticket shows its times in full). static/alerts.js keeps the words current.
 */
function RowAge({ at, now }: { at: number; now: number }) {
  const text = ago(at, now);
  return <time datetime={isoTime(at)}>{text === "just now" ? text : `${text} ago`}</time>;
}

/** Rule 33: a row a live patch adds, after row `after` (null: at the top of the list). */
export function RowInsert({ after, children }: { after: string | null; children?: Child }) {
  return <ul hx-swap-oob={after ? `afterend:#t-${after}` : "afterbegin:#rows"}>{children}</ul>;
}

/** Rule 33: a row a live patch removes (accepted, closed, or out of this list). */
export function RowRemoval({ id }: { id: string }) {
  return <i id={`t-${id}`} hx-swap-oob="delete"></i>;
}

/**
 * A live patch's first line: the list version it applies to and the one it makes. The page
 * applies it only when its list has `from` (static/alerts.js), else it asks for the whole list.
 */
export const patchMarker = (from: string, to: string): string => `<!--patch ${from} ${to}-->`;

function closedByText(view: QueueView, t: Ticket): string {
  if (t.closedBy && t.closedBy === view.me) return "Closed by me";
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
 * who sees the same tickets. `rows`: the rows already drawn (TicketRow), in order.
 */
export function QueueListBody({ view, rows }: { view: QueueView; rows?: Child }) {
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
            id="rows"
            class={view.queue === "unassigned" ? "rows rows-accept" : "rows"}
            aria-label={`${QUEUE_NAMES[view.queue]} tickets`}
            data-now={view.now}
            hx-target="#flash"
          >
            {rows ?? page.tickets.map((t) => <TicketRow key={t.id} view={view} ticket={t} />)}
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
      <Pager view={view} />
    </>
  );
}

/** The pager under a list (hidden when there is one page); its own piece in a live patch. */
export function Pager({ view, oob }: { view: QueueView; oob?: boolean }) {
  const shown = !!(view.page.nextCursor || view.query.cursor);
  return (
    <nav
      class="pager"
      id="pager"
      aria-label="Pages"
      hidden={!shown}
      hx-swap-oob={oob ? "true" : undefined}
    >
      {view.query.cursor
        ? <a class="btn btn-sm" href={queueUrl(view.queue, view.filters)}>← Newest</a>
        : shown
        ? <span></span>
        : null}
      {shown ? <OlderLink view={view} /> : null}
    </nav>
  );
}

/**
 * The pager's next-page link: it moves with the list's last row, so a live patch sends it alone
 * (an empty placeholder keeps its place when there is no next page).
 */
export function OlderLink({ view, oob }: { view: QueueView; oob?: boolean }) {
  const swap = oob ? "true" : undefined;
  const next = view.page.nextCursor;
  if (!next) return <span id="pager-next" hx-swap-oob={swap}></span>;
  return (
    <a
      class="btn btn-sm"
      rel="next"
      id="pager-next"
      href={queueUrl(view.queue, view.filters, { cursor: next })}
      hx-swap-oob={swap}
    >
      {view.query.sort === "oldest" ? "Newer →" : "Older →"}
    </a>
  );
}

/**
 * The list's 10 s poll, the fallback when SSE is down. `version` is the version of what the page
 * shows (also in `data-v`); an unchanged one gets 204. After a live patch static/alerts.js puts
 * the patch's version in (so the poll keeps answering 204).
 */
export function ListPoller({ view, version }: { view: QueueView; version: string }) {
  return (
    <div
      id="list-poll"
      data-v={version}
      hx-get={pollUrl(view, version)}
      hx-trigger="every 10s"
      hx-target="#queue-list"
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
 * Retry form; customer text is escaped by JSX like all text. Times are in the business zone.
 * Rule 55: each says who wrote it first, and agent, customer and automatic messages each have
 * their own look (`msg-out`, `msg-in`, `msg-system`).
 */
export function MessageBubble(
  { message, names, agentId, place, retry, fold, timeZone = "UTC", mark }: {
    message: Message;
    names: Map<string, string>;
    agentId?: string;
    place?: QueuePlace;
    retry?: RetryActions;
    /** The thread's fold (`ThreadProps.fold`): a Retry sends it, so the thread drawn back keeps it. */
    fold?: string | null;
    timeZone?: string;
    /** Rule 56: the customer's first message of the thread, or its newest one. */
    mark?: "first" | "newest" | "first newest";
  },
) {
  const system = message.author === "system";
  const cls = system ? "msg msg-system" : message.direction === "in" ? "msg msg-in" : "msg msg-out";
  const who = message.direction === "in"
    ? "Customer"
    : system
    ? "Automatic reply"
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
      data-ends={mark}
    >
      <span class="msg-author">
        {who} · <LocalTime at={message.at} timeZone={timeZone} />
      </span>
      {captionOf(message)}
      <MessageMedia message={message} />
      <CustomerChanges message={message} timeZone={timeZone} />
      {message.template || delivery
        ? (
          <span class="msg-meta">
            {message.template ? `template ${message.template}` : ""}
            {delivery ? <DeliveryMark delivery={delivery} place={place} id={markId} /> : null}
          </span>
        )
        : null}
      {delivery?.status === "failed" && retry?.ids.has(message.id)
        ? (
          <RetryForm
            action={`${retry.base}/${message.id}/retry`}
            describedBy={markId}
            fold={fold === undefined ? undefined : foldValue(fold)}
          />
        )
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
  /** The business time zone the thread's times are shown in (labelled above them). */
  timeZone?: string;
  /**
   * Rule 56, the fold as the page drew it when it opened: the last message it folded away, null
   * when it folded none; left out, the thread folds as a page that opens now (`foldThread`).
   */
  fold?: string | null;
}

/** A run of auto-replies needs a look when one failed or its delivery is held. */
const needsLook = (run: Message[]) =>
  run.some((m) => m.delivery?.status === "failed" || !!m.delivery?.error);

type ThreadItem = Message | Message[];

/** The thread's items: agent and customer messages, and runs of auto-replies between them. */
function threadItems(messages: Message[]): ThreadItem[] {
  const items: ThreadItem[] = [];
  for (const m of messages) {
    const last = items[items.length - 1];
    if (m.author !== "system") items.push(m);
    else if (Array.isArray(last)) last.push(m);
    else items.push([m]);
  }
  return items;
}

/** Rule 56: the newest items a thread always shows under the collapsed middle. */
export const THREAD_TAIL = 2;

/**
 * Rule 56, a thread reads from the start: everything up to the customer's first message, then
 * (when there are more than two) the items in between folded away, then the newest two; so a
 * thread opens showing both ends with the reply box under them, at 360 × 640 as at 1280 × 800.
 *
 * It folds when the page opens, never later. Drawn again for an open page (live, its poll, a
 * Retry), the thread folds through `fold`, the last message the page folded (null: none), so a
 * message that arrives while the page is open, and one the page showed, are never folded away
 * unseen: three arriving at once would otherwise fold the first of them.
 */
export function foldThread(
  items: ThreadItem[],
  fold?: string | null,
): { head: ThreadItem[]; middle: ThreadItem[]; tail: ThreadItem[] } {
  const first = items.findIndex((item) => !Array.isArray(item) && item.direction === "in");
  const headEnd = first < 0 ? 1 : first + 1;
  if (fold !== undefined) {
    const end = fold === null
      ? -1
      : items.findIndex((item) => [item].flat().some((m) => m.id === fold));
    if (end < headEnd) return { head: items, middle: [], tail: [] };
    return {
      head: items.slice(0, headEnd),
      middle: items.slice(headEnd, end + 1),
      tail: items.slice(end + 1),
    };
  }
  const tailStart = Math.max(headEnd, items.length - THREAD_TAIL);
  if (tailStart - headEnd < 2) return { head: items, middle: [], tail: [] };
  return {
    head: items.slice(0, headEnd),
    middle: items.slice(headEnd, tailStart),
    tail: items.slice(tailStart),
  };
}

/** The last message a page that opens now folds away (rule 56), or null when it folds none. */
export function openingFold(messages: Message[]): string | null {
  const last = foldThread(threadItems(messages)).middle.at(-1);
  return last ? [last].flat().at(-1)!.id : null;
}

/** A fold as an address or a form gives it (`fold=`): "-" for none. */
export const foldValue = (fold: string | null): string => fold ?? "-";

/** A fold in an address (`?fold=`). */
export function foldQuery(fold: string | null): string {
  return `fold=${encodeURIComponent(foldValue(fold))}`;
}

/** The fold an address gives (`foldQuery`); undefined when it gives none (fold as on opening). */
export function foldOf(param: string | null | undefined): string | null | undefined {
  if (param === undefined || param === null || param === "" || param.length > 64) return undefined;
  return param === "-" ? null : param;
}

const messagesIn = (items: ThreadItem[]) => items.reduce((n, i) => n + [i].flat().length, 0);

export function MessageThread(
  { messages, names, me, retry, timeZone = "UTC", fold, empty, poll }: ThreadProps & {
    empty: string;
    poll: { url: string; every: string; target: string } | null;
  },
) {
  const places = queuePlaces(messages);
  const firstIn = messages.find((m) => m.direction === "in")?.id;
  const newest = messages.at(-1)?.id;
  const bubble = (m: Message) => (
    <MessageBubble
      key={m.id}
      message={m}
      names={names}
      agentId={me}
      place={places.get(m.id)}
      retry={retry}
      fold={fold}
      timeZone={timeZone}
      mark={m.id === firstIn
        ? m.id === newest ? "first newest" : "first"
        : m.id === newest
        ? "newest"
        : undefined}
    />
  );
  const item = (item: ThreadItem) =>
    Array.isArray(item)
      // Prompts and acknowledgements are collapsed; one that needs a look stays open (as does
      // the newest run: it is the thread's last word).
      ? (
        <details
          class="msg-group"
          data-group={item[0].id}
          open={needsLook(item) || item.some((m) => m.id === newest)}
        >
          <summary>
            {item.length === 1 ? "1 automatic message" : `${item.length} automatic messages`}
          </summary>
          {item.map(bubble)}
        </details>
      )
      : bubble(item);
  const { head, middle, tail } = foldThread(threadItems(messages), fold);
  const earlier = messagesIn(middle);
  return (
    <>
      {messages.length
        ? (
          <>
            {head.map(item)}
            {middle.length
              ? (
                // Opened once, it stays open as the thread is drawn again (static/desk.js).
                <details class="msg-earlier" data-group="earlier">
                  <summary>
                    {earlier === 1 ? "1 earlier message" : `${earlier} earlier messages`}
                  </summary>
                  {middle.map(item)}
                </details>
              )
              : null}
            {tail.map(item)}
          </>
        )
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
 * refreshes it out of band (a Retry). It scrolls on its own (static/desk.js keeps it at the
 * newest message), so it takes keyboard focus for scrolling.
 */
export function ConversationPane(
  { oob, ...props }: ThreadProps & { pollUrl: string; oob?: boolean },
) {
  return (
    <div
      class="conversation"
      id="conversation"
      sse-swap="conversation"
      role="log"
      aria-label="Conversation"
      tabindex={0}
      data-thread
      hx-swap-oob={oob ? "innerHTML" : undefined}
    >
      <TicketConversation {...props} />
    </div>
  );
}

export function conversationPollUrl(
  queue: ListQueue,
  id: string,
  version: string,
  fold: string | null,
): string {
  return `/tickets/${queue}/${id}?part=conversation&v=${version}&${foldQuery(fold)}`;
}

export interface TicketDetailProps {
  ticket: Ticket;
  /** The customer's name now (an agent may have changed it since the ticket was made). */
  customerName?: string;
  messages: Message[];
  /** The conversation's poller (conversationPollUrl). */
  pollUrl: string;
  names: Map<string, string>;
  /** Failed messages this agent may Retry. */
  retry?: RetryActions;
  /** Rule 56: the thread's fold (`ThreadProps.fold`). */
  fold?: string | null;
  department: string | null;
  now: number;
  me: string;
  /** Where "back" and forms return to (the list with its filters). */
  back: string;
  /** For the assignee: the reply box, or null on read-only previews. */
  reply?: ReplyState | null;
  canAccept?: boolean;
  /** The business time zone thread and history times are shown in. */
  timeZone?: string;
  /** Beside the conversation (below it on narrow screens): notes and the customer panel. */
  aside?: Child;
}

/** The customer's name as the ticket detail's heading (an edit swaps it in place, `oob`). */
export function DetailName({ name, oob }: { name: string; oob?: boolean }) {
  const swap = oob ? "true" : undefined;
  return <h1 id="detail-name" class="detail-name" hx-swap-oob={swap}>{name}</h1>;
}

export function TicketDetail(props: TicketDetailProps) {
  const t = props.ticket;
  const readOnly = t.status !== "assigned" || t.assignedTo !== props.me;
  const customer = { name: props.customerName ?? t.name, from: t.from, channel: t.channel };
  const timeZone = props.timeZone ?? "UTC";
  return (
    <article class="card detail" aria-labelledby="detail-name">
      <div class="card-head">
        <div>
          <DetailName name={customerName(customer)} />
          <div class="inline small muted">
            <ChannelBadge channel={t.channel} />
            {hasName(customer) ? <span>{addressOf(customer)}</span> : null}
            {props.department ? <span class="badge badge-muted">{props.department}</span> : null}
          </div>
        </div>
        <div class="inline">
          {props.canAccept
            ? (
              <form method="post" action={`/tickets/${t.id}/accept`}>
                <input type="hidden" name="next" value={props.back} />
                <button type="submit" class="btn btn-primary" data-accept>Accept</button>
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
      <div class="detail-body">
        <div class="detail-main">
          <dl class="detail-facts">
            <div>
              <dt>Status</dt>
              <dd>{statusText(t, props.names, props.me, timeZone)}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                <TimeAgo at={t.createdAt} now={props.now} />
              </dd>
            </div>
            <div>
              <dt>Last message</dt>
              <dd>
                <TimeAgo at={t.lastMessageAt} now={props.now} />
              </dd>
            </div>
            <div>
              <dt>Times</dt>
              <dd>{timeZone} (business time zone)</dd>
            </div>
          </dl>
          <ConversationPane
            messages={props.messages}
            names={props.names}
            me={props.me}
            retry={props.retry}
            fold={props.fold}
            pollUrl={props.pollUrl}
            timeZone={timeZone}
          />
          {!readOnly && props.reply
            ? <ReplyBox ticket={t} name={customerName(customer)} state={props.reply} />
            : null}
          {readOnly && t.status === "closed"
            ? <p class="reply muted small">Closed tickets are read-only.</p>
            : null}
          <details class="ticket-history">
            <summary>History</summary>
            <TicketHistory history={t.history} names={props.names} timeZone={timeZone} />
          </details>
        </div>
        {props.aside ? <div class="detail-side">{props.aside}</div> : null}
      </div>
    </article>
  );
}

function statusText(t: Ticket, names: Map<string, string>, me: string, timeZone: string) {
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
      return (
        <>
          Closed {t.closedAt ? <LocalTime at={t.closedAt} timeZone={timeZone} /> : null}, {by}
        </>
      );
    }
    default:
      return "Archived";
  }
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
