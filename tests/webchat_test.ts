/**
 * [routes] Rule 30, web chat: visitors and their tokens, the two limits, clientId dedupe, the
 * whole customer flow through the visitor API, receipts, the SSE stream and its catch-up, one
 * visitor never reading another's thread, CORS, revocation, expiry, `address_taken` on
 * `/api/inbound`, hostile text on `/webchat`, and the settings' preview (`/webchat/preview`).
 */
import assert from "node:assert/strict";
import { DAY, MINUTE } from "../domain/clock.ts";
import { customerIdFor } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import { hashToken } from "../domain/passwords.ts";
import { DEFAULT_TEXTS as texts } from "../domain/settings.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { widgetBytes } from "../routes/webchat.ts";
import { CLOSED_TIME, INBOUND_TOKEN, type TestDesk, testDesk } from "./helpers.ts";

interface Msg {
  id: string;
  direction: "in" | "out";
  author: string;
  text: string;
  at: string;
  delivery?: { status: string };
}

const SHOP = "https://shop.example";

async function webchatDesk(opts: { at?: number; origins?: string[] } = {}) {
  const d = await testDesk({ at: opts.at ?? CLOSED_TIME });
  const admin = await d.person("admin");
  await setWebchat(d, admin.token, { enabled: true, allowedOrigins: opts.origins ?? [SHOP] });
  return { d, admin };
}

async function setWebchat(d: TestDesk, token: string, body: Record<string, unknown>) {
  const res = await d.json("PUT", "/api/channels/webchat", { token, body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

async function newVisitor(d: TestDesk, headers: Record<string, string> = {}) {
  const res = await d.json<{ visitorId: string; token: string }>("POST", "/webchat/api/visitors", {
    headers,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

let clientIds = 0;
async function say(d: TestDesk, token: string, text: string, clientId = `c${++clientIds}`) {
  return await d.json<{ message: Msg; duplicate?: boolean }>("POST", "/webchat/api/messages", {
    token,
    body: { text, clientId },
  });
}

async function thread(d: TestDesk, token: string, after?: string) {
  const res = await d.json<{ messages: Msg[]; cursor: string | null }>(
    "GET",
    `/webchat/api/messages${after ? `?after=${after}` : ""}`,
    { token },
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/**
 * A reader of one SSE response: `next()` gives the next message event that carries data;
 * `next(ms, "chat")` the next `chat` event (rule 55: what the visitor's chat is doing).
 */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(timeoutMs = 2000, kind = "message"): Promise<{ id: string; data: string }> {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split("\n");
          const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
          const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
          if (!data.length || event !== kind) continue;
          const id = lines.find((l) => l.startsWith("id: "))?.slice(4) ?? "";
          return { id, data: data.join("\n") };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error("no event in time");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
        ]);
        clearTimeout(timer);
        if (chunk === null) throw new Error("no event in time");
        if (chunk.done) throw new Error("stream ended");
        buffer += chunk.value;
      }
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

async function openStream(d: TestDesk, token: string, lastEventId?: string) {
  const ticket = await d.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", { token });
  assert.equal(ticket.status, 200);
  const res = await d.call(
    "GET",
    `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
    { headers: lastEventId ? { "last-event-id": lastEventId } : {} },
  );
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  return { ticket: ticket.body.ticket, stream: sseReader(res) };
}

/** Every KV entry as text (keys and values), to prove a secret is nowhere in the store. */
async function dumpStore(kv: Deno.Kv): Promise<string[]> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: [] })) {
    out.push(JSON.stringify([e.key, e.value], (_k, v) => typeof v === "bigint" ? String(v) : v));
  }
  return out;
}

Deno.test("[routes] rule 30: web chat visitors, tokens and limits", async (t) => {
  const { d, admin } = await webchatDesk();
  try {
    await t.step(
      "a new visitor gets an id and a token; the 11th from one address in an hour is 429",
      async () => {
        for (let i = 0; i < 10; i++) {
          const v = await newVisitor(d);
          assert.match(v.visitorId, /^wv_[0-9A-Z]{26}$/);
          assert.ok(v.token.length >= 40);
        }
        const refused = await d.json<{ error: { code: string } }>("POST", "/webchat/api/visitors");
        assert.equal(refused.status, 429);
        assert.equal(refused.body.error.code, "rate_limited");
        d.clock.advance(61 * MINUTE);
        await newVisitor(d);
      },
    );

    await t.step("the visitor API needs the token: none or a wrong one is 401", async () => {
      assert.equal((await d.call("GET", "/webchat/api/messages")).status, 401);
      const wrong = await d.call("GET", "/webchat/api/messages", { token: "not-a-token" });
      assert.equal(wrong.status, 401);
      const send = await d.call("POST", "/webchat/api/messages", {
        body: { text: "hi", clientId: "a" },
      });
      assert.equal(send.status, 401);
    });

    await t.step("the token is stored hashed: no key or value holds the token itself", async () => {
      const v = await newVisitor(d);
      assert.equal((await say(d, v.token, "hello")).status, 201);
      const hashed = await d.kv.get(keys.webchatToken(await hashToken(v.token)));
      assert.ok(hashed.value, "the hash finds the token's record");
      const store = await dumpStore(d.kv);
      assert.ok(store.some((row) => row.includes(v.visitorId)), "the dump sees web chat data");
      assert.ok(!store.some((row) => row.includes(v.token)), "the raw token is nowhere");
    });

    await t.step("DELETE /webchat/api/visitors/me revokes: the token is then 401", async () => {
      const v = await newVisitor(d);
      assert.equal((await d.call("GET", "/webchat/api/messages", { token: v.token })).status, 200);
      assert.equal(
        (await d.call("DELETE", "/webchat/api/visitors/me", { token: v.token })).status,
        204,
      );
      assert.equal((await d.call("GET", "/webchat/api/messages", { token: v.token })).status, 401);
      assert.equal((await say(d, v.token, "still there?")).status, 401);
    });

    await t.step(
      "a token unused for 30 days expires on the desk clock; each use renews it",
      async () => {
        const v = await newVisitor(d);
        const get = async () =>
          (await d.call("GET", "/webchat/api/messages", { token: v.token })).status;
        d.clock.advance(29 * DAY);
        assert.equal(await get(), 200);
        d.clock.advance(29 * DAY);
        assert.equal(await get(), 200, "used 29 days ago: still good");
        d.clock.advance(30 * DAY + MINUTE);
        assert.equal(await get(), 401, "30 days unused: expired");
        assert.equal(await get(), 401);
      },
    );

    await t.step(
      "a disabled web chat refuses new visitors and new messages clearly (403 webchat_disabled)",
      async () => {
        const v = await newVisitor(d);
        // Sessions follow the desk clock too, and the steps above moved it by months.
        const token = await d.signIn(admin.agent);
        await setWebchat(d, token, { enabled: false });
        const visitor = await d.json<{ error: { code: string; message: string } }>(
          "POST",
          "/webchat/api/visitors",
        );
        assert.equal(visitor.status, 403);
        assert.equal(visitor.body.error.code, "webchat_disabled");
        const message = await say(d, v.token, "anyone?");
        assert.equal(message.status, 403);
        assert.match(JSON.stringify(message.body), /webchat_disabled/);
        assert.equal((await thread(d, v.token)).messages.length, 0, "nothing stored");
        await setWebchat(d, token, { enabled: true });
      },
    );

    await t.step(
      "30 messages a minute are taken; the 31st is 429 and loses none of them",
      async () => {
        const v = await newVisitor(d);
        for (let i = 1; i <= 30; i++) {
          assert.equal((await say(d, v.token, `message ${i}`)).status, 201, `message ${i}`);
        }
        const refused = await d.call("POST", "/webchat/api/messages", {
          token: v.token,
          body: { text: "message 31", clientId: "over" },
        });
        assert.equal(refused.status, 429);
        assert.ok(Number(refused.headers.get("retry-after")) > 0);
        const mine = (await thread(d, v.token)).messages.filter((m) => m.direction === "in");
        assert.deepEqual(
          mine.map((m) => m.text),
          Array.from({ length: 30 }, (_, i) => `message ${i + 1}`),
        );
        d.clock.advance(MINUTE);
        assert.equal((await say(d, v.token, "message 31", "over")).status, 201);
      },
    );

    await t.step("the same clientId twice stores one message and answers it twice", async () => {
      const v = await newVisitor(d);
      const first = await say(d, v.token, "Where is my order?", "resend-1");
      const again = await say(d, v.token, "Where is my order?", "resend-1");
      assert.equal(first.status, 201);
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.equal(again.body.message.id, first.body.message.id);
      // Two copies in flight at once (a resend racing the original) still store one.
      const [a, b] = await Promise.all([
        say(d, v.token, "Parallel", "resend-2"),
        say(d, v.token, "Parallel", "resend-2"),
      ]);
      assert.equal(a.body.message.id, b.body.message.id);
      const mine = (await thread(d, v.token)).messages.filter((m) => m.direction === "in");
      assert.deepEqual(mine.map((m) => m.text), ["Where is my order?", "Parallel"]);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 30: a visitor leaves a message and reads the desk's reply", async (t) => {
  const { d } = await webchatDesk();
  try {
    const agent = await d.person("agent");
    const v = await newVisitor(d);
    const customerId = await customerIdFor("webchat", v.visitorId);
    let ticketId = "";
    let reply: Msg;

    await t.step("a first message out of hours gets the notice and the YES/NO prompt", async () => {
      const sent = await say(d, v.token, "Hello, my card was charged twice");
      assert.equal(sent.status, 201);
      assert.equal(sent.body.message.direction, "in");
      assert.equal(sent.body.message.text, "Hello, my card was charged twice");
      const { messages } = await thread(d, v.token);
      assert.deepEqual(messages.map((m) => [m.direction, m.author, m.text]), [
        ["in", "customer", "Hello, my card was charged twice"],
        ["out", "system", texts.outOfHours],
        ["out", "system", texts.prompt],
      ]);
      assert.equal(messages[1].delivery?.status, "sent", "web chat messages are sent when stored");
    });

    await t.step(
      "YES is acknowledged, messages join, //end is acknowledged, a ticket exists",
      async () => {
        const { cursor } = await thread(d, v.token);
        await say(d, v.token, "yes");
        await say(d, v.token, "Order 4411, paid by card");
        await say(d, v.token, "//end");
        const after = await thread(d, v.token, cursor!);
        assert.deepEqual(after.messages.map((m) => m.text), [
          "yes",
          texts.yesAck,
          "Order 4411, paid by card",
          "//end",
          texts.endAck,
        ]);
        const customer = await d.json<{ openTicketId: string }>(
          "GET",
          `/api/customers/${customerId}`,
          {
            token: agent.token,
          },
        );
        assert.equal(customer.status, 200);
        ticketId = customer.body.openTicketId;
        assert.ok(ticketId, "the message became a ticket");
        const nothingNew = await thread(d, v.token, after.cursor!);
        assert.deepEqual(nothingNew.messages, []);
        assert.equal(nothingNew.cursor, after.cursor);
      },
    );

    await t.step("the agent's Start Chat reply appears in the thread as sent", async () => {
      assert.equal(
        (await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: agent.token })).status,
        200,
      );
      const res = await d.json<Msg>("POST", `/api/tickets/${ticketId}/reply`, {
        token: agent.token,
        body: { text: "Hi! I have refunded the second charge." },
      });
      assert.equal(res.status, 201);
      const { messages } = await thread(d, v.token);
      reply = messages[messages.length - 1];
      assert.equal(reply.id, res.body.id);
      assert.equal(reply.text, "Hi! I have refunded the second charge.");
      assert.equal(reply.delivery?.status, "sent");
    });

    await t.step(
      "receipts move it to delivered, then read; a lower one changes nothing",
      async () => {
        const mark = async () =>
          (await d.json<Msg>("GET", `/api/messages/${reply.id}`, { token: agent.token })).body
            .delivery?.status;
        const before = await d.kv.get(keys.deliveryChanged());
        const delivered = await d.json<{ updated: number }>("POST", "/webchat/api/receipts", {
          token: v.token,
          body: { upTo: reply.id, state: "delivered" },
        });
        assert.equal(delivered.status, 200);
        assert.ok(delivered.body.updated >= 1);
        assert.equal(await mark(), "delivered");
        const after = await d.kv.get(keys.deliveryChanged());
        assert.notEqual(after.versionstamp, before.versionstamp, "the agent's page is woken");
        await d.json("POST", "/webchat/api/receipts", {
          token: v.token,
          body: { upTo: reply.id, state: "read" },
        });
        assert.equal(await mark(), "read");
        const lower = await d.json<{ updated: number }>("POST", "/webchat/api/receipts", {
          token: v.token,
          body: { upTo: reply.id, state: "delivered" },
        });
        assert.equal(lower.status, 200);
        assert.equal(lower.body.updated, 0);
        assert.equal(await mark(), "read");
        const { messages } = await thread(d, v.token);
        assert.equal(messages.find((m) => m.id === reply.id)?.delivery?.status, "read");
        // Auto-replies before it were marked by the same walk.
        assert.ok(
          messages.filter((m) => m.direction === "out").every((m) => m.delivery?.status === "read"),
        );
      },
    );

    await t.step("a receipt for a message that is not the visitor's is 404", async () => {
      const other = await newVisitor(d);
      const res = await d.json("POST", "/webchat/api/receipts", {
        token: other.token,
        body: { upTo: reply.id, state: "read" },
      });
      assert.equal(res.status, 404);
      const bad = await d.json("POST", "/webchat/api/receipts", {
        token: v.token,
        body: { upTo: reply.id, state: "seen" },
      });
      assert.equal(bad.status, 400);
    });
  } finally {
    await d.close();
  }
});

Deno.test({
  name: "[routes] rule 30: the visitor's stream delivers desk messages and catches up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { d } = await webchatDesk();
    try {
      const agent = await d.person("agent");
      const v = await newVisitor(d);
      await say(d, v.token, "hello");
      await say(d, v.token, "YES");
      await say(d, v.token, "//end");
      const customerId = await customerIdFor("webchat", v.visitorId);
      const ticketId =
        (await d.json<{ openTicketId: string }>("GET", `/api/customers/${customerId}`, {
          token: agent.token,
        })).body.openTicketId;
      await d.call("POST", `/api/tickets/${ticketId}/accept`, { token: agent.token });
      const reply = async (text: string) =>
        (await d.json<Msg>("POST", `/api/tickets/${ticketId}/reply`, {
          token: agent.token,
          body: { text },
        })).body;
      let lastSeen = "";

      await t.step("a stream without Last-Event-ID starts with the whole thread", async () => {
        const { stream } = await openStream(d, v.token);
        const { messages } = await thread(d, v.token);
        assert.equal(messages.length, 7);
        for (const m of messages) assert.equal((await stream.next()).id, m.id);
        lastSeen = messages[messages.length - 1].id;
        await stream.close();
      });

      await t.step("an agent's reply reaches an open stream within a second", async () => {
        const { stream } = await openStream(d, v.token, lastSeen);
        const started = Date.now();
        const sent = await reply("First answer");
        const event = await stream.next(1000);
        assert.ok(Date.now() - started < 1000);
        assert.equal(event.id, sent.id);
        const m = JSON.parse(event.data) as Msg;
        assert.deepEqual([m.id, m.direction, m.text, m.delivery?.status], [
          sent.id,
          "out",
          "First answer",
          "sent",
        ]);
        lastSeen = event.id;
        await stream.close();
      });

      await t.step("a stream ticket is one use, and a stream without one is 401", async () => {
        const { ticket, stream } = await openStream(d, v.token);
        await stream.close();
        const reuse = await d.call(
          "GET",
          `/webchat/api/events?ticket=${encodeURIComponent(ticket)}`,
        );
        assert.equal(reuse.status, 401);
        await reuse.body?.cancel();
        assert.equal((await d.call("GET", "/webchat/api/events")).status, 401);
      });

      await t.step(
        "Last-Event-ID catches up what was missed, in order, then goes live",
        async () => {
          const missed = [await reply("Missed one"), await reply("Missed two")];
          const { stream } = await openStream(d, v.token, lastSeen);
          const first = await stream.next();
          const second = await stream.next();
          assert.deepEqual([first.id, second.id], missed.map((m) => m.id));
          const live = await reply("Live again");
          assert.equal((await stream.next(1000)).id, live.id);
          await stream.close();
        },
      );

      await t.step("another visitor's message id as Last-Event-ID or cursor is 404", async () => {
        const other = await newVisitor(d);
        assert.equal(
          (await d.call("GET", `/webchat/api/messages?after=${lastSeen}`, { token: other.token }))
            .status,
          404,
        );
        const ticket = await d.json<{ ticket: string }>("POST", "/webchat/api/stream-ticket", {
          token: other.token,
        });
        const res = await d.call(
          "GET",
          `/webchat/api/events?ticket=${encodeURIComponent(ticket.body.ticket)}`,
          { headers: { "last-event-id": lastSeen } },
        );
        assert.equal(res.status, 404);
        assert.deepEqual((await thread(d, other.token)).messages, [], "its own thread is empty");
      });

      await t.step("revoking the token ends the visitor's open stream", async () => {
        const { cursor } = await thread(d, v.token);
        const { stream } = await openStream(d, v.token, cursor!);
        await d.call("DELETE", "/webchat/api/visitors/me", { token: v.token });
        await assert.rejects(() => stream.next(1000), /stream ended/);
      });
    } finally {
      await d.close();
    }
  },
});

Deno.test("[routes] rule 30: CORS only for the configured origins", async (t) => {
  const { d, admin } = await webchatDesk({ origins: [SHOP] });
  try {
    const preflight = (origin: string) =>
      d.call("OPTIONS", "/webchat/api/messages", {
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });

    await t.step(
      "an allowed origin gets Access-Control-Allow-Origin on preflight and request",
      async () => {
        const pre = await preflight(SHOP);
        assert.equal(pre.status, 204);
        assert.equal(pre.headers.get("access-control-allow-origin"), SHOP);
        assert.match(pre.headers.get("access-control-allow-headers") ?? "", /Authorization/);
        const res = await d.call("POST", "/webchat/api/visitors", { headers: { origin: SHOP } });
        assert.equal(res.status, 201);
        assert.equal(res.headers.get("access-control-allow-origin"), SHOP);
        assert.match(res.headers.get("vary") ?? "", /Origin/);
        const { token } = await res.json();
        const get = await d.call("GET", "/webchat/api/messages", {
          token,
          headers: { origin: SHOP },
        });
        assert.equal(get.headers.get("access-control-allow-origin"), SHOP);
      },
    );

    await t.step(
      "another origin gets none: its preflight and its requests are refused",
      async () => {
        const pre = await preflight("https://evil.example");
        assert.equal(pre.status, 403);
        assert.equal(pre.headers.get("access-control-allow-origin"), null);
        const res = await d.call("POST", "/webchat/api/visitors", {
          headers: { origin: "https://evil.example" },
        });
        assert.equal(res.status, 403);
        assert.equal(res.headers.get("access-control-allow-origin"), null);
        assert.equal((await res.json()).error.code, "origin_not_allowed");
        // Lookalikes are other origins too.
        for (const origin of ["https://shop.example.evil", "http://shop.example", "null"]) {
          assert.equal((await preflight(origin)).status, 403, origin);
        }
      },
    );

    await t.step("the desk's own origin needs no listing; none listed means only it", async () => {
      await setWebchat(d, admin.token, { allowedOrigins: [] });
      assert.equal((await preflight(SHOP)).status, 403);
      const own = await d.call("POST", "/webchat/api/visitors", {
        headers: { origin: "http://localhost" },
      });
      assert.equal(own.status, 201);
    });

    await t.step(
      "a 429 to an allowed origin is readable by its page (it carries the header)",
      async () => {
        await setWebchat(d, admin.token, { allowedOrigins: [SHOP] });
        let last: Response | null = null;
        for (let i = 0; i < 12; i++) {
          last = await d.call("POST", "/webchat/api/visitors", { headers: { origin: SHOP } });
          await last.body?.cancel();
        }
        assert.equal(last!.status, 429);
        assert.equal(last!.headers.get("access-control-allow-origin"), SHOP);
        assert.match(last!.headers.get("access-control-expose-headers") ?? "", /Retry-After/);
      },
    );
  } finally {
    await d.close();
  }
});

Deno.test("[routes] rule 30: visitor ids, hostile text and the widget's own headers", async (t) => {
  const { d, admin } = await webchatDesk();
  try {
    await t.step(
      "/api/inbound with a web chat visitor id as from is 409 address_taken",
      async () => {
        const v = await newVisitor(d);
        const res = await d.json<{ error: { code: string } }>("POST", "/api/inbound", {
          token: INBOUND_TOKEN,
          body: { channel: "webchat", from: v.visitorId, text: "I am the visitor" },
        });
        assert.equal(res.status, 409);
        assert.equal(res.body.error.code, "address_taken");
        assert.equal((await thread(d, v.token)).messages.length, 0);
        // Other web chat addresses from a gateway still work.
        await d.inbound({ channel: "webchat", from: "visitor-7f3a", text: "hello" });
      },
    );

    await t.step("hostile title and greeting are inert on /webchat and in the widget", async () => {
      await setWebchat(d, admin.token, {
        title: "</script><script>alert(1)</script>",
        greeting: '<img src=x onerror="alert(2)"> & welcome',
      });
      const page = await d.call("GET", "/webchat", { headers: { accept: "text/html" } });
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.ok(!html.includes("<script>alert"), "no injected script");
      assert.ok(!html.includes("<img src=x"), "no injected image");
      assert.match(html, /&lt;\/script&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert.match(html, /&lt;img src=x onerror=(&quot;|")alert\(2\)(&quot;|")&gt; &amp; welcome/);
      assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      const widget = await (await d.call("GET", "/webchat/widget.js")).text();
      assert.ok(!widget.includes("</script"), "the settings cannot close a script element");
      assert.ok(!widget.includes("<img"));
      assert.ok(!/innerHTML|insertAdjacentHTML|outerHTML|document\.write/.test(widget));
    });

    await t.step("the widget is ≤ 10 KB gzip and has its own cross-origin headers", async () => {
      const bytes = widgetBytes(defaultWebchat());
      assert.ok(bytes.gzip <= 10 * 1024, `widget.js is ${bytes.gzip} bytes gzip`);
      const res = await d.call("GET", "/webchat/widget.js", {
        headers: { "accept-encoding": "gzip" },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-encoding"), "gzip");
      assert.ok(Number(res.headers.get("content-length")) <= 10 * 1024);
      assert.equal(res.headers.get("cross-origin-resource-policy"), "cross-origin");
      assert.equal(res.headers.get("content-security-policy"), null, "no desk page CSP on it");
      const etag = res.headers.get("etag")!;
      await res.body?.cancel();
      const again = await d.call("GET", "/webchat/widget.js", {
        headers: { "if-none-match": etag },
      });
      assert.equal(again.status, 304);
      const api = await d.call("POST", "/webchat/api/visitors");
      assert.equal(api.headers.get("cache-control"), "no-store");
      assert.equal(api.headers.get("x-content-type-options"), "nosniff");
      await api.body?.cancel();
      const login = await d.call("GET", "/login", { headers: { accept: "text/html" } });
      assert.match(login.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
      await login.body?.cancel();
    });
  } finally {
    await d.close();
  }
});

function defaultWebchat() {
  return {
    enabled: true,
    allowedOrigins: [],
    title: "Chat with us",
    greeting: "Hi! Ask us anything.",
    color: "#1f6feb",
  };
}

Deno.test("[routes] rule 30: the settings' preview for Admin › Integrations", async (t) => {
  const { d, admin } = await webchatDesk();
  const saved = { title: "Shop help", greeting: "Hi! Ask us anything.", color: "#0a7d4f" };
  await setWebchat(d, admin.token, saved);
  const preview = (query: Record<string, string>, token: string | null = admin.token) =>
    d.call("GET", `/webchat/preview?${new URLSearchParams(query)}`, {
      headers: { accept: "text/html", ...(token ? { cookie: `${SESSION_COOKIE}=${token}` } : {}) },
    });
  /** The look the preview hands the widget: its script tag's data attributes, unescaped. */
  const lookOf = async (res: Response) => {
    assert.equal(res.status, 200);
    const html = await res.text();
    const tag = html.match(/<script [^>]*data-mode="preview"[^>]*>/)?.[0] ?? "";
    assert.match(tag, /src="\/webchat\/widget\.js\?v=w[0-9a-z]+"/, "the real widget, versioned");
    const attr = (name: string) =>
      (tag.match(new RegExp(` data-${name}="([^"]*)"`))?.[1] ?? "")
        .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    return { html, title: attr("title"), greeting: attr("greeting"), color: attr("color") };
  };
  try {
    await t.step("signed out it sends you to sign in; agents and supervisors get 403", async () => {
      const anonymous = await preview({ title: "Hello" }, null);
      assert.equal(anonymous.status, 303);
      assert.match(anonymous.headers.get("location") ?? "", /^\/login\?next=%2Fwebchat%2Fpreview/);
      assert.ok(!(await anonymous.text()).includes("widget.js"));
      for (const role of ["agent", "supervisor"] as const) {
        const person = await d.person(role);
        const res = await preview({ title: "Hello" }, person.token);
        assert.equal(res.status, 403, role);
        assert.ok(!(await res.text()).includes("widget.js"));
      }
      // A bearer token is the API's way in, not a page's.
      const bearer = await d.call("GET", "/webchat/preview?title=Hello", { token: admin.token });
      assert.equal(bearer.status, 303);
      await bearer.body?.cancel();
    });

    await t.step("it hands the widget what was typed, escaped, without saving it", async () => {
      const look = await lookOf(
        await preview({
          title: "  Ask Ana  ",
          greeting: "Hello!\nWe answer fast.",
          color: "#FF8800",
        }),
      );
      assert.deepEqual(
        { title: look.title, greeting: look.greeting, color: look.color },
        { title: "Ask Ana", greeting: "Hello!\nWe answer fast.", color: "#ff8800" },
      );
      const stored = await d.json<{ webchat: Record<string, unknown> }>("GET", "/api/channels", {
        token: admin.token,
      });
      assert.equal(stored.body.webchat.title, saved.title, "nothing saved");
      assert.equal(stored.body.webchat.color, saved.color);
    });

    await t.step("hostile title and greeting are text, never markup", async () => {
      const title = "<img src=x onerror=alert(1)>";
      const greeting = '"><script>alert(2)</script><b onmouseover=alert(3)>&amp;';
      const look = await lookOf(await preview({ title, greeting, color: "#000000" }));
      assert.equal(look.title, title);
      assert.equal(look.greeting, greeting);
      assert.ok(!look.html.includes("<img src=x"), "no injected image");
      assert.ok(!look.html.includes("<script>alert"), "no injected script");
      assert.ok(!look.html.includes("<b onmouseover"), "no injected element");
      assert.equal(
        (look.html.match(/<script\b/g) ?? []).length,
        1,
        "the widget is the only script",
      );
      // Without JavaScript the page names the same texts, escaped too.
      assert.match(look.html, /&lt;img src=x onerror=alert\(1\)&gt;<\/h2>/);
    });

    await t.step("a value the settings would refuse shows the saved one", async () => {
      for (
        const color of [
          "red",
          "#0a7d4",
          "#12345g",
          "#0a7d4f0",
          '#000000" onload="alert(1)',
          "javascript:alert(1)",
          "",
        ]
      ) {
        const look = await lookOf(await preview({ title: "T", color }));
        assert.equal(look.color, saved.color, `colour ${JSON.stringify(color)}`);
        assert.ok(!look.html.includes("onload="), "no attribute injected");
      }
      for (const title of ["", "   ", "x".repeat(61)]) {
        assert.equal((await lookOf(await preview({ title }))).title, saved.title, title);
      }
      assert.equal((await lookOf(await preview({ title: "x".repeat(60) }))).title, "x".repeat(60));
      const long = await lookOf(await preview({ greeting: "g".repeat(501) }));
      assert.equal(long.greeting, saved.greeting);
      assert.equal((await lookOf(await preview({ greeting: "" }))).greeting, "", "may be empty");
      const bare = await lookOf(await preview({}));
      assert.deepEqual([bare.title, bare.greeting, bare.color], [
        saved.title,
        saved.greeting,
        saved.color,
      ]);
    });

    await t.step(
      "its own headers: framed by the desk only, scripts from the desk, no connections",
      async () => {
        const res = await preview({ title: "Hello" });
        await res.body?.cancel();
        assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
        const csp = res.headers.get("content-security-policy") ?? "";
        assert.match(csp, /frame-ancestors 'self'/);
        assert.match(csp, /script-src 'self'/);
        assert.match(csp, /connect-src 'none'/, "a preview never calls the visitor API");
        assert.match(csp, /form-action 'none'/);
        assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
        assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");
        assert.equal(res.headers.get("cache-control"), "no-store");
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        // Every other desk page still refuses any frame.
        for (const path of ["/admin/integrations", "/webchat"]) {
          const page = await d.call("GET", path, {
            headers: { accept: "text/html", cookie: `${SESSION_COOKIE}=${admin.token}` },
          });
          await page.body?.cancel();
          assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
        }
      },
    );
  } finally {
    await d.close();
  }
});
