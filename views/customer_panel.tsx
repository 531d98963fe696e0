/**
 * The customer panel (rule 36) beside a ticket or chat: name and the provider's profile name,
 * channel and address, first seen, staff's `about` (both editable, with the version read so a
 * concurrent edit is refused, not overwritten), the customer's tickets, and its chats (the
 * current one and past ones). One fragment: the page shows it and an htmx save gets it back in
 * place.
 */
import {
  ABOUT_MAX,
  CUSTOMER_NAME_MAX,
  type CustomerChatRow,
  type CustomerProfile,
  type CustomerTicketRow,
} from "../domain/customer_profile.ts";
import { displayName, formatAddress, hasOwnName, type Named } from "../domain/customer_names.ts";
import { ChannelBadge } from "./components.tsx";
import { LocalTime } from "./local_time.tsx";
import { Heading } from "./notes.tsx";

/** Rule 54: a customer's own name, or its address (formatted) when it has none. */
export const customerName = displayName;

/** Whether the customer has a name of its own (not its address, not a generated visitor label). */
export const hasName = hasOwnName;

/** Rule 54: the address as people read it (a spaced phone number, a visitor's label). */
export const addressOf = (c: Named): string => formatAddress(c.channel, c.from);

export interface CustomerPanelProps {
  profile: CustomerProfile;
  /** Agent id → name. */
  names: Map<string, string>;
  me: string;
  /** Where the edit form posts. */
  action: string;
  /** Where this agent opens each of the customer's tickets (null: it may not). */
  ticketHref: (row: CustomerTicketRow) => string | null;
  /** The ticket the page shows, marked in the list. */
  currentTicketId?: string;
  /** The customer's chats, newest first; `moreChats` when older ones are not listed. */
  chats: CustomerChatRow[];
  moreChats: boolean;
  /**
   * Where this agent opens a current chat (null: it may not, or it is this page's). Past chats
   * open at `/chats/:id` when their row is `readable`.
   */
  chatHref: (row: CustomerChatRow) => string | null;
  /** The chat the page shows, marked in the list. */
  currentChatId?: string;
  timeZone: string;
  level: 2 | 3;
  /** A refused edit keeps what was typed, with the reason. */
  draft?: { name: string; about: string };
  error?: string | null;
  saved?: boolean;
}

function ticketState(row: CustomerTicketRow, names: Map<string, string>, me: string): string {
  switch (row.status) {
    case "unassigned":
      return "Open, unassigned";
    case "assigned":
      return row.assignedTo === me
        ? "Open, assigned to you"
        : `Open, assigned to ${names.get(row.assignedTo ?? "") ?? "another agent"}`;
    case "closed":
      return "Closed";
    default:
      return "Archived";
  }
}

const agentName = (id: string, names: Map<string, string>, me: string) =>
  id === me ? "you" : names.get(id) ?? "another agent";

/** What a chat was or is, in a few words: its state and who is (or was) in it. */
function chatState(row: CustomerChatRow, names: Map<string, string>, me: string): string {
  const agents = row.agentIds.map((id) => agentName(id, names, me));
  switch (row.state) {
    case "pending":
      return "Waiting for an agent";
    case "live":
      return `Live with ${agents[0] ?? "an agent"}`;
    default:
      return agents.length ? `Chat with ${agents.join(", ")}` : "Chat no agent answered";
  }
}

const HERE = " · in this ticket";
/** A ticket this agent may not open (another agent's). */
const ELSEWHERE = " · in a ticket";

/** One of the customer's chats: where it opens, when it started, the ticket it is part of. */
function ChatItem(
  { row, props }: { row: CustomerChatRow; props: CustomerPanelProps },
) {
  const here = row.id === props.currentChatId;
  // A past chat opens read-only on its own page for whoever may read it (rule 23).
  const href = row.state !== "ended"
    ? props.chatHref(row)
    : row.readable && !here
    ? `/chats/${row.id}`
    : null;
  const text = chatState(row, props.names, props.me);
  const ticket = row.ticket;
  const ticketHref = ticket && ticket.id !== props.currentTicketId
    ? props.ticketHref(ticket)
    : null;
  return (
    <li aria-current={here ? "true" : undefined}>
      {href ? <a href={href}>{text}</a> : <span>{text}</span>}
      {here ? " (this chat)" : ""}
      <span class="muted">
        {row.state === "ended" ? " · started " : " · since "}
        <LocalTime at={row.startedAt} timeZone={props.timeZone} />
      </span>
      {ticketHref
        ? (
          <>
            {" · in "}
            <a href={ticketHref}>its ticket</a>
          </>
        )
        : ticket
        ? <span class="muted">{ticket.id === props.currentTicketId ? HERE : ELSEWHERE}</span>
        : null}
    </li>
  );
}

export function CustomerPanel(props: CustomerPanelProps) {
  const { profile: p } = props;
  const sub = (props.level + 1) as 3 | 4;
  const name = props.draft?.name ?? (hasName(p) ? p.name : "");
  const about = props.draft?.about ?? p.about;
  return (
    <section class="customer-panel" id="customer-panel" aria-labelledby="customer-h">
      <Heading level={props.level} id="customer-h">Customer</Heading>
      <dl class="facts">
        <dt>Channel</dt>
        <dd>
          <ChannelBadge channel={p.channel} /> <span class="address">{addressOf(p)}</span>
        </dd>
        {p.profileName && p.profileName !== p.name && p.profileName !== addressOf(p)
          ? (
            <>
              <dt>Profile name</dt>
              <dd>{p.profileName}</dd>
            </>
          )
          : null}
        <dt>First seen</dt>
        <dd>
          <LocalTime at={p.firstSeenAt} timeZone={props.timeZone} />
        </dd>
        {p.optedOutAt !== null
          ? (
            <>
              <dt>Opted out</dt>
              <dd class="opted-out">
                Texted STOP{" "}
                <LocalTime at={p.optedOutAt} timeZone={props.timeZone} />: replies are refused until
                they text START.
              </dd>
            </>
          )
          : null}
      </dl>
      <form
        method="post"
        action={props.action}
        class="customer-form stack"
        hx-post={props.action}
        hx-target="#customer-panel"
        hx-swap="outerHTML"
        hx-disabled-elt="find button"
      >
        {props.error ? <p class="error" role="alert">{props.error}</p> : null}
        {props.saved ? <p class="saved small" role="status">Customer saved.</p> : null}
        <input type="hidden" name="ifVersion" value={String(p.version)} />
        <div class="field">
          <label for="customer-name">Name</label>
          <input
            id="customer-name"
            name="name"
            value={name}
            maxlength={CUSTOMER_NAME_MAX}
            autocomplete="off"
            placeholder="No name yet"
          />
        </div>
        <div class="field">
          <label for="customer-about">About</label>
          <textarea
            id="customer-about"
            name="about"
            rows={3}
            maxlength={ABOUT_MAX}
            placeholder="What staff should know about this customer"
            aria-describedby="customer-about-hint"
          >
            {about}
          </textarea>
          <span class="hint" id="customer-about-hint">
            Staff only. A name you set stays, whatever the provider sends later.
          </span>
        </div>
        <div class="form-actions">
          {/* After a save or a refusal drawn in place, focus stays on the form. */}
          <button type="submit" class="btn btn-sm" autofocus={props.saved || !!props.error}>
            Save customer
          </button>
        </div>
      </form>
      <Heading level={sub} class="panel-sub">
        Tickets <span class="count">{p.tickets.length}</span>
      </Heading>
      {p.tickets.length
        ? (
          <ul class="customer-list">
            {p.tickets.map((row) => {
              const href = props.ticketHref(row);
              const text = ticketState(row, props.names, props.me);
              return (
                <li aria-current={row.id === props.currentTicketId ? "true" : undefined}>
                  {href ? <a href={href}>{text}</a> : <span>{text}</span>}
                  {row.id === props.currentTicketId ? " (this ticket)" : ""}
                  <span class="muted">
                    {" · opened "}
                    <LocalTime at={row.createdAt} timeZone={props.timeZone} />
                  </span>
                </li>
              );
            })}
          </ul>
        )
        : <p class="muted small">No tickets.</p>}
      {p.ticketsCursor ? <p class="muted small">The newest {p.tickets.length} are shown.</p> : null}
      <Heading level={sub} class="panel-sub">
        Chats <span class="count">{props.chats.length}</span>
      </Heading>
      {props.chats.length
        ? (
          <ul class="customer-list">
            {
              // No `key`: hono/jsx would print it as an HTML attribute.
              // deno-lint-ignore jsx-key
              props.chats.map((row) => <ChatItem row={row} props={props} />)
            }
          </ul>
        )
        : <p class="muted small">No chats.</p>}
      {props.moreChats ? <p class="muted small">Older chats are not listed.</p> : null}
    </section>
  );
}
