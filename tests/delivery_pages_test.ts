/**
 * Rule 29 on the Agent Desk pages: every outbound message's delivery mark in ticket and chat
 * threads, Retry for those allowed (and only them), the reply flash that never says "Sent"
 * before the provider accepted, and live marks that never re-render the queue lists.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { Config } from "../domain/config.ts";
import { HOUR } from "../domain/clock.ts";
import { keys } from "../domain/keys.ts";
import { findMessage } from "../domain/messages.ts";
import type { Delivery } from "../domain/types.ts";
import type { AppDeps, DeskEnv } from "../routes/context.ts";
import { eventRoutes } from "../routes/events.ts";
import type { LivePart, LiveViews } from "../live/parts.ts";
import { LIVE_VIEWS } from "../live/views.ts";
import { closeBusiness, INBOUND_TOKEN, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { type PagePerson, pagePerson as person, visit } from "./page_visits.ts";
import { readEventStream } from "./event_stream.ts";

function assertEquals<T>(actual: T, expected: T, message = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

/** Sessions follow the manual clock: a day later everyone signs in again. */
async function renew(t: TestDesk, who: PagePerson) {
  who.token = await t.signIn(who.agent);
  who.jar.set("chatdesk_session", who.token);
}

async function page(t: TestDesk, who: PagePerson, path: string): Promise<string> {
  const res = await visit(t, who, path);
  assertEquals(res.status, 200, `GET ${path}`);
  return await res.text();
}

async function follow(t: TestDesk, who: PagePerson, res: Response): Promise<string> {
  assertEquals(res.status, 303, "a form post answers with a redirect");
  return await page(t, who, res.headers.get("location")!);
}

/** The HTML of one message bubble of a page. */
function bubble(html: string, messageId: string): string {
  const at = html.indexOf(`data-message="${messageId}"`);
  assert(at >= 0, `message ${messageId} is on the page`);
  const start = html.lastIndexOf("<div", at);
  const next = html.indexOf("data-message=", at + 10);
  return html.slice(start, next < 0 ? undefined : html.lastIndexOf("<div", next));
}

interface ApiMessage {
  id: string;
  author: string;
  delivery?: { status: string; error?: { code: string; message: string } };
}

async function apiMessage(t: TestDesk, token: string, id: string): Promise<ApiMessage> {
  const res = await t.json<ApiMessage>("GET", `/api/messages/${id}`, { token });
  assertEquals(res.status, 200, `GET /api/messages/${id}`);
  return res.body;
}

/** A fixture delivery, written like the courier would (with the counter the pages watch). */
async function setDelivery(t: TestDesk, messageId: string, delivery: Delivery | null) {
  const entry = await findMessage(t.kv, messageId);
  assert(entry?.value, `message ${messageId} exists`);
  const { delivery: _old, ...rest } = entry.value;
  const next = delivery ? { ...rest, delivery } : rest;
  const ok = await t.kv.atomic().check(entry).set(entry.key, next)
    .sum(keys.deliveryChanged(), 1n).commit();
  assert(ok.ok, "fixture written");
}

/** Ana's ticket (API route, no API channel set up: replies fail `no_channel`) with her replies. */
async function ticketWithReplies(t: TestDesk, ana: PagePerson, from: string, texts: string[]) {
  const id = await leaveMessage(t, from, ["where is my order?"]);
  await visit(t, ana, `/tickets/${id}/accept`, { form: { next: "/tickets/unassigned" } });
  const replies: string[] = [];
  for (const text of texts) {
    const res = await visit(t, ana, `/tickets/${id}/reply`, { form: { text } });
    assertEquals(res.status, 303, "reply posted");
    const html = await follow(t, ana, res);
    const found = [...html.matchAll(/data-message="([0-9A-Z]+)"/g)].map((m) => m[1]);
    replies.push(found[found.length - 1]);
    t.clock.advance(1000);
  }
  const ticket = await t.json<{ customerId: string }>("GET", `/api/tickets/${id}`, {
    token: ana.token,
  });
  return { id, replies, customerId: ticket.body.customerId };
}

Deno.test("[routes] rule 29: each delivery state's mark and reason in the ticket thread", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    const now = t.clock.now();
    const { id, replies } = await ticketWithReplies(t, ana, "+27820000001", [
      "one",
      "two",
      "three",
      "four",
      "five",
      "six",
      "seven",
    ]);
    const [sent, delivered, read, failed, retrying, behind, old] = replies;
    const base = { attempts: 1, updatedAt: now };
    await setDelivery(t, sent, { ...base, status: "sent", providerId: "p1" });
    await setDelivery(t, delivered, { ...base, status: "delivered", providerId: "p2" });
    await setDelivery(t, read, { ...base, status: "read", providerId: "p3" });
    await setDelivery(t, failed, {
      ...base,
      status: "failed",
      error: { code: "131026", message: "Message undeliverable <b>bold</b>" },
    });
    await setDelivery(t, retrying, {
      ...base,
      status: "queued",
      error: { code: "timeout", message: "No answer within 10000 ms." },
      nextAttemptAt: Date.parse("2026-11-25T10:05:30Z"),
    });
    await setDelivery(t, behind, { status: "queued", attempts: 0, updatedAt: now });
    await setDelivery(t, old, null);
    const html = await page(t, ana, `/tickets/assigned/${id}`);

    await s.step("sent ✓, delivered ✓✓ and read ✓✓ each carry their name", () => {
      assert(bubble(html, sent).includes('aria-label="Sent"'), bubble(html, sent));
      assert(bubble(html, sent).includes(">✓</span>"));
      assert(bubble(html, delivered).includes('aria-label="Delivered"'));
      assert(bubble(html, delivered).includes("✓✓"));
      assert(/class="mark mark-read"[^>]*aria-label="Read"/.test(bubble(html, read)));
      assert(bubble(html, sent).includes('data-delivery="sent"'));
    });
    await s.step("failed shows ⚠ and the reason (escaped), the code for screen readers", () => {
      const b = bubble(html, failed);
      assert(b.includes("⚠") && b.includes("Failed: Message undeliverable &lt;b&gt;bold"), b);
      assert(b.includes(' <span class="sr-only">(error code 131026)'), b);
      assert(b.includes('title="Error code: 131026"'), b);
    });
    await s.step(
      "a message in retry says why, when it goes next, and that a later one waits",
      () => {
        const b = bubble(html, retrying);
        assert(b.includes("Retrying: No answer within 10000 ms."), b);
        assert(b.includes("next try 10:05:30 UTC"), b);
        assert(b.includes("1 later message waits for it"), b);
        const w = bubble(html, behind);
        assert(w.includes("Queued · waits for an earlier message"), w);
      },
    );
    await s.step("messages stored before delivery existed show no mark", () => {
      const b = bubble(html, old);
      assert(!b.includes("mark") && !b.includes("data-delivery"), b);
      const inbound = bubble(html, [...html.matchAll(/data-message="([0-9A-Z]+)"/g)][0][1]);
      assert(inbound.includes('data-direction="in"') && !inbound.includes("mark"), inbound);
    });
    await s.step("a paused channel says so, in words", async () => {
      const paused = (code: string, message: string): Delivery => ({
        status: "queued",
        attempts: 1,
        updatedAt: now,
        error: { code, message },
        heldSince: now,
      });
      await setDelivery(t, retrying, paused("channel_disabled", "The channel is disabled."));
      let b = bubble(await page(t, ana, `/tickets/assigned/${id}`), retrying);
      assert(b.includes("Paused: channel disabled") && !b.includes("next try"), b);
      await setDelivery(t, retrying, paused("channel_auth_failed", "refused (190)"));
      b = bubble(await page(t, ana, `/tickets/assigned/${id}`), retrying);
      assert(b.includes("Paused: the provider refused the channel&#39;s credentials"), b);
      await setDelivery(t, behind, { status: "queued", attempts: 0, updatedAt: now });
    });
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 29: Retry only for those allowed; it queues the message again", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    const ben = await person(t);
    const boss = await person(t, "supervisor");
    const { id, replies, customerId } = await ticketWithReplies(t, ana, "+27820000002", [
      "Your parcel left today.",
    ]);
    const [reply] = replies;

    await s.step("the reply flash says it is on its way, never Sent", async () => {
      const res = await visit(t, ana, `/tickets/${id}/reply`, { form: { text: "And tomorrow?" } });
      const html = await follow(t, ana, res);
      const flash = html.match(/<div class="flash flash-ok"[^>]*>([^<]*)/)?.[1] ?? "";
      assert(flash.startsWith("Your reply is on its way to the customer"), flash);
      assert(flash.includes("its mark shows when it is sent, delivered and read"), flash);
      assert(!/\bSent\b/.test(flash), flash);
      assert(bubble(html, reply).includes("Queued"), "the reply is queued, not sent");
    });

    await t.courier.deliver(customerId);
    await s.step("with no channel the reply fails no_channel, with its reason", async () => {
      const m = await apiMessage(t, ana.token, reply);
      assertEquals(m.delivery?.status, "failed");
      assertEquals(m.delivery?.error?.code, "no_channel");
      const b = bubble(await page(t, ana, `/tickets/assigned/${id}`), reply);
      assert(b.includes("Failed: The customer has no channel the desk can send on."), b);
    });

    const action = `/tickets/${id}/messages/${reply}/retry`;
    await s.step("the assignee and a supervisor get a Retry form", async () => {
      const mine = bubble(await page(t, ana, `/tickets/assigned/${id}`), reply);
      assert(mine.includes(`action="${action}"`) && mine.includes(`hx-post="${action}"`), mine);
      assert(mine.includes(`aria-describedby="mark-${reply}"`), mine);
      const boss1 = bubble(await page(t, boss, `/tickets/assigned/${id}`), reply);
      assert(boss1.includes(`action="${action}"`), "a supervisor may retry");
    });

    await s.step("a form posted from another site is refused and changes nothing", async () => {
      const res = await visit(t, ana, action, {
        form: {},
        headers: { origin: "https://evil.example" },
      });
      assertEquals(res.status, 403);
      assertEquals((await apiMessage(t, ana.token, reply)).delivery?.status, "failed");
    });

    await s.step("Retry queues it again and says so", async () => {
      const res = await visit(t, ana, action, { form: {} });
      assertEquals(res.headers.get("location"), `/tickets/assigned/${id}`);
      const html = await follow(t, ana, res);
      assert(html.includes("Queued again"), "the flash");
      assertEquals((await apiMessage(t, ana.token, reply)).delivery?.status, "queued");
      const b = bubble(html, reply);
      assert(b.includes("mark-queued") && !b.includes("msg-retry"), b);
    });

    await s.step("a second Retry of the same message says it was already retried", async () => {
      const html = await follow(t, ana, await visit(t, ana, action, { form: {} }));
      assert(html.includes("This message is no longer failed"), "not_failed flash");
    });

    await t.courier.deliver(customerId);
    await s.step(
      "with htmx the answer is the flash and the conversation, out of band",
      async () => {
        const res = await visit(t, ana, action, {
          form: {},
          headers: { "hx-request": "true" },
        });
        assertEquals(res.status, 200);
        const html = await res.text();
        assert(html.startsWith('<div class="flash flash-ok"'), html.slice(0, 80));
        assert(/id="conversation"[^>]*hx-swap-oob="innerHTML"/.test(html), "conversation oob");
        assert(bubble(html, reply).includes("mark-queued"), "queued in the fresh conversation");
        assertEquals((await apiMessage(t, ana.token, reply)).delivery?.status, "queued");
      },
    );

    await t.courier.deliver(customerId);
    await s.step(
      "once the ticket is closed, another agent reads it but cannot retry Ana's message",
      async () => {
        await visit(t, ana, `/tickets/${id}/close`, { form: {} });
        const theirs = bubble(await page(t, ben, `/tickets/closed/${id}`), reply);
        assert(theirs.includes("Failed:") && !theirs.includes("msg-retry"), theirs);
        const res = await visit(t, ben, action, { form: {} });
        const html = await follow(t, ben, res);
        assert(html.includes("Only the ticket&#39;s agent"), "not_yours flash");
        assertEquals((await apiMessage(t, ana.token, reply)).delivery?.status, "failed");
      },
    );

    await s.step(
      "a failed auto-reply may be retried by any agent who reads the ticket",
      async () => {
        const html = await page(t, ben, `/tickets/closed/${id}`);
        const auto = [...html.matchAll(/class="msg msg-system"[^>]*data-message="([0-9A-Z]+)"/g)]
          .map((m) => m[1]);
        assert(auto.length > 0, "the ticket has auto-replies");
        await setDelivery(t, auto[0], {
          status: "failed",
          attempts: 1,
          updatedAt: t.clock.now(),
          error: { code: "stale", message: "This automatic reply is over an hour old." },
        });
        const b = bubble(await page(t, ben, `/tickets/closed/${id}`), auto[0]);
        assert(b.includes(`action="/tickets/${id}/messages/${auto[0]}/retry"`), b);
      },
    );

    await s.step("the live chat's thread has Retry too, and it works there", async () => {
      const chatId = (await t.json<{ chats: { id: string }[] }>(
        "GET",
        "/api/chats?state=live",
        { token: ana.token },
      )).body.chats[0].id;
      const chat = await page(t, ana, `/chats/${chatId}`);
      assert(chat.includes('id="chat-messages" sse-swap="messages"'), "live messages target");
      const chatAction = `/chats/${chatId}/messages/${reply}/retry`;
      assert(bubble(chat, reply).includes(`action="${chatAction}"`), "Retry in the chat");
      const res = await visit(t, ana, chatAction, { form: {} });
      assertEquals(res.headers.get("location"), `/chats/${chatId}`);
      assert((await follow(t, ana, res)).includes("Queued again"), "the flash");
      assertEquals((await apiMessage(t, ana.token, reply)).delivery?.status, "queued");
    });

    await t.courier.deliver(customerId);
    await s.step("after the 24-hour window, Retry is refused with a clear flash", async () => {
      t.clock.advance(25 * HOUR);
      await renew(t, boss);
      const res = await visit(t, boss, action, { form: {} });
      const html = await follow(t, boss, res);
      assert(
        html.includes("The 24-hour window has closed: send an approved template."),
        "window flash",
      );
      assertEquals((await apiMessage(t, boss.token, reply)).delivery?.status, "failed");
      const htmx = await visit(t, boss, action, { form: {}, headers: { "hx-request": "true" } });
      assertEquals(htmx.status, 200, "htmx swaps the refusal into #flash");
      assert((await htmx.text()).includes("flash-error"), "an error flash");
    });
  } finally {
    await t.close();
  }
});

/** Opens an `/events` stream on `app` and reads it like the browser. */
async function openStream(app: Hono<DeskEnv>, who: PagePerson, address: string) {
  const res = await app.request(address, {
    headers: { cookie: `chatdesk_session=${who.token}`, accept: "text/event-stream" },
  });
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  return readEventStream(res.body!, 5000);
}

/** The desk's live views, each part counting its renders by the events it sends. */
function countingViews() {
  const renders = new Map<string, number>();
  const wrap = (part: LivePart): LivePart => ({
    on: part.on,
    async render(ctx) {
      const out = await part.render(ctx);
      const name = Object.keys(out?.parts ?? {}).join("+") || "nothing";
      renders.set(name, (renders.get(name) ?? 0) + 1);
      return out;
    },
  });
  const views: LiveViews = Object.fromEntries(
    ["unassigned", "assigned", "closed", "chats"].map((name) => {
      const view = LIVE_VIEWS[name];
      return [name, (params: URLSearchParams) => view(params).map(wrap)];
    }),
  );
  return { views, renders };
}

Deno.test("[routes] rule 29: marks change live on the open conversation, never re-rendering the lists", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    const ben = await person(t);
    const { id, replies, customerId } = await ticketWithReplies(t, ana, "+27820000003", [
      "On its way",
    ]);
    const { views, renders } = countingViews();
    const deps = {
      desk: t.desk,
      courier: t.courier,
      manualClock: t.clock,
      inboundToken: INBOUND_TOKEN,
      // The event routes read nothing from the configuration.
      config: {} as Config,
    } satisfies AppDeps;
    const app = new Hono<DeskEnv>().route("/events", eventRoutes(deps, views));
    const html = await page(t, ana, `/tickets/assigned/${id}`);
    const address = html.match(/sse-connect="([^"]+)"/)![1].replaceAll("&amp;", "&");
    const anaLive = await openStream(app, ana, address);
    const benLive = await openStream(app, ben, "/events?view=unassigned&v=x");
    assert(await benLive.until("event: list"), "Ben's stream starts (stale version)");
    // A page whose version is current gets nothing until something changes.
    await anaLive.until("event:", 300);
    assertEquals(anaLive.seen.replace(/^retry: \d+\s*/, ""), "", "nothing for a current page");
    renders.clear();
    anaLive.clear();
    benLive.clear();

    await s.step("a failed delivery reaches the open conversation as one fragment", async () => {
      await t.courier.deliver(customerId);
      assert(await anaLive.until("Failed: The customer has no channel"), anaLive.seen);
      assert(anaLive.seen.startsWith("event: conversation"), anaLive.seen.slice(0, 60));
      assert(anaLive.seen.includes(`/tickets/${id}/messages/${replies[0]}/retry`), "Retry");
      assert(!/event: (list|tabs|quick)/.test(anaLive.seen), "no list fragments");
    });
    await s.step("the lists and counts were not even rendered for that change", async () => {
      await benLive.until("event:", 300);
      assertEquals(benLive.seen, "", "Ben's list page got nothing");
      assertEquals(renders.get("tabs+quick+list"), undefined, "no list render");
      assertEquals(renders.get("conversation"), 1, "one conversation render");
    });
    await s.step("a ticket change still renders and sends the lists", async () => {
      renders.clear();
      await leaveMessage(t, "+27820000004", ["a new one"]);
      assert(await benLive.until("a new one"), "Ben's list gets the new ticket");
      assert((renders.get("tabs+quick+list") ?? 0) >= 1, "lists rendered");
    });
    await anaLive.close();
    await benLive.close();

    await s.step("the open chat's messages are live too (fragment messages)", async () => {
      const chatId = (await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=live", {
        token: ana.token,
      })).body.chats[0].id;
      await visit(t, ana, `/tickets/${id}/messages/${replies[0]}/retry`, { form: {} });
      const chat = await page(t, ana, `/chats/${chatId}`);
      const chatAddress = chat.match(/sse-connect="([^"]+)"/)![1].replaceAll("&amp;", "&");
      const live = await openStream(t.app, ana, chatAddress);
      await live.until("event:", 300);
      live.clear();
      await t.courier.deliver(customerId);
      assert(await live.until("Failed: The customer has no channel"), live.seen);
      assert(live.seen.startsWith("event: messages"), live.seen.slice(0, 60));
      assert(!live.seen.includes("event: chats"), "the chat lists are not sent");
      await live.close();
    });
  } finally {
    await t.close();
  }
});
