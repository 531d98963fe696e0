/**
 * Rule 49: the files customers send are fetched from their provider after the webhook is
 * answered, kept in the desk's own store, and shown by themselves once stored.
 *
 * Each file to fetch is a job (`["media_jobs", id]`: where from, attempts) with a due entry
 * (`["media_due", at, id]`, rule 37: never a KV queue), written in the commit that stores its
 * message. The instance that wrote it starts at once (`kick`); its due entry is the backstop that
 * any instance's timers, the delivery cron and the test clock run. An attempt takes the job by a
 * checked commit that moves its due entry past a lease, so of several instances one fetches; a
 * process killed mid-fetch leaves the entry to fire again, and the new attempt writes the same
 * keys (one copy). Failures retry on rule 25's schedule for 24 hours; a 4xx that is not 408/429
 * fails at once; a file over `CHATDESK_MEDIA_MAX_BYTES` is `too_large` with its size.
 */
import { type AttachmentPointer, cleanMime } from "./attachments.ts";
import { getChannelSettings } from "./channel_settings.ts";
import { secureUrl } from "./config.ts";
import type { Desk } from "./desk.ts";
import { FileHashMismatch, type FileStore, FileTooLarge } from "./file_store.ts";
import { keys } from "./keys.ts";
import { bump, retryCommit } from "./kv_util.ts";
import { readUpTo, RETRY_BUDGET_MS, retryDelay } from "./delivery.ts";
import { Slots } from "./slots.ts";
import {
  jsonObject,
  type MediaSource,
  type ProviderConfig,
  toBase64,
} from "./providers/provider.ts";
import type { Attachment, AttachmentStatus, Message } from "./types.ts";

export interface MediaJob {
  id: string;
  source: MediaSource;
  /** The message the file belongs to (written in the same commit): its result goes there. */
  of: AttachmentPointer;
  attempts: number;
  /** Desk clock time of the first attempt: retries stop 24 hours after it. */
  firstAttemptAt: number | null;
  /** When its due entry fires. */
  dueAt: number;
  lastError?: string;
}

/** How long an attempt holds its job before another instance may take it (real fetch time). */
const LEASE_MS = 120_000;
/** Jobs one look at the due index takes at most. */
const DUE_BATCH = 100;
/** Files fetched at once by one instance (each holds at most one commit's pieces in memory). */
const PARALLEL_FETCHES = 20;

/**
 * Rule 49: a file to fetch for an attachment of the message `of`, written in the caller's commit:
 * the job and a due entry at `at` (the backstop of the writer's kick).
 */
export function queueMediaFetch(
  op: Deno.AtomicOperation,
  attachmentId: string,
  source: MediaSource,
  of: AttachmentPointer,
  at: number,
) {
  const job: MediaJob = {
    id: attachmentId,
    source,
    of,
    attempts: 0,
    firstAttemptAt: null,
    dueAt: at,
  };
  op.set(keys.mediaJob(attachmentId), job).set(keys.mediaDue(at, attachmentId), attachmentId);
  bump(op, keys.dueChanged());
}

type Outcome =
  | { kind: "stored"; size: number; mime: string }
  | { kind: "too_large"; size: number }
  | { kind: "retry"; error: string }
  | { kind: "failed"; error: string };

export class MediaFetcher {
  #running = new Map<string, Promise<void>>();
  #slots = new Slots(PARALLEL_FETCHES);
  #fetch: typeof fetch;
  #stopping = false;

  constructor(
    readonly desk: Desk,
    readonly files: FileStore,
    readonly config: ProviderConfig,
    options: { fetch?: typeof fetch } = {},
  ) {
    this.#fetch = options.fetch ?? fetch;
  }

  /** Starts fetching one file now (after the commit that queued it); never throws. */
  kick(attachmentId: string) {
    void this.#once(attachmentId);
  }

  /** Runs every job due by the desk clock and waits for them (the test clock, rule 25's retries). */
  async runDue(): Promise<number> {
    let runs = 0;
    for (let pass = 0; pass < 20; pass++) {
      // Fetches this instance started meanwhile (a timer, a kick) are waited for too.
      const underway = [...this.#running.values()];
      const due = await this.#due();
      if (!due.length && !underway.length) break;
      await Promise.all([...underway, ...due.map((id) => this.#once(id))]);
      runs += due.length + underway.length;
    }
    return runs;
  }

  /** Starts every due job without waiting for the downloads (timers and the cron). */
  async startDue(): Promise<number> {
    const due = await this.#due();
    for (const id of due) void this.#once(id);
    return due.length;
  }

  /** Rule 39: no new fetch from now on; waits at most `graceMs` for those under way. */
  async stop(graceMs = 4_000) {
    this.#stopping = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#running.values()),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
  }

  async #due(): Promise<string[]> {
    if (this.#stopping) return [];
    const end = [...keys.mediaDue(), this.desk.clock.now() + 1];
    const ids: string[] = [];
    for await (
      const e of this.desk.kv.list<string>({ prefix: keys.mediaDue(), end }, { limit: DUE_BATCH })
    ) ids.push(e.value);
    return [...new Set(ids)];
  }

  /** One attempt per file at a time in this instance. */
  #once(id: string): Promise<void> {
    const running = this.#running.get(id);
    if (running) return running;
    const done = this.#attempt(id).catch((error) =>
      console.error(`media: fetching ${id} failed`, error)
    ).finally(() => this.#running.delete(id));
    this.#running.set(id, done);
    return done;
  }

  async #attempt(id: string) {
    if (this.#stopping) return;
    const { kv, clock } = this.desk;
    const jobEntry = await kv.get<MediaJob>(keys.mediaJob(id));
    const job = jobEntry.value;
    if (!job) return;
    const now = clock.now();
    if (job.dueAt > now && job.attempts > 0) return;
    // Take the job: its due entry moves past the lease, so another instance waits for it.
    const leaseUntil = now + LEASE_MS;
    const taken: MediaJob = {
      ...job,
      attempts: job.attempts + 1,
      firstAttemptAt: job.firstAttemptAt ?? now,
      dueAt: leaseUntil,
    };
    const take = kv.atomic().check(jobEntry)
      .delete(keys.mediaDue(job.dueAt, id))
      .set(keys.mediaDue(leaseUntil, id), id)
      .set(keys.mediaJob(id), taken);
    if (!(await take.commit()).ok) return;

    const outcome = await this.#slots.run(() =>
      this.#download(taken).catch((error): Outcome => ({
        kind: "retry",
        error: String((error as Error)?.message ?? error).slice(0, 200),
      }))
    );
    await this.#settle(taken, outcome);
  }

  /** Records the outcome: the attachment's status in its message, the job done or due again. */
  async #settle(job: MediaJob, outcome: Outcome) {
    const { kv, clock } = this.desk;
    const now = clock.now();
    if (outcome.kind === "retry") {
      const left = (job.firstAttemptAt ?? now) + RETRY_BUDGET_MS - now;
      if (left > 0) {
        const at = now + Math.min(retryDelay(job.attempts), left);
        const op = kv.atomic()
          .delete(keys.mediaDue(job.dueAt, job.id))
          .set(keys.mediaDue(at, job.id), job.id)
          .set(keys.mediaJob(job.id), { ...job, dueAt: at, lastError: outcome.error });
        bump(op, keys.dueChanged());
        await op.commit();
        return;
      }
      outcome = { kind: "failed", error: outcome.error };
    }
    const status: AttachmentStatus = outcome.kind;
    const pointer = job.of;
    const messageKey = keys.message(pointer.conversationId, pointer.messageId);
    await retryCommit(async () => {
      const op = kv.atomic().delete(keys.mediaJob(job.id)).delete(keys.mediaDue(job.dueAt, job.id));
      const entry = await kv.get<Message>(messageKey);
      const message = entry.value;
      if (message?.attachments) {
        const attachments = message.attachments.map((a): Attachment =>
          a.id !== job.id ? a : {
            ...a,
            status,
            ...(outcome.kind === "stored" ? { size: outcome.size, mime: outcome.mime } : {}),
            ...(outcome.kind === "too_large" ? { size: outcome.size } : {}),
          }
        );
        op.check(entry).set(messageKey, { ...message, attachments });
        // Open tickets and chats redraw their thread: the file shows by itself (rule 50).
        bump(op, keys.deliveryChanged());
        bump(op, keys.threadChanged(pointer.customerId));
      }
      return (await op.commit()).ok ? true : undefined;
    });
  }

  /** One download into the file store. */
  async #download(job: MediaJob): Promise<Outcome> {
    const maxBytes = this.config.mediaMaxBytes ?? 16 * 1024 * 1024;
    const settings = await getChannelSettings(this.desk.kv);
    const timeout = () => AbortSignal.timeout(Math.max(this.config.timeoutMs, 60_000));
    let response: Response;
    let declaredSize: number | null = null;
    let mime: string | null = null;
    let sha256: string | undefined;
    if (job.source.route === "meta") {
      const token = settings.whatsapp.accessToken;
      if (!token) return { kind: "retry", error: "The WhatsApp channel has no access token." };
      const auth = { authorization: `Bearer ${token}` };
      const base = this.config.whatsappApiBase.replace(/\/+$/, "");
      // Meta's "Retrieve media URL": the short-lived download address, type, size and hash.
      const info = await this.#fetch(`${base}/${encodeURIComponent(job.source.mediaId)}`, {
        headers: auth,
        signal: AbortSignal.timeout(this.config.timeoutMs),
        redirect: "manual",
      });
      const text = await readUpTo(info, 64 * 1024);
      if (info.status !== 200) return failure(info.status, text);
      const json = jsonObject(text);
      const url = typeof json?.url === "string" ? json.url : null;
      // The bearer token goes to the download too: only over TLS (or to this machine, in tests).
      if (!url || !secureUrl(url)) {
        return { kind: "retry", error: "Meta's media answer has no download URL." };
      }
      declaredSize = typeof json?.file_size === "number"
        ? json.file_size
        : typeof json?.file_size === "string" && /^\d+$/.test(json.file_size)
        ? Number(json.file_size)
        : null;
      if (declaredSize !== null && declaredSize > maxBytes) {
        return { kind: "too_large", size: declaredSize };
      }
      mime = typeof json?.mime_type === "string" ? json.mime_type : null;
      // The hash of the answer describes the bytes at its URL; the webhook's is the fallback.
      sha256 = [json?.sha256, job.source.sha256]
        .map((h) => typeof h === "string" ? hexOf(h) : null)
        .find((h) => h !== null) ?? undefined;
      response = await this.#fetch(url, { headers: auth, signal: timeout() });
    } else {
      const { accountSid, authToken } = settings.twilio;
      if (!accountSid || !authToken) {
        return { kind: "retry", error: "The Twilio channel has no account or token." };
      }
      const basic = toBase64(new TextEncoder().encode(`${accountSid}:${authToken}`));
      // Twilio answers a media URL with a redirect to its store; fetch follows it.
      response = await this.#fetch(job.source.url, {
        headers: { authorization: `Basic ${basic}` },
        signal: timeout(),
      });
    }
    if (response.status !== 200 || !response.body) {
      return failure(response.status, await readUpTo(response, 1024));
    }
    const length = response.headers.get("content-length");
    if (length && /^\d+$/.test(length) && Number(length) > maxBytes) {
      await response.body.cancel().catch(() => {});
      return { kind: "too_large", size: Number(length) };
    }
    const type = cleanMime(mime ?? response.headers.get("content-type"));
    let stored;
    try {
      stored = await this.files.save(job.id, response.body, {
        mime: type,
        maxBytes,
        at: this.desk.clock.now(),
        ...(sha256 ? { sha256 } : {}),
      });
    } catch (error) {
      if (error instanceof FileTooLarge) {
        return { kind: "too_large", size: declaredSize ?? error.size };
      }
      if (error instanceof FileHashMismatch) {
        // A transfer gone wrong, or a file other than announced: never shown; tried again.
        return { kind: "retry", error: "The file's SHA-256 does not match what Meta announced." };
      }
      throw error;
    }
    return { kind: "stored", size: stored.size, mime: type };
  }
}

/** A provider's refusal: 408, 429 and 5xx are worth another try; any other 4xx is final. */
function failure(status: number, body: string): Outcome {
  const error = `HTTP ${status}${body.trim() ? `: ${body.trim().slice(0, 150)}` : ""}`;
  return status === 408 || status === 429 || status >= 500 || status < 400
    ? { kind: "retry", error }
    : { kind: "failed", error };
}

/**
 * Meta's `sha256` (hex, or base64 as its webhooks send it) as lower-case hex; null when it is no
 * SHA-256 at all (a placeholder such as `<HASH>`): then there is nothing to check against.
 */
export function hexOf(given: string): string | null {
  const text = given.trim();
  if (/^[0-9a-f]{64}$/i.test(text)) return text.toLowerCase();
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/=?$/, "="));
  return Array.from(binary, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}
