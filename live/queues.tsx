/**
 * The ticket queues as they update live (rules 12, 13, 16, 19, 20, 33): what one queue view
 * shows an agent (tab counts, Quick Accept bar, list) rendered once for everyone who sees the
 * same list, its patch state, and how a live patch draws its pieces. The queue page draws the
 * same parts when it loads, and its htmx answers and 10 s poller (the SSE fallback) send them.
 */
import { raw } from "hono/html";
import { listAgents } from "../domain/agents.ts";
import { listDepartments, visibleDepartments } from "../domain/departments.ts";
import type { Desk } from "../domain/desk.ts";
import { listTickets, parseTicketQuery } from "../domain/ticket_lists.ts";
import { assignedCount, closedCount, unassignedCount } from "../domain/tickets.ts";
import type { Agent } from "../domain/types.ts";
import {
  foldOf,
  ListPoller,
  type ListQueue,
  OlderLink,
  Pager,
  patchMarker,
  QueueListBody,
  QueueTab,
  QueueTabs,
  queueUrl,
  type QueueView,
  QuickAcceptBar,
  quickSizes,
  RowInsert,
  rowKey,
  RowRemoval,
  TicketRow,
} from "../views/tickets.tsx";
import { notesLivePart, threadLivePart } from "./conversation.tsx";
import { type LiveView, rendered, type Share, unshared } from "./parts.ts";
import {
  hash53,
  type PatchDrawing,
  patchHtml,
  type PatchState,
  patchState,
  PatchStates,
} from "./patch.ts";

/** Filter parameters a list keeps in its URL (the cursor and internal ones are not filters). */
const FILTER_NAMES = ["q", "channel", "department", "age", "sort", "closedByMe", "limit"] as const;

/**
 * The filters a list applies, from its URL. `visible`: the department keys the agent may see
 * (rule 13); a department filter outside them is not applied, so it shows or echoes nothing.
 */
export function filtersOf(
  queue: ListQueue,
  params: URLSearchParams,
  visible: readonly string[],
): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    const value = params.get(name)?.trim();
    if (!value) continue;
    if (name === "closedByMe" && queue !== "closed") continue;
    if (name === "sort" && value === "newest") continue;
    if (name === "department" && !visible.includes(value)) continue;
    out.set(name, value);
  }
  return out;
}

export interface QueueParts {
  tabs: string;
  quick: string;
  list: string;
  /** The version of everything the parts show: unchanged means nothing to send. */
  version: string;
  /** The same as keys, what rule 33's live patches are computed from. */
  state: PatchState;
}

/** Rule 33: the queue states pages were recently drawn or sent with, by version. */
const queueStates = new PatchStates();

/**
 * Reads and renders what one queue view shows this agent (rules 12, 13, 16, 19, 20): the view,
 * its live fragments (tab counts, Quick Accept bar, list), its patch state, and how a live patch
 * draws its pieces (rule 33). The list is the same for every agent with the same visible
 * departments (Unassigned) or for the agent itself (Assigned, Closed), so `share` renders its
 * rows once for all of them; only tabs and the poller are per agent.
 */
export async function queueParts(
  desk: Desk,
  agent: Agent,
  queue: ListQueue,
  params: URLSearchParams,
  share: Share = unshared,
): Promise<{ view: QueueView; parts: QueueParts; drawing: PatchDrawing }> {
  const { kv, clock } = desk;
  const visibleKeys = await share(`visible|${agent.id}`, () => visibleDepartments(kv, agent));
  const visible = visibleKeys.join(",");
  const filters = filtersOf(queue, params, visibleKeys);
  const listParams = new URLSearchParams(filters);
  listParams.set("queue", queue);
  const cursor = params.get("cursor");
  if (cursor) listParams.set("cursor", cursor);
  const query = parseTicketQuery(listParams);
  const selected = params.get("selected") ?? undefined;
  const scope = queue === "unassigned" ? `departments:${visible}` : `agent:${agent.id}`;
  const listKey = `${scope}|${listParams}|${selected ?? ""}`;
  const now = clock.now();
  const [page, unassigned, assigned, closed, departments, agents] = await Promise.all([
    share(`page|${listKey}`, () => listTickets(kv, agent, query, now)),
    share(`unassigned|${visible}`, () => unassignedCount(kv, agent)),
    assignedCount(kv, agent.id),
    share("closed", () => closedCount(kv)),
    share("departments", () => listDepartments(kv)),
    queue === "closed" ? share("agents", () => listAgents(kv)) : Promise.resolve([] as Agent[]),
  ]);
  const view: QueueView = {
    queue,
    query,
    filters,
    page,
    counts: { unassigned, assigned, closed },
    departments,
    filterDepartments: departments.filter((d) => visibleKeys.includes(d.id)),
    agentNames: new Map(agents.map((a) => [a.id, a.name])),
    me: agent.id,
    now,
    selected,
  };
  const back = queueUrl(queue, filters);
  // The rows, their keys and the list around them: once per list, whoever sees it.
  const list = await share(`rows|${listKey}`, async () => {
    const rows = await Promise.all(
      page.tickets.map((t) => rendered(<TicketRow view={view} ticket={t} />)),
    );
    return {
      ids: page.tickets.map((t) => t.id),
      keys: page.tickets.map((t) => hash53(rowKey(view, t))),
      html: new Map(page.tickets.map((t, i) => [t.id, rows[i]])),
      body: await rendered(<QueueListBody view={view} rows={raw(rows.join(""))} />),
    };
  });
  // The Unassigned count is the desk's (rule 32): its live event updates the tab and the Quick
  // Accept count too (static/alerts.js), so patches leave those pieces out (rule 33's bytes).
  const pieces: [string, string][] = [
    ["tab-assigned", String(assigned)],
    ["tab-closed", String(closed)],
    ["pager", page.nextCursor ? "next" : ""],
    ["pager-next", page.nextCursor ?? ""],
  ];
  const within: [string, string][] = [["pager-next", "pager"]];
  if (queue === "unassigned") {
    const sizes = unassigned === 0 ? "none" : quickSizes(unassigned).join(",");
    pieces.push(["quick-bar", `${sizes}|${back}`]);
  }
  const state = queueStates.remember(patchState({
    // What no piece or row covers: the list's address, and whether it has rows at all.
    frame: [listKey, page.tickets.length ? "rows" : "empty", page.truncated ? "cut" : ""].join("|"),
    pieces,
    within,
    rows: list.ids,
    rowKeys: list.keys,
  }));
  const version = state.version;
  const [tabs, quick, poller] = await Promise.all([
    rendered(<QueueTabs view={view} />),
    queue === "unassigned"
      ? share(
        `quick|${visible}|${back}`,
        () => rendered(<QuickAcceptBar available={unassigned} back={back} />),
      )
      : "",
    rendered(<ListPoller view={view} version={version} />),
  ]);
  const byId = new Map(page.tickets.map((t) => [t.id, t]));
  const drawing: PatchDrawing = {
    piece(id) {
      if (id.startsWith("tab-")) {
        return rendered(<QueueTab view={view} queue={id.slice(4) as ListQueue} oob />);
      }
      switch (id) {
        case "quick-bar":
          return rendered(<QuickAcceptBar available={unassigned} back={back} oob />);
        case "pager":
          return rendered(<Pager view={view} oob />);
        default:
          return rendered(<OlderLink view={view} oob />);
      }
    },
    row: (id) => rendered(<TicketRow view={view} ticket={byId.get(id)!} oob />),
    insert: (id, after) => rendered(<RowInsert after={after}>{raw(list.html.get(id)!)}</RowInsert>),
    remove: (id) => String(<RowRemoval id={id} />),
    marker: patchMarker,
  };
  return {
    view,
    parts: { tabs, quick, list: list.body + poller, version, state },
    drawing,
  };
}

/** The fragments for an htmx swap: the list in place, tabs and Quick Accept out of band. */
export function queueSwap(parts: QueueParts, withList: boolean): string {
  return (withList ? `<div id="queue-list" hx-swap-oob="innerHTML">${parts.list}</div>` : "") +
    `<nav id="queue-tabs" hx-swap-oob="innerHTML">${parts.tabs}</nav>` +
    (parts.quick ? `<div id="quick" hx-swap-oob="innerHTML">${parts.quick}</div>` : "");
}

/** What a ticket queue page updates live: its lists and counts, and its open ticket. */
export function queueLiveView(queue: ListQueue): LiveView {
  return (params) => {
    const selected = params.get("selected");
    return [
      {
        on: ["tickets", "chats"],
        render: async ({ desk, agent, share }) => {
          const { parts, drawing } = await queueParts(desk, agent, queue, params, share);
          return {
            parts: { tabs: parts.tabs, quick: parts.quick, list: parts.list },
            version: parts.version,
            state: parts.state,
            // Rule 33: single rows and counts, from the state this page had.
            async patch(from, had) {
              const before = (had as PatchState | undefined)?.version === from
                ? had as PatchState
                : queueStates.get(from);
              const patch = before && await patchHtml(before, parts.state, drawing);
              return patch ? { event: "patch", html: patch } : null;
            },
          };
        },
      },
      // The open ticket's thread, then its notes (rule 35: a note re-renders only the notes).
      ...selected
        ? [
          threadLivePart({ kind: "ticket", queue }, selected, foldOf(params.get("fold"))),
          notesLivePart("ticket", selected),
        ]
        : [],
    ];
  };
}
