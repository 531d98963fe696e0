/**
 * Sweeps (rules 5, 8, 9, 10, 21): apply every timeout that is due. Each transition happens at its
 * deadline, not at the sweep's time, and is a checked commit, so a sweep run twice, late or
 * concurrently changes nothing more than one run on time.
 */
import { isCurrent, writeConversation } from "./conversations.ts";
import { type Desk, kickDelivery } from "./desk.ts";
import { addOutbound, dispatchFor } from "./messages.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { getSettings, type Settings } from "./settings.ts";
import { archiveClosed, catchUpLastMessage, fileConversation, isOpen } from "./tickets.ts";
import type { Conversation, Customer, Ticket } from "./types.ts";
import { DAY, MINUTE } from "./clock.ts";

/** Applies the customer's due timeout, if any. Returns whether something changed. */
export async function settleConversation(
  desk: Desk,
  customerId: string,
  known?: Settings,
): Promise<boolean> {
  const { kv } = desk;
  const settings = known ?? await getSettings(kv);
  return await retryCommit(async () => {
    const [entry, openPointer, customer] = await kv.getMany<[Conversation, string, Customer]>([
      keys.conversation(customerId),
      keys.openTicketByCustomer(customerId),
      keys.customer(customerId),
    ]);
    const before = entry.value;
    const now = desk.clock.now();
    if (!before || before.state === "ended") return false;
    if (isCurrent(before, now)) {
      // Its deadline moved later since the due entry was written: move the entry, nothing more.
      if (before.dueAt === null || before.dueAt === undefined || before.dueAt > now) return false;
      const op = kv.atomic().check(entry);
      writeConversation(op, before, { ...before }, { reschedule: true });
      return (await op.commit()).ok ? false : undefined;
    }
    const at = before.deadline!;
    const op = kv.atomic().check(entry, openPointer);
    let after: Conversation = { ...before, state: "ended", deadline: null };
    // Intake or a chat from a ticket ends: the ticket's lastMessageAt catches up (rules 8, 17).
    if (before.state !== "pending") await catchUpLastMessage(kv, op, before, openPointer.value, at);
    if (before.state === "pending" && customer.value) {
      // Rule 5 (and 6, 7): an unanswered pending chat becomes a ticket, or joins the open one.
      const openEntry = openPointer.value
        ? await kv.get<Ticket>(keys.ticket(openPointer.value))
        : null;
      if (openEntry) op.check(openEntry);
      const existing = openEntry?.value && isOpen(openEntry.value) ? openEntry.value : null;
      const ticket = fileConversation(op, existing, before, customer.value, at);
      after = {
        ...before,
        state: "leaving_message",
        ticketId: ticket.id,
        deadline: at + settings.timeouts.intakeMinutes * MINUTE,
      };
      // Rule 24: the no-agent notice, then how to finish the message (the //end instruction).
      const to = { conversationId: before.id, customerId, route: before.route };
      for (const text of [settings.texts.noAgent, settings.texts.yesAck]) {
        addOutbound(op, to, at, dispatchFor(before.route), { author: "system", text });
      }
    }
    writeConversation(op, before, after);
    if (!(await op.commit()).ok) return undefined;
    if (before.state === "pending") kickDelivery(desk, customerId);
    return true;
  });
}

export interface SweepReport {
  conversations: number;
  archived: number;
  /** Items that threw; they are logged and retried by the next sweep. */
  failed: number;
}

/**
 * Every due sweep up to the clock's now: the conversation timers, then the archive. The test clock
 * calls this; the sweeps cron too. The timers of live instances run only the conversation part.
 */
export async function runDueSweeps(desk: Desk): Promise<SweepReport> {
  const report = await runConversationTimers(desk);
  report.archived = await runArchive(desk);
  return report;
}

/** Rules 5, 8, 9: every conversation deadline up to now, each applied once (rule 21). */
export async function runConversationTimers(desk: Desk): Promise<SweepReport> {
  const report: SweepReport = { conversations: 0, archived: 0, failed: 0 };
  const settings = await getSettings(desk.kv);
  // A transition can make another one due at once (a late pending → intake → ended): loop.
  for (let pass = 0; pass < 10; pass++) {
    const now = desk.clock.now();
    let changed = 0;
    for await (
      const due of desk.kv.list<string>({ prefix: keys.dueAll(), end: [...keys.dueAll(), now + 1] })
    ) {
      try {
        if (await settleConversation(desk, due.value, settings)) changed++;
        // Settling removed this entry in its own commit; one it left is stale: drop it if unchanged.
        else {await retryCommit(
            async () => (await desk.kv.atomic().check(due).delete(due.key).commit(), true),
          );}
      } catch (error) {
        // One customer's failure must not stop every other timer: report it and go on.
        report.failed++;
        console.error(`sweep: conversation of ${due.value} failed`, error);
      }
    }
    report.conversations += changed;
    if (changed === 0) break;
  }
  return report;
}

/** Rule 10: closed tickets older than the archive age leave the Closed list, in batches. */
export async function runArchive(desk: Desk): Promise<number> {
  const settings = await getSettings(desk.kv);
  const archiveAfter = settings.timeouts.archiveDays * DAY;
  let archived = 0;
  for (
    let batch = await archiveClosed(desk, archiveAfter);
    batch > 0;
    batch = await archiveClosed(desk, archiveAfter)
  ) {
    archived += batch;
  }
  return archived;
}
