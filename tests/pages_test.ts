/** Route tests of the Agent Desk pages and fragments (issue 3), through app.request(). */
import assert from "node:assert/strict";
import { getAgent } from "../domain/agents.ts";
import { HOUR } from "../domain/clock.ts";
import { signIn } from "../domain/sessions.ts";
import { updateSettings } from "../domain/settings.ts";
import { setStatus } from "../domain/agents.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";
import { type PagePerson, pagePerson as person, visit } from "./page_visits.ts";
import { readEventStream } from "./event_stream.ts";

function assertEquals<T>(actual: T, expected: T, message = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

async function text(res: Response): Promise<string> {
  return await res.text();
}

async function follow(t: TestDesk, who: PagePerson, res: Response): Promise<string> {
  assertEquals(res.status, 303, "a form post answers with a redirect");
  return await text(await visit(t, who, res.headers.get("location")!));
}

async function withDesk(fn: (t: TestDesk) => Promise<void>) {
  const t = await testDesk();
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

Deno.test("[routes] signed-out pages redirect to /login and sign-in sets a safe cookie", async (s) => {
  await withDesk(async (t) => {
    await s.step("every desk page sends a signed-out visitor to /login?next=…", async () => {
      for (
        const path of ["/tickets/unassigned", "/tickets/assigned", "/tickets/closed", "/chats"]
      ) {
        const res = await visit(t, null, path + "?q=x");
        assertEquals(res.status, 303, path);
        assertEquals(
          res.headers.get("location"),
          `/login?next=${encodeURIComponent(path + "?q=x")}`,
        );
      }
      const home = await visit(t, null, "/");
      assert(home.headers.get("location")?.startsWith("/tickets/unassigned"));
    });
    await s.step("an htmx request is told to go to /login with HX-Redirect", async () => {
      const res = await visit(t, null, "/tickets/unassigned?part=list", {
        headers: { "hx-request": "true", "hx-current-url": "http://localhost/tickets/closed" },
      });
      assertEquals(res.headers.get("hx-redirect"), "/login?next=%2Ftickets%2Fclosed");
    });
    await s.step("the login form signs in with an HttpOnly, SameSite=Lax cookie", async () => {
      const form = await text(await visit(t, null, "/login?next=/tickets/closed"));
      assert(form.includes('name="password"') && form.includes('value="/tickets/closed"'));
      const { agent } = await t.person("agent");
      const res = await visit(t, null, "/login", {
        form: { email: agent.email, password: "password-123", next: "/tickets/closed" },
      });
      assertEquals(res.status, 303);
      assertEquals(res.headers.get("location"), "/tickets/closed");
      const cookie = res.headers.get("set-cookie") ?? "";
      assert(/chatdesk_session=/.test(cookie) && /HttpOnly/i.test(cookie), cookie);
      assert(/SameSite=Lax/i.test(cookie) && !/Secure/i.test(cookie), cookie);
    });
    await s.step("an offsite next is ignored", async () => {
      const { agent } = await t.person("agent");
      const res = await visit(t, null, "/login", {
        form: { email: agent.email, password: "password-123", next: "//evil.example/x" },
      });
      assertEquals(res.headers.get("location"), "/tickets/unassigned");
    });
    await s.step(
      "a wrong password re-shows the form with a message; attempts are limited",
      async () => {
        const { agent } = await t.person("agent");
        const res = await visit(t, null, "/login", {
          form: { email: agent.email, password: "nope-nope" },
        });
        assertEquals(res.status, 401);
        assert((await res.text()).includes("Wrong e-mail or password."));
        for (let i = 0; i < 4; i++) {
          await visit(t, null, "/login", { form: { email: agent.email, password: "nope-nope" } });
        }
        const limited = await visit(t, null, "/login", {
          form: { email: agent.email, password: "password-123" },
        });
        assertEquals(limited.status, 429);
        assert((await limited.text()).includes("Too many failed sign-ins"));
      },
    );
    await s.step("sign out ends the session", async () => {
      const me = await person(t);
      const res = await visit(t, me, "/logout", { form: {} });
      assertEquals(res.headers.get("location"), "/login?signedOut=1");
      const after = await t.app.request("/tickets/unassigned", {
        headers: { cookie: `chatdesk_session=${me.token}`, accept: "text/html" },
      });
      assertEquals(after.status, 303);
    });
  });
});

Deno.test("[routes] the Unassigned tab: rows, counts, escaping, Quick Accept by availability", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const me = await person(t);
    await s.step("an empty queue says so and offers no Quick Accept sizes", async () => {
      const html = await text(await visit(t, me, "/tickets/unassigned"));
      assert(html.includes("No unassigned tickets"));
      assert(!html.includes("data-quick="));
      assert(html.includes("No tickets are waiting."));
    });
    await leaveMessage(t, "+27820000001", ["<script>alert(1)</script>"]);
    t.clock.advance(60_000);
    await leaveMessage(t, "+27820000002", ["second customer"]);
    await s.step("customer text is escaped, never markup", async () => {
      const html = await text(await visit(t, me, "/tickets/unassigned"));
      assert(!html.includes("<script>alert(1)</script>"), "raw script tag in the page");
      assert(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    });
    await s.step(
      "rows are newest first, with channel, preview, age, an Accept form and counts",
      async () => {
        const html = await text(await visit(t, me, "/tickets/unassigned"));
        assert(html.indexOf("+27820000002") < html.indexOf("+27820000001"), "newest first");
        assert(html.includes("WhatsApp") && html.includes("second customer"));
        assert(html.includes("1 min ago"));
        assertEquals((html.match(/action="\/tickets\/[0-9A-Z]+\/accept"/g) ?? []).length, 2);
        assert(/Unassigned<span class="count">2<\/span>/.test(html), "Unassigned count");
      },
    );
    await s.step(
      "Quick Accept offers 3 only once 3 are available, custom up to the count",
      async () => {
        let html = await text(await visit(t, me, "/tickets/unassigned"));
        assert(!html.includes('data-quick="3"'));
        assert(html.includes('max="2"'));
        await leaveMessage(t, "+27820000003", ["third"]);
        html = await text(await visit(t, me, "/tickets/unassigned"));
        assert(html.includes('data-quick="3"') && !html.includes('data-quick="5"'));
        for (let i = 4; i <= 5; i++) await leaveMessage(t, `+2782000000${i}`, [`n${i}`]);
        html = await text(await visit(t, me, "/tickets/unassigned"));
        assert(html.includes('data-quick="5"') && !html.includes('data-quick="10"'));
      },
    );
    await s.step("Quick Accept takes the oldest, whatever the filters", async () => {
      const res = await visit(t, me, "/tickets/quick-accept", {
        form: { count: "3", next: "/tickets/unassigned?q=n5" },
      });
      assertEquals(res.headers.get("location"), "/tickets/unassigned?q=n5");
      const html = await follow(t, me, res);
      const flash = html.match(/Accepted the 3 oldest tickets: [^<]*/)?.[0].trim() ?? "(none)";
      // It says whose: the three oldest, by their customers (these have no names: the numbers).
      assertEquals(
        flash,
        "Accepted the 3 oldest tickets: +27820000001, +27820000002 and +27820000003.",
      );
      const assigned = await text(await visit(t, me, "/tickets/assigned"));
      assert(assigned.includes("+27820000001") && assigned.includes("+27820000003"));
      assert(!assigned.includes("+27820000005"));
    });
    await s.step("search, filters and sort live in the URL", async () => {
      const html = await text(
        await visit(t, me, "/tickets/unassigned?q=n4&channel=whatsapp&sort=oldest"),
      );
      assert(html.includes("+27820000004") && !html.includes("+27820000005"));
      assert(html.includes('value="n4"') && html.includes('<option value="oldest" selected'));
      const bad = await visit(t, me, "/tickets/unassigned?channel=fax");
      assertEquals(bad.status, 400);
      assert((await bad.text()).includes("channel must be one of"));
    });
    await s.step(
      "the 10 s poll answers 204 while nothing changed, the fragments when it did",
      async () => {
        const html = await text(await visit(t, me, "/tickets/unassigned"));
        const poll = html.match(/hx-get="(\/tickets\/unassigned\?part=list&amp;v=[^"]+)"/)?.[1];
        assert(poll, "poller present");
        const url = poll.replaceAll("&amp;", "&");
        assertEquals((await visit(t, me, url, { headers: { "hx-request": "true" } })).status, 204);
        await leaveMessage(t, "+27820000009", ["newer"]);
        const changed = await visit(t, me, url, { headers: { "hx-request": "true" } });
        assertEquals(changed.status, 200);
        const body = await changed.text();
        assert(body.includes("+27820000009") && body.includes('hx-swap-oob="innerHTML"'));
      },
    );
    await s.step("paging with a cursor shows Older →", async () => {
      const html = await text(await visit(t, me, "/tickets/unassigned?limit=1"));
      const older = html.match(/href="(\/tickets\/unassigned\?limit=1&amp;cursor=[^"]+)"/)?.[1];
      assert(older && html.includes("Older →"), "Older link");
      const first = html.match(/data-ticket="([^"]+)"/)?.[1];
      const next = await text(await visit(t, me, older.replaceAll("&amp;", "&")));
      const second = next.match(/data-ticket="([^"]+)"/)?.[1];
      assert(first && second && first !== second, "the next page holds older tickets");
      assert(next.includes("← Newest"));
    });
  });
});

Deno.test("[routes] accepting: one winner, a clear message for the other, CSRF refused", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const ana = await person(t);
    const ben = await person(t);
    const id = await leaveMessage(t, "+27820000001", ["hello"]);
    await s.step("a form post from another site is refused and changes nothing", async () => {
      const res = await visit(t, ana, `/tickets/${id}/accept`, {
        form: { next: "/tickets/unassigned" },
        headers: { origin: "https://evil.example" },
      });
      assertEquals(res.status, 403);
      assert((await res.text()).includes("sent from another site"));
      const ticket = await t.json("GET", `/api/tickets/${id}`, { token: ana.token });
      assertEquals(ticket.body.status, "unassigned");
    });
    await s.step("a post without any Origin is refused too", async () => {
      const res = await t.app.request(`/tickets/${id}/accept`, {
        method: "POST",
        headers: {
          cookie: `chatdesk_session=${ana.token}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: "next=/tickets/unassigned",
      });
      assertEquals(res.status, 403);
    });
    await s.step("Accept assigns the ticket and links to it", async () => {
      const res = await visit(t, ana, `/tickets/${id}/accept`, {
        form: { next: "/tickets/unassigned" },
      });
      const html = await follow(t, ana, res);
      assert(html.includes("You accepted the ticket from"));
      assert(html.includes(`href="/tickets/assigned/${id}"`));
    });
    await s.step("the second agent is told another agent took it first", async () => {
      const res = await visit(t, ben, `/tickets/${id}/accept`, {
        form: { next: "/tickets/unassigned" },
      });
      const html = await follow(t, ben, res);
      assert(html.includes("Another agent accepted this ticket first."));
    });
    await s.step("with htmx the answer is the flash plus fresh fragments, in place", async () => {
      const other = await leaveMessage(t, "+27820000002", ["again"]);
      await visit(t, ana, `/tickets/${other}/accept`, { form: { next: "/tickets/unassigned" } });
      const res = await visit(t, ben, `/tickets/${other}/accept`, {
        form: { next: "/tickets/unassigned" },
        headers: { "hx-request": "true" },
      });
      assertEquals(res.status, 200);
      const html = await res.text();
      assert(html.includes("Another agent accepted this ticket first."));
      assert(html.includes('id="queue-list" hx-swap-oob="innerHTML"'));
    });
    await s.step("an agent opening another agent's ticket gets 404", async () => {
      for (const path of [`/tickets/assigned/${id}`, `/tickets/unassigned/${id}`]) {
        const res = await visit(t, ben, path);
        assertEquals(res.status, 404, path);
        assert((await res.text()).includes("Ticket not found."));
      }
      const reply = await visit(t, ben, `/tickets/${id}/reply`, { form: { text: "hi" } });
      assertEquals(reply.status, 404);
      const close = await visit(t, ben, `/tickets/${id}/close`, { form: {} });
      assertEquals(close.status, 404);
    });
    await s.step("a supervisor may read it", async () => {
      const boss = await person(t, "supervisor");
      const res = await visit(t, boss, `/tickets/assigned/${id}`);
      assertEquals(res.status, 200);
    });
  });
});

Deno.test("[routes] departments: an agent sees only its departments' unassigned tickets", async () => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const sales = await t.department("Sales");
    const support = await t.department("Support");
    const seller = await person(t, "agent", [sales]);
    const id = await leaveMessage(t, "+27820000001", ["support question"], { department: support });
    const html = await text(await visit(t, seller, "/tickets/unassigned"));
    assert(!html.includes("support question"));
    assertEquals((await visit(t, seller, `/tickets/unassigned/${id}`)).status, 404);
    const helper = await person(t, "agent", [support]);
    const seen = await text(await visit(t, helper, "/tickets/unassigned"));
    assert(seen.includes("support question") && seen.includes("Support"));
  });
});

Deno.test("[routes] the Assigned tab: reply with Start Chat, WhatsApp templates after 24 h, close", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const me = await person(t);
    const sms = await leaveMessage(t, "+15550100002", ["sms <b>text</b>"], { channel: "sms" });
    const wa = await leaveMessage(t, "+27820000001", ["whatsapp text"]);
    await visit(t, me, "/tickets/quick-accept", {
      form: { count: "2", next: "/tickets/unassigned" },
    });
    await s.step(
      "the Assigned list holds my tickets; selecting one shows the conversation",
      async () => {
        const html = await text(await visit(t, me, `/tickets/assigned/${sms}`));
        assert(html.includes("sms &lt;b&gt;text&lt;/b&gt;"));
        assert(html.includes('name="text"') && html.includes("Start Chat"));
        assert(html.includes("Close ticket"));
        assert(/Assigned<span class="count">2<\/span>/.test(html));
      },
    );
    await s.step("Start Chat sends the reply and opens a live chat", async () => {
      const res = await visit(t, me, `/tickets/${sms}/reply`, {
        form: { text: "Hello from the desk" },
      });
      assertEquals(res.headers.get("location"), `/tickets/assigned/${sms}`);
      const html = await follow(t, me, res);
      assert(html.includes("Hello from the desk") && html.includes("Open the chat"));
      const chats = await text(await visit(t, me, "/chats"));
      assert(chats.includes("+15550100002"));
    });
    await s.step("an empty reply is refused with a message", async () => {
      const res = await visit(t, me, `/tickets/${sms}/reply`, { form: { text: "" } });
      const html = await follow(t, me, res);
      assert(html.includes("flash-error"));
    });
    await s.step("inside 24 h a WhatsApp ticket takes free text", async () => {
      const html = await text(await visit(t, me, `/tickets/assigned/${wa}`));
      assert(html.includes('name="text"') && !html.includes("WhatsApp window closed"));
    });
    t.clock.advance(25 * HOUR);
    const { token } = await signIn(t.kv, t.clock, {
      email: me.agent.email,
      password: "password-123",
    }, "x");
    me.jar.set("chatdesk_session", token);
    const admin = await t.person("admin");
    const tpl = await t.json("POST", "/api/templates", {
      token: admin.token,
      body: { name: "follow_up", body: "Hi {{1}}, about your request: {{2}}" },
    });
    await s.step("after 24 h the free-text box is replaced by a template picker", async () => {
      const html = await text(await visit(t, me, `/tickets/assigned/${wa}`));
      assert(html.includes("WhatsApp window closed"));
      assert(!html.includes('name="text"'));
      assert(html.includes("follow_up"));
      const chosen = await text(
        await visit(t, me, `/tickets/assigned/${wa}?template=${tpl.body.id}`),
      );
      assertEquals((chosen.match(/name="params"/g) ?? []).length, 2);
    });
    await s.step("the server refuses free text anyway", async () => {
      const res = await visit(t, me, `/tickets/${wa}/reply`, { form: { text: "sneaky" } });
      const html = await follow(t, me, res);
      assert(html.includes("older than 24 hours"));
    });
    await s.step("a filled template is sent", async () => {
      const res = await visit(t, me, `/tickets/${wa}/reply`, {
        form: { template: String(tpl.body.id), params: ["Thandi", "your order"] },
      });
      const html = await follow(t, me, res);
      assert(html.includes("Hi Thandi, about your request: your order"));
      assert(html.includes("template follow_up"));
    });
    await s.step("Close moves the ticket to Closed", async () => {
      const res = await visit(t, me, `/tickets/${wa}/close`, { form: {} });
      assertEquals(res.headers.get("location"), "/tickets/assigned");
      const html = await follow(t, me, res);
      assert(html.includes("Ticket closed."));
      const closed = await text(await visit(t, me, `/tickets/closed/${wa}`));
      assert(closed.includes("read-only") && !closed.includes("Close ticket"));
      assert(closed.includes("Closed by me"));
    });
  });
});

Deno.test("[routes] the Closed tab: newest closed first, Closed by me", async () => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const ana = await person(t);
    const ben = await person(t);
    const a = await leaveMessage(t, "+27820000001", ["first"]);
    const b = await leaveMessage(t, "+27820000002", ["second"]);
    await visit(t, ana, `/tickets/${a}/accept`, { form: {} });
    await visit(t, ben, `/tickets/${b}/accept`, { form: {} });
    await visit(t, ana, `/tickets/${a}/close`, { form: {} });
    t.clock.advance(1000);
    await visit(t, ben, `/tickets/${b}/close`, { form: {} });
    const all = await text(await visit(t, ana, "/tickets/closed"));
    assert(all.indexOf("+27820000002") < all.indexOf("+27820000001"), "newest closed first");
    assert(all.includes('name="closedByMe"'));
    const mine = await text(await visit(t, ana, "/tickets/closed?closedByMe=1"));
    assert(mine.includes("+27820000001") && !mine.includes("+27820000002"));
    assert(mine.includes('value="1" checked'));
    assert(/Closed<span class="count">2<\/span>/.test(all), "the Closed tab shows its count");
    const unassigned = await text(await visit(t, ben, "/tickets/unassigned"));
    assert(/Closed<span class="count">2<\/span>/.test(unassigned), "on every tab");
  });
});

Deno.test("[routes] chats: accept a pending chat (rule 7), talk, end; status switch", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const me = await person(t);
    const ticket = await leaveMessage(t, "+27820000001", ["old question"]);
    await updateSettings(t.kv, {
      hours: { timeZone: "UTC", weekly: { wed: [["09:00", "17:00"]] }, closures: [] },
    });
    await s.step("the header switch sets the agent online", async () => {
      const res = await visit(t, me, "/status", {
        form: { status: "online" },
        headers: { referer: "http://localhost/chats" },
      });
      assertEquals(res.headers.get("location"), "/chats");
      assertEquals((await getAgent(t.kv, me.agent.id)).status, "online");
    });
    const inbound = await t.inbound({
      channel: "whatsapp",
      from: "+27820000001",
      text: "are you there?",
    });
    assertEquals(inbound.conversation.state, "pending");
    const chatId = (await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
      token: me.token,
    })).body.chats[0].id;
    await s.step(
      "the pending chat is listed with Accept; accepting closes the open ticket",
      async () => {
        const html = await text(await visit(t, me, "/chats"));
        assert(html.includes(`action="/chats/${chatId}/accept"`));
        const res = await visit(t, me, `/chats/${chatId}/accept`, { form: {} });
        const page = await follow(t, me, res);
        assert(page.includes("are you there?") && page.includes("End chat"));
        const closed = await t.json("GET", `/api/tickets/${ticket}`, { token: me.token });
        assertEquals(closed.body.closeReason, "live_chat");
      },
    );
    await s.step("a message goes to the customer; End chat ends it", async () => {
      const sent = await visit(t, me, `/chats/${chatId}/messages`, {
        form: { text: "Yes, hello!" },
      });
      assert((await follow(t, me, sent)).includes("Yes, hello!"));
      const ended = await visit(t, me, `/chats/${chatId}/end`, { form: {} });
      assert((await follow(t, me, ended)).includes("Chat ended."));
    });
    await setStatus(t.kv, me.agent.id, "offline");
  });
});

/** Opens a page's own live stream (its sse-connect address) and reads it like the browser. */
async function liveStream(t: TestDesk, who: PagePerson, pageHtml: string) {
  const address = pageHtml.match(/sse-connect="([^"]+)"/)?.[1]?.replaceAll("&amp;", "&");
  assert(address, "the page connects to /events");
  return await openStream(t, who, address);
}

async function openStream(t: TestDesk, who: PagePerson, address: string) {
  const res = await visit(t, who, address);
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  return readEventStream(res.body!, 5000);
}

Deno.test("[routes] live counts and the open ticket's conversation, only for who may read it", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const ana = await person(t);
    const ben = await person(t);
    const id = await leaveMessage(t, "+27820000001", ["where is my order?"]);
    await visit(t, ana, `/tickets/${id}/accept`, { form: { next: "/tickets/unassigned" } });
    const page = await text(await visit(t, ana, `/tickets/assigned/${id}`));
    await s.step("the open ticket's conversation is a live fragment with a poller", () => {
      assert(page.includes('id="conversation" sse-swap="conversation"'), "conversation target");
      assert(/selected=[0-9A-Z]+/.test(page.match(/sse-connect="([^"]+)"/)?.[1] ?? ""));
      assert(page.includes(`/tickets/assigned/${id}?part=conversation&amp;v=`), "its poller");
    });
    const anaLive = await liveStream(t, ana, page);
    const benPage = await text(await visit(t, ben, "/tickets/unassigned"));
    const benLive = await liveStream(t, ben, benPage);
    // A stream whose page is current sends nothing until something changes.
    await anaLive.until("event:", 300);
    anaLive.clear();
    await s.step(
      "a new message from the ticket's customer reaches the assignee's open ticket",
      async () => {
        await t.inbound({ channel: "whatsapp", from: "+27820000001", text: "any news? <b>" });
        await t.inbound({ channel: "whatsapp", from: "+27820000001", text: "YES" });
        assert(await anaLive.until("any news? &lt;b&gt;"), "the new message arrives, escaped");
        assert(anaLive.seen.includes("event: conversation"), `conversation event: ${anaLive.seen}`);
      },
    );
    await s.step("another agent's stream never carries that conversation", async () => {
      await benLive.until("any news?", 500);
      assert(
        !benLive.seen.includes("event: conversation") && !benLive.seen.includes("any news?"),
        `Ben's stream: ${benLive.seen.slice(0, 300)}`,
      );
      // A stale version makes the stream send every part it has at once.
      const sneaky = await openStream(t, ben, `/events?view=assigned&selected=${id}&v=x`);
      assert(await sneaky.until("event: list"), "the stream's parts arrive");
      await sneaky.until("event: conversation", 300);
      assert(!sneaky.seen.includes("event: conversation"), "no conversation for a stranger");
      await sneaky.close();
    });
    await s.step("pages woken together still get their own agent's counts", async () => {
      anaLive.clear();
      benLive.clear();
      const other = await leaveMessage(t, "+27820000003", ["a new one"]);
      assert(await benLive.until("a new one"), "Ben's Unassigned list gets the new ticket");
      assert(benLive.seen.includes('data-queue="assigned" data-count="0"'), "Ben has none");
      // Rule 33: Ana's page gets only what changed for her, the desk's Unassigned count.
      assert(await anaLive.until('"unassigned":1'), "Ana's counts");
      assert(!anaLive.seen.includes('data-count="0"'), "never Ben's counts");
      anaLive.clear();
      benLive.clear();
      await visit(t, ben, `/tickets/${other}/accept`, { form: { next: "/tickets/unassigned" } });
      assert(await benLive.until('data-queue="assigned" data-count="1"'), "Ben's own count");
      assert(await anaLive.until('"unassigned":0'), "Ana's counts again");
      assert(!anaLive.seen.includes('data-queue="assigned"'), "Ana's Assigned count did not move");
    });
    await s.step("closing a ticket updates the Closed count on connected pages", async () => {
      benLive.clear();
      await visit(t, ana, `/tickets/${id}/close`, { form: {} });
      assert(await benLive.until('data-queue="closed" data-count="1"'), "live Closed count");
    });
    await anaLive.close();
    await benLive.close();
    await s.step(
      "the conversation's poll: 204 unchanged, the messages when changed, 286 for others",
      async () => {
        const other = await leaveMessage(t, "+27820000002", ["first words"]);
        await visit(t, ana, `/tickets/${other}/accept`, { form: {} });
        const html = await text(await visit(t, ana, `/tickets/assigned/${other}`));
        const poll = html.match(/hx-get="([^"]+part=conversation[^"]+)"/)?.[1]?.replaceAll(
          "&amp;",
          "&",
        );
        assert(poll, "conversation poller");
        assertEquals((await visit(t, ana, poll)).status, 204);
        await t.inbound({ channel: "whatsapp", from: "+27820000002", text: "second words" });
        await t.inbound({ channel: "whatsapp", from: "+27820000002", text: "YES" });
        const changed = await visit(t, ana, poll);
        assertEquals(changed.status, 200);
        const body = await changed.text();
        assert(body.includes("second words") && !body.includes("<html"), "only the fragment");
        assertEquals((await visit(t, ben, poll)).status, 286);
      },
    );
  });
});

Deno.test("[routes] /events streams changed fragments; static files are compressed and cached", async (s) => {
  await withDesk(async (t) => {
    await closeBusiness(t);
    const me = await person(t);
    await s.step(
      "a new ticket reaches a connected Unassigned page as an SSE fragment",
      async () => {
        const res = await visit(t, me, "/events?view=unassigned&v=x");
        assertEquals(res.headers.get("content-type"), "text/event-stream");
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        const until = async (needle: string) => {
          const deadline = Date.now() + 5000;
          while (!seen.includes(needle) && Date.now() < deadline) {
            const { value, done } = await reader.read();
            if (done) break;
            seen += value;
          }
          return seen.includes(needle);
        };
        assert(await until("event: list"), "initial fragments (the page's version was stale)");
        seen = "";
        await leaveMessage(t, "+27820000077", ["fresh ticket"]);
        assert(await until("+27820000077"), "the new ticket's row arrives");
        assert(seen.includes("event: tabs"), "the counts too");
        await reader.cancel();
      },
    );
    await s.step(
      "htmx and its SSE extension come from the npm packages, brotli, ETag",
      async () => {
        const page = await text(await visit(t, me, "/tickets/unassigned"));
        const src = page.match(/src="(\/static\/htmx\.min\.js\?v=[^"]+)"/)?.[1];
        assert(src, "htmx is loaded");
        const res = await t.app.request(src, { headers: { "accept-encoding": "br, gzip" } });
        assertEquals(res.headers.get("content-encoding"), "br");
        assert(res.headers.get("cache-control")?.includes("immutable"));
        const etag = res.headers.get("etag")!;
        await res.arrayBuffer();
        const again = await t.app.request(src, { headers: { "if-none-match": etag } });
        assertEquals(again.status, 304);
        // The SSE extension comes in the page's one script of our own (routes/static.ts).
        const desk = page.match(/src="(\/static\/desk\.js\?v=[^"]+)"/)?.[1];
        assert(desk, "the desk's script is loaded");
        const bundle = await (await t.app.request(desk)).text();
        assert(bundle.includes('defineExtension("sse"'), "the SSE extension is in desk.js");
      },
    );
    await s.step(
      "a list page loads htmx, one script and one stylesheet, each once and brotli",
      async () => {
        const page = await text(await visit(t, me, "/tickets/unassigned"));
        const loads = [...page.matchAll(/<(?:script|link)\b[^>]*(?:src|href)="(\/[^"]+)"/g)]
          .map((m) => m[1].replace(/\?.*/, ""));
        assertEquals(loads, ["/static/desk.css", "/static/htmx.min.js", "/static/desk.js"]);
        for (const path of loads) {
          const res = await t.app.request(path, { headers: { "accept-encoding": "br, gzip" } });
          assertEquals(res.headers.get("content-encoding"), "br", path);
          await res.arrayBuffer();
        }
        // The reply box's help comes only with a reply box; Admin and Supervisor get no keyboard.
        assert(!page.includes("/static/compose.js"));
      },
    );
    await s.step("our scripts are served without their comments, and still parse", async () => {
      for (const name of ["desk.js", "alerts.js", "compose.js"]) {
        const res = await t.app.request(`/static/${name}`);
        assertEquals(res.status, 200, name);
        const body = await res.text();
        assert(!/^\s*\/\/ /m.test(body) && !/^\s*\/\*\*? /m.test(body), `${name} has comments`);
        // Parsed, not run: a comment cut wrongly would leave a syntax error.
        new Function(body);
      }
    });
    await s.step("pages are gzip-compressed and hold no inline script or style", async () => {
      for (let i = 0; i < 5; i++) await leaveMessage(t, `+2782000010${i}`, ["x".repeat(200)]);
      const res = await visit(t, me, "/tickets/unassigned", {
        headers: { "accept-encoding": "gzip" },
      });
      assertEquals(res.headers.get("content-encoding"), "gzip");
      const html = await new Response(
        res.body!.pipeThrough(new DecompressionStream("gzip")),
      ).text();
      assert(!/ style=/.test(html), "inline style attribute");
      assert(!/<script>/.test(html) && !/<style/.test(html), "inline script or style");
      assert(res.headers.get("content-security-policy")?.includes("script-src 'self'"));
    });
    await s.step("unknown pages get an HTML 404 in the layout", async () => {
      const res = await visit(t, me, "/tickets/nowhere");
      assertEquals(res.status, 404);
      assert((await res.text()).includes("Go to the ticket queue"));
    });
  });
});
