/** Small shared bits of every page: flash messages, empty states, time-ago, badges, post buttons. */
import type { Child } from "hono/jsx";
import type { Channel } from "../domain/types.ts";

export type FlashKind = "ok" | "error" | "info";
/** A one-time message shown at the top of the next page (kept in a cookie between redirects). */
export interface Flash {
  kind: FlashKind;
  text: string;
  /** A same-site path to link to, e.g. the ticket just accepted. */
  href?: string;
  link?: string;
}

export function FlashMessage({ flash }: { flash: Flash | null | undefined }) {
  if (!flash) return null;
  return (
    <div class={`flash flash-${flash.kind}`} role={flash.kind === "error" ? "alert" : "status"}>
      {flash.text}
      {flash.href && flash.link
        ? (
          <>
            {" "}
            <a href={flash.href}>{flash.link}</a>
          </>
        )
        : null}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: Child }) {
  return (
    <div class="empty">
      <strong>{title}</strong>
      {children}
    </div>
  );
}

const CHANNEL_NAMES: Record<Channel, string> = {
  whatsapp: "WhatsApp",
  sms: "SMS",
  webchat: "Web chat",
};

export const channelName = (channel: Channel): string => CHANNEL_NAMES[channel] ?? channel;

export function ChannelBadge({ channel }: { channel: Channel }) {
  return <span class={`badge badge-${channel}`}>{channelName(channel)}</span>;
}

/** "just now", "4 min", "3 h", "2 d": short enough for a list row at 360 px. */
export function ago(at: number, now: number): string {
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return "just now";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

export const isoTime = (ms: number): string => new Date(ms).toISOString();

/** A readable UTC time for titles and message stamps. */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function TimeAgo({ at, now }: { at: number; now: number }) {
  const text = ago(at, now);
  return (
    <time datetime={isoTime(at)} title={stamp(at)}>
      {text === "just now" ? text : `${text} ago`}
    </time>
  );
}

/** A one-button form posting to `action` (works without JavaScript). */
export function PostButton(
  props: {
    action: string;
    label: Child;
    class?: string;
    fields?: Record<string, string>;
    title?: string;
  },
) {
  return (
    <form method="post" action={props.action} class="inline-form">
      {Object.entries(props.fields ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={props.class ?? "btn"} title={props.title}>{props.label}</button>
    </form>
  );
}
