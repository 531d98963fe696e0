/** Reading a server-sent event stream in tests as a browser would: text as it arrives. */

export interface EventStreamReader {
  /** Reads until `needle` arrives (true) or nothing comes for `quietMs` (false). */
  until(needle: string, quietMs?: number): Promise<boolean>;
  /** Reads whatever comes until the stream is quiet. */
  settle(quietMs?: number): Promise<string>;
  /** Everything read so far (since the last `clear`). */
  readonly seen: string;
  clear(): void;
  /** The last `id:` the stream sent (what the browser resumes from). */
  readonly lastId: string | undefined;
  close(): Promise<void>;
}

/** `defaultQuietMs`: how long `until` waits for the next chunk unless told. */
export function readEventStream(
  body: ReadableStream<Uint8Array>,
  defaultQuietMs: number,
): EventStreamReader {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  // A read left pending by a quiet timeout is kept for the next call, so no chunk is lost.
  let pending: Promise<ReadableStreamReadResult<string>> | null = null;
  const until = async (needle: string, quietMs = defaultQuietMs): Promise<boolean> => {
    while (!seen.includes(needle)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quiet = new Promise<null>((r) => timer = setTimeout(() => r(null), quietMs));
      pending ??= reader.read();
      const chunk = await Promise.race([pending, quiet]);
      clearTimeout(timer);
      if (chunk === null) return false;
      pending = null;
      if (chunk.done) return false;
      seen += chunk.value;
    }
    return true;
  };
  return {
    until,
    async settle(quietMs = 250) {
      await until("\u0000never", quietMs);
      return seen;
    },
    get seen() {
      return seen;
    },
    clear() {
      seen = "";
    },
    get lastId() {
      return [...seen.matchAll(/^id: (.*)$/gm)].at(-1)?.[1];
    },
    close: () => reader.cancel(),
  };
}
