/**
 * Transcript downloads (SPEC `GET /api/transcripts`, rules 10 and 35): one row per message and per
 * internal note of every ticket, archived ones included, for a time range (last column `kind`). Rows are produced by walking the tickets index and
 * each ticket's conversations page by page, so a range of any size streams in constant memory.
 * Rule 53: a message's files are listed by kind, name and size with a desk link (never their
 * bytes), and a shared place by its coordinates.
 */
import { displayName } from "./customer_names.ts";
import { listAgents } from "./agents.ts";
import { iso } from "./clock.ts";
import { Invalid } from "./errors.ts";
import { idTimePrefix } from "./ids.ts";
import { keys } from "./keys.ts";
import { Temporal } from "./temporal.ts";
import { ticketConversationIds } from "./tickets.ts";
import type { Attachment, AttachmentKind, Channel, Message, Note, Place, Ticket } from "./types.ts";

export type TranscriptFormat = "csv" | "json";
export const TRANSCRIPT_FORMATS: readonly TranscriptFormat[] = ["csv", "json"];

/** Inclusive range in epoch ms. */
export interface TranscriptRange {
  from: number;
  to: number;
}

export interface TranscriptRow {
  ticketId: string;
  customer: string;
  from: string;
  channel: Channel;
  /** A note is neither sent nor received: "internal". */
  direction: "in" | "out" | "internal";
  /** "customer", "system" or the agent's id, as in `GET /api/tickets/:id`. */
  author: string;
  /** The agent's name for agent messages; "customer" / "system" otherwise. */
  authorName: string;
  text: string;
  at: string;
  /** Rule 35: a message, or a staff-only internal note. */
  kind: "message" | "note";
  /** Rule 53: the message's files (JSON only; the CSV lists them in the text cell). */
  attachments?: TranscriptFile[];
  /** Rule 53: a shared place (JSON only; the CSV gives its coordinates in the text cell). */
  location?: Place;
}

/** Rule 53: a file as a transcript lists it: what it is and where the desk serves it, no bytes. */
export interface TranscriptFile {
  kind: AttachmentKind;
  filename: string | null;
  mime: string;
  size: number;
  status: Attachment["status"];
  /** The desk's own link (`/api/attachments/<id>`), absolute when the desk's address is known. */
  link: string;
}

/** Where transcripts point for files: the desk's public address, when known. */
export interface TranscriptOptions {
  deskUrl?: string | null;
}

/** The CSV's columns: every field of a row but the JSON-only lists of rule 53. */
export type TranscriptColumn = Exclude<keyof TranscriptRow, "attachments" | "location">;

export const TRANSCRIPT_COLUMNS: readonly TranscriptColumn[] = [
  "ticketId",
  "customer",
  "from",
  "channel",
  "direction",
  "author",
  "authorName",
  "text",
  "at",
  "kind",
];

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const LOCAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$/;
const EXACT_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * One end of a range. A date means that whole day and a datetime without offset is a wall time,
 * both in the business time zone; a datetime with `Z` or an offset is exact.
 */
function parseEnd(
  value: string,
  end: "from" | "to",
  timeZone: string,
): number | null {
  const text = value.trim();
  try {
    if (DATE.test(text)) {
      const day = Temporal.PlainDate.from(text, { overflow: "reject" });
      return end === "from"
        ? day.toZonedDateTime(timeZone).epochMilliseconds
        : day.add({ days: 1 }).toZonedDateTime(timeZone).epochMilliseconds - 1;
    }
    if (EXACT_DATETIME.test(text)) return Temporal.Instant.from(text).epochMilliseconds;
    if (LOCAL_DATETIME.test(text)) {
      return Temporal.PlainDateTime.from(text, { overflow: "reject" })
        .toZonedDateTime(timeZone).epochMilliseconds;
    }
  } catch {
    return null;
  }
  return null;
}

/** Validates `from`, `to` (both required, from ≤ to) and `format` (csv by default). */
export function parseTranscriptQuery(
  params: { from?: string | null; to?: string | null; format?: string | null },
  timeZone: string,
): { range: TranscriptRange; format: TranscriptFormat } {
  const fields: Record<string, string> = {};
  const ends: Partial<Record<"from" | "to", number>> = {};
  for (const end of ["from", "to"] as const) {
    const raw = params[end];
    if (!raw?.trim()) fields[end] = "Required: a date (YYYY-MM-DD) or an ISO 8601 datetime.";
    else if (raw.length > 40) fields[end] = "Too long for a date or datetime.";
    else {
      const at = parseEnd(raw, end, timeZone);
      if (at === null) fields[end] = "Not a valid date (YYYY-MM-DD) or ISO 8601 datetime.";
      else ends[end] = at;
    }
  }
  const format = (params.format?.trim() || "csv").toLowerCase() as TranscriptFormat;
  if (!TRANSCRIPT_FORMATS.includes(format)) fields.format = "Either csv or json.";
  if (ends.from !== undefined && ends.to !== undefined && ends.from > ends.to) {
    fields.to = "Must not be before from.";
  }
  if (Object.keys(fields).length) {
    const [first, message] = Object.entries(fields)[0];
    throw new Invalid("invalid_query", `${first}: ${message}`, fields);
  }
  return { range: { from: ends.from!, to: ends.to! }, format };
}

/** Longest a conversation runs before it becomes a ticket: the timeouts' upper bound (24 h), twice. */
const PRE_TICKET_MS = 2 * 24 * 3600_000;

/**
 * Every message and note whose time is within the range, ticket by ticket in creation order, each
 * ticket's rows in conversation order (a conversation's messages and notes by time, the ticket's
 * own notes placed by time among them). Ids are time-ordered, so the walk stops at tickets created
 * well after `to` and lists each conversation's messages and notes by a key range, never whole. A
 * ticket's first messages come before the ticket (the message before YES, a pending chat), so the
 * walk goes on past `to` by PRE_TICKET_MS.
 */
export async function* transcriptRows(
  kv: Deno.Kv,
  range: TranscriptRange,
  opts: { batchSize?: number } & TranscriptOptions = {},
): AsyncGenerator<TranscriptRow> {
  const batchSize = opts.batchSize ?? 100;
  const base = (opts.deskUrl ?? "").replace(/\/+$/, "");
  const names = new Map((await listAgents(kv)).map((a) => [a.id, a.name]));
  const fromKey = idTimePrefix(range.from);
  const toKey = idTimePrefix(range.to + 1);
  const inRange = <T extends { at: number }>(prefix: Deno.KvKey) =>
    inTime(
      kv.list<T>({ start: [...prefix, fromKey], end: [...prefix, toKey] }, { batchSize }),
      range,
    );
  const tickets = kv.list<Ticket>(
    {
      prefix: keys.tickets(),
      end: [...keys.tickets(), idTimePrefix(range.to + 1 + PRE_TICKET_MS)],
    },
    { batchSize },
  );
  for await (const { value: ticket } of tickets) {
    const row = (item: Message | Note): TranscriptRow => {
      const note = !("direction" in item);
      return {
        ticketId: ticket.id,
        customer: displayName(ticket),
        from: ticket.from,
        channel: ticket.channel,
        direction: note ? "internal" : item.direction,
        author: item.author,
        authorName: names.get(item.author) ?? item.author,
        text: item.text,
        at: iso(item.at),
        kind: note ? "note" : "message",
        ...filesAndPlace(item, base),
      };
    };
    // The ticket's own notes are interleaved by time: each waits for the first later row.
    const own = inRange<Note>(keys.notes("ticket", ticket.id));
    let nextOwn = await own.next();
    for (const conversationId of await ticketConversationIds(kv, ticket)) {
      const items = mergeById<Message | Note>(
        inRange<Message>(keys.messages(conversationId)),
        inRange<Note>(keys.notes("conversation", conversationId)),
      );
      for await (const item of items) {
        while (!nextOwn.done && nextOwn.value.id < item.id) {
          yield row(nextOwn.value);
          nextOwn = await own.next();
        }
        yield row(item);
      }
    }
    for (; !nextOwn.done; nextOwn = await own.next()) yield row(nextOwn.value);
  }
}

/** Rule 53: a message's files and place as rows carry them (nothing for a message without). */
function filesAndPlace(item: Message | Note, base: string): Partial<TranscriptRow> {
  if (!("direction" in item)) return {};
  const files = item.attachments ?? [];
  return {
    ...(files.length
      ? {
        attachments: files.map((a) => ({
          kind: a.kind,
          filename: a.filename ?? null,
          mime: a.mime,
          size: a.size,
          status: a.status,
          link: `${base}/api/attachments/${a.id}`,
        })),
      }
      : {}),
    ...(item.location ? { location: placeOf(item.location) } : {}),
  };
}

/** Only the fields a place has: a stored record never brings others into a download. */
function placeOf(p: Place): Place {
  return {
    latitude: p.latitude,
    longitude: p.longitude,
    ...(p.name ? { name: p.name } : {}),
    ...(p.address ? { address: p.address } : {}),
  };
}

/**
 * Rule 53 in the CSV: the text cell is the message's text, then one line per file
 * (`[image: name, 48213 bytes] link`) and one for a place (`[location: -33.9249, 18.4241] name,
 * address`), so the columns stay those of rule 35 (`kind` last) and old readers keep working.
 */
export function csvText(row: TranscriptRow): string {
  const lines = row.text ? [row.text] : [];
  for (const f of row.attachments ?? []) {
    const state = f.status === "stored" ? "" : `, ${f.status.replace("_", " ")}`;
    lines.push(`[${f.kind}: ${f.filename ?? "no name"}, ${f.size} bytes${state}] ${f.link}`);
  }
  const p = row.location;
  if (p) {
    const label = [p.name, p.address].filter(Boolean).join(", ");
    lines.push(`[location: ${p.latitude}, ${p.longitude}]${label ? ` ${label}` : ""}`);
  }
  return lines.join("\n");
}

/** The values of a KV listing whose `at` is within the range. */
async function* inTime<T extends { at: number }>(
  entries: Deno.KvListIterator<T>,
  range: TranscriptRange,
): AsyncGenerator<T> {
  for await (const { value } of entries) {
    if (value.at >= range.from && value.at <= range.to) yield value;
  }
}

/** Two id-ordered streams as one, in id (that is, time) order. */
async function* mergeById<T extends { id: string }>(
  a: AsyncIterator<T>,
  b: AsyncIterator<T>,
): AsyncGenerator<T> {
  let [x, y] = await Promise.all([a.next(), b.next()]);
  while (!x.done || !y.done) {
    if (!x.done && (y.done || x.value.id <= y.value.id)) {
      yield x.value;
      x = await a.next();
    } else if (!y.done) {
      yield y.value;
      y = await b.next();
    }
  }
}

/**
 * One CSV cell per RFC 4180, made safe to open in a spreadsheet: a cell starting with = + - @
 * (or a tab / carriage return) would run as a formula, so it is prefixed with an apostrophe.
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function csvLine(cells: readonly string[]): string {
  return cells.map(csvCell).join(",") + "\r\n";
}

/** The download as text chunks: CSV with a header row, or one JSON array; about `chunkRows` rows a chunk. */
export async function* transcriptChunks(
  rows: AsyncIterable<TranscriptRow>,
  format: TranscriptFormat,
  chunkRows = 200,
): AsyncGenerator<string> {
  let chunk = format === "csv" ? csvLine(TRANSCRIPT_COLUMNS) : "[";
  let count = 0;
  for await (const row of rows) {
    if (format === "csv") {
      chunk += csvLine(TRANSCRIPT_COLUMNS.map((c) => c === "text" ? csvText(row) : row[c]));
    } else chunk += (count === 0 ? "\n" : ",\n") + JSON.stringify(row);
    if (++count % chunkRows === 0) {
      yield chunk;
      chunk = "";
    }
  }
  if (format === "json") chunk += count ? "\n]\n" : "]\n";
  if (chunk) yield chunk;
}

/** A byte stream that produces the next chunk only when the reader asks (back-pressure). */
export function transcriptStream(
  kv: Deno.Kv,
  range: TranscriptRange,
  format: TranscriptFormat,
  opts: TranscriptOptions = {},
): ReadableStream<Uint8Array> {
  // `from` pulls the generator one chunk per read and returns it when the reader cancels.
  return ReadableStream.from(transcriptChunks(transcriptRows(kv, range, opts), format))
    .pipeThrough(new TextEncoderStream());
}

/** "chatdesk-transcripts-2026-11-01_2026-11-30.csv", dates in UTC. */
export function transcriptFileName(range: TranscriptRange, format: TranscriptFormat): string {
  const day = (ms: number) => iso(ms).slice(0, 10);
  return `chatdesk-transcripts-${day(range.from)}_${day(range.to)}.${format}`;
}
