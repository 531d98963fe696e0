/**
 * The one table of live views: every page that updates over `/events` names its view here
 * (`view=`), and the stream renders only what that view lists. A page that names none, or an
 * unknown one, gets the Unassigned queue's.
 */
import { chatsLiveView } from "./chats.tsx";
import type { LiveView, LiveViews } from "./parts.ts";
import { queueLiveView } from "./queues.tsx";

export const LIVE_VIEWS: LiveViews = {
  unassigned: queueLiveView("unassigned"),
  assigned: queueLiveView("assigned"),
  closed: queueLiveView("closed"),
  chats: chatsLiveView,
  /** Pages with nothing live but the desk's counts and alerts (rule 32): Admin, Supervisor. */
  desk: () => [],
};

const FALLBACK = "unassigned";

/** The view a page's `/events` names, or the fallback's. */
export function findView(views: LiveViews, name: string | null): LiveView {
  return (name !== null && Object.hasOwn(views, name) ? views[name] : undefined) ??
    views[FALLBACK] ?? (() => []);
}
