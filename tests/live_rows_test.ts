/**
 * Rules 32 and 33 without a browser: what reaches an agent's desk (domain/alerts.ts), the list
 * patches (live/patch.ts), and the `/events` stream of a queue page: one row per new
 * ticket within rule 33's bytes, a removed row per accepted or closed ticket, counts and
 * announcements for the right agents only, reconnects by `Last-Event-ID`, gzip.
 */
import assert from "node:assert/strict";
import { acceptChat } from "../domain/chats.ts";
import { announcedTo, arrivalsSince, takeNotices } from "../domain/alerts.ts";
import { visibleDepartments } from "../domain/departments.ts";
import { acceptTicket, closeTicket, getTicket, reassignTicket } from "../domain/tickets.ts";
import { setStatus } from "../domain/agents.ts";
import { type PatchDrawing, patchHtml, patchState } from "../live/patch.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { readEventStream } from "./event_stream.ts";

function assertEquals<T>(actual: T, expected: T, message = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

const NAME_40 = "Nomvula Customer-Name Forty Characters!!";
const TEXT_140 = "My order #4411 has not arrived yet; it was due on Monday and the tracking page "
  .padEnd(140, "says nothing new. ");

interface Person {
  token: string;
  id: string;
}

async function person(
  t: TestDesk,
  role: "agent" | "supervisor" | "admin" = "agent",
  departments: string[] = [],
): Promise<Person> {
  const { agent, token } = await t.person(role, { departments });
  return { token, id: agent.id };
}

async function page(t: TestDesk, who: Person, path: string): Promise<string> {
  const res = await t.app.request(path, {
    headers: { cookie: `chatdesk_session=${who.token}`, accept: "text/html" },
  });
  assertEquals(res.status, 200, `GET ${path}`);
  return await res.text();
}

const addressOf = (html: string) =>
  html.match(/sse-connect="([^"]+)"/)![1].replaceAll("&amp;", "&");

/** An `/events` stream read like a browser reads it (optionally gzip, or resuming by id). */
async function stream(
  t: TestDesk,
  who: Person,
  address: string,
  opts: { gzip?: boolean; lastEventId?: string } = {},
) {
  const headers: Record<string, string> = {
    cookie: `chatdesk_session=${who.token}`,
    accept: "text/event-stream",
  };
  if (opts.gzip) headers["accept-encoding"] = "gzip";
  if (opts.lastEventId) headers["last-event-id"] = opts.lastEventId;
  const res = await t.app.request(address, { headers });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  assertEquals(res.headers.get("content-encoding"), opts.gzip ? "gzip" : null);
  const bytes = opts.gzip ? res.body!.pipeThrough(new DecompressionStream("gzip")) : res.body!;
  return readEventStream(bytes, 3000);
}

/** The SSE events in `text`, by name, with their data. */
function events(text: string): { event: string; data: string }[] {
  return text.split("\n\n").filter((block) => block.startsWith("event: ")).map((block) => {
    const [head, ...lines] = block.split("\n");
    return { event: head.slice(7), data: lines.map((l) => l.replace(/^data: /, "")).join("\n") };
  });
}

Deno.test("[routes] rule 33: a new ticket is one row on the stream, within 1,536 bytes", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    for (let i = 0; i < 52; i++) {
      await leaveMessage(t, `+2782${1000000 + i}`, [`question ${i}`], { name: `Customer ${i}` });
      t.clock.advance(60_000);
    }
    const html = await page(t, ana, "/tickets/unassigned");
    assert(html.includes("<title>(52) Unassigned tickets · chatdesk</title>"), "rule 32 title");
    assert(/id="nav-unassigned" data-count="52"/.test(html), "nav count");
    assertEquals((html.match(/<li class="row"/g) ?? []).length, 50, "50 rows");
    const live = await stream(t, ana, addressOf(html));
    await s.step("a page that is current gets nothing at connect", async () => {
      assertEquals((await live.settle()).replace(/^retry: \d+\s*/, ""), "");
    });

    let newest = "";
    await s.step("one new ticket: one row, the counts and one announcement", async () => {
      await t.inbound({ channel: "sms", from: "+15550100001", text: TEXT_140, name: NAME_40 });
      live.clear();
      newest = (await t.inbound({ channel: "sms", from: "+15550100001", text: "YES" })).ticketId!;
      const seen = await live.settle();
      const bytes = new TextEncoder().encode(seen).length;
      assert(bytes <= 1536, `rule 33: ${bytes} bytes for one new ticket`);
      const sent = events(seen);
      assertEquals(sent.map((e) => e.event), ["patch", "desk", "alert"]);
      const patch = sent[0].data;
      assertEquals((patch.match(/<li /g) ?? []).length, 1, "one row");
      assert(patch.includes(`<ul hx-swap-oob="afterbegin:#rows"><li class="row" id="t-${newest}"`));
      assert(patch.includes(NAME_40) && patch.includes(TEXT_140), "the row, whole");
      assert(/hx-swap-oob="delete"/.test(patch), "the 51st row leaves the page");
      assertEquals(JSON.parse(sent[1].data), { unassigned: 53, chats: 0 });
      const alert = JSON.parse(sent[2].data);
      assertEquals(alert.kind, "ticket");
      assertEquals(alert.href, `/tickets/unassigned/${newest}`);
      assert(live.lastId?.endsWith(".53-0"), `id: ${live.lastId}`);
    });

    await s.step("longer names and first messages are cut in the row", async () => {
      const long = "L".repeat(300);
      await t.inbound({ channel: "sms", from: "+15550100002", text: long, name: "N".repeat(90) });
      live.clear();
      await t.inbound({ channel: "sms", from: "+15550100002", text: "YES" });
      const patch = events(await live.settle())[0].data;
      assert(patch.includes(`>${"N".repeat(39)}…</a>`), "the name is cut");
      // The first message is kept to 140 characters (domain/inbound.ts); the row cuts longer.
      assert(patch.includes(`>${"L".repeat(140)}</div>`), "the preview is cut");
      assert(new TextEncoder().encode(live.seen).length <= 1536, "still within the budget");
    });

    await s.step("an accepted ticket is one removed row (and the row it uncovers)", async () => {
      live.clear();
      const ben = await person(t);
      await t.call("POST", `/api/tickets/${newest}/accept`, { token: ben.token });
      const patch = events(await live.settle()).find((e) => e.event === "patch")!.data;
      assert(patch.includes(`<i id="t-${newest}" hx-swap-oob="delete"></i>`), patch);
      assertEquals((patch.match(/<li /g) ?? []).length, 1, "the row that moves up to the 50th");
      assert(!patch.includes("alert"), "no announcement for an accept");
    });
    await live.close();
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 33: a reconnect gets a correct list; gzip when accepted", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    const first = await leaveMessage(t, "+27820000001", ["one"]);
    const html = await page(t, ana, "/tickets/unassigned");
    const address = addressOf(html);
    const live = await stream(t, ana, address, { gzip: true });
    await live.settle();
    let lastId = "";
    await s.step("the gzip stream carries the same patches", async () => {
      live.clear();
      await leaveMessage(t, "+27820000002", ["two"]);
      assert(await live.until("two</div>"), live.seen);
      await live.settle();
      lastId = live.lastId!;
      assert(lastId, "an id");
    });
    await live.close();
    const missed = await leaveMessage(t, "+27820000003", ["three, while away"]);
    await acceptTicket(t.desk, (await t.desk.kv.get(["agents", ana.id])).value as never, first);

    await s.step("a reconnect with Last-Event-ID gets a patch of what it missed", async () => {
      const again = await stream(t, ana, address, { lastEventId: lastId });
      const sent = events(await again.settle());
      const patch = sent.find((e) => e.event === "patch")?.data ?? "";
      assert(patch.includes(`id="t-${missed}"`), "the missed row");
      assert(patch.includes(`<i id="t-${first}" hx-swap-oob="delete">`), "the accepted one goes");
      assert(!sent.some((e) => e.event === "list"), "not the whole list");
      await again.close();
    });
    await s.step("an unknown version gets the whole list; the current one nothing", async () => {
      const stale = await stream(t, ana, address, { lastEventId: "zzz.0-0" });
      const sent = events(await stale.settle());
      assertEquals(sent.map((e) => e.event), ["tabs", "quick", "list", "desk"]);
      const current = stale.lastId!;
      await stale.close();
      const fresh = await stream(t, ana, address, { lastEventId: current });
      assertEquals((await fresh.settle()).replace(/^retry: \d+\s*/, ""), "");
      await fresh.close();
    });
    await s.step("the 10 s poll answers 204 for a patched version", async () => {
      const poll = html.match(/hx-get="([^"]+part=list[^"]+)"/)![1].replaceAll("&amp;", "&");
      const now = (await (await stream(t, ana, address, { lastEventId: "x" })).settle())
        .match(/^id: ([^.\n]+)/m)![1];
      const url = poll.replace(/v=[^&]+/, `v=${now}`);
      const res = await t.app.request(url, {
        headers: { cookie: `chatdesk_session=${ana.token}`, "hx-request": "true" },
      });
      assertEquals(res.status, 204);
    });
  } finally {
    await t.close();
  }
});

Deno.test("[domain] rule 32: arrivals, who they are announced to, and rule 7's notices", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const sales = await t.department("Sales");
    const ana = await t.person("agent", { departments: [sales] });
    const ben = await t.person("agent", { departments: [] });
    const boss = await t.person("supervisor");
    const since = t.clock.now();
    const id = await leaveMessage(t, "+27820000001", ["hi"], { department: sales });
    const vis = async (a: typeof ana) => await visibleDepartments(t.kv, a.agent);

    await s.step("a new ticket reaches the agents who may see it, never a merge", async () => {
      const arrivals = await arrivalsSince(t.kv, since);
      assertEquals(arrivals.map((a) => [a.kind, a.ticket.id]), [["created", id]]);
      assert(announcedTo(ana.agent, await vis(ana), arrivals[0]), "Ana (Sales)");
      assert(!announcedTo(ben.agent, await vis(ben), arrivals[0]), "not Ben (no Sales)");
      assert(announcedTo(boss.agent, await vis(boss), arrivals[0]), "the supervisor");
      t.clock.advance(1000);
      const later = t.clock.now();
      await leaveMessage(t, "+27820000001", ["again"]);
      assertEquals((await getTicket(t.kv, id)).history.at(-1)?.action, "merged");
      assertEquals(await arrivalsSince(t.kv, later), [], "a merge is not an arrival");
    });
    await s.step("reassigned to an agent: announced to it, not to whoever did it", async () => {
      t.clock.advance(1000);
      const at = t.clock.now();
      await reassignTicket(t.desk, boss.agent, id, ana.agent.id);
      const [arrival] = await arrivalsSince(t.kv, at);
      assertEquals([arrival.kind, arrival.agentId, arrival.by], [
        "assigned",
        ana.agent.id,
        boss.agent.id,
      ]);
      assert(announcedTo(ana.agent, await vis(ana), arrival), "Ana");
      assert(!announcedTo(boss.agent, await vis(boss), arrival), "not the supervisor");
    });
    await s.step("sent back to Unassigned: announced, but not to the one who sent it", async () => {
      t.clock.advance(1000);
      const at = t.clock.now();
      await reassignTicket(t.desk, boss.agent, id, null);
      const [arrival] = await arrivalsSince(t.kv, at);
      assertEquals(arrival.kind, "unassigned");
      assert(announcedTo(ana.agent, await vis(ana), arrival), "Ana may see it again");
      assert(!announcedTo(boss.agent, await vis(boss), arrival), "its own action");
      await acceptTicket(t.desk, ana.agent, id);
      assert(
        !announcedTo(ana.agent, await vis(ana), { ...arrival, ticket: await getTicket(t.kv, id) }),
        "gone",
      );
    });
    await s.step("rule 7 closes Ana's ticket: one notice for Ana, read once", async () => {
      await setStatus(t.kv, ben.agent.id, "online");
      await t.call("PUT", "/api/settings", {
        token: (await t.person("admin")).token,
        body: { hours: { timeZone: "UTC", weekly: everyDay(), closures: [] } },
      });
      const chat = await t.inbound({ channel: "whatsapp", from: "+27820000001", text: "help" });
      assertEquals(chat.conversation.state, "pending");
      const pending =
        (await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
          token: boss.token,
        })).body.chats;
      await acceptChat(t.desk, boss.agent, pending[0].id);
      assertEquals((await getTicket(t.kv, id)).closeReason, "live_chat");
      const notices = await takeNotices(t.kv, ana.agent.id);
      assertEquals(notices.map((n) => n.ticketId), [id]);
      assertEquals(await takeNotices(t.kv, ana.agent.id), [], "shown once");
      assertEquals(await takeNotices(t.kv, boss.agent.id), [], "nobody else's");
    });
    await s.step("an agent closing its own ticket leaves no notice", async () => {
      await closeBusiness(t);
      const other = await leaveMessage(t, "+27820000009", ["x"]);
      await acceptTicket(t.desk, ana.agent, other);
      await closeTicket(t.desk, ana.agent, other);
      assertEquals(await takeNotices(t.kv, ana.agent.id), []);
    });
  } finally {
    await t.close();
  }
});

const everyDay = () =>
  Object.fromEntries(
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, [["00:00", "24:00"]]]),
  );

Deno.test("[routes] rule 32: counts, announcements and notices on every desk page's stream", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const sales = await t.department("Sales");
    const ana = await person(t, "agent", [sales]);
    const ben = await person(t, "agent", []);
    const boss = await person(t, "supervisor");
    const anaLive = await stream(t, ana, "/events?view=desk");
    const benLive = await stream(t, ben, "/events?view=desk");
    const bossLive = await stream(t, boss, "/events?view=desk");
    await s.step("a desk-only stream starts with the counts", async () => {
      assert(await anaLive.until('event: desk\ndata: {"unassigned":0,"chats":0}'), anaLive.seen);
    });
    for (const live of [anaLive, benLive, bossLive]) {
      await live.settle();
      live.clear();
    }
    let id = "";
    await s.step("a Sales ticket is announced to Ana and the supervisor, not Ben", async () => {
      id = await leaveMessage(t, "+27820000001", ["where is it?"], {
        department: sales,
        name: "Thandi",
      });
      assert(await anaLive.until("event: alert"), "Ana");
      assert(anaLive.seen.includes('"body":"Thandi: where is it?"'), anaLive.seen);
      assert(await bossLive.until("event: alert"), "the supervisor");
      await benLive.settle();
      assert(!benLive.seen.includes("event: alert"), "not Ben");
      assert(!benLive.seen.includes("event: desk"), "Ben's counts did not change");
    });
    await s.step("the supervisor's own actions are not announced to it", async () => {
      await t.call("POST", `/api/tickets/${id}/reassign`, {
        token: boss.token,
        body: { agentId: ana.id },
      });
      anaLive.clear();
      bossLive.clear();
      await t.call("POST", `/api/tickets/${id}/reassign`, {
        token: boss.token,
        body: { agentId: null },
      });
      assert(await anaLive.until('"kind":"back"'), "back in Ana's Unassigned");
      await bossLive.settle();
      assert(!bossLive.seen.includes("event: alert"), bossLive.seen);
      anaLive.clear();
      await t.call("POST", `/api/tickets/${id}/reassign`, {
        token: boss.token,
        body: { agentId: ana.id },
      });
      assert(await anaLive.until('"kind":"assigned"'), "assigned to Ana");
    });
    await s.step("a new pending chat is announced; accepting it is not", async () => {
      await setStatus(t.kv, ben.id, "online");
      await t.call("PUT", "/api/settings", {
        token: (await t.person("admin")).token,
        body: { hours: { timeZone: "UTC", weekly: everyDay(), closures: [] } },
      });
      benLive.clear();
      await t.inbound({ channel: "sms", from: "+15550100007", text: "anyone?", name: "Lena" });
      assert(await benLive.until('"kind":"chat"'), benLive.seen);
      assert(benLive.seen.includes('"chats":1'), "the count");
      benLive.clear();
      const [chat] = (await t.json<{ chats: { id: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ben.token },
      )).body.chats;
      await t.call("POST", `/api/chats/${chat.id}/accept`, { token: ben.token });
      assert(await benLive.until('"chats":0'), "the count goes down");
      assert(!benLive.seen.includes("event: alert"), "no announcement");
    });
    await s.step("rule 7: Ana's notice arrives live, once", async () => {
      anaLive.clear();
      await t.inbound({ channel: "whatsapp", from: "+27820000001", text: "hello again" });
      const [chat] = (await t.json<{ chats: { id: string }[] }>(
        "GET",
        "/api/chats?state=pending",
        { token: ben.token },
      )).body.chats;
      await t.call("POST", `/api/chats/${chat.id}/accept`, { token: boss.token });
      assert(await anaLive.until("event: notice"), anaLive.seen);
      assert(anaLive.seen.includes(`href="/tickets/closed/${id}"`), "links the ticket");
      assert(anaLive.seen.includes("Your ticket from <strong>Thandi</strong>"), anaLive.seen);
      const later = await stream(t, ana, "/events?view=desk");
      await later.settle();
      assert(!later.seen.includes("event: notice"), "not again at the next page load");
      await later.close();
    });
    for (const live of [anaLive, benLive, bossLive]) await live.close();
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 32: a notice waits for the agent's next page", async () => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const ana = await person(t);
    const boss = await person(t, "supervisor");
    const id = await leaveMessage(t, "+27820000001", ["hi"], { name: "Sipho" });
    await t.call("POST", `/api/tickets/${id}/accept`, { token: ana.token });
    await t.call("PUT", "/api/settings", {
      token: (await t.person("admin")).token,
      body: { hours: { timeZone: "UTC", weekly: everyDay(), closures: [] } },
    });
    await setStatus(t.kv, boss.id, "online");
    await t.inbound({ channel: "whatsapp", from: "+27820000001", text: "call me" });
    const [chat] = (await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
      token: boss.token,
    })).body.chats;
    await t.call("POST", `/api/chats/${chat.id}/accept`, { token: boss.token });
    // Ana was not connected: her next page's stream brings the banner.
    const html = await page(t, ana, "/tickets/assigned");
    assert(html.includes('id="notices"'), "a place for notices");
    const live = await stream(t, ana, addressOf(html));
    assert(await live.until("event: notice"), live.seen);
    assert(live.seen.includes("Sipho") && live.seen.includes("data-dismiss"), live.seen);
    await live.close();
  } finally {
    await t.close();
  }
});

Deno.test("[routes] rule 33: patches remove, move, change and insert rows in order", async () => {
  const state = (ids: string[], keys = ids, pieces: [string, string][] = [["p", "1"]]) =>
    patchState({ frame: "f", pieces, rows: ids, rowKeys: keys });
  const draw: PatchDrawing = {
    piece: (id) => `[piece ${id}]`,
    row: (id) => `[row ${id}]`,
    insert: (id, after) => `[insert ${id} after ${after ?? "top"}]`,
    remove: (id) => `[remove ${id}]`,
    marker: (from, to) => `[${from === to ? "same" : "patch"}]`,
  };
  assertEquals(
    await patchHtml(state(["a", "b", "c"]), state(["n", "a", "c"]), draw),
    "[patch][remove b][insert n after top]",
  );
  assertEquals(
    await patchHtml(state(["a", "b", "c"]), state(["c", "a", "b"]), draw),
    "[patch][remove c][insert c after top]",
    "a move is one row",
  );
  assertEquals(
    await patchHtml(
      state(["a", "b"]),
      state(["a", "b"], ["a", "B"], [["p", "2"]]),
      draw,
    ),
    "[patch][piece p][row b]",
  );
  const before = state(["a"]);
  const reshaped = patchState({ frame: "g", pieces: [], rows: ["a"], rowKeys: ["a"] });
  assertEquals(await patchHtml(before, reshaped, draw), null, "a new frame: the whole part");
  const many = Array.from({ length: 40 }, (_, i) => `r${i}`);
  assertEquals(await patchHtml(state(many), state(many.map((id) => `${id}x`)), draw), null);
});
