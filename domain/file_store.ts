/**
 * Rule 49: where the bytes of files live. Two calls, `save` and `open`, so a store other than
 * Deno KV (an S3-compatible bucket) can take its place later; the KV one needs no extra service
 * and works on Deno Deploy.
 *
 * In KV a file is pieces of at most 60 KiB (`["file_chunks", id, i]`, a value holds 64 KiB),
 * written a few to a commit (well under the 800 KiB and 1,000-mutation limits), and then its
 * record (`["files", id]`) last: a file is readable only once whole. Bytes are streamed both ways
 * and never held whole: a save keeps at most one commit's pieces in memory, a read one batch.
 * Saving the same id again writes the same keys, so a fetch cut short and started again leaves
 * one copy.
 */
import { createHash } from "node:crypto";
import { keys } from "./keys.ts";

/** A stored file's record. */
export interface StoredFile {
  id: string;
  mime: string;
  size: number;
  /** Hex SHA-256 of the bytes (rule 49 checks Meta's against it). */
  sha256: string;
  /** How many pieces the bytes are in (KV store). */
  chunks: number;
  storedAt: number;
}

/** An inclusive byte range of a file (HTTP `Range`). */
export interface ByteRange {
  start: number;
  end: number;
}

/** Thrown by `save` when the bytes do not hash to the `sha256` expected: nothing is kept. */
export class FileHashMismatch extends Error {
  constructor() {
    super("The file's SHA-256 does not match what was announced.");
  }
}

/** What `save` is told: the type, the cap, the time, and the hash the bytes must have. */
export interface SaveOptions {
  mime: string;
  maxBytes: number;
  at: number;
  /** Hex SHA-256 the bytes must have (Meta's announced hash), checked before the record. */
  sha256?: string;
}

/** Thrown by `save` when the bytes pass `maxBytes`: what was written is removed. */
export class FileTooLarge extends Error {
  constructor(readonly size: number, readonly maxBytes: number) {
    super(`The file has more than ${maxBytes} bytes.`);
  }
}

export interface FileStore {
  /**
   * Streams `body` into the store under `id`; throws `FileTooLarge` past `maxBytes` and
   * `FileHashMismatch` when `sha256` is given and the bytes differ (nothing is kept either way).
   */
  save(id: string, body: ReadableStream<Uint8Array>, options: SaveOptions): Promise<StoredFile>;
  /**
   * The file's record and its bytes (all, or `range`), or null when it is not whole. `range` may
   * be a function of the file's size (an HTTP `Range` read against it; null: the whole file), so
   * one call reads the record once. The bytes are read only as the body is.
   */
  open(
    id: string,
    range?: ByteRange | ((size: number) => ByteRange | null),
  ): Promise<{ file: StoredFile; body: ReadableStream<Uint8Array> } | null>;
  /** Removes the file's bytes and record (an agent's upload whose message was refused). */
  remove(id: string): Promise<void>;
}

/** A piece of a file: under a KV value's 64 KiB with room for the encoding. */
export const CHUNK_BYTES = 60 * 1024;
/** Pieces per commit: 480 KiB, well under the 800 KiB a commit may carry. */
const CHUNKS_PER_COMMIT = 8;

export class KvFileStore implements FileStore {
  constructor(private kv: Deno.Kv) {}

  async save(
    id: string,
    body: ReadableStream<Uint8Array>,
    options: SaveOptions,
  ): Promise<StoredFile> {
    const hash = createHash("sha256");
    const pending: Uint8Array[] = [];
    let piece = new Uint8Array(CHUNK_BYTES);
    let filled = 0;
    let size = 0;
    let index = 0;
    const flush = async () => {
      if (!pending.length) return;
      const op = this.kv.atomic();
      for (const bytes of pending) op.set(keys.fileChunk(id, index++), bytes);
      pending.length = 0;
      const result = await op.commit();
      if (!result.ok) throw new Error("could not write a file piece");
    };
    const reader = body.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > options.maxBytes) throw new FileTooLarge(size, options.maxBytes);
        hash.update(value);
        let at = 0;
        while (at < value.length) {
          const take = Math.min(CHUNK_BYTES - filled, value.length - at);
          piece.set(value.subarray(at, at + take), filled);
          filled += take;
          at += take;
          if (filled === CHUNK_BYTES) {
            pending.push(piece);
            piece = new Uint8Array(CHUNK_BYTES);
            filled = 0;
            if (pending.length === CHUNKS_PER_COMMIT) await flush();
          }
        }
      }
      if (filled > 0) pending.push(piece.slice(0, filled));
      await flush();
    } catch (error) {
      await reader.cancel().catch(() => {});
      if (error instanceof FileTooLarge) await this.#drop(id, 0);
      throw error;
    }
    const sha256 = hash.digest("hex");
    if (options.sha256 !== undefined && options.sha256 !== sha256) {
      await this.#drop(id, 0);
      throw new FileHashMismatch();
    }
    const file: StoredFile = {
      id,
      mime: options.mime,
      size,
      sha256,
      chunks: index,
      storedAt: options.at,
    };
    // Pieces past the end (an earlier, longer try under this id) go; the record comes last.
    await this.#drop(id, index);
    await this.kv.set(keys.file(id), file);
    return file;
  }

  async open(id: string, wanted?: ByteRange | ((size: number) => ByteRange | null)) {
    const file = (await this.kv.get<StoredFile>(keys.file(id))).value;
    if (!file) return null;
    const range = typeof wanted === "function" ? wanted(file.size) : wanted;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? file.size - 1, file.size - 1);
    const kv = this.kv;
    const first = Math.floor(start / CHUNK_BYTES);
    const last = end < start ? first - 1 : Math.floor(end / CHUNK_BYTES);
    // Ten pieces (one `getMany`) at a time, read only as the body is.
    async function* pieces() {
      for (let next = first; next <= last; next += 10) {
        const upTo = Math.min(last, next + 9);
        const wanted = [];
        for (let i = next; i <= upTo; i++) wanted.push(keys.fileChunk(id, i));
        const entries = await kv.getMany<Uint8Array[]>(wanted);
        for (const [n, entry] of entries.entries()) {
          if (!entry.value) throw new Error(`file ${id} is missing piece ${next + n}`);
          const offset = (next + n) * CHUNK_BYTES;
          const from = Math.max(0, start - offset);
          const to = Math.min(entry.value.length, end - offset + 1);
          if (to > from) yield entry.value.subarray(from, to);
        }
      }
    }
    const body = ReadableStream.from(pieces());
    return { file, body };
  }

  async remove(id: string): Promise<void> {
    // The record first: a file is readable only while it is whole.
    await this.kv.delete(keys.file(id));
    await this.#drop(id, 0);
  }

  /** Removes pieces from `from` on (a file that grew too large, or a shorter rewrite). */
  async #drop(id: string, from: number) {
    let op = this.kv.atomic();
    let count = 0;
    for await (
      const e of this.kv.list({
        start: keys.fileChunk(id, from),
        end: [...keys.fileChunks(id), Number.MAX_SAFE_INTEGER],
      })
    ) {
      op.delete(e.key);
      if (++count % 500 === 0) {
        await op.commit();
        op = this.kv.atomic();
      }
    }
    if (count % 500 !== 0) await op.commit();
  }
}
