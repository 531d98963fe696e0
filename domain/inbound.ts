/** Inbound messages: rules 1–4 and 6 on one checked commit per message, retried on a lost race. */
import { agentAvailable, onlineAgents } from "./agents.ts";
import { isOpenAt } from "./business_hours.ts";
import { isCurrent, PROMPT_ANSWERS, routeInbound, writeConversation } from "./conversations.ts";
import { MINUTE } from "./clock.ts";
import { type Desk, kickDelivery, kickMediaFetch } from "./desk.ts";
import { Invalid } from "./errors.ts";
import { customerIdFor, newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { bump, retryCommit } from "./kv_util.ts";
import { type Settings, withDefaults } from "./settings.ts";
import { settleConversation } from "./sweeps.ts";
import { fileConversation, isOpen, writeTicket } from "./tickets.ts";
import { CHANNEL_FACTS, MAX_MESSAGE_LENGTH, refuseVisitorAddress } from "./channels.ts";
import type { ApiChannelSettings } from "./channel_settings.ts";
import { addMessage, addOutbound, dispatchFor, headOf } from "./messages.ts";
import { withOptOut } from "./opt_outs.ts";
import { applyMessageChange, rememberInbound } from "./message_changes.ts";
import { cutText, type InboundMedia } from "./providers/provider.ts";
import { queueMediaFetch } from "./media_fetch.ts";
import {
  type Attachment,
  type Channel,
  CHANNELS,
  type Conversation,
  type Customer,
  type Message,
  type MessageChange,
  type OptOutKind,
  type Place,
  type Route,
  type Ticket,
} from "./types.ts";
import { asBody, oneLineName, oneOf, str } from "./validate.ts";

const PREVIEW_LENGTH = 140;
const SEEN_FOR = 7 * 24 * 3600_000;

export interface InboundMessage {
  channel: Channel;
  from: string;
  text: string;
  id?: string;
  department?: string;
  name?: string;
  /** Where it came in (SPEC "Routes"); outbound messages go back the same way. */
  route: Route;
  /** The desk's own address it was sent to (Twilio `To`, Meta phone number id). */
  routeTo?: string | null;
  /** The provider's name for the customer (WhatsApp profile name). */
  profileName?: string;
  /** The provider's time of the message (epoch ms). */
  providerAt?: number;
  /** Reactions and system notices: stored on the current conversation, never routed. */
  passive?: boolean;
  /** Rule 44: an opt-out, opt-in or help keyword (Twilio). */
  optOut?: OptOutKind;
  /** Rule 46: an edit (`text` is the new text) or deletion of the customer's earlier message. */
  change?: MessageChange;
  /** Rule 49: files announced by the provider, fetched after the webhook is answered. */
  media?: InboundMedia[];
  /** Rule 52: files a web chat visitor uploaded, already in the store. */
  attachments?: Attachment[];
  /** Rule 49: a shared place. */
  location?: Place;
}

export interface InboundResult {
  customerId: string;
  conversation: { state: Conversation["state"] };
  ticketId: string | null;
  /** The auto-replies this message caused, with their delivery (rule 24). */
  replies: Message[];
  duplicate?: boolean;
  /** The customer's message as stored (none for a repeat, an edit or a deletion). */
  message?: Message;
  /** Rule 49: attachments whose files this message queued for fetching. */
  fetching?: string[];
}

/** Validates a provider's message; a bad one is refused with a field error, never half-stored. */
export async function parseInbound(kv: Deno.Kv, input: unknown): Promise<InboundMessage> {
  const body = asBody(input);
  const channel = oneOf(body, "channel", CHANNELS);
  const from = str(body, "from", { max: 128 }).trim();
  if (!CHANNEL_FACTS[channel].address.test(from)) {
    throw new Invalid("invalid_address", `"from" is not a valid ${channel} address.`, {
      from: "Invalid address.",
    });
  }
  refuseVisitorAddress(channel, from);
  if (typeof body.text !== "string") {
    throw new Invalid("missing_field", '"text" is required.', { text: "Required." });
  }
  const text = body.text;
  if (text.length > MAX_MESSAGE_LENGTH) {
    throw new Invalid(
      "text_too_long",
      `"text" must have at most ${MAX_MESSAGE_LENGTH} characters.`,
      { text: "Too long." },
    );
  }
  if (text.trim() === "") {
    throw new Invalid("empty_text", '"text" must not be empty.', { text: "Empty." });
  }
  const id = str(body, "id", { max: 200, optional: true });
  const typed = str(body, "name", { max: 100, optional: true });
  const name = typed === undefined ? undefined : oneLineName(typed);
  const department = str(body, "department", { max: 64, optional: true });
  if (department !== undefined && !(await kv.get(keys.department(department))).value) {
    throw new Invalid("unknown_department", `Unknown department "${department}".`, {
      department: "Unknown.",
    });
  }
  return { channel, from, text, id, department, name, route: "api" };
}

/** Rules 1–4, 6: stores the message once and moves the customer's conversation on. */
export async function receiveInbound(desk: Desk, message: InboundMessage): Promise<InboundResult> {
  const customerId = await customerIdFor(message.channel, message.from);
  // Rule 46: an edit or deletion changes the message it names, and starts or sends nothing; one
  // naming a message the desk does not know is kept as a passive message below.
  const changed = message.change
    ? await applyMessageChange(desk, { ...message, change: message.change }, customerId)
    : null;
  if (changed) {
    const current = isCurrent(changed.conversation, desk.clock.now()) ? changed.conversation : null;
    return {
      ...passiveResult(customerId, current),
      ...(changed.duplicate ? { duplicate: true } : {}),
    };
  }
  if (message.change) {
    const text = message.change.kind === "edit" ? `[edit] ${message.text}` : "[revoke]";
    message = { ...message, text: cutText(text, MAX_MESSAGE_LENGTH), passive: true };
  }
  const result = await retryCommit(() => attemptInbound(desk, message, customerId));
  const queued = result.replies.find((m) => m.delivery?.status === "queued");
  if (queued) kickDelivery(desk, customerId, headOf(queued));
  // Rule 49: the files are fetched after this answer, by this instance at once (the due entries
  // written with the message are the backstop).
  for (const id of result.fetching ?? []) kickMediaFetch(desk, id);
  return result;
}

async function attemptInbound(desk: Desk, message: InboundMessage, customerId: string) {
  const { kv } = desk;
  const now = desk.clock.now();
  const seenKey = message.id ? keys.inboundSeen(message.channel, customerId, message.id) : null;
  // One round trip reads everything a message may need (the customer id comes from its address),
  // the agents online among it: a message that starts a conversation asks for them (rule 41).
  const online = onlineAgents(kv);
  online.catch(() => {});
  const [customerEntry, conversationEntry, openEntry, settingsEntry, seen, apiEntry] = await kv
    .getMany<
      [Customer, Conversation, string, Partial<Settings>, string, Partial<ApiChannelSettings>]
    >([
      keys.customer(customerId),
      keys.conversation(customerId),
      keys.openTicketByCustomer(customerId),
      keys.settings(),
      seenKey ?? keys.settings(),
      keys.channelSettings("api"),
    ]);
  if (seenKey && seen.value) return await repeatedResult(desk, seen.value);
  const settings = withDefaults(settingsEntry.value);

  // The conversation check serializes one customer's messages; the customer record is checked
  // only when this commit writes it (a new customer, or a new name).
  const op = kv.atomic().check(conversationEntry, openEntry);
  if (seenKey) {
    op.check({ key: seenKey, versionstamp: null }).set(seenKey, customerId, { expireIn: SEEN_FOR });
  }
  const known = customerEntry.value;
  const customer: Customer = known ?? {
    id: customerId,
    channel: message.channel,
    from: message.from,
    name: message.name ?? message.profileName ?? message.from,
    profileName: message.profileName ?? null,
    createdAt: now,
    lastInboundAt: now,
  };
  // The customer record changes only when new or renamed; the latest inbound time lives on the
  // conversation, which every message rewrites anyway.
  const renamed = known ? renamedCustomer(known, message) : null;
  // Rule 44: STOP and START mark the customer in this commit (its record is read above).
  const marked = withOptOut(renamed ?? customer, message.optOut, now);
  if (!known || marked !== known) op.check(customerEntry).set(keys.customer(customerId), marked);
  const optOutChanged = (marked.optedOutAt ?? null) !== (known?.optedOutAt ?? null);
  if (optOutChanged) bump(op, keys.deliveryChanged());

  const before = conversationEntry.value;
  // Rule 44: STOP and HELP get no desk reply and start nothing (Twilio answers them itself); in
  // a pending or live chat they join it like any message.
  const quiet = (message.optOut === "stop" || message.optOut === "help") &&
    !(before && isCurrent(before, now) && (before.state === "pending" || before.state === "live"));
  if (message.passive || quiet) {
    // Reactions and notices join the current conversation as they are; they start nothing.
    if (!before) {
      // Nothing to join: an opt-out still marks the customer.
      if (optOutChanged && !(await op.commit()).ok) return undefined;
      return passiveResult(customerId, null);
    }
    const { stored, fetching } = addInbound(op, before.id, now, message, customerId);
    rememberInbound(op, message.channel, customerId, message.id, stored);
    if (!(await op.commit()).ok) return undefined;
    return { ...passiveResult(customerId, before), message: stored, fetching };
  }
  // A conversation past its deadline that no sweep has settled yet is settled first (rules 5, 8, 9).
  if (before && before.state !== "ended" && !isCurrent(before, now)) {
    await settleConversation(desk, customerId, settings);
    return undefined;
  }
  const current = before && isCurrent(before, now) ? before : null;
  let route = routeInbound(current?.state ?? null, message.text);
  // The open-ticket pointer (read and checked above) tells whether the intake's ticket is still
  // open; an agent may have closed it meanwhile, and then the message starts afresh (rule 4).
  const ticketStillOpen = current?.ticketId != null && current.ticketId === openEntry.value;
  if (route.kind === "intake_message" && !ticketStillOpen) route = { kind: "start" };
  // Only a YES that merges and a //end rewrite the ticket record: read it just for them.
  const ticketEntry = openEntry.value &&
      (route.kind === "open_intake" || (route.kind === "intake_message" && route.endsIntake))
    ? await kv.get<Ticket>(keys.ticket(openEntry.value))
    : null;
  if (ticketEntry) op.check(ticketEntry);

  const replies: string[] = [];
  let conversation: Conversation;
  if (route.kind === "start") {
    const department = message.department ?? null;
    const open = isOpenAt(settings.hours, now);
    const pending = open && agentAvailable(await online, department);
    conversation = {
      id: newId(now),
      customerId,
      route: message.route,
      routeTo: message.routeTo ?? null,
      state: pending ? "pending" : "awaiting_reply",
      department,
      startedAt: now,
      lastActivityAt: now,
      deadline: now +
        (pending ? settings.timeouts.pendingMinutes : settings.timeouts.sessionMinutes) * MINUTE,
      ticketId: null,
      agentId: null,
      fromTicket: false,
      firstText: message.text.trim().slice(0, PREVIEW_LENGTH),
      lastInboundAt: now,
      dueAt: null,
    };
    if (!pending) {
      replies.push(
        open ? settings.texts.noAgent : settings.texts.outOfHours,
        settings.texts.prompt,
      );
    }
  } else {
    conversation = {
      ...current!,
      lastActivityAt: now,
      lastInboundAt: now,
      route: message.route,
      routeTo: message.routeTo ?? null,
    };
    switch (route.kind) {
      case "intake_message": {
        if (route.endsIntake) {
          const ticket = ticketEntry!.value!;
          writeTicket(op, ticket, { ...ticket, lastMessageAt: now }, now);
          conversation = { ...conversation, state: "ended", deadline: null };
          replies.push(settings.texts.endAck);
        } else {
          // The ticket's lastMessageAt catches up at //end or when intake times out.
          bump(op, keys.ticketsChanged());
          conversation.deadline = now + settings.timeouts.intakeMinutes * MINUTE;
        }
        break;
      }
      case "open_intake": {
        const existing = ticketEntry?.value && isOpen(ticketEntry.value) ? ticketEntry.value : null;
        const ticket = fileConversation(op, existing, conversation, customer, now);
        conversation = {
          ...conversation,
          state: "leaving_message",
          ticketId: ticket.id,
          deadline: now + settings.timeouts.intakeMinutes * MINUTE,
        };
        replies.push(settings.texts.yesAck);
        break;
      }
      case "decline":
        conversation = { ...conversation, state: "ended", deadline: null };
        replies.push(settings.texts.noGoodbye);
        break;
      case "reprompt":
        // The prompt is asked again, so its timeout starts again (rule 9).
        conversation.deadline = now + settings.timeouts.sessionMinutes * MINUTE;
        replies.push(settings.texts.prompt);
        break;
      case "chat_message":
        if (conversation.state === "live") {
          conversation.deadline = now + settings.timeouts.sessionMinutes * MINUTE;
        }
        if (ticketStillOpen) bump(op, keys.ticketsChanged());
        // The open chat shows it at once, whatever became of its ticket.
        bump(op, keys.deliveryChanged());
        break;
    }
  }
  writeConversation(op, before, conversation);
  const { stored, fetching } = addInbound(op, conversation.id, now, message, customerId);
  rememberInbound(op, message.channel, customerId, message.id, stored);
  // Rule 24: API customers are answered in the HTTP answer unless the API channel has a webhook.
  const api = apiEntry.value;
  const dispatch = dispatchFor(message.route, !(api?.enabled && api.webhookUrl));
  const to = { conversationId: conversation.id, customerId, route: message.route };
  const sent = replies.map((text) =>
    addOutbound(op, to, now, dispatch, {
      author: "system",
      text,
      // Rule 55: the YES/NO prompt offers its two answers as buttons where the channel can.
      ...(text === settings.texts.prompt ? { quickReplies: [...PROMPT_ANSWERS] } : {}),
    })
  );
  if (!(await op.commit()).ok) return undefined;
  return {
    customerId,
    conversation: { state: conversation.state },
    ticketId: conversation.ticketId ?? openEntry.value ?? null,
    replies: sent,
    message: stored,
    fetching,
  };
}

/**
 * The customer's message in the caller's commit, with its attachments (rule 49): each points to
 * the message, and each announced file gets a fetch job due now. Answers the ids to fetch.
 */
function addInbound(
  op: Deno.AtomicOperation,
  conversationId: string,
  now: number,
  message: InboundMessage,
  customerId: string,
): { stored: Message; fetching: string[] } {
  const announced = (message.media ?? []).map((m) => ({
    media: m,
    attachment: {
      id: newId(now),
      kind: m.kind,
      mime: m.mime,
      size: m.size ?? 0,
      ...(m.filename ? { filename: m.filename } : {}),
      status: "fetching",
    } satisfies Attachment,
  }));
  const attachments = [...(message.attachments ?? []), ...announced.map((a) => a.attachment)];
  const stored = addMessage(op, conversationId, now, {
    direction: "in" as const,
    author: "customer",
    text: message.text,
    customerId,
    ...(message.providerAt !== undefined ? { providerAt: message.providerAt } : {}),
    ...(attachments.length ? { attachments } : {}),
    ...(message.location ? { location: message.location } : {}),
  });
  for (const { media, attachment } of announced) {
    const of = { conversationId, messageId: stored.id, customerId };
    queueMediaFetch(op, attachment.id, media.source, of, now);
  }
  return { stored, fetching: announced.map((a) => a.attachment.id) };
}

/**
 * A new provider profile name (or an API name) for a known customer, or null if nothing changed.
 * Rule 36: a name an agent edited wins; the provider's profile name is still recorded.
 */
function renamedCustomer(known: Customer, message: InboundMessage): Customer | null {
  let next = known;
  const agentNamed = known.nameSetByAgent === true;
  if (!agentNamed && message.name && message.name !== known.name) {
    next = { ...next, name: message.name };
  }
  const profile = message.profileName;
  if (profile && profile !== (known.profileName ?? null)) {
    // The provider's name replaces a name that was only the address or its older profile name.
    const providerNamed = !agentNamed &&
      (known.name === known.from || known.name === known.profileName);
    next = { ...next, profileName: profile, ...(providerNamed ? { name: profile } : {}) };
  }
  // Every change bumps the version staff edits are checked against (rule 36's `ifVersion`).
  return next === known ? null : { ...next, version: (known.version ?? 1) + 1 };
}

function passiveResult(customerId: string, current: Conversation | null): InboundResult {
  return {
    customerId,
    conversation: { state: current?.state ?? "ended" },
    ticketId: current?.ticketId ?? null,
    replies: [],
  };
}

/** A provider's retry of a stored message: the customer's state now, and nothing sent again. */
async function repeatedResult(desk: Desk, customerId: string): Promise<InboundResult> {
  const state = await customerState(desk, customerId);
  if (!state) throw new Error(`customer ${customerId} is missing its record`);
  return {
    customerId,
    conversation: { state: state.conversation.state },
    ticketId: state.ticketId,
    replies: [],
    duplicate: true,
  };
}

/** The customer's latest inbound message time (rule 18): the conversation carries it forward. */
export function latestInbound(customer: Customer, conversation: Conversation | null): number {
  return Math.max(customer.lastInboundAt, conversation?.lastInboundAt ?? 0);
}

/** `GET /api/customers/:id` and the answer to a repeated provider message. */
export async function customerState(desk: Desk, customerId: string) {
  const [customer, conversation, open] = await desk.kv.getMany<[Customer, Conversation, string]>([
    keys.customer(customerId),
    keys.conversation(customerId),
    keys.openTicketByCustomer(customerId),
  ]);
  if (!customer.value) return null;
  const current = isCurrent(conversation.value, desk.clock.now()) ? conversation.value : null;
  const state = current?.state ?? "ended";
  return {
    customerId,
    customer: {
      ...customer.value,
      lastInboundAt: latestInbound(customer.value, conversation.value),
    },
    conversation: {
      state,
      ...(state === "pending" || state === "live" ? { chatId: current!.id } : {}),
    },
    ticketId: current?.ticketId ?? open.value ?? null,
    openTicketId: open.value ?? null,
  };
}
