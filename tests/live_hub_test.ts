/**
 * Rules 29 and 32, the desk's live hub at its start: the first page to connect after the hub sat
 * idle subscribes, draws itself, and the hub then takes its first reading of the "changed"
 * counters. A commit that lands between the subscription and that reading must still wake the
 * page: otherwise the reading takes the new counters as its starting point, no wave ever comes,
 * and the page shows the change only at its next 10 s poll (seen in the browser test under load:
 * "live live9 never shown in #conversation").
 */
import assert from "node:assert/strict";
import { ManualClock } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { waitFor } from "./helpers.ts";
import { type Change, DeskHub, type Listener, type Wave } from "../live/hub.ts";

/**
 * `kv` whose `watch` starts reading only once `gate` opens, as a loaded store's first reading
 * comes late; `getMany` too when `reads` is "held". Every other method is the store's own.
 */
function lateFirstReading(
  kv: Deno.Kv,
  gate: Promise<void>,
  reads: "held" | "prompt" = "prompt",
): Deno.Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "getMany" && reads === "held") {
        return (watched: Deno.KvKey[]) => gate.then(() => target.getMany(watched));
      }
      if (prop === "watch") {
        return (watched: Deno.KvKey[]) => {
          let reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null = null;
          return new ReadableStream<Deno.KvEntryMaybe<unknown>[]>({
            async pull(controller) {
              if (!reader) {
                await gate;
                reader = target.watch(watched).getReader();
              }
              const { value, done } = await reader.read();
              if (done) controller.close();
              else controller.enqueue(value);
            },
            cancel: () => reader?.cancel(),
          });
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** `promise`, or a failure once 5 s have passed without it. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let settled = false;
  const result = promise.finally(() => settled = true);
  await waitFor(() => settled, 5000, what);
  return await result;
}

/** A listener that records the changes of every wave it gets. */
function recorder(): Listener & { waves: Set<Change>[]; next(): Promise<Set<Change>> } {
  const waves: Set<Change>[] = [];
  return {
    waves,
    wave(wave: Wave) {
      waves.push(new Set(wave.changes));
    },
    tick() {},
    /** The next wave's changes; throws when none comes within 5 s (the hub missed it). */
    async next() {
      const seen = waves.length;
      await waitFor(() => waves.length > seen, 5000, "a wave");
      return waves[waves.length - 1];
    },
  };
}

Deno.test("[live] the desk hub's first reading", async (t) => {
  await t.step(
    "a ticket committed before the watch's first reading still wakes the page",
    async () => {
      const kv = await Deno.openKv(":memory:");
      const gate = Promise.withResolvers<void>();
      const hub = new DeskHub(lateFirstReading(kv, gate.promise), new ManualClock(0), null);
      const page = recorder();
      const unsubscribe = hub.subscribe(page);
      try {
        // The page draws itself once the hub is ready; the watch has not read the counters yet.
        await within(hub.ready, "ready");
        await kv.atomic().sum(keys.ticketsChanged(), 1n).commit();
        const woken = page.next();
        gate.resolve();
        const changes = await woken;
        assert(changes.has("tickets"), `the wave says tickets changed: ${[...changes]}`);
      } finally {
        unsubscribe();
        kv.close();
      }
    },
  );

  await t.step(
    "the reading itself wakes no page; a later commit wakes it with what it changed",
    async () => {
      const kv = await Deno.openKv(":memory:");
      const hub = new DeskHub(kv, new ManualClock(0), null);
      const page = recorder();
      const unsubscribe = hub.subscribe(page);
      try {
        await hub.ready;
        // A second page on the same hub is ready at once.
        await hub.ready;
        const woken = page.next();
        await kv.atomic().sum(keys.chatsChanged(), 1n).commit();
        assert.deepEqual([...await woken], ["chats"]);
        assert.equal(page.waves.length, 1, "one wave, for the commit");
      } finally {
        unsubscribe();
        kv.close();
      }
    },
  );

  await t.step("a hub stopped before its reading came does not keep pages waiting", async () => {
    const kv = await Deno.openKv(":memory:");
    const never = new Promise<void>(() => {});
    const hub = new DeskHub(lateFirstReading(kv, never, "held"), new ManualClock(0), null);
    const unsubscribe = hub.subscribe(recorder());
    const ready = hub.ready;
    unsubscribe();
    await within(ready, "ready after the stop");
    kv.close();
  });
});
