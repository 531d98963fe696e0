/**
 * Rule 37: due work wakes without KV queues: a timer in every live instance, armed from the next
 * due entry and re-armed by a watch (or, between processes on one SQLite file, a poll).
 */
import assert from "node:assert/strict";
import { ManualClock, systemClock } from "../domain/clock.ts";
import { scheduleDue } from "../domain/desk.ts";
import { keys } from "../domain/keys.ts";
import { scheduleDelivery } from "../domain/messages.ts";
import { type Lane, Wakeups } from "../domain/wakeups.ts";
import { waitFor } from "./helpers.ts";
import { pointAttachment } from "../domain/attachments.ts";
import { updateChannel } from "../domain/channel_settings.ts";
import { KvFileStore } from "../domain/file_store.ts";
import { MediaFetcher, queueMediaFetch } from "../domain/media_fetch.ts";
import { bytesOf, FakeMedia } from "./fake_media.ts";

/** A lane that records when it ran and drops what is due, as the real lanes do. */
function recordingLane(kv: Deno.Kv, clock: { now(): number }, name = "timers") {
  const runs: number[] = [];
  const lane: Lane = {
    name,
    prefix: keys.dueAll(),
    run: async () => {
      runs.push(Date.now());
      const end = [...keys.dueAll(), clock.now() + 1];
      for await (const e of kv.list({ prefix: keys.dueAll(), end })) await kv.delete(e.key);
    },
  };
  return { lane, runs };
}

async function schedule(kv: Deno.Kv, at: number, id: string) {
  const op = kv.atomic();
  scheduleDue(op, at, "conversation", id);
  assert.ok((await op.commit()).ok);
}

Deno.test("[domain] rule 37: a due entry wakes its lane at its time, in this or another instance", async (t) => {
  const kv = await Deno.openKv(":memory:");
  const { lane, runs } = recordingLane(kv, systemClock);
  const wakeups = new Wakeups(kv, systemClock, [lane], { timers: true, pollMs: null });
  wakeups.start();
  try {
    await t.step(
      "an entry 300 ms ahead runs after 300 ms, not before, well within 2 s",
      async () => {
        const at = Date.now() + 300;
        await schedule(kv, at, "c1");
        await waitFor(() => runs.length >= 1, 5_000);
        assert.ok(runs[0] >= at - 5, `ran ${at - runs[0]} ms early`);
        assert.ok(runs[0] - at < 2_000, `ran ${runs[0] - at} ms late`);
      },
    );
    await t.step(
      "an earlier entry written later re-arms the timer for the earlier time",
      async () => {
        const late = Date.now() + 60_000;
        await schedule(kv, late, "late");
        const soon = Date.now() + 200;
        await schedule(kv, soon, "soon");
        // A run deletes what is due; a spare wake-up that finds nothing due is harmless.
        await waitFor(
          async () => (await kv.get(keys.due(soon, "conversation", "soon"))).versionstamp === null,
          5_000,
          "the earlier entry run",
        );
        assert.ok(Date.now() - soon < 2_000, `ran ${Date.now() - soon} ms late`);
        assert.ok((await kv.get(keys.due(late, "conversation", "late"))).versionstamp !== null);
      },
    );
  } finally {
    await wakeups.stop();
    kv.close();
  }
});

Deno.test("[domain] rule 37: what is already due when an instance starts runs at once", async () => {
  const kv = await Deno.openKv(":memory:");
  await schedule(kv, Date.now() - 60_000, "left-by-a-stopped-instance");
  const { lane, runs } = recordingLane(kv, systemClock);
  const wakeups = new Wakeups(kv, systemClock, [lane], { timers: true, pollMs: null });
  const started = Date.now();
  wakeups.start();
  await waitFor(() => runs.length >= 1, 5_000);
  assert.ok(runs[0] - started < 2_000);
  await wakeups.stop();
  kv.close();
});

/** Another process writes a due entry into the file, as a second instance would. */
async function scheduleFromAnotherProcess(path: string, at: number) {
  const code = `const kv = await Deno.openKv(${JSON.stringify(path)});
    await kv.atomic().set(["due", ${at}, "conversation", "other"], "other")
      .sum(["due_changed"], 1n).commit();
    kv.close();`;
  const { code: exit } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-kv", code],
  }).output();
  assert.equal(exit, 0);
}

Deno.test("[domain] rule 37: processes on one SQLite file find each other's due entries", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.sqlite3`;
  const kv = await Deno.openKv(path);
  await t.step(
    "with the watch alone, another process's entry is not seen (why the poll exists)",
    async () => {
      const { lane, runs } = recordingLane(kv, systemClock);
      const wakeups = new Wakeups(kv, systemClock, [lane], { timers: true, pollMs: null });
      wakeups.start();
      await scheduleFromAnotherProcess(path, Date.now() + 50);
      // A negative: the next step is its positive control, with the same write seen by the poll.
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(runs.length, 0);
      await wakeups.stop();
      for await (const e of kv.list({ prefix: keys.dueAll() })) await kv.delete(e.key);
    },
  );
  await t.step("with the poll on, it runs within 2 s of its time", async () => {
    const { lane, runs } = recordingLane(kv, systemClock);
    const wakeups = new Wakeups(kv, systemClock, [lane], { timers: true, pollMs: 500 });
    wakeups.start();
    const at = Date.now() + 300;
    await scheduleFromAnotherProcess(path, at);
    await waitFor(() => runs.length >= 1, 5_000);
    assert.ok(runs[0] - at < 2_000, `ran ${runs[0] - at} ms late`);
    await wakeups.stop();
  });
  kv.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("[domain] rule 37: a manual clock arms no real-time timer; what is due by it runs", async () => {
  const kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.parse("2026-11-25T10:00:00Z"));
  const { lane, runs } = recordingLane(kv, clock);
  const wakeups = new Wakeups(kv, clock, [lane], { timers: false, pollMs: null });
  wakeups.start();
  // Due in 50 ms by the manual clock: it must wait for the clock to move, whatever real time does.
  await schedule(kv, clock.now() + 50, "future");
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(runs.length, 0);
  await schedule(kv, clock.now() - 1, "due");
  await waitFor(() => runs.length >= 1, 5_000);
  await wakeups.stop();
  kv.close();
});

Deno.test("[domain] rule 37: an item its run leaves due is looked at again later, never in a loop", async () => {
  const kv = await Deno.openKv(":memory:");
  let runs = 0;
  const stuck: Lane = {
    name: "delivery",
    prefix: keys.deliveryDue(),
    run: () => Promise.resolve(runs++),
  };
  const wakeups = new Wakeups(kv, systemClock, [stuck], {
    timers: true,
    pollMs: null,
    backoffMs: 200,
  });
  const op = kv.atomic();
  scheduleDelivery(op, "poison", Date.now() - 1);
  await op.commit();
  wakeups.start();
  await new Promise((r) => setTimeout(r, 1_000));
  await wakeups.stop();
  // Backing off 200, 400, 800 ms: a handful of runs in a second, not thousands.
  assert.ok(runs >= 2 && runs <= 5, `${runs} runs`);
  kv.close();
});

Deno.test("[domain] rule 37: runNow joins a run under way instead of starting a second", async () => {
  const kv = await Deno.openKv(":memory:");
  let concurrent = 0, most = 0, runs = 0;
  const slow: Lane = {
    name: "timers",
    prefix: keys.dueAll(),
    run: async () => {
      runs++;
      most = Math.max(most, ++concurrent);
      await new Promise((r) => setTimeout(r, 100));
      concurrent--;
    },
  };
  const wakeups = new Wakeups(kv, systemClock, [slow], { timers: true, pollMs: null });
  await Promise.all([wakeups.runNow("timers"), wakeups.runNow("timers"), wakeups.runNow("timers")]);
  assert.equal(most, 1);
  assert.ok(runs <= 2, `${runs} runs`);
  await wakeups.stop();
  kv.close();
});

Deno.test("[domain] rules 37, 49: a file fetch that failed is retried by the media lane's timer", async () => {
  const kv = await Deno.openKv(":memory:");
  const fake = new FakeMedia("token-1", { user: "u", password: "p" });
  const bytes = bytesOf(10_000, 2);
  fake.add("5001", { bytes, mime: "image/png", failFirst: [503] });
  const desk = { kv, clock: systemClock };
  await updateChannel(kv, "whatsapp", { accessToken: "token-1", phoneNumberId: "1" }, {
    clock: systemClock,
    publicUrl: null,
  });
  const media = new MediaFetcher(desk, new KvFileStore(kv), {
    publicUrl: null,
    whatsappApiBase: fake.origin,
    twilioApiBase: fake.origin,
    timeoutMs: 2_000,
  });
  const wakeups = new Wakeups(kv, systemClock, [
    { name: "media", prefix: keys.mediaDue(), run: () => media.startDue() },
  ], { timers: true, pollMs: null });
  try {
    // A message with one file to fetch, as the inbound commit writes it; no kick: the lane runs it.
    const id = "01M00000000000000000000001";
    const message = {
      id: "01M00000000000000000000002",
      conversationId: "c1",
      direction: "in",
      author: "customer",
      text: "[image]",
      at: Date.now(),
      attachments: [{ id, kind: "image", mime: "image/png", size: 0, status: "fetching" }],
    };
    const op = kv.atomic().set(keys.message("c1", message.id), message);
    const of = { conversationId: "c1", messageId: message.id, customerId: "cu1" };
    pointAttachment(op, id, of);
    queueMediaFetch(op, id, { route: "meta", mediaId: "5001" }, of, Date.now());
    assert.ok((await op.commit()).ok);
    wakeups.start();
    // The first try meets a 503; rule 25's first wait (5 s) later the timer tries again.
    await waitFor(
      async () => {
        const stored = (await kv.get<typeof message>(keys.message("c1", message.id))).value;
        return stored?.attachments[0].status === "stored";
      },
      20_000,
      "the retried fetch",
    );
    assert.equal(fake.downloads("5001"), 2);
    const gap = fake.requests.filter((r) => r.path === "/download/5001").map((r) => r.at);
    assert.ok(gap[1] - gap[0] >= 4_900, `retried after ${gap[1] - gap[0]} ms`);
  } finally {
    await wakeups.stop();
    await media.stop(1_000);
    await fake.close();
    kv.close();
  }
});
