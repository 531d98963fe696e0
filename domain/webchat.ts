/**
 * Web chat, the customer's side of the desk (rule 30): visitors and their bearer tokens (stored
 * hashed, 30 days unused, revocable), the two volume limits, the visitor's thread (every in and
 * out message of its customer), receipts that move delivery marks, and one-use stream tickets
 * (the stream itself, and the hub that wakes it when its thread changes, are in live/webchat.ts).
 *
 * A visitor's message goes through `receiveInbound` like any channel's (rules 1–4): the visitor id
 * is the address, its `clientId` the provider message id, so a resend stores nothing twice.
 */
import {
  baseMime,
  checkSendable,
  placeholderText,
  sniffedType,
  storeUpload,
} from "./attachments.ts";
import { getChannelSettings } from "./channel_settings.ts";
import { CHANNEL_FACTS, VISITOR_PREFIX } from "./channels.ts";
import { DAY, HOUR, MINUTE } from "./clock.ts";
import { isCurrent } from "./conversations.ts";
import { visitorLabel } from "./customer_names.ts";
import type { Desk } from "./desk.ts";
import {
  DeskError,
  Invalid,
  NotFound,
  TooManyRequests,
  Unauthorized,
  UnsupportedType,
} from "./errors.ts";
import type { FileStore } from "./file_store.ts";
import { customerIdFor, newId } from "./ids.ts";
import { type InboundResult, receiveInbound } from "./inbound.ts";
import { keys } from "./keys.ts";
import { getAll, retryCommit } from "./kv_util.ts";
import { advanceDelivery, findMessage } from "./messages.ts";
import { hashToken, newToken } from "./passwords.ts";
import { addressGroup } from "./sessions.ts";
import type { Agent, Conversation, Message } from "./types.ts";
import { asBody, oneOf } from "./validate.ts";

export const NEW_VISITORS_PER_HOUR = 10;
export const MESSAGES_PER_MINUTE = 30;
/** Rule 52: files one visitor may send per clock hour. */
export const FILES_PER_HOUR = 10;
/** Stream tickets per visitor per minute: reconnects are a few, a loop minting them is not. */
export const STREAM_TICKETS_PER_MINUTE = 20;
export const TOKEN_UNUSED_LIMIT = 30 * DAY;
export const STREAM_TICKET_MS = 60_000;
/** A visitor's page of thread messages. */
export const THREAD_PAGE = 100;
/** How stale a token's last-use stamp may get before a request rewrites it (a write per use is waste). */
const TOUCH_EVERY = 10 * MINUTE;
const CLIENT_IDS_KEPT = 7 * DAY;
const RECEIPT_BATCH = 50;

const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export interface Visitor {
  id: string;
  customerId: string;
  /** The SHA-256 of the bearer token this request came with. */
  tokenHash: string;
}

interface VisitorRecord {
  id: string;
  createdAt: number;
  /** The current token's hash; null once revoked. */
  tokenHash: string | null;
  revokedAt: number | null;
}

interface TokenRecord {
  visitorId: string;
  createdAt: number;
  lastUsedAt: number;
}

interface StreamTicket {
  visitorId: string;
  tokenHash: string;
  expiresAt: number;
}

/** How far receipts have moved a visitor's marks: the last message id walked per state. */
interface ReceiptMarks {
  delivered?: string;
  read?: string;
}

/** Web chat switched off by the admin: no new visitors, no new messages. */
export class WebchatDisabled extends DeskError {
  constructor() {
    super(403, "webchat_disabled", "Web chat is turned off; the desk is not taking chats here.");
  }
}

async function requireEnabled(kv: Deno.Kv): Promise<void> {
  if (!(await getChannelSettings(kv)).webchat.enabled) throw new WebchatDisabled();
}

/**
 * Rule 30: counts one use of a limited action in a sliding window, in a checked commit so parallel
 * requests cannot all slip under the limit. Past the limit: 429 with the wait until a slot frees.
 */
async function takeQuota(
  kv: Deno.Kv,
  key: Deno.KvKey,
  limit: number,
  windowMs: number,
  now: number,
  what: string,
): Promise<void> {
  await retryCommit(async () => {
    const entry = await kv.get<number[]>(key);
    const stored = Array.isArray(entry.value) ? entry.value : [];
    const recent = stored.filter((t) => typeof t === "number" && t > now - windowMs).sort((a, b) =>
      a - b
    );
    if (recent.length >= limit) {
      const wait = recent[recent.length - limit] + windowMs - now;
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      const when = seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
      throw new TooManyRequests(`${what}; try again in ${when}.`, seconds);
    }
    recent.push(now);
    const op = kv.atomic().check(entry).set(key, recent, { expireIn: windowMs });
    return (await op.commit()).ok ? true : undefined;
  });
}

/**
 * `POST /webchat/api/visitors`: a new visitor and its token (shown once; only its hash is kept).
 * Rule 30: at most 10 new visitors per client address per hour; an IPv6 address counts per /64
 * (one customer's network hands out a whole /64, so per address the limit would be no limit).
 */
export async function createVisitor(
  desk: Desk,
  address: string,
): Promise<{ visitorId: string; token: string }> {
  const { kv, clock } = desk;
  await requireEnabled(kv);
  await takeQuota(
    kv,
    keys.webchatQuota("visitors", addressGroup(address)),
    NEW_VISITORS_PER_HOUR,
    HOUR,
    clock.now(),
    "Too many new chats from your network",
  );
  const token = newToken();
  const tokenHash = await hashToken(token);
  const visitorId = await retryCommit(async () => {
    const now = clock.now();
    const id = `${VISITOR_PREFIX}${newId(now)}`;
    const visitor: VisitorRecord = { id, createdAt: now, tokenHash, revokedAt: null };
    const record: TokenRecord = { visitorId: id, createdAt: now, lastUsedAt: now };
    const ok = (await kv.atomic()
      .check({ key: keys.webchatVisitor(id), versionstamp: null })
      .check({ key: keys.webchatToken(tokenHash), versionstamp: null })
      .set(keys.webchatVisitor(id), visitor)
      .set(keys.webchatToken(tokenHash), record, { expireIn: TOKEN_UNUSED_LIMIT + DAY })
      .commit()).ok;
    return ok ? id : undefined;
  });
  return { visitorId, token };
}

/**
 * The visitor a bearer token belongs to. Rule 30: unknown, revoked, or unused for 30 days by the
 * desk clock: 401. A use moves the 30 days on (the stamp is rewritten at most every 10 minutes).
 */
export async function authenticateVisitor(desk: Desk, token: string): Promise<Visitor> {
  const { kv, clock } = desk;
  if (!token || token.length > 200) throw new Unauthorized("A web chat visitor token is required.");
  const tokenHash = await hashToken(token);
  const entry = await kv.get<TokenRecord>(keys.webchatToken(tokenHash));
  const record = entry.value;
  const now = clock.now();
  if (!record) throw new Unauthorized("This chat has ended; start a new one.");
  if (now - record.lastUsedAt >= TOKEN_UNUSED_LIMIT) {
    await kv.atomic().check(entry).delete(entry.key).commit();
    throw new Unauthorized("This chat expired after 30 days without use; start a new one.");
  }
  if (now - record.lastUsedAt >= TOUCH_EVERY) {
    // A lost race means another request just stamped it: nothing to do.
    await kv.atomic().check(entry)
      .set(entry.key, { ...record, lastUsedAt: now }, { expireIn: TOKEN_UNUSED_LIMIT + DAY })
      .commit();
  }
  return visitorFor(record.visitorId, tokenHash);
}

async function visitorFor(visitorId: string, tokenHash: string): Promise<Visitor> {
  return { id: visitorId, customerId: await customerIdFor("webchat", visitorId), tokenHash };
}

/** `DELETE /webchat/api/visitors/me`: the token stops working at once (rule 30). */
export async function revokeVisitor(desk: Desk, visitor: Visitor): Promise<void> {
  const { kv, clock } = desk;
  await retryCommit(async () => {
    const entry = await kv.get<VisitorRecord>(keys.webchatVisitor(visitor.id));
    const op = kv.atomic().check(entry).delete(keys.webchatToken(visitor.tokenHash));
    if (entry.value) {
      op.set(entry.key, { ...entry.value, tokenHash: null, revokedAt: clock.now() });
    }
    return (await op.commit()).ok ? true : undefined;
  });
}

/** Per-visitor send queue in this process: a resend waits for the original, then finds it. */
const sending = new Map<string, Promise<unknown>>();

function oneAtATime<T>(visitorId: string, fn: () => Promise<T>): Promise<T> {
  const before = sending.get(visitorId) ?? Promise.resolve();
  const run = before.catch(() => {}).then(fn);
  const tail = run.catch(() => {});
  sending.set(visitorId, tail);
  tail.then(() => {
    if (sending.get(visitorId) === tail) sending.delete(visitorId);
  });
  return run;
}

/**
 * `POST /webchat/api/messages {text, clientId}`: the visitor's message through rules 1–4. A
 * `clientId` already stored answers the stored message again and stores nothing (a resend after
 * a dropped connection). Rule 30: at most 30 new messages per visitor per minute.
 */
export async function sendVisitorMessage(
  desk: Desk,
  visitor: Visitor,
  input: unknown,
): Promise<{ message: Message; duplicate: boolean }> {
  const body = asBody(input);
  if (typeof body.text !== "string" || body.text.trim() === "") {
    throw new Invalid("empty_text", '"text" must not be empty.', { text: "Write a message." });
  }
  const text = checkLength(body.text);
  const clientId = checkClientId(body.clientId);
  const { kv } = desk;
  return await oneAtATime(visitor.id, async () => {
    const known = await storedByClientId(kv, visitor, clientId);
    if (known) return { message: known, duplicate: true };
    await requireEnabled(kv);
    await takeMessagePlace(desk, visitor);
    const result = await receiveInbound(desk, visitorInbound(visitor, clientId, text));
    return await answered(kv, visitor, clientId, result);
  });
}

/** A visitor's upload as the route read it from `multipart/form-data`. */
export interface VisitorUpload {
  file: unknown;
  clientId: unknown;
  text?: unknown;
}

/**
 * `POST /webchat/api/messages` with a file (rule 52): an image or a PDF of at most 10 MB, its
 * type checked against its first bytes, refused with 415/413 before anything is stored; at most
 * 10 files per visitor per clock hour (429). The file is stored, then goes in through rules 1–4 as
 * the message's attachment, its caption the text (`[image]` without one). A `clientId` already
 * stored answers its message again and stores nothing; a file whose message could not be written
 * is removed, and its place in the hour's count given back.
 */
export async function sendVisitorFile(
  desk: Desk,
  files: FileStore,
  visitor: Visitor,
  input: VisitorUpload,
): Promise<{ message: Message; duplicate: boolean }> {
  const clientId = checkClientId(input.clientId);
  const file = input.file;
  if (!(file instanceof Blob)) {
    throw new Invalid("missing_file", '"file" must be a file.', { file: "Choose a file." });
  }
  const caption = checkLength(typeof input.text === "string" ? input.text.trim() : "");
  const { kv, clock } = desk;
  return await oneAtATime(visitor.id, async () => {
    const known = await storedByClientId(kv, visitor, clientId);
    if (known) return { message: known, duplicate: true };
    const { mime, kind, maxBytes } = await uploadType(file);
    await requireEnabled(kv);
    await takeMessagePlace(desk, visitor);
    const giveBack = await takeUploadPlace(kv, visitor.customerId, clock.now());
    const now = clock.now();
    const attachment = await storeUpload(files, file, {
      id: newId(now),
      kind,
      mime,
      maxBytes,
      at: now,
      kv,
    })
      .catch(async (error) => {
        await giveBack();
        throw error;
      });
    const undo = () => Promise.all([files.remove(attachment.id), giveBack()]);
    let result;
    try {
      result = await receiveInbound(desk, {
        ...visitorInbound(visitor, clientId, caption || placeholderText(kind)),
        attachments: [attachment],
      });
    } catch (error) {
      await undo();
      throw error;
    }
    // Another request with this clientId (another instance) stored its message first.
    if (result.duplicate) await undo();
    return await answered(kv, visitor, clientId, result);
  });
}

/** A visitor's message text within web chat's length (rule 30). */
function checkLength(text: string): string {
  const max = CHANNEL_FACTS.webchat.maxLength;
  if (text.length > max) {
    throw new Invalid("text_too_long", `"text" must have at most ${max} characters.`, {
      text: `At most ${max} characters.`,
    });
  }
  return text;
}

/** Rule 30: at most 30 new messages per visitor per minute, files included. */
function takeMessagePlace(desk: Desk, visitor: Visitor) {
  return takeQuota(
    desk.kv,
    keys.webchatQuota("messages", visitor.id),
    MESSAGES_PER_MINUTE,
    MINUTE,
    desk.clock.now(),
    "You are sending messages too quickly",
  );
}

/** A visitor's message in rules 1–4's words: its `clientId` is the provider id (stored once). */
function visitorInbound(visitor: Visitor, clientId: string, text: string) {
  return {
    channel: "webchat" as const,
    from: visitor.id,
    text,
    id: clientId,
    route: "webchat" as const,
    // Agents see "Visitor 4QKJW", not a 29-character id; an agent-given name still wins.
    profileName: visitorLabel(visitor.id),
  };
}

/**
 * The message a send stored, or, when another request with the same `clientId` stored first,
 * that one; remembered under the `clientId` either way.
 */
async function answered(
  kv: Deno.Kv,
  visitor: Visitor,
  clientId: string,
  result: InboundResult,
): Promise<{ message: Message; duplicate: boolean }> {
  const duplicate = result.duplicate === true;
  const message = duplicate ? await storedByClientId(kv, visitor, clientId) : result.message;
  if (!message) throw new Error(`web chat message ${clientId} of ${visitor.id} not found`);
  await kv.set(keys.webchatClientMessage(visitor.id, clientId), message.id, {
    expireIn: CLIENT_IDS_KEPT,
  });
  return { message, duplicate };
}

const countOf = (value: unknown) => value instanceof Deno.KvU64 ? Number(value.value) : 0;

function tooManyFiles(now: number, hour: number): TooManyRequests {
  const seconds = Math.max(1, Math.ceil(((hour + 1) * HOUR - now) / 1000));
  return new TooManyRequests(
    `You can send ${FILES_PER_HOUR} files an hour; try again in ${Math.ceil(seconds / 60)} min.`,
    seconds,
  );
}

/**
 * Takes one of the hour's file places (rule 52): a u64 count per visitor and clock hour, raised
 * under a check of what was read, so parallel uploads (on any instance) cannot all slip under it
 * (a bare `sum` never conflicts, and KV types give `sum` no `expireIn`: a checked `set` does
 * both). It expires after its hour. Answers how to give the place back.
 */
async function takeUploadPlace(kv: Deno.Kv, customerId: string, now: number) {
  const hour = Math.floor(now / HOUR);
  const key = keys.visitorUploads(customerId, hour);
  const expireIn = (hour + 2) * HOUR - now;
  const change = (by: 1 | -1) =>
    retryCommit(async () => {
      const entry = await kv.get(key);
      const used = countOf(entry.value);
      if (by > 0 && used >= FILES_PER_HOUR) throw tooManyFiles(now, hour);
      if (by < 0 && used === 0) return true;
      const op = kv.atomic().check(entry)
        .set(key, new Deno.KvU64(BigInt(used + by)), { expireIn });
      return (await op.commit()).ok ? true : undefined;
    });
  await change(1);
  return async () => void await change(-1);
}

/**
 * Rule 52: the type a visitor's file goes as, or 415/413 (rule 51's reasons) before anything is
 * stored. The claimed type (none: what the bytes say) must be one web chat takes and must be
 * what the first bytes are: an HTML page called `image/png` is refused too.
 */
async function uploadType(file: Blob) {
  const sniffed = await sniffedType(file);
  const declared = baseMime(file.type);
  const claimed = declared && declared !== "application/octet-stream"
    ? declared
    : sniffed ?? (declared || "application/octet-stream");
  const rule = checkSendable("webchat", claimed, file.size);
  if (sniffed !== claimed) {
    throw new UnsupportedType(
      "unsupported_media_type",
      `The file's contents are not ${claimed}; web chat takes images and PDF files.`,
    );
  }
  return { mime: claimed, kind: rule.kind, maxBytes: rule.maxBytes };
}

/**
 * The visitor's message already stored under this `clientId`: by the route's own record, else by
 * the pointer rules 1–4 write in the message's commit (a resend that reached another instance).
 */
async function storedByClientId(
  kv: Deno.Kv,
  visitor: Visitor,
  clientId: string,
): Promise<Message | null> {
  const [mine, provider] = await kv.getMany<
    [string, { conversationId: string; messageId: string }]
  >(
    [
      keys.webchatClientMessage(visitor.id, clientId),
      keys.inboundMessage("webchat", visitor.customerId, clientId),
    ],
  );
  if (mine.value) {
    const stored = await findMessage(kv, mine.value);
    if (stored?.value) return stored.value;
  }
  const at = provider.value;
  if (!at) return null;
  return (await kv.get<Message>(keys.message(at.conversationId, at.messageId))).value;
}

function checkClientId(value: unknown): string {
  if (typeof value !== "string" || !CLIENT_ID.test(value)) {
    throw new Invalid("invalid_field", '"clientId" must be 1–64 letters, digits, _ or -.', {
      clientId: "1–64 letters, digits, _ or -.",
    });
  }
  return value;
}

/** Checks a message id names a message of this visitor's thread (else 404: not theirs). */
async function requireInThread(kv: Deno.Kv, visitor: Visitor, messageId: unknown, field: string) {
  if (typeof messageId !== "string" || !MESSAGE_ID.test(messageId)) {
    throw new Invalid("invalid_field", `"${field}" must be a message id.`, {
      [field]: "A message id.",
    });
  }
  if (!(await kv.get(keys.thread(visitor.customerId, messageId))).value) {
    throw new NotFound("Message");
  }
  return messageId;
}

/** Notes are staff-only (rule 35): a thread shows messages alone. */
const isMessage = (m: Message | null): m is Message =>
  m !== null && (m.direction === "in" || m.direction === "out") &&
  (m as { kind?: string }).kind !== "note";

/**
 * `GET /webchat/api/messages?after=<cursor>`: the visitor's thread after a message id, oldest
 * first, at most `limit`; `cursor` is the last id returned (or `after` when nothing is new). A
 * cursor from another visitor's thread is 404. One customer's messages are written under its
 * conversation's check, so their ids commit in order and a cursor never skips one.
 */
export async function visitorThread(
  kv: Deno.Kv,
  visitor: Visitor,
  after: string | null,
  limit = THREAD_PAGE,
  /** False for a cursor this process already checked (an open stream's). */
  check = true,
): Promise<{ messages: Message[]; cursor: string | null }> {
  if (after !== null && check) await requireInThread(kv, visitor, after, "after");
  const prefix = keys.thread(visitor.customerId);
  const pointers: Deno.KvKey[] = [];
  let last = after;
  const selector = after === null ? { prefix } : { prefix, start: [...prefix, after] };
  for await (const e of kv.list<string>(selector, { limit: limit + 1 })) {
    const id = e.key[e.key.length - 1] as string;
    if (id === after) continue;
    if (pointers.length === limit) break;
    pointers.push(keys.message(e.value, id));
    last = id;
  }
  const messages = (await getAll<Message>(kv, pointers)).map((e) => e.value).filter(isMessage);
  return { messages, cursor: last };
}

/**
 * Rule 55: what the visitor's chat is doing, for the widget: a YES/NO question waiting
 * (`awaiting_reply`, drawn as two buttons), waiting for an agent (`pending`), `live` with the
 * agent named since it joined (`sinceId` places the notice among the thread's message ids), or
 * `ended` (`agent` set when it was a live chat); `none` before the first message.
 */
export interface VisitorChat {
  state: "none" | "awaiting_reply" | "leaving_message" | "pending" | "live" | "ended";
  /** The chat's conversation id: a new chat is a new id. */
  id: string | null;
  agent: string | null;
  sinceId: string | null;
}

/**
 * Rule 55: the visitor's chat and the names of the agents who wrote `messages` (only names: an
 * agent's e-mail or role never reaches a visitor). One read for the conversation and the agents
 * of the messages, one more when the chat's agent has not written yet.
 */
export async function visitorView(
  desk: Desk,
  visitor: Visitor,
  messages: readonly Message[],
): Promise<{ chat: VisitorChat; names: Map<string, string> }> {
  const { kv } = desk;
  const writers = [
    ...new Set(
      messages.filter((m) => m.direction === "out" && m.author !== "system").map((m) => m.author),
    ),
  ];
  const [conversation, ...agents] = await getAll<unknown>(kv, [
    keys.conversation(visitor.customerId),
    ...writers.map((id) => keys.agent(id)),
  ]);
  const names = new Map<string, string>();
  const learn = (entries: Deno.KvEntryMaybe<unknown>[]) => {
    for (const e of entries) {
      const agent = e.value as Agent | null;
      if (agent) names.set(agent.id, agent.name);
    }
  };
  learn(agents);
  const c = conversation.value as Conversation | null;
  const current = c && isCurrent(c, desk.clock.now()) ? c : null;
  const state: VisitorChat["state"] = current ? current.state : c ? "ended" : "none";
  const agentId = c?.agentId && (state === "live" || state === "ended") ? c.agentId : null;
  if (agentId && !names.has(agentId)) learn([await kv.get(keys.agent(agentId))]);
  // Records from before liveId: the conversation's own id, which sorts before its messages.
  const sinceId = state === "live" && c ? c.liveId ?? c.id : null;
  return {
    chat: {
      state,
      id: c?.id ?? null,
      agent: agentId ? names.get(agentId) ?? "An agent" : null,
      sinceId,
    },
    names,
  };
}

/** Validates a Last-Event-ID: a message of the visitor's own thread (404 otherwise). */
export async function threadCursor(
  kv: Deno.Kv,
  visitor: Visitor,
  value: string,
): Promise<string> {
  return await requireInThread(kv, visitor, value, "Last-Event-ID");
}

/**
 * `POST /webchat/api/receipts {upTo, state}`: every desk message of the visitor's thread up to
 * `upTo` moves to `delivered` or `read` by the rank rule (rule 25: never down). Each walk starts
 * where the last receipt of that state ended, so a long thread costs only its new messages.
 */
export async function applyVisitorReceipt(
  desk: Desk,
  visitor: Visitor,
  input: unknown,
): Promise<{ upTo: string; state: "delivered" | "read"; updated: number }> {
  const { kv, clock } = desk;
  const body = asBody(input);
  const state = oneOf(body, "state", ["delivered", "read"] as const);
  const upTo = await requireInThread(kv, visitor, body.upTo, "upTo");
  const marksKey = keys.webchatReceipts(visitor.id);
  const prefix = keys.customerMessages(visitor.customerId);
  let updated = 0;
  while (true) {
    const done = await retryCommit(async () => {
      const marksEntry = await kv.get<ReceiptMarks>(marksKey);
      const marks = marksEntry.value ?? {};
      const from = state === "read" ? marks.read : maxId(marks.delivered, marks.read);
      if (from !== undefined && from >= upTo) return { done: true, changed: 0 };
      const pointers: Deno.KvKey[] = [];
      let last = from;
      const selector = from === undefined ? { prefix } : { prefix, start: [...prefix, from] };
      for await (const e of kv.list<string>(selector, { limit: RECEIPT_BATCH + 1 })) {
        const id = e.key[e.key.length - 1] as string;
        if (id === from) continue;
        if (id > upTo || pointers.length === RECEIPT_BATCH) break;
        pointers.push(keys.message(e.value, id));
        last = id;
      }
      const finished = pointers.length < RECEIPT_BATCH;
      const op = kv.atomic().check(marksEntry);
      let changed = 0;
      const now = clock.now();
      for (const entry of await getAll<Message>(kv, pointers)) {
        const m = entry.value;
        if (!m?.delivery || m.direction !== "out") continue;
        const next = advanceDelivery(m.delivery, state, undefined, now);
        if (!next) continue;
        op.check(entry).set(entry.key, { ...m, delivery: next });
        changed++;
      }
      op.set(marksKey, { ...marks, [state]: finished ? maxId(upTo, last) : last });
      if (changed) op.sum(keys.deliveryChanged(), 1n);
      return (await op.commit()).ok ? { done: finished, changed } : undefined;
    });
    updated += done.changed;
    if (done.done) break;
  }
  return { upTo, state, updated };
}

const maxId = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : a > b ? a : b;

/**
 * `POST /webchat/api/stream-ticket`: a one-use, 60-second ticket for `GET /webchat/api/events`
 * (EventSource cannot send the bearer token; the ticket keeps the token out of URLs and logs).
 */
export async function issueStreamTicket(desk: Desk, visitor: Visitor): Promise<string> {
  const { kv, clock } = desk;
  const now = clock.now();
  await takeQuota(
    kv,
    keys.webchatQuota("streams", visitor.id),
    STREAM_TICKETS_PER_MINUTE,
    MINUTE,
    now,
    "Too many reconnects",
  );
  const ticket = newToken();
  const record: StreamTicket = {
    visitorId: visitor.id,
    tokenHash: visitor.tokenHash,
    expiresAt: now + STREAM_TICKET_MS,
  };
  await kv.set(keys.webchatStreamTicket(await hashToken(ticket)), record, {
    expireIn: STREAM_TICKET_MS,
  });
  return ticket;
}

/** Uses up a stream ticket: unknown, used, expired, or its token revoked since: 401. */
export async function redeemStreamTicket(desk: Desk, ticket: string): Promise<Visitor> {
  const { kv, clock } = desk;
  const refused = new Unauthorized("A fresh stream ticket is required.");
  if (!ticket || ticket.length > 200) throw refused;
  const entry = await kv.get<StreamTicket>(keys.webchatStreamTicket(await hashToken(ticket)));
  const record = entry.value;
  if (!record || record.expiresAt <= clock.now()) throw refused;
  if (!(await kv.atomic().check(entry).delete(entry.key).commit()).ok) throw refused;
  if (!(await tokenAlive(desk, record.tokenHash))) throw refused;
  return await visitorFor(record.visitorId, record.tokenHash);
}

/** Whether a token still works (not revoked, not 30 days unused): open streams re-check it. */
export async function tokenAlive(desk: Desk, tokenHash: string): Promise<boolean> {
  const record = (await desk.kv.get<TokenRecord>(keys.webchatToken(tokenHash))).value;
  return record !== null && desk.clock.now() - record.lastUsedAt < TOKEN_UNUSED_LIMIT;
}
