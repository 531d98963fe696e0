/**
 * SPEC rules 24–27 and 29: every outbound message reaches its provider after the commit, in order,
 * retried on the injected clock, never handed over twice once accepted. The providers are real
 * HTTP servers on 127.0.0.1 (tests/fake_provider.ts) answering as scripted.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { HOUR, MINUTE } from "../domain/clock.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import { RETRY_SCHEDULE_MS, retryDelay } from "../domain/delivery.ts";
import { advanceDelivery } from "../domain/messages.ts";
import type { Agent, Route } from "../domain/types.ts";
import { FakeProvider, metaAccepted, type Recorded, twilioAccepted } from "./fake_provider.ts";
import { CLOSED_TIME, INBOUND_TOKEN, type TestDesk, testDesk } from "./helpers.ts";
import { type ProviderDesk, providerDesk, WHATSAPP, writeIn } from "./provider_desk.ts";

interface Msg {
  id: string;
  direction: string;
  author: string;
  text: string;
  delivery?: {
    status: string;
    attempts: number;
    providerId?: string;
    error?: { code: string; message: string };
  };
}

interface Setup extends Omit<ProviderDesk, "admin"> {
  /** An admin's token (renewed by `asAdmin` when the manual clock ran its session out). */
  admin: string;
}

/** A desk closed for business (every first message asks YES/NO) with WhatsApp and Twilio set up. */
async function setup(opts: { timeoutMs?: number } = {}): Promise<Setup> {
  const s = await providerDesk({ timeoutMs: opts.timeoutMs });
  admins.set(s.admin.token, s.admin);
  return { ...s, admin: s.admin.token };
}

/** The text of each request to Meta: a text's body, or an interactive message's (rule 55). */
const metaTexts = (requests: Recorded[]) =>
  requests.map((r) => {
    const body = JSON.parse(r.body) as {
      text?: { body: string };
      interactive?: { body: { text: string } };
    };
    return body.text?.body ?? body.interactive?.body.text ?? "";
  });

/** Admin tokens by the admin's id; sessions expire on the manual clock, so they are renewed. */
const admins = new Map<string, { agent: Agent; token: string }>();

async function asAdmin(d: TestDesk, token: string, method: string, path: string, body?: unknown) {
  let res = await d.json<Msg>(method, path, { token, body });
  if (res.status === 401) {
    const admin = admins.get(token)!;
    admin.token = await d.signIn(admin.agent);
    res = await d.json<Msg>(method, path, { token: admin.token, body });
  }
  return res;
}

async function message(d: TestDesk, admin: string, id: string): Promise<Msg> {
  const res = await asAdmin(d, admin, "GET", `/api/messages/${id}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Waits (real time) until the message's delivery status is one of `statuses`. */
async function until(
  d: TestDesk,
  admin: string,
  id: string,
  statuses: string[],
  attempts?: number,
): Promise<Msg> {
  const deadline = Date.now() + 8_000;
  while (true) {
    const m = await message(d, admin, id);
    // "queued" is awaited as a settled wait (a retry or a hold carries its error), not the
    // moment between taking the send lease and the provider's answer.
    const status = m.delivery?.status ?? "";
    const ok = statuses.includes(status) &&
      (status !== "queued" || m.delivery?.error !== undefined) &&
      (attempts === undefined || m.delivery?.attempts === attempts);
    if (ok) return m;
    if (Date.now() > deadline) {
      const due = [];
      for await (const e of d.kv.list({ prefix: ["delivery_due"] })) due.push(e.key);
      for await (const e of d.kv.list({ prefix: ["send_lease"] })) due.push([e.key, e.value]);
      for await (const e of d.kv.list({ prefix: ["delivery_held"] })) due.push(e.key);
      console.log("delivery state at timeout: now", d.clock.now(), JSON.stringify(due));
      throw new Error(`message ${id} stayed ${JSON.stringify(m.delivery)}, wanted ${statuses}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Advances the manual clock through the API: due retries run before it answers (rule 25). */
async function advance(d: TestDesk, admin: string, ms: number) {
  const res = await asAdmin(d, admin, "POST", "/api/test/clock", { advanceMs: ms });
  assert.equal(res.status, 200);
}

/**
 * A WhatsApp ticket accepted by a new agent; returns the agent's token and the ticket id. Its
 * automatic replies have all been answered by the provider by then, so a script a step gives the
 * fake provider next is never taken by one of them.
 */
async function acceptedTicket(s: Setup, from: string, route: Route = "meta") {
  const answers = [
    await writeIn(s.d, from, "my order is late", route),
    await writeIn(s.d, from, "yes", route),
    await writeIn(s.d, from, "//end", route),
  ];
  for (const m of answers.flatMap((a) => a.replies)) {
    await until(s.d, s.admin, m.id, ["sent", "delivered", "read", "failed"]);
  }
  const yes = answers[1];
  const agent = await s.d.person("agent");
  const accepted = await s.d.json("POST", `/api/tickets/${yes.ticketId}/accept`, {
    token: agent.token,
  });
  assert.equal(accepted.status, 200);
  return { token: agent.token, agent: agent.agent, ticketId: yes.ticketId! };
}

async function reply(s: Setup, token: string, ticketId: string, text: string): Promise<Msg> {
  const res = await s.d.json<Msg>("POST", `/api/tickets/${ticketId}/reply`, {
    token,
    body: { text },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

Deno.test("[routes] rule 24: every outbound message is delivered over the customer's route", async (t) => {
  const s = await setup();
  const { d, meta, admin } = s;

  await t.step(
    "rule 4's out-of-hours notice and the YES/NO prompt reach Meta, in order",
    async () => {
      const r = await writeIn(d, "+27820000001", "hello");
      assert.deepEqual(r.replies.map((m) => m.delivery?.status), ["queued", "queued"]);
      await meta.waitFor(2);
      assert.deepEqual(metaTexts(meta.requests), r.replies.map((m) => m.text));
      const first = meta.requests[0];
      assert.equal(first.path, `/${WHATSAPP.phoneNumberId}/messages`);
      assert.equal(first.headers.get("authorization"), `Bearer ${WHATSAPP.accessToken}`);
      assert.equal(JSON.parse(first.body).to, "27820000001");
      const sent = await until(d, admin, r.replies[1].id, ["sent"]);
      assert.equal(sent.delivery!.providerId, "wamid.TEST000001");
    },
  );

  await t.step(
    "rules 1 and 2: the re-prompt, YES and //end acknowledgements and NO goodbye are sent",
    async () => {
      const before = meta.requests.length;
      const again = await writeIn(d, "+27820000001", "what?");
      const yes = await writeIn(d, "+27820000001", "YES");
      const end = await writeIn(d, "+27820000001", "//END ");
      await writeIn(d, "+27820000002", "hi");
      const no = await writeIn(d, "+27820000002", "no");
      const expected = [again, yes, end, no].flatMap((r) => r.replies.map((m) => m.text));
      assert.equal(expected.length, 4);
      await meta.waitFor(before + 6);
      const texts = metaTexts(meta.requests.slice(before));
      for (const text of expected) assert.ok(texts.includes(text), text);
    },
  );

  await t.step(
    "an agent's reply answers at once while the provider hangs: the call is after the commit",
    async () => {
      const { token, ticketId } = await acceptedTicket(s, "+27820000003");
      await meta.waitFor(meta.requests.length); // auto-replies of that flow are in
      const count = meta.requests.length;
      meta.script("hang");
      const started = Date.now();
      const m = await reply(s, token, ticketId, "We are on it");
      assert.ok(Date.now() - started < 1_000, "the reply waited for the provider");
      assert.equal(m.delivery!.status, "queued");
      await meta.waitFor(count + 1);
      // The provider never answered: after the timeout the message waits for its retry.
      const timedOut = await until(d, admin, m.id, ["queued"], 1);
      assert.equal(timedOut.delivery!.error!.code, "timeout");
      await advance(d, admin, 5_000);
      await until(d, admin, m.id, ["sent"], 2);
    },
  );

  await t.step(
    "rule 5: a pending chat that times out sends the no-agent notice, then the //end instruction",
    async () => {
      const agent = await d.person("agent");
      await d.json("PUT", "/api/agents/me/status", {
        token: agent.token,
        body: { status: "online" },
      });
      await d.json("PUT", "/api/settings", {
        token: admin,
        body: { hours: { timeZone: "UTC", weekly: allWeek(), closures: [] } },
      });
      const r = await writeIn(d, "+27820000004", "are you there?");
      assert.equal(r.conversation.state, "pending");
      assert.equal(r.replies.length, 0);
      await new Promise((res) => setTimeout(res, 100));
      const before = meta.requests.length;
      await advance(d, admin, 5 * MINUTE + 1);
      await meta.waitFor(before + 2);
      const texts = metaTexts(meta.requests.slice(before));
      assert.match(texts[0], /busy/);
      assert.match(texts[1], /\/\/end/);
    },
  );

  await t.step("rules 8 and 9: intake and YES/NO timeouts send nothing", async () => {
    await d.json("PUT", "/api/settings", {
      token: admin,
      body: { hours: { timeZone: "UTC", weekly: {}, closures: [] } },
    });
    const start = meta.requests.length;
    const answers = [
      await writeIn(d, "+27820000005", "hello"), // prompt, then no answer (rule 9)
      await writeIn(d, "+27820000006", "hello"),
      await writeIn(d, "+27820000006", "yes"), // intake, then silence (rule 8)
    ];
    // Every reply so far has reached the provider: nothing is in flight.
    await meta.waitFor(start + answers.flatMap((a) => a.replies).length);
    const before = meta.requests.length;
    const outbound = async () => {
      let n = 0;
      for (const id of new Set(answers.map((a) => a.customerId))) {
        const conversation = (await d.kv.get<{ id: string }>(keys.conversation(id))).value!;
        const entries = d.kv.list<{ direction: string }>({
          prefix: keys.messages(conversation.id),
        });
        for await (const m of entries) if (m.value.direction === "out") n++;
      }
      return n;
    };
    const stored = await outbound();
    // The sweep runs before the clock's answer: both have timed out when it comes.
    await advance(d, admin, 11 * MINUTE);
    for (const a of answers) {
      const conversation = await d.kv.get<{ state: string }>(keys.conversation(a.customerId));
      assert.equal(conversation.value?.state, "ended", "timed out");
    }
    assert.equal(await outbound(), stored, "no message was written to send");
    assert.deepEqual(metaTexts(meta.requests.slice(before)), []);
  });

  await t.step(
    "the demo route marks messages delivered at once and calls no provider",
    async () => {
      const before = meta.requests.length;
      const r = await receiveInbound(d.desk, {
        channel: "whatsapp",
        from: "+27820000007",
        text: "hello",
        route: "demo",
      });
      assert.deepEqual(r.replies.map((m) => m.delivery?.status), ["delivered", "delivered"]);
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(meta.requests.length, before);
    },
  );

  await s.close();
});

function allWeek() {
  const day = [["00:00", "24:00"]];
  return { mon: day, tue: day, wed: day, thu: day, fri: day, sat: day, sun: day };
}

Deno.test("[routes] rule 24: the API channel answers in the HTTP answer or by its signed webhook", async (t) => {
  const gateway = FakeProvider.start((_r, i) => ({ status: 200, body: { providerId: `gw-${i}` } }));
  const d = await testDesk({ at: CLOSED_TIME, listen: true });
  const { token: admin } = await d.person("admin");
  const inbound = (body: Record<string, unknown>) =>
    d.json<{ replies: { id: string; text: string; delivery: { status: string } }[] }>(
      "POST",
      "/api/inbound",
      { token: INBOUND_TOKEN, body },
    );

  await t.step("with no webhook the replies are sent by the answer itself", async () => {
    const r = await inbound({ channel: "sms", from: "+15550100001", text: "hi" });
    assert.equal(r.status, 200);
    assert.equal(r.body.replies.length, 2);
    for (const reply of r.body.replies) {
      assert.equal(typeof reply.id, "string");
      assert.equal(reply.delivery.status, "sent");
    }
  });

  await t.step("a later message to that customer fails no_channel", async () => {
    await inbound({ channel: "sms", from: "+15550100001", text: "yes" });
    const ticket = await inbound({ channel: "sms", from: "+15550100001", text: "//end" });
    assert.equal(ticket.status, 200);
    const agent = await d.person("agent");
    const tickets = await d.json<{ tickets: { id: string }[] }>(
      "GET",
      "/api/tickets?queue=unassigned",
      { token: agent.token },
    );
    const id = tickets.body.tickets[0].id;
    await d.json("POST", `/api/tickets/${id}/accept`, { token: agent.token });
    const sent = await d.json<Msg>("POST", `/api/tickets/${id}/reply`, {
      token: agent.token,
      body: { text: "hello" },
    });
    const failed = await until(d, admin, sent.body.id, ["failed"]);
    assert.equal(failed.delivery!.error!.code, "no_channel");
  });

  await t.step(
    "with a webhook the replies go out only by it, signed over timestamp and raw body",
    async () => {
      const put = await d.json("PUT", "/api/channels/api", {
        token: admin,
        body: { webhookUrl: `${gateway.url}/hook`, secret: "gw-secret", enabled: true },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const r = await inbound({ channel: "whatsapp", from: "+27820000099", text: "hi" });
      assert.deepEqual(r.body.replies.map((x) => x.delivery.status), ["queued", "queued"]);
      const [first, second] = await gateway.waitFor(2);
      for (const [i, req] of [first, second].entries()) {
        const ts = req.headers.get("x-chatdesk-timestamp")!;
        assert.ok(Math.abs(Number(ts) - Math.floor(d.clock.now() / 1000)) <= 1);
        const expected = createHmac("sha256", "gw-secret").update(`${ts}.${req.body}`).digest(
          "hex",
        );
        assert.equal(req.headers.get("x-chatdesk-signature"), `sha256=${expected}`);
        const body = JSON.parse(req.body);
        assert.equal(body.id, r.body.replies[i].id);
        assert.equal(body.text, r.body.replies[i].text);
        assert.equal(body.channel, "whatsapp");
        assert.equal(body.to, "+27820000099");
      }
      const sent = await until(d, admin, r.body.replies[0].id, ["sent"]);
      assert.equal(sent.delivery!.providerId, "gw-0");
    },
  );

  await t.step(
    "the gateway reports later states; unknown 404, other route 409, repeat unchanged",
    async () => {
      const r = await inbound({ channel: "whatsapp", from: "+27820000098", text: "hi" });
      const id = r.body.replies[0].id;
      await until(d, admin, id, ["sent"]);
      const status = (body: unknown) =>
        d.json<Msg & { changed: boolean }>("POST", "/api/inbound/status", {
          token: INBOUND_TOKEN,
          body,
        });
      const delivered = await status({ id, status: "delivered" });
      assert.equal(delivered.status, 200);
      assert.equal(delivered.body.delivery!.status, "delivered");
      const repeat = await status({ id, status: "delivered" });
      assert.equal(repeat.status, 200);
      assert.equal(repeat.body.changed, false);
      assert.equal((await status({ id: "01NOSUCHMESSAGE0000000000", status: "read" })).status, 404);
      const demo = await receiveInbound(d.desk, {
        channel: "sms",
        from: "+15550100077",
        text: "hi",
        route: "demo",
      });
      assert.equal((await status({ id: demo.replies[0].id, status: "read" })).status, 409);
      const noToken = await d.json("POST", "/api/inbound/status", { body: { id, status: "read" } });
      assert.equal(noToken.status, 401);
    },
  );

  await d.close();
  await gateway.close();
});

Deno.test("[routes] rule 25: retries on the injected clock, Retry-After, permanent and auth failures", async (t) => {
  const s = await setup({ timeoutMs: 1_000 });
  const { d, meta, twilio, admin } = s;

  await t.step(
    "5xx is retried at 5 s, then 15 s, and the message is sent once accepted",
    async () => {
      meta.script({ status: 503 }, { status: 500 });
      const r = await writeIn(d, "+27820000010", "hi");
      const id = r.replies[0].id;
      await until(d, admin, id, ["queued"], 1);
      await advance(d, admin, 4_999);
      assert.equal((await message(d, admin, id)).delivery!.attempts, 1);
      await advance(d, admin, 1);
      await until(d, admin, id, ["queued"], 2);
      await advance(d, admin, 15_000);
      const sent = await until(d, admin, id, ["sent"], 3);
      assert.ok(sent.delivery!.providerId);
      // The prompt behind it waited its turn and then went out too.
      await until(d, admin, r.replies[1].id, ["sent"]);
    },
  );

  await t.step("429 with Retry-After replaces the next wait", async () => {
    meta.script({ status: 429, headers: { "retry-after": "7" }, body: { error: { code: 4 } } });
    const r = await writeIn(d, "+27820000011", "hi");
    const id = r.replies[0].id;
    const waiting = await until(d, admin, id, ["queued"], 1);
    assert.equal(waiting.delivery!.error!.code, "4");
    await advance(d, admin, 6_000);
    assert.equal((await message(d, admin, id)).delivery!.attempts, 1);
    await advance(d, admin, 1_000);
    await until(d, admin, id, ["sent"], 2);
  });

  await t.step("Meta's temporary codes arrive as HTTP 400 and are retried", async () => {
    meta.script({
      status: 400,
      body: { error: { code: 131000, message: "Something went wrong" } },
    });
    const r = await writeIn(d, "+27820000012", "hi");
    const waiting = await until(d, admin, r.replies[0].id, ["queued"], 1);
    assert.equal(waiting.delivery!.error!.code, "131000");
    await advance(d, admin, 5_000);
    await until(d, admin, r.replies[0].id, ["sent"], 2);
  });

  await t.step("a permanent 4xx fails at once with the provider's code and message", async () => {
    meta.script({
      status: 400,
      body: { error: { code: 131026, message: "Message undeliverable" } },
    });
    const r = await writeIn(d, "+27820000013", "hi");
    const failed = await until(d, admin, r.replies[0].id, ["failed"], 1);
    assert.deepEqual(failed.delivery!.error, { code: "131026", message: "Message undeliverable" });
    // The next message in that customer's queue is not held by it.
    await until(d, admin, r.replies[1].id, ["sent"]);
  });

  await t.step("no answer within the provider timeout, or no connection, is retried", async () => {
    meta.script("hang");
    const r = await writeIn(d, "+27820000014", "hi");
    const timedOut = await until(d, admin, r.replies[0].id, ["queued"], 1);
    assert.equal(timedOut.delivery!.error!.code, "timeout");
    await advance(d, admin, 5_000);
    await until(d, admin, r.replies[0].id, ["sent"], 2);
  });

  await t.step(
    "retries stop 24 h after the first attempt: then failed, never resent by itself",
    async () => {
      // An agent's reply (auto-replies go stale after an hour, rule 26) to an SMS customer.
      const { token, ticketId } = await acceptedTicket(s, "+15550100020", "twilio");
      twilio.respond(() => ({ status: 503, body: { code: 20500, message: "down" } }));
      const id = (await reply(s, token, ticketId, "we will call you")).id;
      await until(d, admin, id, ["queued"], 1);
      let elapsed = 0;
      for (const wait of RETRY_SCHEDULE_MS) {
        await advance(d, admin, wait);
        elapsed += wait;
      }
      const afterSchedule = await message(d, admin, id);
      assert.equal(afterSchedule.delivery!.attempts, RETRY_SCHEDULE_MS.length + 1);
      while (elapsed < 24 * HOUR) {
        await advance(d, admin, HOUR);
        elapsed += HOUR;
      }
      const failed = await until(d, admin, id, ["failed"]);
      assert.equal(failed.delivery!.error!.code, "20500");
      // 7 scheduled retries, then hourly ones up to the 24 h mark, the last one exactly at it.
      const calls = twilio.requests.length;
      await advance(d, admin, 3 * HOUR);
      assert.equal(twilio.requests.length, calls);
      twilio.respond(twilioAccepted);
    },
  );

  await t.step("an auth failure pauses the channel; new credentials resume it", async () => {
    meta.respond(() => ({ status: 401, body: { error: { code: 190, message: "Invalid token" } } }));
    const r = await writeIn(d, "+27820000015", "hi");
    const held = await until(d, admin, r.replies[0].id, ["queued"], 1);
    assert.equal(held.delivery!.error!.code, "channel_auth_failed");
    const channels = await asAdmin(d, admin, "GET", "/api/channels");
    assert.equal(
      (channels.body as unknown as { whatsapp: { status: string } }).whatsapp.status,
      "auth_failed",
    );
    const calls = meta.requests.length;
    const other = await writeIn(d, "+27820000016", "hi");
    const otherHeld = await until(d, admin, other.replies[0].id, ["queued"]);
    assert.equal(otherHeld.delivery!.error!.code, "channel_auth_failed");
    await advance(d, admin, HOUR);
    assert.equal(meta.requests.length, calls, "a paused channel made provider calls");
    meta.respond(metaAccepted);
    const put = await asAdmin(d, admin, "PUT", "/api/channels/whatsapp", {
      accessToken: "EAAG-new-token",
    });
    assert.equal(put.status, 200);
    await until(d, admin, r.replies[1].id, ["sent"]);
    await until(d, admin, other.replies[1].id, ["sent"]);
    assert.equal(meta.requests.at(-1)!.headers.get("authorization"), "Bearer EAAG-new-token");
  });

  await s.close();
});

Deno.test("[domain] rule 25: statuses move a mark only up its rank", () => {
  const at = 1;
  const sent = { status: "sent" as const, attempts: 1, updatedAt: 0 };
  assert.equal(advanceDelivery(sent, "delivered", undefined, at)!.status, "delivered");
  assert.equal(advanceDelivery(sent, "read", undefined, at)!.status, "read"); // skipping delivered
  const read = { ...sent, status: "read" as const };
  assert.equal(advanceDelivery(read, "delivered", undefined, at), null);
  assert.equal(advanceDelivery(read, "read", undefined, at), null);
  assert.equal(advanceDelivery(read, "failed", { code: "x", message: "x" }, at), null);
  const failed = advanceDelivery(sent, "failed", { code: "30003", message: "undelivered" }, at)!;
  assert.equal(failed.status, "failed");
  assert.equal(advanceDelivery(failed, "sent", undefined, at), null);
  const revived = advanceDelivery(failed, "delivered", undefined, at)!;
  assert.equal(revived.status, "delivered");
  assert.equal(revived.error, undefined);
  assert.deepEqual([1, 2, 3, 7, 8, 20].map(retryDelay), [
    5_000,
    15_000,
    40_000,
    30 * MINUTE,
    HOUR,
    HOUR,
  ]);
});

Deno.test("[routes] rule 26: per-customer order, no waiting across customers or channels", async (t) => {
  const s = await setup({ timeoutMs: 5_000 });
  const { d, meta, twilio, admin } = s;

  await t.step(
    "a burst through an outage reaches the provider in the order written, each once",
    async () => {
      const { token, ticketId } = await acceptedTicket(s, "+27820000020");
      const before = meta.requests.length;
      meta.script(...Array.from({ length: 4 }, () => ({ status: 503 })));
      const texts = Array.from({ length: 10 }, (_, i) => `reply ${i}`);
      const sent: Msg[] = [];
      for (const text of texts) sent.push(await reply(s, token, ticketId, text));
      for (let i = 0; i < 10; i++) await advance(d, admin, 40_000);
      for (const m of sent) await until(d, admin, m.id, ["sent"]);
      const handed = metaTexts(meta.requests.slice(before));
      // Rejected attempts are repeats of the head; the accepted ones are exactly the burst, in order.
      const accepted = handed.slice(4);
      assert.deepEqual(accepted, texts);
      assert.deepEqual(handed.slice(0, 4), ["reply 0", "reply 0", "reply 0", "reply 0"]);
    },
  );

  await t.step("a customer waiting for a retry holds nobody else", async () => {
    meta.script({ status: 503 });
    const a = await writeIn(d, "+27820000021", "hi");
    await until(d, admin, a.replies[0].id, ["queued"], 1);
    const b = await writeIn(d, "+27820000022", "hi");
    await until(d, admin, b.replies[1].id, ["sent"]);
    assert.equal((await message(d, admin, a.replies[1].id)).delivery!.status, "queued");
  });

  await t.step(
    "a hung provider delays another channel's first attempt by under a second",
    async () => {
      meta.respond(() => "hang");
      await writeIn(d, "+27820000023", "hi");
      await new Promise((r) => setTimeout(r, 100));
      const before = twilio.requests.length;
      const started = Date.now();
      await writeIn(d, "+15550100030", "hi", "twilio");
      const [req] = (await twilio.waitFor(before + 2)).slice(before);
      assert.ok(req.at - started < 1_000, `twilio waited ${req.at - started} ms`);
      meta.respond(metaAccepted);
    },
  );

  await t.step("an auto-reply over an hour old fails stale instead of arriving late", async () => {
    twilio.script({ status: 503 });
    const r = await writeIn(d, "+15550100031", "hi", "twilio");
    await until(d, admin, r.replies[0].id, ["queued"], 1);
    d.clock.advance(61 * MINUTE);
    await advance(d, admin, 0);
    const stale = await until(d, admin, r.replies[0].id, ["failed"]);
    assert.equal(stale.delivery!.error!.code, "stale");
    assert.equal(
      (await until(d, admin, r.replies[1].id, ["failed"])).delivery!.error!.code,
      "stale",
    );
  });

  await t.step("a WhatsApp free text whose 24 h window closed while it waited fails", async () => {
    const { agent, ticketId } = await acceptedTicket(s, "+27820000024");
    d.clock.advance(24 * HOUR - MINUTE);
    meta.script({ status: 503 });
    const m = await reply(s, await d.signIn(agent), ticketId, "still there?");
    await until(d, admin, m.id, ["queued"], 1);
    await advance(d, admin, 2 * MINUTE);
    const failed = await until(d, admin, m.id, ["failed"]);
    assert.equal(failed.delivery!.error!.code, "whatsapp_window_closed");
  });

  await s.close();
});

Deno.test("[routes] rule 27: an accepted message is never handed over again", async (t) => {
  const s = await setup();
  const { d, meta, admin } = s;

  await t.step(
    "only a head whose answer was lost after the provider took it is repeated",
    async () => {
      const before = meta.requests.length;
      meta.script("drop");
      const r = await writeIn(d, "+27820000030", "hi");
      await until(d, admin, r.replies[0].id, ["queued"], 1);
      await advance(d, admin, 5_000);
      await until(d, admin, r.replies[1].id, ["sent"]);
      const texts = metaTexts(meta.requests.slice(before));
      assert.deepEqual(texts, [r.replies[0].text, r.replies[0].text, r.replies[1].text]);
    },
  );

  await t.step("an outage across four customers loses nothing and duplicates nothing", async () => {
    const before = meta.requests.length;
    meta.script(...Array.from({ length: 6 }, () => ({ status: 500 })));
    const customers = ["+27820000031", "+27820000032", "+27820000033", "+27820000034"];
    const written = [];
    for (let round = 0; round < 3; round++) {
      for (const from of customers) {
        const r = await writeIn(d, from, round === 0 ? "hi" : `again ${round}`);
        written.push(...r.replies);
      }
    }
    for (let i = 0; i < 8; i++) await advance(d, admin, 40_000);
    const providerIds = new Set<string>();
    for (const m of written) {
      const done = await until(d, admin, m.id, ["sent"]);
      providerIds.add(done.delivery!.providerId!);
    }
    assert.equal(providerIds.size, written.length);
    const accepted = meta.requests.slice(before).filter((_, i) => i >= 6);
    assert.equal(accepted.length, written.length, "an accepted message was handed over twice");
    for (const from of customers) {
      const mine = metaTexts(accepted.filter((q) => JSON.parse(q.body).to === from.slice(1)));
      // Per customer: the out-of-hours notice, then a prompt for each of its three messages.
      assert.equal(mine.length, 4);
      assert.match(mine[0], /closed/);
      assert.ok(mine.slice(1).every((text) => /YES or NO/.test(text)));
    }
  });

  await s.close();
});

Deno.test("[routes] rule 29: Retry, who may press it, and a disabled channel", async (t) => {
  const s = await setup();
  const { d, meta, admin } = s;
  const { token, ticketId, agent: agentOf } = await acceptedTicket(s, "+27820000040");

  await t.step(
    "a failed message goes back to queued at the back of the queue and is sent",
    async () => {
      meta.script({ status: 400, body: { error: { code: 131047, message: "Re-engagement" } } });
      const m = await reply(s, token, ticketId, "first");
      await until(d, admin, m.id, ["failed"]);
      const after = await reply(s, token, ticketId, "second");
      await until(d, admin, after.id, ["sent"]);
      const retried = await d.json<Msg>("POST", `/api/messages/${m.id}/retry`, { token });
      assert.equal(retried.status, 200, JSON.stringify(retried.body));
      assert.equal(retried.body.delivery!.status, "queued");
      await until(d, admin, m.id, ["sent"]);
      assert.deepEqual(metaTexts(meta.requests).slice(-3), ["first", "second", "first"]);
    },
  );

  await t.step("only a failed message can be retried, and only by those allowed", async () => {
    const m = await reply(s, token, ticketId, "fine");
    await until(d, admin, m.id, ["sent"]);
    assert.equal((await d.json("POST", `/api/messages/${m.id}/retry`, { token })).status, 409);
    meta.script({ status: 400, body: { error: { code: 131026, message: "Undeliverable" } } });
    const bad = await reply(s, token, ticketId, "again");
    await until(d, admin, bad.id, ["failed"]);
    const other = await d.person("agent");
    const byOther = await d.json("POST", `/api/messages/${bad.id}/retry`, {
      token: other.token,
    });
    assert.equal(byOther.status, 404);
    const supervisor = await d.person("supervisor");
    const bySupervisor = await d.json("POST", `/api/messages/${bad.id}/retry`, {
      token: supervisor.token,
    });
    assert.equal(bySupervisor.status, 200);
    await until(d, admin, bad.id, ["sent"]);
  });

  await t.step("Retry re-checks the WhatsApp window: 422 once it has closed", async () => {
    meta.script({ status: 400, body: { error: { code: 131026, message: "Undeliverable" } } });
    const m = await reply(s, token, ticketId, "late");
    await until(d, admin, m.id, ["failed"]);
    d.clock.advance(25 * HOUR);
    const res = await d.json<{ error: { code: string } }>(
      "POST",
      `/api/messages/${m.id}/retry`,
      { token: await d.signIn(agentOf) },
    );
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, "whatsapp_window_closed");
  });

  await t.step(
    "a disabled channel holds messages queued with its budget paused, then resumes",
    async () => {
      await asAdmin(d, admin, "PUT", "/api/channels/whatsapp", { enabled: false });
      const r = await writeIn(d, "+27820000041", "hi");
      const held = await until(d, admin, r.replies[0].id, ["queued"]);
      assert.equal(held.delivery!.error!.code, "channel_disabled");
      assert.equal(held.delivery!.attempts, 0);
      const calls = meta.requests.length;
      await advance(d, admin, 30 * MINUTE);
      assert.equal(meta.requests.length, calls);
      await asAdmin(d, admin, "PUT", "/api/channels/whatsapp", { enabled: true });
      await until(d, admin, r.replies[0].id, ["sent"]);
      await until(d, admin, r.replies[1].id, ["sent"]);
    },
  );

  await t.step("a customer with no usable route fails no_channel", async () => {
    const other = await acceptedTicket(s, "+27820000042");
    const customerId = (await receiveInbound(d.desk, {
      channel: "whatsapp",
      from: "+27820000042",
      text: "one more thing",
      route: "meta",
    })).customerId;
    const entry = await d.kv.get<Record<string, unknown>>(keys.conversation(customerId));
    // As stored before routes existed.
    await d.kv.set(keys.conversation(customerId), { ...entry.value, route: null });
    const m = await reply(s, other.token, other.ticketId, "hello");
    const failed = await until(d, admin, m.id, ["failed"]);
    assert.equal(failed.delivery!.error!.code, "no_channel");
  });

  await s.close();
});
