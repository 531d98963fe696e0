/**
 * The courier (rules 25–27): hands each customer's queued messages to the provider of its route,
 * one at a time and in order, after the commit that wrote them. Different customers never wait on
 * each other; provider calls are capped per route; provider errors never throw out of here.
 *
 * One attempt is two commits around the provider call: the first takes the customer's send lease
 * (real time) and counts the attempt, leaving a watchdog entry in the due index; the second
 * records the outcome (the provider id in the commit that marks the message `sent`) and drops the
 * lease and the watchdog. A crash between them leaves the watchdog, which brings the head back
 * after the lease ends: only that head message can be handed over twice (rule 27).
 *
 * No KV queues (rule 37): every later look at a queue is a due entry (`deliveryDue`), run by the
 * timers of every live instance (wakeups.ts) and the delivery cron through `startDue`/`runDue`.
 * On SIGINT/SIGTERM `stop` takes no new head and lets the calls in flight finish (rule 39).
 */
import {
  CHANNEL_SETTINGS_KEYS,
  channelSettingsFrom,
  credentialsVersionOf,
  getChannelSettings,
  pauseChannel,
  type ProviderChannel,
} from "./channel_settings.ts";
import type { ChannelSettings } from "./channel_settings.ts";
import { CHANNEL_FACTS } from "./channels.ts";
import { DAY, HOUR, MINUTE } from "./clock.ts";
import type { Desk } from "./desk.ts";
import { newId } from "./ids.ts";
import { latestInbound } from "./inbound.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { Slots } from "./slots.ts";
import { isOptedOut, OPTED_OUT } from "./opt_outs.ts";
import {
  advanceDelivery,
  type OutboxEntry,
  scheduleDelivery,
  withoutSchedule,
} from "./messages.ts";
import { apiChannelProvider } from "./providers/api_channel.ts";
import { metaProvider } from "./providers/meta.ts";
import type {
  Outgoing,
  Provider,
  ProviderConfig,
  ProviderRequest,
  ProviderRoute,
  ProviderUploadRequest,
  SendOutcome,
} from "./providers/provider.ts";
import { type FileStore, KvFileStore } from "./file_store.ts";
import { mediaLink } from "./media_links.ts";
import { twilioProvider } from "./providers/twilio.ts";
import { type Settings, withDefaults } from "./settings.ts";
import type {
  Attachment,
  Channel,
  Conversation,
  Customer,
  Delivery,
  DeliveryError,
  Message,
  Route,
} from "./types.ts";

/** Rule 25: waits after the 1st, 2nd, … failed attempt; hourly after these. */
export const RETRY_SCHEDULE_MS = [
  5_000,
  15_000,
  40_000,
  2 * MINUTE,
  5 * MINUTE,
  15 * MINUTE,
  30 *
  MINUTE,
];
/** Rule 25: retries stop this long after the first attempt. */
export const RETRY_BUDGET_MS = DAY;
/** Rule 26: an auto-reply older than this fails `stale` rather than reach the customer late. */
export const STALE_AUTO_REPLY_MS = HOUR;
/** Rule 26: provider calls at once per route, in this process. */
export const CALLS_PER_ROUTE = 20;
/** A status callback for an id not recorded yet is kept this long (rule 25). */
export const EARLY_STATUS_MS = 10 * MINUTE;
/** Rule 47: a provider's answer is read this far; the rest is discarded unread. */
export const PROVIDER_ANSWER_BYTES = 64 * 1024;
/** Provider ids are kept this long for status callbacks. */
const PROVIDER_ID_FOR = 30 * DAY;

export interface SendLease {
  owner: string;
  /** Real time (Date.now), not the desk clock: leases are about processes, not rules. */
  until: number;
}

/** The next wait after `attempts` failed attempts. */
export function retryDelay(attempts: number): number {
  return RETRY_SCHEDULE_MS[attempts - 1] ?? HOUR;
}

type Target =
  | { kind: "send"; route: ProviderRoute; channel: ProviderChannel; version: number }
  | { kind: "demo" }
  | { kind: "in_answer"; route: Route }
  | { kind: "hold"; route: ProviderRoute; error: DeliveryError }
  | { kind: "fail"; error: DeliveryError };

// deno-lint-ignore no-explicit-any
const PROVIDERS: Record<ProviderRoute, { provider: Provider<any>; channel: ProviderChannel }> = {
  meta: { provider: metaProvider, channel: "whatsapp" },
  twilio: { provider: twilioProvider, channel: "twilio" },
  api: { provider: apiChannelProvider, channel: "api" },
};

/** Rule 51: a file to Twilio needs a desk link, which needs the desk's public address. */
const NO_PUBLIC_URL: DeliveryError = {
  code: "no_public_url",
  message: "Twilio fetches files from the desk: set CHATDESK_PUBLIC_URL to send them.",
};

/** Rule 51: the file of a queued message is not in the store (nothing to upload). */
const FILE_MISSING: SendOutcome = {
  kind: "permanent",
  code: "file_missing",
  message: "The message's file is not in the desk's store.",
};

/** Rule 51: Meta keeps an uploaded file 30 days; a retry reuses its id a little less long. */
const MEDIA_ID_FOR = 29 * DAY;

const NO_CHANNEL: DeliveryError = {
  code: "no_channel",
  message: "The customer has no channel the desk can send on.",
};

/** Where a message to this customer goes now (each attempt uses the route at that moment). */
export function deliveryTarget(route: Route | null | undefined, all: ChannelSettings): Target {
  switch (route) {
    case "demo":
      return { kind: "demo" };
    case "webchat":
      return { kind: "in_answer", route };
    case "api": {
      const api = all.api;
      if (!api.enabled || !api.webhookUrl || !api.secret) {
        return { kind: "fail", error: NO_CHANNEL };
      }
      if (api.authFailed) return { kind: "hold", route, error: authHeld(api.authFailed) };
      return { kind: "send", route, channel: "api", version: api.credentialsVersion };
    }
    case "meta":
    case "twilio": {
      const channel = PROVIDERS[route].channel;
      const s = all[channel];
      if (!s.enabled) {
        return {
          kind: "hold",
          route,
          error: { code: "channel_disabled", message: "The channel is disabled." },
        };
      }
      if (s.authFailed) return { kind: "hold", route, error: authHeld(s.authFailed) };
      return { kind: "send", route, channel, version: s.credentialsVersion };
    }
    default:
      return { kind: "fail", error: NO_CHANNEL };
  }
}

/** One channel's entry among entries read for `CHANNEL_SETTINGS_KEYS`, in that order. */
function channelEntry(entries: Deno.KvEntryMaybe<unknown>[], channel: ProviderChannel) {
  return entries[CHANNEL_SETTINGS_KEYS.findIndex((key) => key[1] === channel)];
}

const authHeld = (e: DeliveryError): DeliveryError => ({
  code: "channel_auth_failed",
  message: `The provider refused the channel's credentials (${e.code}: ${e.message}).`,
});

/** Rule 26: checks made again before every attempt; a failure here is final. */
export function checkBeforeAttempt(
  message: Message,
  customer: Customer | null,
  conversation: Conversation | null,
  settings: Settings,
  now: number,
): DeliveryError | null {
  const queuedAt = message.delivery?.queuedAt ?? message.at;
  if (message.author === "system" && now - queuedAt > STALE_AUTO_REPLY_MS) {
    return { code: "stale", message: "This automatic reply is over an hour old; not sent late." };
  }
  if (!customer) return NO_CHANNEL;
  // Rule 44: Twilio refuses every message to a customer who texted STOP (21610).
  if (isOptedOut(customer)) return OPTED_OUT;
  const window = settings.timeouts.whatsappWindowHours * HOUR;
  if (
    CHANNEL_FACTS[customer.channel].freeTextWindow && !message.template &&
    now - latestInbound(customer, conversation) > window
  ) {
    return {
      code: "whatsapp_window_closed",
      message:
        `The customer's last WhatsApp message is older than ${settings.timeouts.whatsappWindowHours} hours: send an approved template.`,
    };
  }
  return null;
}

type Step = "next" | "idle" | "wait";

export interface CourierOptions {
  /** The HTTP client (tests may wrap it to count calls). */
  fetch?: typeof fetch;
  /** Rule 51: where agents' files are read from (a KV file store on the desk's store if not given). */
  files?: FileStore;
}

/** How many due entries one look at the delivery index takes at most (the rest: the next look). */
const DUE_BATCH = 200;

/** Delivers queued messages for one instance: kicks, timers, crons and the test clock call it. */
export class Courier {
  readonly owner = crypto.randomUUID();
  #running = new Map<string, { again: boolean; done: Promise<void> }>();
  #slots = new Map<ProviderRoute, Slots>();
  #fetch: typeof fetch;
  #files: FileStore;
  #stopping = false;

  constructor(
    readonly desk: Desk,
    readonly config: ProviderConfig,
    options: CourierOptions = {},
  ) {
    this.#fetch = options.fetch ?? fetch;
    this.#files = options.files ?? new KvFileStore(desk.kv);
  }

  /**
   * Works through one customer's queue until it is empty or waits (a retry, a held channel).
   * Calls for a customer already being worked on join that run, which looks once more at the end.
   */
  deliver(customerId: string, likely?: OutboxEntry): Promise<void> {
    const running = this.#running.get(customerId);
    if (running) {
      running.again = true;
      return running.done;
    }
    const state = { again: false, done: Promise.resolve() };
    state.done = (async () => {
      try {
        do {
          state.again = false;
          await this.#drain(customerId, likely);
          likely = undefined;
        } while (state.again);
      } finally {
        this.#running.delete(customerId);
      }
    })();
    this.#running.set(customerId, state);
    return state.done;
  }

  /**
   * Runs every retry (and watchdog) due by the desk clock, customer by customer, until none is
   * due, and waits for them: `POST /api/test/clock` calls this (rule 25).
   */
  async runDue(): Promise<number> {
    let runs = 0;
    for (let pass = 0; pass < 50; pass++) {
      const customers = await this.#claimDue();
      if (!customers.length) break;
      await Promise.all(customers.map((c) => this.#safely(c)));
      runs += customers.length;
    }
    return runs;
  }

  /**
   * Starts every customer whose queue is due without waiting for the provider calls, so a hung
   * provider never delays another customer's retry: the timers and the delivery cron call this.
   */
  async startDue(): Promise<number> {
    let started = 0;
    for (let pass = 0; pass < 20; pass++) {
      const customers = await this.#claimDue();
      for (const customerId of customers) void this.#safely(customerId);
      started += customers.length;
      if (customers.length < DUE_BATCH) break;
    }
    return started;
  }

  /** Takes due entries up to now, each by a checked delete: of several instances one runs it. */
  async #claimDue(): Promise<string[]> {
    if (this.#stopping) return [];
    const { kv, clock } = this.desk;
    const end = [...keys.deliveryDue(), clock.now() + 1];
    const due: Deno.KvEntry<string>[] = [];
    for await (
      const e of kv.list<string>({ prefix: keys.deliveryDue(), end }, { limit: DUE_BATCH })
    ) {
      due.push(e);
    }
    const customers = new Set<string>();
    // The claims go out together: one round trip for the lot.
    await Promise.all(due.map(async (entry) => {
      try {
        if ((await kv.atomic().check(entry).delete(entry.key).commit()).ok) {
          customers.add(entry.value);
        }
      } catch (error) {
        // A locked shared file: the entry stays and the next look takes it.
        console.error("delivery: could not claim a due entry", error);
      }
    }));
    return [...customers];
  }

  /**
   * Rule 39: takes no new head from now on and waits (at most `graceMs`) for the provider calls
   * in flight to finish and their outcomes to be recorded, which releases their leases. Queues it
   * stops short of get a due entry now, for another instance or the next start.
   */
  async stop(graceMs = 4_000): Promise<{ unfinished: number }> {
    this.#stopping = true;
    const all = Promise.all([...this.#running.values()].map((r) => r.done.catch(() => {})));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), graceMs)
    );
    await Promise.race([all, late]);
    clearTimeout(timer);
    return { unfinished: this.#running.size };
  }

  /** A channel was enabled or got new credentials: its held customers go again. */
  async resume(route: ProviderRoute): Promise<number> {
    const held: Deno.KvEntry<string>[] = [];
    for await (const e of this.desk.kv.list<string>({ prefix: keys.deliveryHeld(route) })) {
      held.push(e);
    }
    for (const e of held) await this.desk.kv.atomic().check(e).delete(e.key).commit();
    await Promise.all(held.map((e) => this.#safely(e.key[2] as string)));
    return held.length;
  }

  /** Admin › Integrations: one message straight to the provider, stored nowhere. */
  async sendTest(route: ProviderRoute, channel: Channel, to: string, text: string) {
    const all = await getChannelSettings(this.desk.kv);
    const { provider, channel: settingsKey } = PROVIDERS[route];
    const now = this.desk.clock.now();
    const message: Message = {
      id: newId(now),
      conversationId: "test",
      direction: "out",
      author: "system",
      text,
      at: now,
    };
    return (await this.#call(provider, route, all[settingsKey], {
      message,
      customerId: "test",
      channel,
      to,
      routeTo: null,
      ticketId: null,
    })).outcome;
  }

  /** A due entry for a later look at the customer's queue, in a commit of its own. */
  async #lookAgainAt(customerId: string, at: number) {
    const op = this.desk.kv.atomic();
    scheduleDelivery(op, customerId, at);
    await op.commit().catch((error) => console.error("delivery: could not schedule", error));
  }

  async #safely(customerId: string) {
    try {
      await this.deliver(customerId);
    } catch (error) {
      console.error(`delivery: customer ${customerId} failed`, error);
    }
  }

  async #drain(customerId: string, likely?: OutboxEntry) {
    // A bound on one run: a queue that keeps changing under us is picked up by the next look.
    for (let i = 0; i < 1000; i++) {
      if ((await this.#step(customerId, i === 0 ? likely : undefined)) !== "next") return;
    }
    await this.#lookAgainAt(customerId, this.desk.clock.now());
  }

  /**
   * One look at the customer's queue head: send it, finish it, or find it must wait. `likely`:
   * the head the caller expects (a message it just wrote), read together with the queue.
   */
  async #step(customerId: string, likely?: OutboxEntry): Promise<Step> {
    const { kv, clock } = this.desk;
    // Everything one attempt needs in one round trip (KV's limit is 10 keys).
    const attemptKeys = (to: OutboxEntry) => [
      keys.message(to.conversationId, to.messageId),
      keys.conversation(customerId),
      keys.customer(customerId),
      keys.sendLease(customerId),
      keys.settings(),
      keys.conversationTicket(to.conversationId),
      ...CHANNEL_SETTINGS_KEYS,
    ];
    const [listed, guessed] = await Promise.all([
      Array.fromAsync(kv.list<OutboxEntry>({ prefix: keys.outbox(customerId) }, { limit: 1 })),
      likely ? kv.getMany<unknown[]>(attemptKeys(likely)) : null,
    ]);
    const head = listed[0];
    if (!head) return "idle";
    const messageKey = keys.message(head.value.conversationId, head.value.messageId);
    const guessedRight = likely?.messageId === head.value.messageId &&
      likely.conversationId === head.value.conversationId;
    const entries = guessedRight && guessed
      ? guessed
      : await kv.getMany<unknown[]>(attemptKeys(head.value));
    const messageEntry = entries[0] as Deno.KvEntryMaybe<Message>;
    const conversationEntry = entries[1] as Deno.KvEntryMaybe<Conversation>;
    const customerEntry = entries[2] as Deno.KvEntryMaybe<Customer>;
    const leaseEntry = entries[3] as Deno.KvEntryMaybe<SendLease>;
    const settingsEntry = entries[4] as Deno.KvEntryMaybe<Partial<Settings>>;
    const ticketId = (entries[5] as Deno.KvEntryMaybe<string>).value;
    const message = messageEntry.value;
    const d = message?.delivery;
    if (!message || !d || d.status !== "queued") {
      await kv.atomic().check(head).delete(head.key).commit();
      return "next";
    }
    const lease = leaseEntry.value;
    const realNow = Date.now();
    const now = clock.now();
    if (lease && lease.until > realNow && lease.owner !== this.owner) {
      // Another instance is handing this head over; look again when its lease ends.
      await this.#lookAgainAt(customerId, now + (lease.until - realNow));
      return "wait";
    }
    if (d.nextAttemptAt !== undefined && d.nextAttemptAt > now) return "wait";

    const finish = async (delivery: Delivery, extra?: (op: Deno.AtomicOperation) => void) => {
      const op = kv.atomic().check(head!, messageEntry)
        .set(messageKey, { ...message, delivery })
        .delete(head!.key)
        .sum(keys.deliveryChanged(), 1n);
      dropSchedule(op, d, customerId);
      extra?.(op);
      await op.commit();
      return "next" as const;
    };

    const settings = withDefaults(settingsEntry.value);
    const failure = checkBeforeAttempt(
      message,
      customerEntry.value,
      conversationEntry.value,
      settings,
      now,
    );
    if (failure) return await finish(failed(d, failure, now));
    if (d.firstAttemptAt !== undefined && d.heldSince === undefined) {
      if (now > d.firstAttemptAt + RETRY_BUDGET_MS) {
        return await finish(failed(d, d.error ?? retryBudgetError(), now));
      }
    }
    const route = conversationEntry.value?.route;
    const channelEntries = entries.slice(6);
    const all = channelSettingsFrom(channelEntries);
    const target = deliveryTarget(route, all);
    switch (target.kind) {
      case "fail":
        return await finish(failed(d, target.error, now));
      case "demo":
        return await finish({
          ...withoutSchedule(d),
          status: "delivered",
          attempts: d.attempts + 1,
          route: "demo",
          updatedAt: now,
        });
      case "in_answer":
        return await finish({
          ...withoutSchedule(d),
          status: "sent",
          attempts: d.attempts + 1,
          route: target.route,
          updatedAt: now,
        });
      case "hold": {
        if (d.heldSince !== undefined && d.error?.code === target.error.code) {
          await kv.set(keys.deliveryHeld(target.route, customerId), customerId);
          return "wait";
        }
        const held: Delivery = {
          ...d,
          route: target.route,
          error: target.error,
          heldSince: d.heldSince ?? now,
        };
        // Rule 47: checked against the channel's settings, so new credentials saved meanwhile
        // (whose resume already looked for held queues) make this commit fail and look again.
        const op = kv.atomic().check(
          messageEntry,
          channelEntry(channelEntries, PROVIDERS[target.route].channel),
        )
          .set(messageKey, { ...message, delivery: held })
          .set(keys.deliveryHeld(target.route, customerId), customerId)
          .sum(keys.deliveryChanged(), 1n);
        return (await op.commit()).ok ? "wait" : "next";
      }
    }

    // Rule 51: a provider that fetches files (Twilio) needs the desk's public address.
    const { provider } = PROVIDERS[target.route];
    const attachment = message.attachments?.[0];
    if (attachment && provider.fetchesLinks && !this.config.publicUrl) {
      return await finish(failed(d, NO_PUBLIC_URL, now));
    }
    // Rule 51: one that takes files by upload (Meta) gets the id again while it lives.
    const mediaId = provider.upload && d.mediaId && d.mediaIdAt !== undefined &&
        now - d.mediaIdAt < MEDIA_ID_FOR
      ? d.mediaId
      : undefined;
    const uploads = !!attachment && !!provider.upload && !mediaId;

    if (this.#stopping) {
      // Rule 39: no new head while stopping; whoever runs next takes it at once.
      await this.#lookAgainAt(customerId, now);
      return "wait";
    }
    // Take the lease and count the attempt; a held message's budget resumes where it paused.
    let attempt: Delivery = {
      ...withoutSchedule(d),
      attempts: d.attempts + 1,
      route: target.route,
      firstAttemptAt: d.firstAttemptAt === undefined
        ? now
        : d.heldSince !== undefined
        ? d.firstAttemptAt + (now - d.heldSince)
        : d.firstAttemptAt,
      updatedAt: d.updatedAt,
    };
    // An attempt underway shows no earlier error: its own outcome writes the next one.
    const { error: _cleared, ...underway } = attempt;
    attempt = underway;
    // An attempt that uploads first makes two provider calls, each with its own timeout.
    const leaseMs = this.config.timeoutMs * (uploads ? 2 : 1) + 5_000;
    const watchdog = keys.deliveryDue(now + leaseMs, customerId);
    const take = kv.atomic().check(head, messageEntry, leaseEntry)
      .set(keys.sendLease(customerId), { owner: this.owner, until: realNow + leaseMs })
      .set(messageKey, { ...message, delivery: attempt });
    scheduleDelivery(take, customerId, now + leaseMs);
    dropSchedule(take, d, customerId);
    if (d.heldSince !== undefined) take.sum(keys.deliveryChanged(), 1n);
    const taken = await take.commit();
    if (!taken.ok) return "next";

    const customer = customerEntry.value!;
    const called = await this.#call(provider, target.route, all[target.channel], {
      message,
      customerId,
      channel: customer.channel,
      to: customer.from,
      routeTo: conversationEntry.value?.routeTo ?? null,
      ticketId,
      ...(mediaId ? { mediaId } : {}),
    }, attachment);
    return await this.#settle(
      customerId,
      head,
      messageKey,
      watchdog,
      target,
      called.outcome,
      called.mediaId !== mediaId ? called.mediaId : undefined,
    );
  }

  /** Records what the provider answered, in one commit with the lease and watchdog dropped. */
  async #settle(
    customerId: string,
    head: Deno.KvEntry<OutboxEntry>,
    messageKey: Deno.KvKey,
    watchdog: Deno.KvKey,
    target: Extract<Target, { kind: "send" }>,
    outcome: SendOutcome,
    /** Rule 51: a media id this attempt's upload got (kept for the next attempt). */
    uploaded?: string,
  ): Promise<Step> {
    const { kv, clock } = this.desk;
    if (outcome.kind === "auth") {
      await pauseChannel(kv, target.channel, target.version, outcome, clock.now());
    }
    return await retryCommit(async () => {
      const now = clock.now();
      const [entry, settingsEntry] = await kv.getMany<[Message, unknown]>([
        messageKey,
        keys.channelSettings(target.channel),
      ]);
      const message = entry.value;
      const op = kv.atomic().check(entry)
        .delete(watchdog)
        .delete(keys.sendLease(customerId))
        .sum(keys.deliveryChanged(), 1n);
      if (!message?.delivery || message.delivery.status !== "queued") {
        // Finished meanwhile (a lease that ran out let another process settle it).
        return (await op.delete(head.key).commit()).ok ? "next" as const : undefined;
      }
      const d = message.delivery;
      let delivery: Delivery;
      let step: Step = "next";
      switch (outcome.kind) {
        case "accepted": {
          delivery = { ...withoutSchedule(d), status: "sent", updatedAt: now };
          delete delivery.error;
          if (outcome.providerId) {
            delivery.providerId = outcome.providerId;
            const pointer: OutboxEntry = {
              conversationId: message.conversationId,
              messageId: message.id,
            };
            const earlyKey = keys.earlyStatus(target.route, outcome.providerId);
            const early = await kv.get<EarlyStatus>(earlyKey);
            op.check(early).delete(earlyKey)
              .set(keys.providerMessage(target.route, outcome.providerId), pointer, {
                expireIn: PROVIDER_ID_FOR,
              });
            // A callback that came before this commit is applied by it.
            if (early.value && now - early.value.at <= EARLY_STATUS_MS) {
              delivery = advanceDelivery(delivery, early.value.status, early.value.error, now) ??
                delivery;
            }
          }
          op.delete(head.key);
          break;
        }
        case "permanent":
          delivery = failed(d, { code: outcome.code, message: outcome.message }, now);
          op.delete(head.key);
          break;
        case "retry": {
          const error = { code: outcome.code, message: outcome.message };
          const left = (d.firstAttemptAt ?? now) + RETRY_BUDGET_MS - now;
          if (left <= 0) {
            delivery = failed(d, error, now);
            op.delete(head.key);
            break;
          }
          // Retry-After replaces the next wait, capped at what is left of the budget.
          const wait = Math.max(
            1000,
            Math.min(outcome.retryAfterMs ?? retryDelay(d.attempts), left),
          );
          delivery = { ...d, error, nextAttemptAt: now + wait, updatedAt: now };
          scheduleDelivery(op, customerId, now + wait);
          step = "wait";
          break;
        }
        case "auth": {
          if (credentialsVersionOf(settingsEntry) !== target.version) {
            // Rule 47: the credentials changed while this call was in flight: the refusal was for
            // the old ones, so the message goes again with the new ones instead of pausing.
            delivery = { ...d, error: authHeld(outcome), updatedAt: now };
            scheduleDelivery(op, customerId, now);
            break;
          }
          // Checked, so a change of credentials after this read makes the commit look again.
          op.check(settingsEntry);
          delivery = {
            ...d,
            error: authHeld(outcome),
            heldSince: now,
            updatedAt: now,
          };
          op.set(keys.deliveryHeld(target.route, customerId), customerId);
          step = "wait";
          break;
        }
      }
      if (uploaded) delivery = { ...delivery, mediaId: uploaded, mediaIdAt: now };
      op.set(messageKey, { ...message, delivery });
      return (await op.commit()).ok ? step : undefined;
    });
  }

  /**
   * One attempt's provider calls, capped per route, each timed out in real time; never throws.
   * Rule 51: with a file, Meta gets it uploaded first (unless `out.mediaId` is a live upload's)
   * and Twilio a signed desk link to it; `mediaId` is a new upload's id, kept even when the send
   * after it failed.
   */
  async #call(
    // deno-lint-ignore no-explicit-any
    provider: Provider<any>,
    route: ProviderRoute,
    settings: unknown,
    out: Outgoing,
    attachment?: Attachment,
  ): Promise<{ outcome: SendOutcome; mediaId?: string }> {
    let slots = this.#slots.get(route);
    if (!slots) this.#slots.set(route, slots = new Slots(CALLS_PER_ROUTE));
    return await slots.run(async () => {
      const now = this.desk.clock.now();
      let mediaId = out.mediaId;
      try {
        let mediaUrl: string | undefined;
        if (attachment && provider.upload && provider.uploaded && !mediaId) {
          const opened = await this.#files.open(attachment.id);
          if (!opened) return { outcome: FILE_MISSING };
          // Read whole (≤ 16 MiB) so the upload has a Content-Length: no chunked body.
          const bytes = await new Response(opened.body).blob();
          const request = provider.upload(
            { attachment, body: bytes },
            settings,
            this.config,
          );
          const classify = provider.uploaded.bind(provider);
          const up = await this.#exchange(request, (s, h, b) => classify(s, h, b, now));
          if (up.kind !== "uploaded") return { outcome: up };
          mediaId = up.mediaId;
        }
        if (attachment && provider.fetchesLinks && this.config.publicUrl) {
          mediaUrl = await mediaLink(this.desk.kv, this.config.publicUrl, attachment.id, now);
        }
        const request = await provider.request(
          { ...out, ...(mediaId ? { mediaId } : {}), ...(mediaUrl ? { mediaUrl } : {}) },
          settings,
          this.config,
          now,
        );
        const outcome = await this.#exchange(
          request,
          (s, h, b) => provider.classify(s, h, b, now),
        );
        return { outcome, mediaId };
      } catch (error) {
        const timedOut = error instanceof DOMException &&
          (error.name === "TimeoutError" || error.name === "AbortError");
        const outcome: SendOutcome = timedOut
          ? {
            kind: "retry",
            code: "timeout",
            message: `No answer within ${this.config.timeoutMs} ms.`,
          }
          : {
            kind: "retry",
            code: "network_error",
            message: String((error as Error)?.message ?? error).slice(0, 200),
          };
        return { outcome, mediaId };
      }
    });
  }

  /** One HTTP exchange with a provider, its answer read up to rule 47's bound and classed. */
  async #exchange<T>(
    request: ProviderRequest | ProviderUploadRequest,
    classify: (status: number, headers: Headers, body: string) => T,
  ): Promise<T> {
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    const response = await this.#fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
      redirect: "manual",
    });
    const body = await readUpTo(response, PROVIDER_ANSWER_BYTES);
    return classify(response.status, response.headers, body);
  }
}

export interface EarlyStatus {
  status: Exclude<Delivery["status"], "queued">;
  error?: DeliveryError;
  /** Desk clock time it arrived: kept for 10 minutes. */
  at: number;
}

function failed(d: Delivery, error: DeliveryError, at: number): Delivery {
  return { ...withoutSchedule(d), status: "failed", error, updatedAt: at };
}

const retryBudgetError = (): DeliveryError => ({
  code: "retry_budget_exhausted",
  message: "The provider did not accept the message within 24 hours.",
});

/** Drops a waiting retry's due entry and a hold mark in the caller's commit. */
function dropSchedule(op: Deno.AtomicOperation, d: Delivery, customerId: string) {
  if (d.nextAttemptAt !== undefined) op.delete(keys.deliveryDue(d.nextAttemptAt, customerId));
  if (d.heldSince !== undefined && d.route) op.delete(keys.deliveryHeld(d.route, customerId));
}

/** The start of a body, at most `limit` bytes; the rest is cancelled, never buffered. */
export async function readUpTo(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value.subarray(0, limit - size));
      size += Math.min(value.length, limit - size);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}
