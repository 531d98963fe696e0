/** The Chats page: pending live chats to accept (rule 7), the agent's live chats, one thread. */
import type { Child } from "hono/jsx";
import type { Chat, EndedChat } from "../domain/chats.ts";
import type { CannedReply, Channel } from "../domain/types.ts";
import { ChannelBadge, Empty, TimeAgo } from "./components.tsx";
import { addressOf, customerName, hasName } from "./customer_panel.tsx";
import { LocalTime } from "./local_time.tsx";
import { ChatReplyBox, type SendRoute } from "./reply_box.tsx";
import { cut, MessageThread, ROW_NAME_MAX, ROW_PREVIEW_MAX, type ThreadProps } from "./tickets.tsx";

export interface ChatItem {
  chat: Chat;
  name: string;
  from: string;
  channel: Channel;
}

export interface ChatsView {
  pending: ChatItem[];
  live: ChatItem[];
  now: number;
  selected?: string;
}

function ChatRow(
  { item, now, selected, accept }: {
    item: ChatItem;
    now: number;
    selected: boolean;
    accept: boolean;
  },
) {
  return (
    <li class="row" data-chat={item.chat.id} aria-current={selected ? "true" : undefined}>
      <div class="row-main">
        <div class="row-title">
          {accept
            ? <strong>{cut(customerName(item), ROW_NAME_MAX)}</strong>
            : <a href={`/chats/${item.chat.id}`}>{cut(customerName(item), ROW_NAME_MAX)}</a>}
          {hasName(item) ? <span class="row-from">{addressOf(item)}</span> : null}
        </div>
        {item.chat.preview
          ? <div class="row-preview">{cut(item.chat.preview, ROW_PREVIEW_MAX)}</div>
          : null}
      </div>
      <div class="row-meta">
        <ChannelBadge channel={item.channel} />
        {item.chat.ticketId ? <span class="badge badge-muted">Has an open ticket</span> : null}
        <TimeAgo at={item.chat.createdAt} now={now} />
      </div>
      {accept
        ? (
          <div class="row-actions">
            <form method="post" action={`/chats/${item.chat.id}/accept`}>
              <button
                type="submit"
                class="btn btn-primary btn-sm"
                aria-label={`Accept chat with ${cut(customerName(item), ROW_NAME_MAX)}`}
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

/** Pending and live chat lists (fragment "chats"). */
export function ChatLists({ view }: { view: ChatsView }) {
  return (
    <div class="stack">
      <section aria-labelledby="pending-h">
        <h2 id="pending-h" class="small muted">WAITING FOR AN AGENT ({view.pending.length})</h2>
        {view.pending.length
          ? (
            <ul class="rows">
              {view.pending.map((item) => (
                <ChatRow item={item} now={view.now} selected={false} accept />
              ))}
            </ul>
          )
          : (
            <div class="rows">
              <Empty title="No chats waiting">
                <p>Customers who write while you are online appear here.</p>
              </Empty>
            </div>
          )}
      </section>
      <section aria-labelledby="live-h">
        <h2 id="live-h" class="small muted">YOUR LIVE CHATS ({view.live.length})</h2>
        {view.live.length
          ? (
            <ul class="rows">
              {view.live.map((item) => (
                <ChatRow
                  item={item}
                  now={view.now}
                  selected={view.selected === item.chat.id}
                  accept={false}
                />
              ))}
            </ul>
          )
          : (
            <div class="rows">
              <Empty title="No live chats">
                <p>Accept a waiting chat, or reply to a ticket with Start Chat.</p>
              </Empty>
            </div>
          )}
      </section>
    </div>
  );
}

/** A chat's messages with their 3 s poller (fragment "messages"); no `pollUrl`: no poller. */
export function ChatMessages({ pollUrl, ...thread }: ThreadProps & { pollUrl: string }) {
  return (
    <MessageThread
      {...thread}
      empty="No messages yet."
      poll={pollUrl ? { url: pollUrl, every: "3s", target: "#chat-messages" } : null}
    />
  );
}

/**
 * The chat's message container (SSE fragment "messages"); `oob` for an htmx answer that
 * refreshes it out of band (a Retry). It scrolls on its own, kept at the newest message.
 */
export function ChatMessagesPane(
  { oob, ...props }: ThreadProps & { pollUrl: string; oob?: boolean },
) {
  return (
    <div
      class="conversation"
      id="chat-messages"
      sse-swap="messages"
      role="log"
      aria-label="Messages"
      tabindex={0}
      data-thread
      hx-swap-oob={oob ? "innerHTML" : undefined}
    >
      <ChatMessages {...props} />
    </div>
  );
}

/** The customer's name as the chat's heading (rule 54: a rename reaches it live, `oob`). */
export function ChatName({ name, oob }: { name: string; oob?: boolean }) {
  return <h2 id="chat-name" hx-swap-oob={oob ? "true" : undefined}>{name}</h2>;
}

export function ChatThread(
  props: {
    item: ChatItem;
    thread: ThreadProps;
    pollUrl: string;
    live: boolean;
    windowOpen: boolean;
    /** Rule 34: the canned replies offered in the message box. */
    canned: CannedReply[];
    /** The text in the box (a refused message, or one a canned reply was inserted into). */
    draft: string;
    error?: string | null;
    /** Rule 44: when the customer texted STOP (the box is replaced by a notice). */
    optedOutAt?: number | null;
    /** Rule 51: the route the chat's messages take (which files the picker offers). */
    sendRoute?: SendRoute;
    /** Beside the messages (below them on narrow screens): notes and the customer panel. */
    aside?: Child;
  },
) {
  const { item } = props;
  return (
    <article class="card detail" aria-labelledby="chat-name">
      <div class="card-head">
        <div>
          <ChatName name={customerName(item)} />
          <div class="inline small muted">
            <ChannelBadge channel={item.channel} />
            {hasName(item) ? <span>{addressOf(item)}</span> : null}
            {props.live
              ? <span class="badge badge-ok">Live</span>
              : <span class="badge badge-muted">Ended</span>}
            <span>Times in {props.thread.timeZone ?? "UTC"}</span>
          </div>
        </div>
        {props.live
          ? (
            <form method="post" action={`/chats/${item.chat.id}/end`}>
              <button type="submit" class="btn btn-danger">End chat</button>
            </form>
          )
          : null}
      </div>
      <div class="detail-body">
        <div class="detail-main">
          <ChatMessagesPane {...props.thread} pollUrl={props.pollUrl} />
          {props.live
            ? (
              <ChatReplyBox
                chatId={item.chat.id}
                windowOpen={props.windowOpen}
                canned={props.canned}
                draft={props.draft}
                error={props.error}
                optedOutAt={props.optedOutAt}
                timeZone={props.thread.timeZone}
                channel={item.channel}
                sendRoute={props.sendRoute}
              />
            )
            : <p class="reply muted small">This chat has ended.</p>}
        </div>
        {props.aside ? <div class="detail-side">{props.aside}</div> : null}
      </div>
    </article>
  );
}

/** Who had an ended chat, in words: "you", agents by name, or nobody. */
function handledBy(agentIds: string[], names: Map<string, string>, me: string): string {
  if (!agentIds.length) return "No agent answered";
  const who = agentIds.map((id) => id === me ? "you" : names.get(id) ?? "another agent");
  const text = who.join(", ");
  return text[0].toUpperCase() + text.slice(1);
}

/**
 * A chat that has ended, read-only: who had it and when, its messages with their delivery marks
 * (live over the stream, no poller: nothing more is written in it), and no message box, accept
 * or end. `ticketHref`: where this agent opens the ticket its messages joined, if it may.
 */
export function EndedChatThread(
  props: {
    chat: EndedChat;
    customer: { name: string; from: string; channel: Channel };
    thread: ThreadProps;
    ticketHref: string | null;
    aside?: Child;
  },
) {
  const { chat, customer, thread } = props;
  const timeZone = thread.timeZone ?? "UTC";
  return (
    <article class="card detail" aria-labelledby="chat-name" data-ended-chat={chat.id}>
      <div class="card-head">
        <div>
          <ChatName name={customerName(customer)} />
          <div class="inline small muted">
            <ChannelBadge channel={customer.channel} />
            {hasName(customer) ? <span>{addressOf(customer)}</span> : null}
            <span class="badge badge-muted">Ended</span>
          </div>
        </div>
      </div>
      <div class="detail-body">
        <div class="detail-main">
          <p class="chat-ended" role="note">
            <strong>This chat has ended.</strong>{" "}
            It is kept here read-only: nothing can be sent from this page.
          </p>
          <dl class="detail-facts">
            <div>
              <dt>Handled by</dt>
              <dd>{handledBy(chat.agentIds, thread.names, thread.me)}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>
                <LocalTime at={chat.startedAt} timeZone={timeZone} />
              </dd>
            </div>
            {chat.lastMessageAt !== null
              ? (
                <div>
                  <dt>Last message</dt>
                  <dd>
                    <LocalTime at={chat.lastMessageAt} timeZone={timeZone} />
                  </dd>
                </div>
              )
              : null}
            {chat.ticketId
              ? (
                <div>
                  <dt>Ticket</dt>
                  <dd>
                    {props.ticketHref
                      ? <a href={props.ticketHref}>Open its ticket</a>
                      : "Part of a ticket"}
                  </dd>
                </div>
              )
              : null}
            <div>
              <dt>Times</dt>
              <dd>{timeZone} (business time zone)</dd>
            </div>
          </dl>
          <ChatMessagesPane {...thread} pollUrl="" />
        </div>
        {props.aside ? <div class="detail-side">{props.aside}</div> : null}
      </div>
    </article>
  );
}
