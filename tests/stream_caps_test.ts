/**
 * Rule 48: stream caps. One agent session holds at most 20 open `/events` streams and one web chat
 * visitor at most 5 (the oldest is closed when a new one opens); one client address opens at most
 * 200 web chat streams (the next is 429 until one closes).
 */
import assert from "node:assert/strict";
import { createVisitor } from "../domain/webchat.ts";
import { MAX_STREAMS_PER_SESSION } from "../live/stream.ts";
import { MAX_STREAMS_PER_ADDRESS, MAX_STREAMS_PER_VISITOR } from "../live/webchat.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { type TestDesk, testDesk, waitFor, webchatDesk } from "./helpers.ts";

/** A stream's body read as text; `ended()` says whether the server closed it. */
function reader(res: Response) {
  const r = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let done = false;
  let pending: Promise<ReadableStreamReadResult<string>> | null = null;
  /** Reads what comes within `ms`; true when the stream ended. */
  const drain = async (ms: number) => {
    const end = Date.now() + ms;
    while (!done && Date.now() < end) {
      pending ??= r.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        pending,
        new Promise<null>((ok) => timer = setTimeout(() => ok(null), end - Date.now())),
      ]);
      clearTimeout(timer);
      if (chunk === null) break;
      pending = null;
      if (chunk.done) done = true;
      else text += chunk.value;
    }
    return done;
  };
  return {
    drain,
    get text() {
      return text;
    },
    close: () => r.cancel().catch(() => {}),
  };
}

function events(t: TestDesk, token: string) {
  return Promise.resolve(t.app.request("/events?view=desk", {
    headers: { cookie: `${SESSION_COOKIE}=${token}`, accept: "text/event-stream" },
  }));
}

Deno.test({
  name: "[routes] rule 48: one session holds at most 20 event streams; a 21st ends the oldest",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await testDesk();
    const open: ReturnType<typeof reader>[] = [];
    try {
      assert.equal(MAX_STREAMS_PER_SESSION, 20);
      const ana = await d.person("agent");
      const ben = await d.person("agent");
      const bens = reader(await events(d, ben.token));
      open.push(bens);
      for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) {
        const res = await events(d, ana.token);
        assert.equal(res.status, 200);
        open.push(reader(res));
        await open.at(-1)!.drain(50);
      }
      const [first, second] = [open[1], open[2]];
      assert.equal(await first.drain(50), false, "20 streams: all open");
      open.push(reader(await events(d, ana.token)));
      assert.equal(await first.drain(2000), true, "the 21st ends the oldest");
      // It tells its page to come back in a minute, not at once.
      assert.match(first.text, /retry: 60000/);
      assert.equal(await second.drain(100), false, "the others stay");
      assert.equal(await open.at(-1)!.drain(100), false, "the new one stays");
      assert.equal(await bens.drain(100), false, "another session is not touched");
    } finally {
      for (const r of open) await r.close();
      await d.close();
    }
  },
});

async function visitorStream(d: TestDesk, token: string): Promise<Response> {
  const ticket = await d.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", { token });
  assert.equal(ticket.status, 200);
  return await d.call(
    "GET",
    `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
  );
}

Deno.test({
  name: "[routes] rule 48: a web chat visitor holds at most 5 streams; a 6th ends the oldest",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await webchatDesk();
    const open: ReturnType<typeof reader>[] = [];
    try {
      assert.equal(MAX_STREAMS_PER_VISITOR, 5);
      const v = await createVisitor(d.desk, "198.51.100.1");
      for (let i = 0; i <= MAX_STREAMS_PER_VISITOR; i++) {
        const res = await visitorStream(d, v.token);
        assert.equal(res.status, 200);
        open.push(reader(res));
        await open.at(-1)!.drain(50);
      }
      assert.equal(await open[0].drain(2000), true, "the oldest ended");
      for (const r of open.slice(1)) assert.equal(await r.drain(50), false);
    } finally {
      for (const r of open) await r.close();
      await d.close();
    }
  },
});

Deno.test({
  name: "[routes] rule 48: one address opens at most 200 web chat streams; the next is 429",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await webchatDesk();
    const open: ReturnType<typeof reader>[] = [];
    try {
      assert.equal(MAX_STREAMS_PER_ADDRESS, 200);
      // 40 visitors (made from other addresses), 5 streams each, all from this test's address.
      const visitors = [];
      for (let i = 0; i < MAX_STREAMS_PER_ADDRESS / MAX_STREAMS_PER_VISITOR; i++) {
        visitors.push(await createVisitor(d.desk, `198.51.100.${i + 10}`));
      }
      for (const v of visitors) {
        for (let i = 0; i < MAX_STREAMS_PER_VISITOR; i++) {
          const res = await visitorStream(d, v.token);
          assert.equal(res.status, 200);
          open.push(reader(res));
        }
      }
      const extra = await createVisitor(d.desk, "198.51.100.250");
      const ticket = await d.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", {
        token: extra.token,
      });
      const full = await d.call(
        "GET",
        `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
      );
      assert.equal(full.status, 429);
      assert.equal((await full.json()).error.code, "rate_limited");
      // The ticket was not used up: once a stream closes, the same ticket opens one.
      await open.shift()!.close();
      await waitFor(
        async () => {
          const again = await d.call(
            "GET",
            `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
          );
          if (again.status === 200) {
            open.push(reader(again));
            return true;
          }
          assert.equal(again.status, 429);
          await again.body?.cancel();
          return false;
        },
        5000,
        "a place to free up",
      );
    } finally {
      for (const r of open) await r.close();
      await d.close();
    }
  },
});
