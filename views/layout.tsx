/**
 * The page shell every signed-in page uses: header (product name, nav with rule 32's counts, alert
 * settings, status switch, sign out) and main. Scripts are htmx (from its npm package) and one
 * script of the page's area (views/assets.ts): the SSE extension with static/alerts.js (rule
 * 32: live title and counts, sound, desktop notifications, notices), on Tickets and Chats also
 * static/desk.js (keyboard), which loads static/compose.js when a reply box is first used.
 */
import type { Child } from "hono/jsx";
import { raw } from "hono/html";
import type { Notice } from "../domain/alerts.ts";
import type { Agent } from "../domain/types.ts";
import { assetUrl } from "./assets.ts";
import { type Flash, FlashMessage, stamp } from "./components.tsx";

export type NavTab = "tickets" | "chats" | "supervisor" | "admin";

/** Rule 32: what the title and the navigation count. */
export interface NavCounts {
  /** Unassigned tickets the agent may see. */
  unassigned: number;
  /** Pending chats it may take. */
  chats: number;
}

export interface LayoutProps {
  title: string;
  /** The signed-in person; null renders a bare shell (sign-in, errors when signed out). */
  agent: Agent | null;
  active?: NavTab;
  flash?: Flash | null;
  /** Full-width main column (list + detail pages). */
  wide?: boolean;
  /**
   * Rule 32's counts for the title and the navigation, drawn on the server (routes/nav_counts.ts)
   * and kept live by static/alerts.js. Only error pages go without (the stream brings them).
   */
  counts?: NavCounts;
  children?: Child;
}

/** Rule 32: `(N) <page> · chatdesk`, N = unassigned tickets plus pending chats. */
export const pageTitle = (title: string, counts?: NavCounts): string =>
  counts ? `(${counts.unassigned + counts.chats}) ${title}` : title;

// No inline <style> from htmx (the CSP allows only our stylesheet); no eval.
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyCacheSize: 0,
});

/** The HTML document of every page, signed in or not: our stylesheet, then `head`, then the body. */
/** A speech bubble, inline so no page costs an extra request (img-src allows data:). */
const FAVICON = "data:image/svg+xml," +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="#1d5bbf" d="M2 2h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H7l-4 3v-3H2a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z"/></svg>',
  );

export function Document(props: { title: string; head?: Child; children?: Child }) {
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · chatdesk</title>
          <link rel="stylesheet" href={assetUrl("desk.css")} />
          <link rel="icon" href={FAVICON} />
          {props.head}
        </head>
        <body>{props.children}</body>
      </html>
    </>
  );
}

export function Layout(props: LayoutProps) {
  const { agent } = props;
  return (
    <Document
      title={pageTitle(props.title, props.counts)}
      head={
        <>
          <meta name="htmx-config" content={HTMX_CONFIG} />
          {agent
            ? (
              <>
                <script src={assetUrl("htmx.min.js")} defer></script>
                {/* The Agent Desk's keyboard help comes with Tickets and Chats only. */}
                <script
                  src={assetUrl(
                    props.active === "tickets" || props.active === "chats"
                      ? "desk.js"
                      : "alerts.js",
                  )}
                  defer
                >
                </script>
              </>
            )
            : null}
        </>
      }
    >
      <a class="skip-link" href="#main">Skip to main content</a>
      {agent
        ? <Header agent={agent} active={props.active} counts={props.counts} />
        : (
          <header class="top">
            <a class="brand" href="/">
              chat<span>desk</span>
            </a>
          </header>
        )}
      <main class={props.wide ? "main wide" : "main"} id="main">
        {agent ? <div id="notices" class="notices"></div> : null}
        <div id="flash">
          <FlashMessage flash={props.flash} />
        </div>
        {props.children}
      </main>
    </Document>
  );
}

function Header(
  { agent, active, counts }: { agent: Agent; active?: NavTab; counts?: NavCounts },
) {
  const tab = (id: NavTab, href: string, label: string, count?: Child) => (
    <a href={href} aria-current={active === id ? "page" : undefined}>
      {label}
      {count}
    </a>
  );
  const online = agent.status === "online";
  return (
    <header class="top">
      <a class="brand" href="/tickets/unassigned">
        chat<span>desk</span>
      </a>
      <nav class="nav" aria-label="Desk">
        {tab(
          "tickets",
          "/tickets/unassigned",
          "Tickets",
          <NavCount id="nav-unassigned" count={counts?.unassigned} label="unassigned" />,
        )}
        {tab(
          "chats",
          "/chats",
          "Chats",
          <NavCount id="nav-chats" count={counts?.chats} label="waiting" />,
        )}
        {agent.role !== "agent" ? tab("supervisor", "/supervisor", "Supervisor") : null}
        {agent.role === "admin" ? tab("admin", "/admin", "Admin") : null}
      </nav>
      <div class="me">
        <AlertSettings />
        <form method="post" action="/status" class="status-switch">
          <input type="hidden" name="status" value={online ? "offline" : "online"} />
          <button
            type="submit"
            class="btn btn-sm"
            title={online ? "You get live chats. Click to go offline." : "Click to go online."}
            aria-label={online ? "Status: online. Go offline" : "Status: offline. Go online"}
          >
            <span class={online ? "dot dot-online" : "dot"}></span>
            {online ? "Online" : "Offline"}
          </button>
        </form>
        <AccountMenu agent={agent} />
      </div>
    </header>
  );
}

/**
 * Who is signed in, their account page (rule 58: change one's own password) and Sign out. A
 * disclosure, so it fits the header at 360 px (rule 57); it works without JavaScript.
 */
function AccountMenu({ agent }: { agent: Agent }) {
  return (
    <details class="account-menu">
      <summary class="btn btn-sm">
        <span class="who">{agent.name}</span>
        <span class="who-short">Account</span>
      </summary>
      <div class="account-pop">
        <p>
          <strong>{agent.name}</strong>
          <br />
          <span class="small muted">{agent.email}</span>
        </p>
        <a href="/account">Your account and password</a>
        <form method="post" action="/logout">
          <button type="submit" class="btn btn-sm">Sign out</button>
        </form>
      </div>
    </details>
  );
}

/** A navigation count kept live by static/alerts.js; empty until known. */
function NavCount({ id, count, label }: { id: string; count?: number; label: string }) {
  return (
    <span class="nav-count">
      <span class="count" id={id} data-count={count} hidden={count === undefined}>
        {count ?? ""}
      </span>
      <span class="sr-only">{label}</span>
    </span>
  );
}

/**
 * Rule 32: opt-in sound and desktop notification for new work, stored per browser. Shown by
 * static/alerts.js (without it there is nothing to switch on).
 */
function AlertSettings() {
  return (
    <details class="alert-settings" id="alert-settings" hidden>
      <summary class="btn btn-sm">Alerts</summary>
      <div class="alert-menu">
        <p class="small muted">New tickets and chats for you, on this browser:</p>
        <label class="check">
          <input type="checkbox" id="alert-sound" /> Play a sound
        </label>
        <label class="check">
          <input type="checkbox" id="alert-notify" /> Show a desktop notification
        </label>
        <p class="small muted" id="alert-note" role="status"></p>
      </div>
    </details>
  );
}

/**
 * Rule 32: one of the agent's tickets was closed because its customer started a live chat with
 * an agent (rule 7). Sent live, or at the next page load, into #notices.
 */
export function NoticeBanner({ notice }: { notice: Notice }) {
  return (
    <div class="notice" role="status" data-notice={notice.ticketId}>
      <span>
        Your ticket from <strong>{notice.customer}</strong> was closed at{" "}
        {stamp(notice.at)}: the customer started a live chat.{" "}
        <a href={`/tickets/closed/${notice.ticketId}`}>View it</a>
      </span>
      <button type="button" class="btn btn-sm btn-ghost" data-dismiss>Dismiss</button>
    </div>
  );
}

const ERROR_TITLES: Record<number, string> = {
  400: "That did not work",
  403: "Not allowed",
  404: "Not found",
  409: "Already changed",
  413: "Too large",
  422: "Cannot do that",
  429: "Too many attempts",
};

/** An error inside the desk's layout, with a way back. */
export function ErrorPage(
  props: { status: number; message: string; agent: Agent | null; counts?: NavCounts },
) {
  const title = ERROR_TITLES[props.status] ?? "Something went wrong";
  return (
    <Layout title={title} agent={props.agent} counts={props.counts}>
      <div class="card">
        <div class="card-body stack">
          <h1>{title}</h1>
          <p>{props.message}</p>
          <p class="muted small">Error {props.status}</p>
          <div class="form-actions">
            <a class="btn btn-primary" href="/tickets/unassigned">Go to the ticket queue</a>
          </div>
        </div>
      </div>
    </Layout>
  );
}
