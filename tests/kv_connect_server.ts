/**
 * A small in-memory KV Connect server for tests, so the product can run against a store reached
 * through Deno's real built-in remote KV client (`Deno.openKv("http://127.0.0.1:PORT")` with
 * `DENO_KV_ACCESS_TOKEN` set).
 *
 * Written from the public protocol in github.com/denoland/denokv: `proto/kv-connect.md`, the
 * schema in `proto/schema/` (datapath.proto, kv-metadata-exchange-*.json) and the limits in
 * `proto/limits.rs`; error texts and statuses follow its `denokv/main.rs` server.
 *
 * Subset implemented: the metadata exchange (protocol versions 1–3), `snapshot_read`,
 * `atomic_write` (checks; set / delete / sum / min / max on LE64 / set-suffix-versionstamped-key;
 * expire_at_ms) and `watch` (version 3; like denokv, every delivery marks every key changed).
 * Not implemented: queues (an atomic_write with enqueues is refused with 400), `sum` on V8-encoded
 * numbers/bigints (refused with 400), eventual-consistency endpoints, and watch notifications for
 * entries that merely expire.
 *
 * Usage as a program: `deno run --allow-net tests/kv_connect_server.ts --port 4512 --delay 90`.
 */

export interface KvConnectServer {
  /** "http://127.0.0.1:PORT", to pass to Deno.openKv. */
  url: string;
  /** The access token clients must send (DENO_KV_ACCESS_TOKEN). */
  token: string;
  /** Added latency per data call (snapshot_read, atomic_write; a watch's initial answer). */
  delayMs: number;
  /** Data calls that passed validation; reset by assigning a fresh object. */
  calls: { reads: number; writes: number; watches: number };
  /**
   * Sequential round trips (rule 41): how many times the data calls in flight (snapshot_read,
   * atomic_write) went from none to one. Calls sent together overlap and count once (with
   * delayMs ≥ 50); a call that waits for another's answer counts again. Reset by assigning 0.
   */
  rounds: number;
  /** Watch streams currently open (a cancelled client stream drops out of this). */
  readonly openWatches: number;
  close(): Promise<void>;
}

export interface KvConnectServerOptions {
  port?: number;
  delayMs?: number;
  /** Checks allowed in one atomic_write; self-hosted denokv allows 10. */
  maxChecks?: number;
  /** Mutations + enqueues allowed in one atomic_write; denokv allows 1000. */
  maxMutations?: number;
}

/**
 * Opens Deno's own KV Connect client on a server. The client reads DENO_KV_ACCESS_TOKEN
 * synchronously inside Deno.openKv, so the variable is put back at once and handles opened for
 * other servers (or test files running in parallel) never see this one's.
 */
export function openKvConnect(server: { url: string; token: string }): Promise<Deno.Kv> {
  const previous = Deno.env.get("DENO_KV_ACCESS_TOKEN");
  Deno.env.set("DENO_KV_ACCESS_TOKEN", server.token);
  try {
    return Deno.openKv(server.url);
  } finally {
    if (previous === undefined) Deno.env.delete("DENO_KV_ACCESS_TOKEN");
    else Deno.env.set("DENO_KV_ACCESS_TOKEN", previous);
  }
}

export async function startKvConnectServer(
  opts: KvConnectServerOptions = {},
): Promise<KvConnectServer> {
  const server = new InMemoryKvConnectServer(opts);
  await server.listening;
  return server;
}

// ---------------------------------------------------------------------------------------------
// Protocol constants (datapath.proto, limits.rs)

const SUPPORTED_VERSIONS = [1, 2, 3];

const SR_SUCCESS = 1;

const AW_SUCCESS = 1;
const AW_CHECK_FAILURE = 2;

const M_SET = 1;
const M_DELETE = 2;
const M_SUM = 3;
const M_MAX = 4;
const M_MIN = 5;
const M_SET_SUFFIX_VERSIONSTAMPED_KEY = 9;

const VE_V8 = 1;
const VE_LE64 = 2;
const VE_BYTES = 3;

const MAX_WRITE_KEY_SIZE_BYTES = 2048;
const MAX_READ_KEY_SIZE_BYTES = MAX_WRITE_KEY_SIZE_BYTES + 1;
const MAX_VALUE_SIZE_BYTES = 65536;
const MAX_READ_RANGES = 10;
const MAX_READ_ENTRIES = 1000;
const MAX_TOTAL_MUTATION_SIZE_BYTES = 819200;
const MAX_WATCHED_KEYS = 10;

// denokv's server pings watch streams this often.
const WATCH_PING_INTERVAL_MS = 5000;
const METADATA_LIFETIME_MS = 24 * 60 * 60 * 1000;

const EMPTY = new Uint8Array(0);

/** A refusal answered with a 4xx status and a plain-text message, as denokv does. */
class ProtocolError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const badRequest = (message: string) => new ProtocolError(400, message);
const invalidProto = (why: string) => badRequest(`Request protobuf is invalid: ${why}.`);

// ---------------------------------------------------------------------------------------------
// Protobuf wire codec, just enough for datapath.proto

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const TWO_POW_32 = 2 ** 32;

class ProtoReader {
  #pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  /** The low and high 32 bits of a varint, so int64 values decode exactly. */
  #varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.#pos >= this.buf.length) throw invalidProto("truncated varint");
      const byte = this.buf[this.#pos++];
      const bits = byte & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (shift - 32);
      if (byte < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw invalidProto("varint too long");
  }

  uint(): number {
    const [lo, hi] = this.#varint64();
    return hi * TWO_POW_32 + lo;
  }

  int64(): number {
    const [lo, hi] = this.#varint64();
    return (hi >= 0x80000000 ? hi - TWO_POW_32 : hi) * TWO_POW_32 + lo;
  }

  int32(): number {
    return this.#varint64()[0] | 0;
  }

  bool(): boolean {
    return this.uint() !== 0;
  }

  bytes(): Uint8Array {
    const length = this.uint();
    const end = this.#pos + length;
    if (end > this.buf.length) throw invalidProto("truncated length-delimited field");
    const out = this.buf.subarray(this.#pos, end);
    this.#pos = end;
    return out;
  }

  skip(wire: number): void {
    if (wire === VARINT) this.#varint64();
    else if (wire === LEN) this.bytes();
    else if (wire === I64) this.#advance(8);
    else if (wire === I32) this.#advance(4);
    else throw invalidProto(`unsupported wire type ${wire}`);
  }

  #advance(n: number): void {
    this.#pos += n;
    if (this.#pos > this.buf.length) throw invalidProto("truncated fixed-width field");
  }
}

type FieldReaders = Record<number, [wire: number, read: (r: ProtoReader) => void]>;

/** Walks a message's fields; unknown fields are skipped, known ones must have their wire type. */
function readMessage(buf: Uint8Array, fields: FieldReaders): void {
  const r = new ProtoReader(buf);
  while (!r.done) {
    const tag = r.uint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    const reader = fields[field];
    if (!reader) {
      r.skip(wire);
      continue;
    }
    if (reader[0] !== wire) throw invalidProto(`field ${field} has wire type ${wire}`);
    reader[1](r);
  }
}

/** Builds a message as a list of chunks, so nested messages and values are never re-copied. */
class ProtoWriter {
  #chunks: Uint8Array[] = [];
  #head: number[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  uint(field: number, value: number): this {
    if (value === 0) return this;
    this.#varint(field * 8 + VARINT);
    this.#varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  bytes(field: number, data: Uint8Array): this {
    if (data.length === 0) return this;
    this.#lengthPrefix(field, data.length);
    this.#append(data);
    return this;
  }

  /** Always written, even when empty: repeated messages must keep their count. */
  message(field: number, message: ProtoWriter): this {
    this.#lengthPrefix(field, message.length);
    for (const chunk of message.chunks()) this.#append(chunk);
    return this;
  }

  packedUints(field: number, values: number[]): this {
    if (values.length === 0) return this;
    const packed = new ProtoWriter();
    for (const value of values) packed.#varint(value);
    return this.message(field, packed);
  }

  chunks(): Uint8Array[] {
    this.#flush();
    return this.#chunks;
  }

  finish(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.chunks()) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  #lengthPrefix(field: number, length: number): void {
    this.#varint(field * 8 + LEN);
    this.#varint(length);
  }

  #varint(value: number): void {
    while (value >= 0x80) {
      this.#head.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
      this.#length++;
    }
    this.#head.push(value);
    this.#length++;
  }

  #append(chunk: Uint8Array): void {
    this.#flush();
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  #flush(): void {
    if (this.#head.length === 0) return;
    this.#chunks.push(Uint8Array.from(this.#head));
    this.#head = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Data path messages (datapath.proto)

interface ReadRange {
  start: Uint8Array;
  end: Uint8Array;
  limit: number;
  reverse: boolean;
}

interface Check {
  key: Uint8Array;
  /** Empty means "the key must be absent". */
  versionstamp: Uint8Array;
}

interface KvValue {
  data: Uint8Array;
  encoding: number;
}

interface Mutation {
  key: Uint8Array;
  value: KvValue | null;
  mutationType: number;
  expireAtMs: number;
}

interface AtomicWrite {
  checks: Check[];
  mutations: Mutation[];
  enqueues: number;
}

function decodeSnapshotRead(buf: Uint8Array): ReadRange[] {
  const ranges: ReadRange[] = [];
  readMessage(buf, { 1: [LEN, (r) => ranges.push(decodeReadRange(r.bytes()))] });
  return ranges;
}

function decodeReadRange(buf: Uint8Array): ReadRange {
  const range: ReadRange = { start: EMPTY, end: EMPTY, limit: 0, reverse: false };
  readMessage(buf, {
    1: [LEN, (r) => range.start = r.bytes()],
    2: [LEN, (r) => range.end = r.bytes()],
    3: [VARINT, (r) => range.limit = r.int32()],
    4: [VARINT, (r) => range.reverse = r.bool()],
  });
  return range;
}

function decodeAtomicWrite(buf: Uint8Array): AtomicWrite {
  const write: AtomicWrite = { checks: [], mutations: [], enqueues: 0 };
  readMessage(buf, {
    1: [LEN, (r) => write.checks.push(decodeCheck(r.bytes()))],
    2: [LEN, (r) => write.mutations.push(decodeMutation(r.bytes()))],
    3: [LEN, (r) => (r.bytes(), write.enqueues++)],
  });
  return write;
}

function decodeCheck(buf: Uint8Array): Check {
  const check: Check = { key: EMPTY, versionstamp: EMPTY };
  readMessage(buf, {
    1: [LEN, (r) => check.key = r.bytes()],
    2: [LEN, (r) => check.versionstamp = r.bytes()],
  });
  return check;
}

function decodeMutation(buf: Uint8Array): Mutation {
  const mutation: Mutation = { key: EMPTY, value: null, mutationType: 0, expireAtMs: 0 };
  readMessage(buf, {
    1: [LEN, (r) => mutation.key = r.bytes()],
    2: [LEN, (r) => mutation.value = decodeKvValue(r.bytes())],
    3: [VARINT, (r) => mutation.mutationType = r.uint()],
    4: [VARINT, (r) => mutation.expireAtMs = r.int64()],
  });
  return mutation;
}

function decodeKvValue(buf: Uint8Array): KvValue {
  const value: KvValue = { data: EMPTY, encoding: 0 };
  readMessage(buf, {
    1: [LEN, (r) => value.data = r.bytes()],
    2: [VARINT, (r) => value.encoding = r.uint()],
  });
  return value;
}

function decodeWatch(buf: Uint8Array): Uint8Array[] {
  const keys: Uint8Array[] = [];
  readMessage(buf, { 1: [LEN, (r) => keys.push(decodeWatchKey(r.bytes()))] });
  return keys;
}

function decodeWatchKey(buf: Uint8Array): Uint8Array {
  let key: Uint8Array = EMPTY;
  readMessage(buf, { 1: [LEN, (r) => key = r.bytes()] });
  return key;
}

function encodeKvEntry(key: Key, entry: StoredEntry): ProtoWriter {
  return new ProtoWriter()
    .bytes(1, keyToBytes(key))
    .bytes(2, entry.value)
    .uint(3, entry.encoding)
    .bytes(4, entry.versionstamp);
}

function encodeSnapshotReadOutput(ranges: [Key, StoredEntry][][]): Uint8Array<ArrayBuffer> {
  const out = new ProtoWriter();
  for (const entries of ranges) {
    const range = new ProtoWriter();
    for (const [key, entry] of entries) range.message(1, encodeKvEntry(key, entry));
    out.message(1, range);
  }
  return out.bool(4, true).uint(8, SR_SUCCESS).finish();
}

function encodeAtomicWriteOutput(result: CommitResult): Uint8Array<ArrayBuffer> {
  const out = new ProtoWriter();
  if (result.ok) return out.uint(1, AW_SUCCESS).bytes(2, result.versionstamp).finish();
  return out.uint(1, AW_CHECK_FAILURE).packedUints(4, result.failedChecks).finish();
}

/** A WatchOutput frame (a u32 little-endian length, then the message), every key changed. */
function encodeWatchFrame(keys: [Key, StoredEntry | undefined][]): Uint8Array<ArrayBuffer> {
  const out = new ProtoWriter().uint(1, SR_SUCCESS);
  for (const [key, entry] of keys) {
    const keyOutput = new ProtoWriter().bool(1, true);
    if (entry) keyOutput.message(2, encodeKvEntry(key, entry));
    out.message(2, keyOutput);
  }
  return lengthPrefixed(out.finish());
}

function lengthPrefixed(message: Uint8Array): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(4 + message.length);
  new DataView(frame.buffer).setUint32(0, message.length, true);
  frame.set(message, 4);
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Keys and versionstamps

/** A key's bytes as a string of char codes 0–255: JS string order is then raw byte order. */
type Key = string;

function bytesToKey(bytes: Uint8Array): Key {
  let key = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    key += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return key;
}

function keyToBytes(key: Key): Uint8Array {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) bytes[i] = key.charCodeAt(i);
  return bytes;
}

/** 10 bytes: the commit number as 8 big-endian bytes, then 2 zero bytes (as denokv does). */
function versionstampOf(commit: number): Uint8Array {
  const versionstamp = new Uint8Array(10);
  const view = new DataView(versionstamp.buffer);
  view.setUint32(0, Math.floor(commit / TWO_POW_32));
  view.setUint32(4, commit >>> 0);
  return versionstamp;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The suffix M_SET_SUFFIX_VERSIONSTAMPED_KEY appends: a string key part of the hex versionstamp. */
function versionstampKeySuffix(versionstamp: Uint8Array): Key {
  const hex = Array.from(versionstamp, (b) => b.toString(16).padStart(2, "0")).join("");
  return `\x02${hex}\x00`;
}

// ---------------------------------------------------------------------------------------------
// Sorted key index: sorted chunks, so inserts and deletes stay cheap at 100,000+ keys

const CHUNK_MAX = 512;

class SortedKeys {
  #chunks: Key[][] = [];

  insert(key: Key): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      return;
    }
    const c = Math.min(this.#chunkFor(key), this.#chunks.length - 1);
    const chunk = this.#chunks[c];
    chunk.splice(lowerBound(chunk, key), 0, key);
    if (chunk.length > CHUNK_MAX * 2) this.#chunks.splice(c + 1, 0, chunk.splice(CHUNK_MAX));
  }

  remove(key: Key): void {
    const c = this.#chunkFor(key);
    const chunk = this.#chunks[c];
    if (!chunk) return;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) this.#chunks.splice(c, 1);
  }

  /** Keys in [start, end), ascending. */
  *ascending(start: Key, end: Key): Generator<Key> {
    for (let c = this.#chunkFor(start); c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c];
      for (let i = lowerBound(chunk, start); i < chunk.length; i++) {
        if (chunk[i] >= end) return;
        yield chunk[i];
      }
    }
  }

  /** Keys in [start, end), descending. */
  *descending(start: Key, end: Key): Generator<Key> {
    const last = Math.min(this.#chunkFor(end), this.#chunks.length - 1);
    for (let c = last; c >= 0; c--) {
      const chunk = this.#chunks[c];
      for (let i = lowerBound(chunk, end) - 1; i >= 0; i--) {
        if (chunk[i] < start) return;
        yield chunk[i];
      }
    }
  }

  /** The first chunk whose last key is ≥ key (or the chunk count if none). */
  #chunkFor(key: Key): number {
    let lo = 0;
    let hi = this.#chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.#chunks[mid];
      if (chunk[chunk.length - 1] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The index of the first key ≥ key. */
function lowerBound(keys: Key[], key: Key): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// The store

interface StoredEntry {
  value: Uint8Array;
  encoding: number;
  versionstamp: Uint8Array;
  /** 0: never expires. */
  expireAtMs: number;
}

type CommitResult =
  | { ok: true; versionstamp: Uint8Array; writtenKeys: Key[] }
  | { ok: false; failedChecks: number[] };

const isExpired = (entry: StoredEntry, now: number) =>
  entry.expireAtMs !== 0 && entry.expireAtMs <= now;

class KvStore {
  #index = new SortedKeys();
  #entries = new Map<Key, StoredEntry>();
  #commits = 0;

  /** The live entry at key; an expired one is purged and reads as absent. */
  get(key: Key, now: number): StoredEntry | undefined {
    const entry = this.#entries.get(key);
    if (!entry || !isExpired(entry, now)) return entry;
    this.#delete(key);
    return undefined;
  }

  readRange(range: ReadRange, now: number): [Key, StoredEntry][] {
    const start = bytesToKey(range.start);
    const end = bytesToKey(range.end);
    const keys = range.reverse
      ? this.#index.descending(start, end)
      : this.#index.ascending(start, end);
    const found: [Key, StoredEntry][] = [];
    const expired: Key[] = [];
    for (const key of keys) {
      const entry = this.#entries.get(key)!;
      if (isExpired(entry, now)) expired.push(key);
      else if (found.push([key, entry]) >= range.limit) break;
    }
    for (const key of expired) this.#delete(key);
    return found;
  }

  /** Checks, then applies every mutation or none (a mutation error throws before anything lands). */
  commit(write: AtomicWrite, now: number): CommitResult {
    const failedChecks = this.#failedChecks(write.checks, now);
    if (failedChecks.length > 0) return { ok: false, failedChecks };
    const versionstamp = versionstampOf(this.#commits + 1);
    const staged = new Map<Key, StoredEntry | null>();
    const current = (key: Key) =>
      staged.has(key) ? staged.get(key) ?? undefined : this.get(key, now);
    for (const mutation of write.mutations) {
      const [key, entry] = applyMutation(mutation, current, versionstamp);
      staged.set(key, entry);
    }
    this.#commits++;
    for (const [key, entry] of staged) {
      if (entry) this.#set(key, entry);
      else this.#delete(key);
    }
    return { ok: true, versionstamp, writtenKeys: [...staged.keys()] };
  }

  #failedChecks(checks: Check[], now: number): number[] {
    const failed: number[] = [];
    checks.forEach((check, i) => {
      const current = this.get(bytesToKey(check.key), now)?.versionstamp ?? EMPTY;
      if (!sameBytes(current, check.versionstamp)) failed.push(i);
    });
    return failed;
  }

  #set(key: Key, entry: StoredEntry): void {
    if (!this.#entries.has(key)) this.#index.insert(key);
    this.#entries.set(key, entry);
  }

  #delete(key: Key): void {
    if (this.#entries.delete(key)) this.#index.remove(key);
  }
}

/** One mutation's outcome: the key it writes and its new entry (null: deleted). */
function applyMutation(
  mutation: Mutation,
  current: (key: Key) => StoredEntry | undefined,
  versionstamp: Uint8Array,
): [Key, StoredEntry | null] {
  const key = bytesToKey(mutation.key);
  const value = mutation.value;
  const expireAtMs = Math.max(mutation.expireAtMs, 0);
  const entry = (data: Uint8Array, encoding: number): StoredEntry => ({
    value: data.slice(),
    encoding,
    versionstamp,
    expireAtMs,
  });
  switch (mutation.mutationType) {
    case M_DELETE:
      return [key, null];
    case M_SET:
      if (!value) break;
      return [key, entry(value.data, checkedEncoding(value.encoding))];
    case M_SET_SUFFIX_VERSIONSTAMPED_KEY:
      if (!value) break;
      return [
        key + versionstampKeySuffix(versionstamp),
        entry(value.data, checkedEncoding(value.encoding)),
      ];
    case M_SUM:
    case M_MIN:
    case M_MAX: {
      if (!value) break;
      const result = mutateLe64(mutation.mutationType, value, current(key));
      return [key, entry(result, VE_LE64)];
    }
  }
  throw badRequest("Invalid mutation kind or arguments.");
}

function checkedEncoding(encoding: number): number {
  if (encoding === VE_V8 || encoding === VE_LE64 || encoding === VE_BYTES) return encoding;
  throw badRequest(`The value encoding ${encoding} is unknown.`);
}

const LE64_OPS: Record<number, [name: string, op: (a: bigint, b: bigint) => bigint]> = {
  [M_SUM]: ["sum", (a, b) => BigInt.asUintN(64, a + b)],
  [M_MIN]: ["min", (a, b) => a < b ? a : b],
  [M_MAX]: ["max", (a, b) => a > b ? a : b],
};

/** sum (wrapping), min or max of two little-endian u64 values; an absent value takes the operand. */
function mutateLe64(
  mutationType: number,
  operand: KvValue,
  current: StoredEntry | undefined,
): Uint8Array {
  const [name, op] = LE64_OPS[mutationType];
  if (operand.encoding !== VE_LE64 || operand.data.length !== 8) {
    throw badRequest(`Failed to perform '${name}' mutation on a non-U64 operand`);
  }
  if (!current) return operand.data;
  if (current.encoding !== VE_LE64 || current.value.length !== 8) {
    throw badRequest(`Failed to perform '${name}' mutation on a non-U64 value in the database`);
  }
  const result = new Uint8Array(8);
  new DataView(result.buffer).setBigUint64(
    0,
    op(readU64(current.value), readU64(operand.data)),
    true,
  );
  return result;
}

function readU64(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

// ---------------------------------------------------------------------------------------------
// Write validation (limits.rs; denokv's error texts)

interface WriteLimits {
  maxChecks: number;
  maxMutations: number;
}

function validateAtomicWrite(write: AtomicWrite, limits: WriteLimits): void {
  if (write.checks.length > limits.maxChecks) {
    throw badRequest("Too many checks included in atomic write.");
  }
  if (write.mutations.length + write.enqueues > limits.maxMutations) {
    throw badRequest("Too many mutations / enqueues included in atomic write.");
  }
  // Deno Deploy's KV Connect has no queues; the real client refuses them before sending.
  if (write.enqueues > 0) {
    throw badRequest("Enqueue operations are not supported in KV Connect.");
  }
  let totalSize = 0;
  for (const check of write.checks) {
    if (check.key.length > MAX_READ_KEY_SIZE_BYTES) {
      throw badRequest("A key exceeds the key size limit.");
    }
    if (check.versionstamp.length !== 0 && check.versionstamp.length !== 10) {
      throw badRequest("Invalid versionstamp.");
    }
    totalSize += check.key.length;
  }
  for (const mutation of write.mutations) {
    if (mutation.key.length > MAX_WRITE_KEY_SIZE_BYTES) {
      throw badRequest("A key exceeds the key size limit.");
    }
    const valueSize = mutation.value?.data.length ?? 0;
    if (valueSize > MAX_VALUE_SIZE_BYTES) throw badRequest("A value exceeds the value size limit.");
    totalSize += mutation.key.length + valueSize;
  }
  if (totalSize > MAX_TOTAL_MUTATION_SIZE_BYTES) {
    throw badRequest("The total size of the atomic write is too large.");
  }
}

function validateSnapshotRead(ranges: ReadRange[]): void {
  if (ranges.length > MAX_READ_RANGES) {
    throw badRequest("Too many read ranges requested in one read request.");
  }
  let total = 0;
  for (const range of ranges) {
    if (range.limit <= 0) {
      throw badRequest("The read range limit of the snapshot read request is invalid.");
    }
    if (
      range.start.length > MAX_READ_KEY_SIZE_BYTES || range.end.length > MAX_READ_KEY_SIZE_BYTES
    ) {
      throw badRequest("A key exceeds the key size limit.");
    }
    total += range.limit;
  }
  if (total > MAX_READ_ENTRIES) {
    throw badRequest(
      "The total number of entries requested across read ranges in the read request is too large.",
    );
  }
}

function validateWatch(keys: Uint8Array[]): void {
  if (keys.length > MAX_WATCHED_KEYS) {
    throw badRequest("Too many keys watched in a single watch request.");
  }
  if (keys.some((key) => key.length > MAX_WRITE_KEY_SIZE_BYTES)) {
    throw badRequest("A key exceeds the key size limit.");
  }
}

// ---------------------------------------------------------------------------------------------
// Watches

/** One open watch stream: the keys it follows and the versionstamp it last delivered for each. */
class Watcher {
  #delivered: (Uint8Array | undefined)[] = [];
  #ping: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(
    readonly keys: Key[],
    readonly controller: ReadableStreamDefaultController<Uint8Array>,
    readonly onClose: () => void,
  ) {
    this.#ping = setInterval(() => this.#send(lengthPrefixed(EMPTY)), WATCH_PING_INTERVAL_MS);
  }

  /**
   * Sends the current entry of every key, each marked changed, when any versionstamp moved since
   * the last delivery (always, the first time). Deno 2.9's client reads a key sent as unchanged
   * as deleted, and denokv's own server never sends one.
   */
  deliver(read: (key: Key) => StoredEntry | undefined): void {
    const entries = this.keys.map(read);
    // Identity suffices: every commit allocates its own versionstamp.
    const moved = entries.some((entry, i) => entry?.versionstamp !== this.#delivered[i]);
    if (this.#delivered.length > 0 && !moved) return;
    this.#delivered = entries.map((entry) => entry?.versionstamp);
    this.#send(encodeWatchFrame(this.keys.map((key, i) => [key, entries[i]])));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    this.onClose();
    try {
      this.controller.close();
    } catch {
      // Already closed or cancelled by the client.
    }
  }

  #send(frame: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.controller.enqueue(frame);
    } catch {
      this.close();
    }
  }
}

class WatchRegistry {
  #byKey = new Map<Key, Set<Watcher>>();
  #all = new Set<Watcher>();

  get size(): number {
    return this.#all.size;
  }

  add(watcher: Watcher): void {
    this.#all.add(watcher);
    for (const key of watcher.keys) {
      let watchers = this.#byKey.get(key);
      if (!watchers) this.#byKey.set(key, watchers = new Set());
      watchers.add(watcher);
    }
  }

  remove(watcher: Watcher): void {
    this.#all.delete(watcher);
    for (const key of watcher.keys) {
      const watchers = this.#byKey.get(key);
      watchers?.delete(watcher);
      if (watchers?.size === 0) this.#byKey.delete(key);
    }
  }

  /** Each watcher of any of these keys, once. */
  watchersOf(keys: Key[]): Set<Watcher> {
    const found = new Set<Watcher>();
    for (const key of keys) for (const watcher of this.#byKey.get(key) ?? []) found.add(watcher);
    return found;
  }

  closeAll(): void {
    for (const watcher of [...this.#all]) watcher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The HTTP server

const DATA_PATH = /^\/v([123])\/(snapshot_read|atomic_write|watch)$/;

class InMemoryKvConnectServer implements KvConnectServer {
  delayMs: number;
  calls = { reads: 0, writes: 0, watches: 0 };
  rounds = 0;
  readonly token = `kvc_${randomHex(16)}`;
  readonly listening: Promise<void>;
  url = "";

  #dataPathToken = `kvd_${randomHex(16)}`;
  #databaseId = crypto.randomUUID();
  #limits: WriteLimits;
  #store = new KvStore();
  #watchers = new WatchRegistry();
  #closing = false;
  #inFlight = 0;
  #http: Deno.HttpServer<Deno.NetAddr>;

  constructor(opts: KvConnectServerOptions) {
    this.delayMs = opts.delayMs ?? 0;
    this.#limits = { maxChecks: opts.maxChecks ?? 10, maxMutations: opts.maxMutations ?? 1000 };
    let listened!: () => void;
    this.listening = new Promise((resolve) => listened = resolve);
    this.#http = Deno.serve({
      hostname: "127.0.0.1",
      port: opts.port ?? 0,
      onListen: ({ port }) => {
        this.url = `http://127.0.0.1:${port}`;
        listened();
      },
    }, (req) => this.#handle(req));
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  async close(): Promise<void> {
    // Open watch streams would keep shutdown() waiting forever.
    this.#closing = true;
    this.#watchers.closeAll();
    await this.#http.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    try {
      if (req.method !== "POST") throw new ProtocolError(405, "Method not allowed.");
      const path = new URL(req.url).pathname;
      if (path === "/") return await this.#metadataExchange(req);
      const match = DATA_PATH.exec(path);
      if (!match) throw new ProtocolError(404, "Resource not found.");
      const version = Number(match[1]);
      this.#authenticateDataPath(req, version);
      const body = new Uint8Array(await req.arrayBuffer());
      if (match[2] === "snapshot_read") return await this.#snapshotRead(body);
      if (match[2] === "atomic_write") return await this.#atomicWrite(body);
      if (version < 3) throw new ProtocolError(404, "Resource not found.");
      return await this.#watch(body);
    } catch (error) {
      if (error instanceof ProtocolError) {
        return new Response(error.message, {
          status: error.status,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      console.error("kv_connect_server: internal error", error);
      // A 5xx makes the client retry forever; a 400 surfaces the bug.
      return new Response(`Internal error: ${error}`, { status: 400 });
    }
  }

  async #metadataExchange(req: Request): Promise<Response> {
    const version = chooseVersion(await req.text());
    if (bearerToken(req) !== this.token) throw new ProtocolError(401, "Invalid access token.");
    // Version 1 clients do not resolve endpoint URLs against the base URL.
    const endpoint = version === 1 ? `${this.url}/v1` : `/v${version}`;
    return Response.json({
      version,
      databaseId: this.#databaseId,
      endpoints: [{ url: endpoint, consistency: "strong" }],
      token: this.#dataPathToken,
      expiresAt: new Date(Date.now() + METADATA_LIFETIME_MS).toISOString(),
    });
  }

  #authenticateDataPath(req: Request, version: number): void {
    if (bearerToken(req) !== this.#dataPathToken) {
      throw new ProtocolError(401, "Invalid access token.");
    }
    const databaseHeader = version === 1 ? "x-transaction-domain-id" : "x-denokv-database-id";
    if (req.headers.get(databaseHeader) !== this.#databaseId) {
      throw badRequest("Invalid database id.");
    }
    if (version >= 2 && req.headers.get("x-denokv-version") !== String(version)) {
      throw badRequest(`Expected protocol version ${version}.`);
    }
  }

  async #snapshotRead(body: Uint8Array): Promise<Response> {
    const ranges = decodeSnapshotRead(body);
    validateSnapshotRead(ranges);
    this.calls.reads++;
    return await this.#inRound(async () => {
      await this.#latency();
      const now = Date.now();
      return protobufResponse(
        encodeSnapshotReadOutput(ranges.map((range) => this.#store.readRange(range, now))),
      );
    });
  }

  async #atomicWrite(body: Uint8Array): Promise<Response> {
    const write = decodeAtomicWrite(body);
    validateAtomicWrite(write, this.#limits);
    this.calls.writes++;
    return await this.#inRound(async () => {
      await this.#latency();
      const result = this.#store.commit(write, Date.now());
      if (result.ok) this.#notifyWatchers(result.writtenKeys);
      return protobufResponse(encodeAtomicWriteOutput(result));
    });
  }

  /** Counts a round when this data call is the only one in flight (see `rounds`). */
  async #inRound<T>(call: () => Promise<T>): Promise<T> {
    if (this.#inFlight++ === 0) this.rounds++;
    try {
      return await call();
    } finally {
      this.#inFlight--;
    }
  }

  async #watch(body: Uint8Array): Promise<Response> {
    const keys = decodeWatch(body);
    validateWatch(keys);
    this.calls.watches++;
    await this.#latency();
    let watcher!: Watcher;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (this.#closing) return controller.close();
        watcher = new Watcher(
          keys.map(bytesToKey),
          controller,
          () => this.#watchers.remove(watcher),
        );
        this.#watchers.add(watcher);
        watcher.deliver(this.#reader());
      },
      cancel: () => watcher?.close(),
    });
    return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
  }

  #notifyWatchers(writtenKeys: Key[]): void {
    const read = this.#reader();
    for (const watcher of this.#watchers.watchersOf(writtenKeys)) watcher.deliver(read);
  }

  #reader(): (key: Key) => StoredEntry | undefined {
    const now = Date.now();
    return (key) => this.#store.get(key, now);
  }

  async #latency(): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
  }
}

/** The highest protocol version both sides speak; no body means a version 1 client. */
function chooseVersion(body: string): number {
  let clientVersions: unknown = [1];
  if (body.trim() !== "") {
    try {
      clientVersions = JSON.parse(body)?.supportedVersions;
    } catch {
      throw badRequest("The metadata exchange request body is not valid JSON.");
    }
  }
  if (!Array.isArray(clientVersions)) {
    throw badRequest("The metadata exchange request needs a supportedVersions array.");
  }
  const common = SUPPORTED_VERSIONS.filter((v) => clientVersions.includes(v));
  if (common.length === 0) {
    throw badRequest(
      "The server could not negotiate a protocol version. The server supports versions 1 to 3.",
    );
  }
  return Math.max(...common);
}

function bearerToken(req: Request): string | null {
  const match = /^bearer (.+)$/i.exec(req.headers.get("authorization") ?? "");
  return match ? match[1] : null;
}

function protobufResponse(body: Uint8Array<ArrayBuffer>): Response {
  return new Response(body, { headers: { "content-type": "application/x-protobuf" } });
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

// ---------------------------------------------------------------------------------------------
// As a program: --port N --delay MS

function parseFlags(args: string[]): KvConnectServerOptions {
  const opts: KvConnectServerOptions = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = () => Number(inline ?? args[++i]);
    if (flag === "--port") opts.port = value();
    else if (flag === "--delay") opts.delayMs = value();
    else throw new Error(`unknown flag ${args[i]} (expected --port N --delay MS)`);
  }
  return opts;
}

if (import.meta.main) {
  const server = await startKvConnectServer(parseFlags(Deno.args));
  console.log(`KV Connect server on ${server.url} (delay ${server.delayMs} ms)`);
  console.log(`DENO_KV_ACCESS_TOKEN=${server.token}`);
  console.log(`then: Deno.openKv("${server.url}") in a process run with that variable set`);
}
