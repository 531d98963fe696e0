/**
 * Small shared bits of every page: flash messages, empty states, time-ago, badges, post buttons,
 * and the fields of a ticket list's filter bar.
 */
import { CHANNEL_FACTS } from "../domain/channels.ts";
import type { Child } from "hono/jsx";
import { AGES } from "../domain/ticket_lists.ts";
import { type Channel, CHANNELS, type Department } from "../domain/types.ts";

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

export const channelName = (channel: Channel): string => CHANNEL_FACTS[channel]?.label ?? channel;

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

/** The search box of a ticket list's filter bar (a GET form, so the view lives in the URL). */
export function SearchFilter(
  props: { label: string; placeholder: string; value: string; maxlength?: number },
) {
  return (
    <div class="q">
      <label class="sr-only" for="f-q">{props.label}</label>
      <input
        id="f-q"
        type="search"
        name="q"
        value={props.value}
        placeholder={props.placeholder}
        maxlength={props.maxlength}
      />
    </div>
  );
}

/**
 * One labelled select of a filter bar. The leading "any" option is what an unset filter shows,
 * so it is never marked selected; `children` follow the select (e.g. the Apply button).
 */
export function FilterSelect(props: {
  id: string;
  name: string;
  label: string;
  title?: string;
  value: string | undefined;
  any: [value: string, label: string];
  options: [value: string, label: string][];
  class?: string;
  children?: Child;
}) {
  return (
    <div class={props.class}>
      <label class="sr-only" for={props.id}>{props.label}</label>
      <select id={props.id} name={props.name} title={props.title}>
        <option value={props.any[0]}>{props.any[1]}</option>
        {props.options.map(([value, label]) => (
          <option value={value} selected={props.value === value}>{label}</option>
        ))}
      </select>
      {props.children}
    </div>
  );
}

export function ChannelFilter({ value }: { value: string | undefined }) {
  return (
    <FilterSelect
      id="f-channel"
      name="channel"
      label="Channel"
      value={value}
      any={["", "All channels"]}
      options={CHANNELS.map((ch) => [ch, channelName(ch)])}
    />
  );
}

export function DepartmentFilter(
  { id, value, departments }: { id: string; value: string | undefined; departments: Department[] },
) {
  return (
    <FilterSelect
      id={id}
      name="department"
      label="Department"
      value={value}
      any={["", "All departments"]}
      options={[
        ...departments.map((d): [string, string] => [d.id, d.name]),
        ["none", "No department"],
      ]}
    />
  );
}

export function AgeFilter({ value }: { value: string | undefined }) {
  return (
    <FilterSelect
      id="f-age"
      name="age"
      label="Age"
      value={value}
      any={["", "Any age"]}
      options={Object.entries(AGES)}
    />
  );
}

/** Newest first is the default; `children` follow the select. */
export function SortFilter(
  { value, newest, class: cls, children }: {
    value: string | undefined;
    newest: string;
    class?: string;
    children?: Child;
  },
) {
  return (
    <FilterSelect
      id="f-sort"
      name="sort"
      label="Sort"
      value={value}
      any={["newest", newest]}
      options={[["oldest", "Oldest first"]]}
      class={cls}
    >
      {children}
    </FilterSelect>
  );
}
