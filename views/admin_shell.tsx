/**
 * The frame of the Admin and Supervisor pages: the desk Layout, this area's tabs, and the small
 * extra stylesheet (static/admin.css) those pages need. Plus the titled card and the labelled
 * fields with their error bits that their forms share.
 */
import type { Child, JSX } from "hono/jsx";
import type { Agent } from "../domain/types.ts";
import type { Flash } from "./components.tsx";
import { Layout, type NavCounts } from "./layout.tsx";

export interface AreaTab {
  href: string;
  label: string;
}

export const ADMIN_TABS: AreaTab[] = [
  { href: "/admin/hours", label: "Business hours" },
  { href: "/admin/agents", label: "Agents" },
  { href: "/admin/departments", label: "Departments" },
  { href: "/admin/texts", label: "Texts & timeouts" },
  { href: "/admin/templates", label: "Templates" },
  { href: "/admin/canned-replies", label: "Canned replies" },
  { href: "/admin/integrations", label: "Integrations" },
];

export const SUPERVISOR_TABS: AreaTab[] = [
  { href: "/supervisor", label: "Dashboard" },
  { href: "/supervisor/queues", label: "Queues" },
  { href: "/supervisor/archive", label: "Archive" },
  { href: "/supervisor/transcripts", label: "Transcripts" },
];

export function AreaPage(props: {
  area: "admin" | "supervisor";
  agent: Agent;
  title: string;
  /** Which tab is current (its href). */
  current: string;
  /** The stylesheet URL (served by the area's sub-app, versioned). */
  css: string;
  flash?: Flash | null;
  wide?: boolean;
  /** Rule 32: the title's and the navigation's counts. */
  counts?: NavCounts;
  actions?: Child;
  children?: Child;
}) {
  const tabs = props.area === "admin" ? ADMIN_TABS : SUPERVISOR_TABS;
  return (
    <Layout
      title={props.title}
      agent={props.agent}
      active={props.area}
      flash={props.flash}
      wide={props.wide}
      counts={props.counts}
    >
      {/* rel=stylesheet is allowed in body: the shared Layout takes no extra head content. */}
      <link rel="stylesheet" href={props.css} />
      <nav class="tabs" aria-label={props.area === "admin" ? "Admin" : "Supervisor"}>
        {tabs.map((t) => (
          <a class="tab" href={t.href} aria-current={t.href === props.current ? "page" : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      <div class="page-head">
        <h1>{props.title}</h1>
        {props.actions ?? null}
      </div>
      {props.children}
    </Layout>
  );
}

/** Field errors keyed by field name. */
export type Errors = Record<string, string>;

/** The id of a field's error text, for aria-describedby. */
export const errorId = (id: string) => `${id}-error`;

export function FieldError({ id, error }: { id: string; error?: string }) {
  return error ? <p class="error" id={errorId(id)} role="alert">{error}</p> : null;
}

/** aria attributes for an input whose error may be shown. */
export function invalid(id: string, error?: string) {
  return error ? { "aria-invalid": "true", "aria-describedby": errorId(id) } : {};
}

/** A labelled field: `children` is the control, then its hint and its error. */
export function Field(
  props: {
    id: string;
    label: Child;
    hint?: Child;
    error?: string;
    class?: string;
    children: Child;
  },
) {
  return (
    <div class={props.class ?? "field"}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint ? <p class="hint">{props.hint}</p> : null}
      <FieldError id={props.id} error={props.error} />
    </div>
  );
}

/** A Field whose control is an input; the other props are the input's attributes, in order. */
export function TextField(
  { label, hint, error, class: cls, ...input }:
    & { id: string; label: Child; hint?: Child; error?: string; class?: string }
    & JSX.IntrinsicElements["input"],
) {
  return (
    <Field id={input.id} label={label} hint={hint} error={error} class={cls}>
      <input {...input} {...invalid(input.id, error)} />
    </Field>
  );
}

/** A form-level error summary above the fields. */
export function FormErrors({ errors, text }: { errors: Errors; text?: string }) {
  const count = Object.keys(errors).length;
  if (!count) return null;
  return (
    <div class="flash flash-error" role="alert">
      {text ?? (count === 1 ? "One field needs attention." : `${count} fields need attention.`)}
      {errors.form ? <>{errors.form}</> : null}
    </div>
  );
}

/** A section titled by its card head; `aside` follows the title (a badge, a note, a link). */
export function Card(
  props: { id: string; title: Child; aside?: Child; class?: string; children?: Child },
) {
  return (
    <section class={props.class ?? "card"} aria-labelledby={props.id}>
      <div class="card-head">
        <h2 id={props.id}>{props.title}</h2>
        {props.aside}
      </div>
      {props.children}
    </section>
  );
}
