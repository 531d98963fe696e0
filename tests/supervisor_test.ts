import assert from "node:assert/strict";
import { DAY, HOUR, MINUTE } from "../domain/clock.ts";
import { agentLoads, formatAge, queueAges } from "../domain/supervision.ts";
import { archiveClosed, closeTicket, getTicket } from "../domain/tickets.ts";
import { idTime, idTimePrefix, newId } from "../domain/ids.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

const ORIGIN = "http://localhost";

/** A browser-like client for the pages: session cookie, form posts with our Origin. */
function browser(t: TestDesk, token: string) {
  const cookie = `${SESSION_COOKIE}=${token}`;
  return {
    get: async (path: string) => {
      const res = await t.app.request(path, { headers: { accept: "text/html", cookie } });
      return { status: res.status, html: await res.text(), res };
    },
    post: async (path: string, fields: Record<string, string>, origin: string | null = ORIGIN) => {
      const headers: Record<string, string> = {
        accept: "text/html",
        cookie,
        "content-type": "application/x-www-form-urlencoded",
      };
      if (origin) headers.origin = origin;
      const res = await t.app.request(path, {
        method: "POST",
        headers,
        body: new URLSearchParams(fields),
      });
      // The flash is JSON, URI-encoded, then encoded again as a cookie value.
      const set = res.headers.getSetCookie().find((c) => c.startsWith("chatdesk_flash="));
      const value = set?.split(";")[0].slice("chatdesk_flash=".length) ?? "";
      return {
        status: res.status,
        html: await res.text(),
        location: res.headers.get("location"),
        flash: decodeURIComponent(decodeURIComponent(value)),
      };
    },
  };
}

Deno.test("[domain] supervision: ids, ages and loads", async (t) => {
  await t.step("an id's time prefix bounds keys by time", () => {
    const at = Date.parse("2026-11-25T10:00:00.123Z");
    const id = newId(at);
    assert.equal(idTime(id), at);
    assert.ok(idTimePrefix(at) <= id && id < idTimePrefix(at + 1));
    assert.ok(Number.isNaN(idTime("not-an-id!")));
  });

  await t.step("ages read compactly", () => {
    assert.equal(formatAge(30_000), "0 min");
    assert.equal(formatAge(45 * MINUTE), "45 min");
    assert.equal(formatAge(3 * HOUR + 20 * MINUTE), "3 h 20 min");
    assert.equal(formatAge(2 * DAY + 4 * HOUR), "2 d 4 h");
    assert.equal(formatAge(2 * DAY), "2 d");
  });

  const desk = await testDesk();
  await closeBusiness(desk);
  // Tickets aged 10 days, 2 days, 5 hours, 2 hours and 10 minutes at the end.
  const ages = [10 * DAY, 2 * DAY, 5 * HOUR, 2 * HOUR, 10 * MINUTE];
  const start = desk.clock.now();
  const ids: string[] = [];
  for (const [i, age] of ages.entries()) {
    desk.clock.set(start + 10 * DAY - age);
    ids.push(await leaveMessage(desk, `+2782000020${i}`));
  }
  desk.clock.set(start + 10 * DAY);

  await t.step("the Unassigned queue by age comes from index keys alone", async () => {
    const result = await queueAges(desk.kv, desk.clock.now());
    assert.equal(result.total, 5);
    assert.equal(result.notWalked, 0);
    assert.deepEqual(
      result.buckets.map((b) => [b.label, b.count]),
      [["< 1 h", 1], ["1–4 h", 1], ["4–24 h", 1], ["1–3 d", 1], ["3–7 d", 0], ["> 7 d", 1]],
    );
  });

  await t.step("a bounded walk reports what it did not reach, and how old that is", async () => {
    const result = await queueAges(desk.kv, desk.clock.now(), 3);
    assert.equal(result.buckets.reduce((s, b) => s + b.count, 0), 3);
    assert.equal(result.notWalked, 2, "the two oldest");
    assert.equal(result.notWalkedOlderThan, 5 * HOUR);
  });

  await t.step("each agent's assigned count and oldest assigned ticket", async () => {
    const ana = await desk.person("agent", { name: "Ana" });
    const ben = await desk.person("agent", { name: "Ben" });
    for (const id of [ids[1], ids[3]]) {
      await desk.json("POST", `/api/tickets/${id}/accept`, { token: ana.token });
    }
    const loads = await agentLoads(desk.kv);
    const of = (id: string) => loads.find((l) => l.agent.id === id)!;
    assert.equal(of(ana.agent.id).assigned, 2);
    assert.equal(of(ana.agent.id).oldestAssignedAt, start + 8 * DAY, "the 2-day-old ticket");
    assert.equal(of(ben.agent.id).assigned, 0);
    assert.equal(of(ben.agent.id).oldestAssignedAt, null);
    // A deactivated agent is listed while holding tickets, and dropped once empty-handed.
    const admin = await desk.person("admin");
    await desk.json("DELETE", `/api/agents/${ana.agent.id}`, { token: admin.token });
    await desk.json("DELETE", `/api/agents/${ben.agent.id}`, { token: admin.token });
    const after = await agentLoads(desk.kv);
    assert.ok(after.some((l) => l.agent.id === ana.agent.id && !l.agent.active));
    assert.ok(!after.some((l) => l.agent.id === ben.agent.id));
  });

  await desk.close();
});

const SUPERVISOR_PAGES = [
  "/supervisor",
  "/supervisor/queues",
  "/supervisor/queues?queue=assigned&agent=all",
  "/supervisor/queues?queue=closed",
  "/supervisor/archive",
  "/supervisor/transcripts",
  "/supervisor/transcripts/download?from=2026-11-25&to=2026-11-25",
];

Deno.test("[routes] supervisor pages: who may see them", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const supervisor = await desk.person("supervisor");
  const admin = await desk.person("admin");
  const agent = await desk.person("agent");
  const ticket = await leaveMessage(desk, "+27820000301");
  await desk.json("POST", `/api/tickets/${ticket}/accept`, { token: agent.token });

  await t.step("supervisors and admins see every supervisor page", async () => {
    for (const person of [supervisor, admin]) {
      const b = browser(desk, person.token);
      for (const path of [...SUPERVISOR_PAGES, `/supervisor/tickets/${ticket}`]) {
        const page = await b.get(path);
        assert.equal(page.status, 200, path);
      }
    }
  });

  await t.step("the ticket page shows its times in the business time zone, labelled", async () => {
    await desk.json("PUT", "/api/settings", {
      token: admin.token,
      body: { hours: { timeZone: "Asia/Kolkata", weekly: {}, closures: [] } },
    });
    const page = await browser(desk, supervisor.token).get(`/supervisor/tickets/${ticket}`);
    assert.match(page.html, /in Asia\/Kolkata/);
    // The test desk's clock is 2026-11-25 10:00 UTC: 15:30 in Kolkata.
    assert.match(page.html, /<time datetime="2026-11-25T10:00:00.000Z"[^>]*>2026-11-25 15:30</);
  });

  await t.step("an agent gets 403 on every supervisor page, form and API", async () => {
    const b = browser(desk, agent.token);
    for (const path of [...SUPERVISOR_PAGES, `/supervisor/tickets/${ticket}`]) {
      assert.equal((await b.get(path)).status, 403, path);
    }
    const post = await b.post(`/supervisor/tickets/${ticket}/reassign`, { agentId: "" });
    assert.equal(post.status, 403);
    for (
      const [method, path, body] of [
        ["GET", "/api/stats", undefined],
        ["GET", "/api/transcripts?from=2026-11-25&to=2026-11-25", undefined],
        ["POST", `/api/tickets/${ticket}/reassign`, { agentId: null }],
      ] as const
    ) {
      const res = await desk.json(method, path, { token: agent.token, body });
      assert.equal(res.status, 403, `${method} ${path}`);
    }
    assert.equal((await getTicket(desk.kv, ticket)).assignedTo, agent.agent.id, "unchanged");
  });

  await t.step(
    "a reassign posted from another site or without origin is refused (CSRF)",
    async () => {
      const b = browser(desk, supervisor.token);
      for (const origin of ["https://evil.example", null]) {
        const res = await b.post(`/supervisor/tickets/${ticket}/reassign`, { agentId: "" }, origin);
        assert.equal(res.status, 403);
      }
      assert.equal((await getTicket(desk.kv, ticket)).status, "assigned");
    },
  );

  await desk.close();
});

Deno.test("[routes] supervisor dashboard", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const supervisor = await desk.person("supervisor");
  const ana = await desk.person("agent", { name: "Ana Silva" });
  const t1 = await leaveMessage(desk, "+27820000401");
  desk.clock.advance(90 * 1000);
  const t2 = await leaveMessage(desk, "+27820000402");
  await leaveMessage(desk, "+27820000403");
  await desk.json("POST", `/api/tickets/${t1}/accept`, { token: ana.token });
  await closeTicket(desk.desk, ana.agent, t1);
  desk.clock.advance(2 * HOUR);
  await desk.json("POST", `/api/tickets/${t2}/accept`, { token: ana.token });

  await t.step("today's numbers, both charts and the agents' load", async () => {
    const page = await browser(desk, supervisor.token).get("/supervisor");
    assert.equal(page.status, 200);
    const stat = (label: string) =>
      new RegExp(`<b>(?:<a [^>]*>)?([^<]*)(?:</a>)?</b><span>${label}</span>`).exec(page.html)?.[1];
    assert.equal(stat("Unassigned now"), "1");
    assert.equal(stat("Oldest unassigned"), "2 h");
    assert.equal(stat("Created today"), "3");
    assert.equal(stat("Accepted today"), "2");
    assert.equal(stat("Closed today"), "1");
    // Accepted after 90 s and after 2 h: the median is 1 h 0 min 45 s.
    assert.equal(stat("Median time to accept \\(today\\)"), "1 h");
    // Charts are SVG drawn on the server: bars with titles, no chart script.
    assert.match(page.html, /<svg[^>]*aria-labelledby="hourly-title hourly-desc"/);
    assert.match(page.html, /<title>Wed 25 Nov, 10:00: 3 tickets<\/title>/);
    assert.match(page.html, /<svg[^>]*aria-labelledby="ages-title ages-desc"/);
    assert.match(page.html, /<title>1–4 h: 1<\/title>/);
    assert.doesNotMatch(page.html, /<script(?![^>]*(htmx|sse|alerts))/);
    // Ana: one assigned ticket, created 2 h ago.
    assert.match(
      page.html,
      /Ana Silva<\/td><td><span class="badge">Offline<\/span><\/td><td class="num"><a href="\/supervisor\/queues\?queue=assigned&amp;agent=[0-9A-Z]+">1<\/a><\/td><td class="num">2 h<\/td>/,
    );
  });

  await t.step("the chart covers seven local days, hour by hour", async () => {
    const page = await browser(desk, supervisor.token).get("/supervisor");
    const hourly = page.html.slice(
      page.html.indexOf('id="hourly-title"'),
      page.html.indexOf("</svg>"),
    );
    const bars = hourly.match(/<rect [^>]*fill="#1f5fbf"/g) ?? [];
    assert.equal(bars.length, 1, "one hour had tickets");
    // A label for each of the seven local days, Thursday to today (Wednesday).
    const days = hourly.match(/>(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d+<\/text>/g) ?? [];
    assert.deepEqual(days.map((d) => d.slice(1, 4)), [
      "Thu",
      "Fri",
      "Sat",
      "Sun",
      "Mon",
      "Tue",
      "Wed",
    ]);
  });

  await desk.close();
});

Deno.test("[routes] supervisor queues, reassigning and history", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const supervisor = await desk.person("supervisor", { name: "Sam Super" });
  const sales = await desk.department("Sales");
  const support = await desk.department("Support");
  const ana = await desk.person("agent", { name: "Ana", departments: [support] });
  const ben = await desk.person("agent", { name: "Ben", departments: [sales] });
  await leaveMessage(desk, "+27820000501", ["sales question"], {
    department: sales,
    name: "Sally Sales",
  });
  const supportTicket = await leaveMessage(desk, "+27820000502", ["support question"], {
    department: support,
    name: "Simon Support",
  });
  const anyTicket = await leaveMessage(desk, "+27820000503", ["general"], { name: "Gina General" });
  await desk.json("POST", `/api/tickets/${supportTicket}/accept`, { token: ana.token });
  const b = browser(desk, supervisor.token);

  await t.step("every unassigned ticket, filterable by department and by agent", async () => {
    const all = await b.get("/supervisor/queues?queue=unassigned");
    assert.match(all.html, /Sally Sales/);
    assert.match(all.html, /Gina General/);
    assert.doesNotMatch(all.html, /Simon Support/);
    const bySales = await b.get(`/supervisor/queues?queue=unassigned&department=${sales}`);
    assert.match(bySales.html, /Sally Sales/);
    assert.doesNotMatch(bySales.html, /Gina General/);
    // "As Ana sees it": her department (Support) and tickets without one (rule 13).
    const asAna = await b.get(`/supervisor/queues?queue=unassigned&agent=${ana.agent.id}`);
    assert.match(asAna.html, /Gina General/);
    assert.doesNotMatch(asAna.html, /Sally Sales/);
    assert.match(asAna.html, /that Ana may see/);
  });

  await t.step("assigned tickets of everyone, or of one agent", async () => {
    const all = await b.get("/supervisor/queues?queue=assigned&agent=all");
    assert.match(all.html, /Simon Support/);
    const ofBen = await b.get(`/supervisor/queues?queue=assigned&agent=${ben.agent.id}`);
    assert.doesNotMatch(ofBen.html, /Simon Support/);
    assert.match(ofBen.html, /No assigned tickets/);
  });

  await t.step("reassigning to another agent is logged with who and when", async () => {
    desk.clock.advance(5 * MINUTE);
    const res = await b.post(`/supervisor/tickets/${supportTicket}/reassign`, {
      agentId: ben.agent.id,
    });
    assert.equal(res.status, 303);
    assert.equal(res.location, `/supervisor/tickets/${supportTicket}`);
    const ticket = await getTicket(desk.kv, supportTicket);
    assert.equal(ticket.assignedTo, ben.agent.id);
    const last = ticket.history.at(-1)!;
    assert.deepEqual(
      { action: last.action, by: last.by, from: last.from, to: last.to, at: last.at },
      {
        action: "reassigned",
        by: supervisor.agent.id,
        from: ana.agent.id,
        to: ben.agent.id,
        at: desk.clock.now(),
      },
    );
    const page = await b.get(`/supervisor/tickets/${supportTicket}`);
    assert.match(page.html, /Reassigned by Sam Super from Ana to Ben/);
    assert.match(page.html, /support question/, "the conversation is shown");
    const bens = await desk.json<{ tickets: { id: string }[] }>(
      "GET",
      "/api/tickets?queue=assigned",
      { token: ben.token },
    );
    assert.deepEqual(bens.body.tickets.map((x) => x.id), [supportTicket]);
    const anas = await desk.json<{ tickets: unknown[] }>("GET", "/api/tickets?queue=assigned", {
      token: ana.token,
    });
    assert.deepEqual(anas.body.tickets, []);
  });

  await t.step("back to Unassigned", async () => {
    const res = await b.post(`/supervisor/tickets/${supportTicket}/reassign`, { agentId: "" });
    assert.equal(res.status, 303);
    const ticket = await getTicket(desk.kv, supportTicket);
    assert.equal(ticket.status, "unassigned");
    assert.equal(ticket.assignedTo, null);
    const page = await b.get(`/supervisor/tickets/${supportTicket}`);
    assert.match(page.html, /Reassigned by Sam Super from Ben to Unassigned/);
    assert.match(page.html, />Assign<\/button>/, "an unassigned ticket can be assigned");
  });

  await t.step("a closed ticket or an unknown agent is refused with a message", async () => {
    const bad = await b.post(`/supervisor/tickets/${supportTicket}/reassign`, {
      agentId: "nobody",
    });
    assert.equal(bad.status, 303);
    assert.match(bad.flash, /does not exist or is deactivated/);
    await desk.json("POST", `/api/tickets/${anyTicket}/accept`, { token: ana.token });
    await closeTicket(desk.desk, ana.agent, anyTicket);
    const refused = await b.post(`/supervisor/tickets/${anyTicket}/reassign`, {
      agentId: ben.agent.id,
    });
    assert.match(refused.flash, /A closed ticket cannot be reassigned/);
    const closed = await b.get(`/supervisor/tickets/${anyTicket}`);
    assert.doesNotMatch(closed.html, /name="agentId"/, "no reassign form on a closed ticket");
    assert.equal((await getTicket(desk.kv, anyTicket)).status, "closed");
  });

  await t.step("closed tickets, also by who closed them", async () => {
    const closed = await b.get("/supervisor/queues?queue=closed");
    assert.match(closed.html, /Gina General/);
    const byBen = await b.get(`/supervisor/queues?queue=closed&agent=${ben.agent.id}`);
    assert.doesNotMatch(byBen.html, /Gina General/);
    const byAna = await b.get(`/supervisor/queues?queue=closed&agent=${ana.agent.id}`);
    assert.match(byAna.html, /Gina General/);
  });

  await t.step("the archive lists archived tickets, which stay readable", async () => {
    assert.equal(await archiveClosed(desk.desk, 0), 1);
    const archive = await b.get("/supervisor/archive");
    assert.equal(archive.status, 200);
    assert.match(archive.html, /Gina General/);
    assert.match(archive.html, new RegExp(`/supervisor/tickets/${anyTicket}`));
    const redirect = await b.get("/supervisor/queues?queue=archived");
    assert.equal(redirect.status, 303);
    const page = await b.get(`/supervisor/tickets/${anyTicket}`);
    assert.match(page.html, /general/);
    assert.match(page.html, /<dt>Archived<\/dt>/);
    assert.match(page.html, /<li\s*><span>Archived<\/span>/);
  });

  await t.step("bad list parameters are a 400 page", async () => {
    assert.equal((await b.get("/supervisor/queues?queue=nope")).status, 400);
    assert.equal((await b.get("/supervisor/queues?channel=fax")).status, 400);
  });

  await desk.close();
});

Deno.test("[routes] supervisor transcripts page", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const supervisor = await desk.person("supervisor");
  await leaveMessage(desk, "+27820000601", ["a, b"]);
  const b = browser(desk, supervisor.token);

  await t.step("the form offers the last seven days by default", async () => {
    const page = await b.get("/supervisor/transcripts");
    assert.match(page.html, /name="from" value="2026-11-19"/);
    assert.match(page.html, /name="to" value="2026-11-25"/);
  });

  await t.step("a valid range downloads as a streamed CSV attachment", async () => {
    const page = await b.get(
      "/supervisor/transcripts/download?from=2026-11-25&to=2026-11-25&format=csv",
    );
    assert.equal(page.status, 200);
    assert.equal(page.res.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.match(page.res.headers.get("content-disposition")!, /^attachment; filename=".*\.csv"$/);
    assert.equal(
      page.html.split("\r\n")[0],
      "ticketId,customer,from,channel,direction,author,authorName,text,at,kind",
    );
    assert.match(page.html, /"a, b"/);
  });

  await t.step("a bad range re-renders the form with messages next to the fields", async () => {
    const page = await b.get("/supervisor/transcripts/download?from=2026-11-26&to=2026-11-25");
    assert.equal(page.status, 400);
    assert.match(page.html, /id="t-to-error"[^>]*>Must not be before from/);
    assert.match(page.html, /name="from" value="2026-11-26"/);
    const missing = await b.get("/supervisor/transcripts/download?from=&to=");
    assert.equal(missing.status, 400);
    assert.match(missing.html, /id="t-from-error"/);
  });

  await desk.close();
});
