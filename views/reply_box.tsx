/**
 * The reply box of a ticket (rules 17, 18) and the message box of a live chat, with canned
 * replies (rule 34). Without JavaScript the canned reply is a plain select and Insert posts the
 * draft back with the filled reply added; static/desk.js adds the `/` picker, Ctrl+Enter, the
 * highlighting of unfilled placeholders and keeps Send disabled while one is left. The server
 * refuses a reply with an unfilled placeholder either way.
 */
import { limitText, SEND_RULES } from "../domain/attachments.ts";
import { unfilledPlaceholders } from "../domain/canned_replies.ts";
import { CHANNEL_FACTS, MAX_MESSAGE_LENGTH, smsSegments } from "../domain/channels.ts";
import { parameterCount } from "../domain/templates.ts";
import type { CannedReply, Channel, Template, Ticket } from "../domain/types.ts";
import { LocalTime } from "./local_time.tsx";
import { assetUrl } from "./assets.ts";

export interface ReplyState {
  /** Rule 18: WhatsApp customer silent longer than the window: templates only. */
  windowOpen: boolean;
  windowHours: number;
  templates: Template[];
  chosen: Template | null;
  /** The live chat this ticket's reply started, if it is still going. */
  liveChatId: string | null;
  /** A template sent since the customer last wrote (the window stays closed until it replies). */
  templateSentAt: number | null;
  /** Rule 34: the canned replies offered here. */
  canned: CannedReply[];
  /** The text in the box (a refused reply, or one a canned reply was inserted into). */
  draft: string;
  error?: string | null;
  timeZone: string;
  /** Rule 44: when the customer texted STOP; replies are refused until it texts START. */
  optedOutAt?: number | null;
  /** Rule 51: the route a file goes by (its types and sizes); by default the channel's. */
  sendRoute?: SendRoute;
}

/** Rule 51: the routes that carry files, each with its own types and sizes. */
export type SendRoute = keyof typeof SEND_RULES;

/** The route a channel's files go by when the page does not say (WhatsApp: Meta; SMS: Twilio). */
export function channelSendRoute(channel: Channel | undefined): SendRoute {
  return channel === "whatsapp" ? "meta" : channel === "sms" ? "twilio" : "webchat";
}

/** The file picker's `accept`: the route's types; none when it takes any document (WhatsApp). */
export function acceptOf(route: SendRoute): string | undefined {
  const rules = SEND_RULES[route];
  if (rules.some((r) => r.types.includes("*"))) return undefined;
  return rules.flatMap((r) => r.types).join(",");
}

const TYPE_WORDS: Record<string, string> = {
  "image/jpeg": "JPEG",
  "image/png": "PNG",
  "image/gif": "GIF",
  "image/webp": "WebP",
  "application/pdf": "PDF",
};
const KIND_WORDS = { image: "images", audio: "audio", video: "video", document: "documents" };

/**
 * What the route takes, in a sentence, kinds of the same size together: "Files (the text is then
 * an optional caption): images (JPEG, PNG) up to 5 MB, audio and video up to 16 MB, …".
 */
export function sendableText(route: SendRoute): string {
  const groups: { what: string[]; max: number }[] = [];
  for (const r of SEND_RULES[route]) {
    const named = r.types.every((t) => TYPE_WORDS[t]);
    const kind = KIND_WORDS[r.kind as keyof typeof KIND_WORDS] ?? r.kind;
    const types = r.types.map((t) => TYPE_WORDS[t]).join(", ");
    const what = r.kind === "document" && named ? types : named ? `${kind} (${types})` : kind;
    const last = groups.at(-1);
    if (last && last.max === r.maxBytes && !named) last.what.push(what);
    else groups.push({ what: [what], max: r.maxBytes });
  }
  const parts = groups.map((g) => `${g.what.join(" and ")} up to ${limitText(g.max)}`);
  return `One file, the text its optional caption: ${parts.join(", ")}.`;
}

/** Rule 44: in place of the box while the customer has opted out (the server refuses anyway). */
function OptedOut({ at, timeZone }: { at: number; timeZone: string }) {
  return (
    <p class="flash flash-error opted-out" role="note">
      <strong>Opted out.</strong> The customer texted STOP{" "}
      <LocalTime at={at} timeZone={timeZone} />: replies are refused until they text START.
    </p>
  );
}

/** "{{a}}" or "{{a}} and {{b}}" … for the message that says what is left to fill. */
function unfilledText(names: string[]) {
  // No `key`: hono/jsx would print it as an HTML attribute, and these lists render once.
  // deno-lint-ignore jsx-key
  const marks = names.map((n) => <mark class="placeholder">{`{{${n}}}`}</mark>);
  const list = marks.flatMap((m, i) =>
    i === 0 ? [m] : [i === marks.length - 1 ? " and " : ", ", m]
  );
  return (
    <>
      Replace {list} before sending: the desk has no value for {names.length === 1 ? "it" : "them"}.
    </>
  );
}

/**
 * Rule 45: what the box's counter says for `text` on `channel`: characters left of the channel's
 * limit and, on SMS, the segments it takes (static/compose.js says the same as the agent types).
 */
export function countText(channel: Channel, text: string): string {
  const { maxLength, segmented } = CHANNEL_FACTS[channel];
  const n = (v: number) => v.toLocaleString("en-US");
  const left = maxLength - text.length;
  const chars = left >= 0 ? `${n(left)} characters left` : `${n(-left)} characters over the limit`;
  if (!segmented) return chars;
  const { segments, encoding } = smsSegments(text);
  return `${chars} · ${segments} SMS segment${segments === 1 ? "" : "s"} (${encoding})`;
}

export interface ComposeProps {
  /** The textarea's id ("reply-text", "chat-text"). */
  id: string;
  /** The customer's channel: its length limit and, on SMS, segments (rule 45). */
  channel?: Channel;
  /** Rule 51: the route files go by (by default the channel's). */
  sendRoute?: SendRoute;
  label: string;
  action: string;
  button: string;
  hint: string;
  draft: string;
  canned: CannedReply[];
  /** The picker fetches a filled canned reply from `${cannedUrl}${id}` (JSON `{text, missing}`). */
  cannedUrl: string;
  error?: string | null;
}

/** A message form with canned replies: the box of a ticket's reply and of a live chat. */
export function Compose(props: ComposeProps) {
  const unfilled = unfilledPlaceholders(props.draft);
  const { id, channel } = props;
  const limit = channel ? CHANNEL_FACTS[channel].maxLength : MAX_MESSAGE_LENGTH;
  const route = props.sendRoute ?? channelSendRoute(channel);
  // deno-lint-ignore jsx-key
  const options = props.canned.map((r) => <option value={r.id}>{r.title}</option>);
  return (
    <form
      method="post"
      action={props.action}
      enctype="multipart/form-data"
      class="compose-form stack"
      data-compose
      data-compose-src={assetUrl("compose.js")}
    >
      {props.error ? <div class="flash flash-error" role="alert">{props.error}</div> : null}
      <div class="field">
        <label for={id}>{props.label}</label>
        <div class="compose">
          <textarea
            id={id}
            name="text"
            maxlength={limit}
            placeholder="Type your reply…"
            aria-describedby={`${id}-unfilled ${channel ? `${id}-count ` : ""}${id}-hint`}
            data-compose-text
          >
            {props.draft}
          </textarea>
        </div>
        <p
          class="unfilled"
          id={`${id}-unfilled`}
          data-unfilled
          aria-live="polite"
          hidden={!unfilled.length}
        >
          {unfilled.length ? unfilledText(unfilled) : null}
        </p>
        {channel
          ? (
            <p
              class="hint compose-count"
              id={`${id}-count`}
              data-count={CHANNEL_FACTS[channel].segmented ? "sms" : "chars"}
              data-limit={String(limit)}
            >
              {countText(channel, props.draft)}
            </p>
          )
          : null}
        <p class="hint" id={`${id}-hint`}>
          {props.hint}{" "}
          <span class="kbd-hint" data-kbd-hint hidden>
            Ctrl+Enter sends{props.canned.length ? "; type / for a canned reply" : ""}.
          </span>
        </p>
      </div>

      <div class="form-actions compose-actions">
        <div class="compose-send">
          <Attach id={id} route={route} />
          <button type="submit" class="btn btn-primary" data-send>{props.button}</button>
        </div>
        {props.canned.length
          ? (
            <div class="canned-pick">
              <label for={`${id}-canned`}>Canned reply</label>
              <select id={`${id}-canned`} name="canned" data-canned={props.cannedUrl}>
                <option value="">Choose…</option>
                {options}
              </select>
              <button
                type="submit"
                name="insert"
                value="1"
                class="btn btn-sm"
                formnovalidate
                data-insert
              >
                Insert
              </button>
            </div>
          )
          : null}
      </div>
      <p class="hint attach-hint" id={`${id}-file-hint`}>{sendableText(route)}</p>
      {route === "meta" ? <SharePlace id={id} /> : null}
    </form>
  );
}

/**
 * Rule 51: one file to send, the text as its caption (optional with a file). Without JavaScript
 * it is the browser's file input in a multipart form; static/compose.js adds drag and drop onto
 * the box, paste of an image, and the chosen file's name and size with a Remove button.
 */
function Attach({ id, route }: { id: string; route: SendRoute }) {
  return (
    <div class="compose-attach" data-attach>
      <input
        type="file"
        id={`${id}-file`}
        name="file"
        accept={acceptOf(route)}
        aria-describedby={`${id}-file-hint`}
        data-compose-file
      />
      <label for={`${id}-file`} class="attach-label">Attach a file</label>
    </div>
  );
}

/** Rule 51, WhatsApp only: a place to share (the text, if any, goes as a message of its own). */
function SharePlace({ id }: { id: string }) {
  const field = (name: string, label: string, extra: Record<string, string | number>) => (
    <div class="field">
      <label for={`${id}-${name}`}>{label}</label>
      <input id={`${id}-${name}`} name={name} {...extra} />
    </div>
  );
  return (
    <details class="compose-place" data-place-form>
      <summary>Share a place</summary>
      <div class="place-fields">
        {field("latitude", "Latitude", {
          type: "number",
          step: "any",
          min: -90,
          max: 90,
          inputmode: "decimal",
          placeholder: "-33.9249",
        })}
        {field("longitude", "Longitude", {
          type: "number",
          step: "any",
          min: -180,
          max: 180,
          inputmode: "decimal",
          placeholder: "18.4241",
        })}
        {field("place_name", "Name (optional)", { maxlength: 200, autocomplete: "off" })}
        {field("place_address", "Address (optional)", { maxlength: 500, autocomplete: "off" })}
      </div>
    </details>
  );
}

/** What sending does now: the hint follows the live chat (rule 17). */
function replyHint(state: ReplyState): string {
  return state.liveChatId
    ? "This goes to your live chat with the customer; the ticket stays assigned to you until you close it."
    : "Sending starts a live chat with the customer; the ticket stays assigned to you.";
}

/** Rule 17 and 18: free text with Start Chat, or, outside the WhatsApp window, a template. */
export function ReplyBox(
  { ticket, name, state }: { ticket: Ticket; name: string; state: ReplyState },
) {
  const label = state.liveChatId ? "Send" : "Start Chat";
  return (
    <div class="reply stack" id="reply">
      {state.liveChatId
        ? (
          <p class="small">
            <span class="badge badge-ok">Live chat</span> The customer is in a live chat with you.
            {" "}
            <a href={`/chats/${state.liveChatId}`}>Open the chat</a>
          </p>
        )
        : null}
      {state.optedOutAt
        ? <OptedOut at={state.optedOutAt} timeZone={state.timeZone} />
        : state.windowOpen
        ? (
          <Compose
            id="reply-text"
            channel={ticket.channel}
            sendRoute={state.sendRoute}
            label={`Reply to ${name}`}
            action={`/tickets/${ticket.id}/reply`}
            button={label}
            hint={replyHint(state)}
            draft={state.draft}
            canned={state.canned}
            cannedUrl={`/tickets/${ticket.id}/canned-replies/`}
            error={state.error}
          />
        )
        : (
          <>
            {state.error ? <div class="flash flash-error" role="alert">{state.error}</div> : null}
            <TemplatePicker ticket={ticket} state={state} label={label} />
          </>
        )}
    </div>
  );
}

function TemplatePicker(
  { ticket, state, label }: { ticket: Ticket; state: ReplyState; label: string },
) {
  const here = `/tickets/assigned/${ticket.id}`;
  return (
    <div class="template-picker stack">
      {state.templateSentAt !== null
        ? (
          <p>
            <strong>Template sent</strong>{" "}
            <LocalTime at={state.templateSentAt} timeZone={state.timeZone} />. WhatsApp allows free
            text again once the customer replies; until then only another template can go out.
          </p>
        )
        : (
          <p>
            <strong>WhatsApp window closed.</strong> The customer's last message is older than{" "}
            {state.windowHours} hours, so WhatsApp only allows an approved template.
          </p>
        )}
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

/** A live chat's message box (the chat's agent; rule 34's canned replies, rule 18's window). */
export function ChatReplyBox(
  props: {
    chatId: string;
    windowOpen: boolean;
    canned: CannedReply[];
    draft: string;
    error?: string | null;
    /** Rule 44: when the customer texted STOP (with the zone its time is shown in). */
    optedOutAt?: number | null;
    timeZone?: string;
    /** Rule 45: the customer's channel (its limit, SMS segments). */
    channel?: Channel;
    /** Rule 51: the route files go by (by default the channel's). */
    sendRoute?: SendRoute;
  },
) {
  return (
    <div class="reply stack" id="reply">
      {props.optedOutAt
        ? <OptedOut at={props.optedOutAt} timeZone={props.timeZone ?? "UTC"} />
        : props.windowOpen
        ? (
          <Compose
            id="chat-text"
            channel={props.channel}
            sendRoute={props.sendRoute}
            label="Message"
            action={`/chats/${props.chatId}/messages`}
            button="Send"
            hint="The customer gets this in the live chat at once."
            draft={props.draft}
            canned={props.canned}
            cannedUrl={`/chats/${props.chatId}/canned-replies/`}
            error={props.error}
          />
        )
        : (
          <p class="small">
            The WhatsApp window is closed: reply from the customer's ticket with an approved
            template.
          </p>
        )}
    </div>
  );
}
