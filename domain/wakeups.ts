/**
 * Rule 37: work that must happen later wakes without KV queues. The due entries in the store are
 * the durable record; this instance keeps one timer per lane (delivery, conversation timers),
 * armed from the lane's next due entry and re-armed whenever a commit anywhere bumps
 * `dueChanged` (`kv.watch`, which sees every instance's writes on a remote store). Processes that
 * share one SQLite file also poll, since there `watch` misses the other processes' writes. The
 * minute crons in main.ts are the floor when no instance lives. Running a lane twice, late or in
 * several instances at once is harmless: each due item is claimed by a checked commit.
 */
import type { Clock } from "./clock.ts";
import { keys } from "./keys.ts";

export interface Lane {
  name: string;
  /** Due entries are keyed `[...prefix, dueAt, …]`. */
  prefix: Deno.KvKey;
  /** Runs what is due now; the lane's next look is armed when it ends. */
  run: () => Promise<unknown>;
}

export interface WakeupOptions {
  /** Arm real-time timers for future items (the system clock); a manual clock never has them. */
  timers: boolean;
  /** Re-read the lanes this often as well (processes sharing one SQLite file); null: never. */
  pollMs: number | null;
  /** An item still due after its lane ran (it failed) is looked at again this much later. */
  backoffMs?: number;
}

interface LaneState {
  lane: Lane;
  timer: ReturnType<typeof setTimeout> | null;
  armedFor: number | null;
  running: Promise<void> | null;
  again: boolean;
  /** Doubles while a run keeps leaving an item due (a poison item), up to a minute. */
  backoffMs: number;
}

/** Longest delay setTimeout takes; later items are re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Wakeups {
  #lanes: LaneState[];
  #reader: ReadableStreamDefaultReader<unknown> | null = null;
  #poll: ReturnType<typeof setInterval> | null = null;
  #stopped = true;
  #backoffMs: number;

  constructor(
    private kv: Deno.Kv,
    private clock: Clock,
    lanes: Lane[],
    private options: WakeupOptions,
  ) {
    this.#lanes = lanes.map((lane) => ({
      lane,
      timer: null,
      armedFor: null,
      running: null,
      again: false,
      backoffMs: options.backoffMs ?? 1_000,
    }));
    this.#backoffMs = options.backoffMs ?? 1_000;
  }

  /** Watches for due changes, reads each lane's next item and arms its timer. */
  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    const reader = this.kv.watch([keys.dueChanged()]).getReader();
    this.#reader = reader;
    (async () => {
      try {
        // The first answer is the current value: it arms every lane from what the store holds.
        while (!(await reader.read()).done) this.#refreshAll();
      } catch (error) {
        if (this.#reader === reader && !(error instanceof Deno.errors.BadResource)) {
          console.error("wakeups: kv.watch stopped", error);
        }
      }
    })();
    if (this.options.pollMs !== null) {
      this.#poll = setInterval(() => this.#refreshAll(), this.options.pollMs);
    }
  }

  /** No more timers or reads; resolves when the lane runs under way have ended. */
  async stop() {
    this.#stopped = true;
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    const reader = this.#reader;
    this.#reader = null;
    await reader?.cancel().catch(() => {});
    for (const state of this.#lanes) this.#disarm(state);
    await Promise.all(this.#lanes.map((s) => s.running?.catch(() => {})));
  }

  /** Runs a lane now (the crons), joining a run under way, and re-arms it after. */
  runNow(name: string): Promise<void> {
    const state = this.#lanes.find((s) => s.lane.name === name);
    if (!state) throw new Error(`no wake-up lane ${name}`);
    return this.#fire(state);
  }

  #refreshAll() {
    for (const state of this.#lanes) void this.#refresh(state, false);
  }

  /** Reads the lane's next due item and arms the timer for it. */
  async #refresh(state: LaneState, afterRun: boolean) {
    if (this.#stopped) return;
    let next: number | null = null;
    try {
      for await (const e of this.kv.list({ prefix: state.lane.prefix }, { limit: 1 })) {
        next = e.key[state.lane.prefix.length] as number;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) {
        console.error(`wakeups: could not read the ${state.lane.name} lane`, error);
      }
      return;
    }
    if (next === null) return;
    const now = this.clock.now();
    // An item its own run left due failed: look again a little later, never in a tight loop.
    if (afterRun && next <= now) {
      next = now + state.backoffMs;
      state.backoffMs = Math.min(state.backoffMs * 2, 60_000);
    } else if (afterRun) state.backoffMs = this.#backoffMs;
    this.#arm(state, next);
  }

  #arm(state: LaneState, at: number) {
    if (this.#stopped) return;
    const delay = at - this.clock.now();
    if (delay > 0 && !this.options.timers) return;
    if (state.timer !== null && state.armedFor !== null && state.armedFor <= at) return;
    this.#disarm(state);
    state.armedFor = at;
    state.timer = setTimeout(() => {
      state.timer = null;
      state.armedFor = null;
      if (delay > MAX_TIMER_MS) void this.#refresh(state, false);
      else void this.#fire(state);
    }, Math.max(0, Math.min(delay, MAX_TIMER_MS)));
  }

  #disarm(state: LaneState) {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    state.armedFor = null;
  }

  /** One run of a lane at a time in this instance; a call during a run asks for one more. */
  #fire(state: LaneState): Promise<void> {
    if (state.running) {
      state.again = true;
      return state.running;
    }
    state.running = (async () => {
      try {
        do {
          state.again = false;
          await state.lane.run().catch((error) =>
            console.error(`wakeups: the ${state.lane.name} lane failed`, error)
          );
        } while (state.again && !this.#stopped);
      } finally {
        state.running = null;
      }
      await this.#refresh(state, true);
    })();
    return state.running;
  }
}
