/**
 * Every desk page for a real shift, through app.request(): rule 32's counts in the first paint
 * (title and navigation), one meaningful h1 per page, a department filter that offers an agent
 * its own departments only, and a nameless customer's address shown once in list rows.
 */
import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { updateSettings } from "../domain/settings.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

function assertEquals<T>(actual: T, expected: T, message = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

async function page(t: TestDesk, token: string | null, path: string) {
  const headers: Record<string, string> = { accept: "text/html" };
  if (token) headers.cookie = `chatdesk_session=${token}`;
  const res = await t.app.request(path, { headers });
  return { status: res.status, html: await res.text() };
}

const titleOf = (html: string) => html.match(/<title>([^<]*)<\/title>/)?.[1] ?? "";
const navCount = (html: string, id: string) =>
  html.match(new RegExp(`id="${id}" data-count="(\\d+)"`))?.[1];
const h1s = (html: string) => [...html.matchAll(/<h1\b([^>]*)>([\s\S]*?)<\/h1>/g)];
const words = (html: string) =>
  html.replace(/<[^>]+>/g, "").replace(/&amp;/g, "&").replace(/\s+/g, " ").trim();

/** The element (`li` or `tr`) around the first occurrence of `marker` in `html`. */
function rowAround(html: string, marker: string, tag: "li" | "tr"): string {
  const at = html.indexOf(marker);
  assert(at >= 0, `no ${marker} in the page`);
  const start = html.lastIndexOf(`<${tag}`, at);
  const end = html.indexOf(`</${tag}>`, at);
  return html.slice(start, end);
}
const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

/** The options of the department filter on a ticket list: [value, label] pairs. */
function departmentOptions(html: string): [string, string][] {
  const select = html.match(/<select id="f-dept"[^>]*>([\s\S]*?)<\/select>/)?.[1] ?? "";
  return [...select.matchAll(/<option value="([^"]*)"[^>]*>([^<]*)<\/option>/g)].map((m) => [
    m[1],
    m[2],
  ]);
}

interface Shift {
  t: TestDesk;
  sales: string;
  support: string;
  ana: { token: string; id: string };
  sam: string;
  ada: string;
  /** Tickets: Sales (named), Support nameless unassigned, no-department assigned to Ana and
   * named as its own address, Support nameless closed by Ana. */
  salesTicket: string;
  nameless: string;
  assigned: string;
  closed: string;
  /** A nameless customer's pending chat, and Ana's live chat with a named one. */
  chatId: string;
  liveChatId: string;
}

/** A desk in the middle of a shift (the counts below follow from it). */
async function shift(): Promise<Shift> {
  const t = await testDesk();
  await closeBusiness(t);
  const sales = await t.department("Sales");
  const support = await t.department("Support");
  const ana = await t.person("agent", { name: "Ana Silva", departments: [support] });
  const sam = await t.person("supervisor", { name: "Sam Patel" });
  const ada = await t.person("admin", { name: "Ada Admin" });
  const salesTicket = await leaveMessage(t, "+27820000101", ["A sales question"], {
    department: sales,
    name: "Sol Sales",
  });
  // No name given: the customer's name is its address (domain/inbound.ts).
  const nameless = await leaveMessage(t, "+27820000102", ["Nameless waiting"], {
    department: support,
  });
  const assigned = await leaveMessage(t, "+27820000103", ["Named as the number"], {
    name: "+27820000103",
  });
  const closed = await leaveMessage(t, "+27820000104", ["Nameless, closed"], {
    department: support,
  });
  for (const id of [assigned, closed]) {
    await t.call("POST", `/api/tickets/${id}/accept`, { token: ana.token });
  }
  await t.call("POST", `/api/tickets/${closed}/close`, { token: ana.token });
  // Open hours and Ana online: a named customer Ana talks with in a live chat, and a new
  // nameless one waiting in a pending chat.
  await updateSettings(t.kv, {
    hours: { timeZone: "UTC", weekly: { wed: [["09:00", "17:00"]] }, closures: [] },
  });
  await setStatus(t.kv, ana.agent.id, "online");
  await t.inbound({ channel: "whatsapp", from: "+27820000106", text: "Hi", name: "Lia Live" });
  const waiting = await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
    token: ana.token,
  });
  const live = waiting.body.chats[0].id;
  assertEquals(
    (await t.call("POST", `/api/chats/${live}/accept`, { token: ana.token })).status,
    200,
  );
  const chat = await t.inbound({ channel: "whatsapp", from: "+27820000105", text: "Anyone?" });
  assertEquals(chat.conversation.state, "pending");
  const chats = await t.json<{ chats: { id: string }[] }>("GET", "/api/chats?state=pending", {
    token: ana.token,
  });
  return {
    t,
    sales,
    support,
    ana: { token: ana.token, id: ana.agent.id },
    sam: sam.token,
    ada: ada.token,
    salesTicket,
    nameless,
    assigned,
    closed,
    chatId: chats.body.chats[0].id,
    liveChatId: live,
  };
}

/** Every desk page each person opens during the shift, by person. */
function deskPages(s: Shift): [string, string, string[]][] {
  const tickets = [
    "/tickets/unassigned",
    "/tickets/assigned",
    "/tickets/closed",
    `/tickets/unassigned/${s.nameless}`,
    `/tickets/closed/${s.closed}`,
    "/chats",
  ];
  return [
    ["Ana (agent, Support)", s.ana.token, [
      ...tickets,
      `/tickets/assigned/${s.assigned}`,
      `/chats/${s.liveChatId}`,
    ]],
    ["Sam (supervisor)", s.sam, [
      ...tickets,
      "/supervisor",
      "/supervisor/queues",
      "/supervisor/queues?queue=closed",
      "/supervisor/archive",
      "/supervisor/transcripts",
      `/supervisor/tickets/${s.nameless}`,
    ]],
    ["Ada (admin)", s.ada, [
      "/tickets/unassigned",
      "/chats",
      "/supervisor",
      "/admin/hours",
      "/admin/agents",
      "/admin/departments",
      "/admin/texts",
      "/admin/templates",
      "/admin/canned-replies",
      "/admin/integrations",
    ]],
  ];
}

Deno.test("[routes] rule 32 at first paint: every desk page's title and nav carry the counts", async (st) => {
  const s = await shift();
  try {
    // Ana sees Support and no-department tickets: only the nameless Support one waits. Staff
    // see the Sales one too. Everyone may take the one pending chat.
    const expected: Record<string, { unassigned: number; chats: number }> = {
      "Ana (agent, Support)": { unassigned: 1, chats: 1 },
      "Sam (supervisor)": { unassigned: 2, chats: 1 },
      "Ada (admin)": { unassigned: 2, chats: 1 },
    };
    for (const [who, token, paths] of deskPages(s)) {
      await st.step(`${who}: (N) <page> · chatdesk and both nav counts on every page`, async () => {
        const want = expected[who];
        const n = want.unassigned + want.chats;
        for (const path of paths) {
          const { status, html } = await page(s.t, token, path);
          assertEquals(status, 200, path);
          const title = titleOf(html);
          assert(
            new RegExp(`^\\(${n}\\) \\S.* · chatdesk$`).test(title),
            `${path}: title "${title}", wanted "(${n}) … · chatdesk"`,
          );
          assertEquals(navCount(html, "nav-unassigned"), String(want.unassigned), path);
          assertEquals(navCount(html, "nav-chats"), String(want.chats), path);
        }
      });
    }
    await st.step("a page's live stream starts from the counts it was drawn with", async () => {
      for (const path of ["/tickets/unassigned", "/chats", `/chats/${s.liveChatId}`]) {
        const { html } = await page(s.t, s.ana.token, path);
        const v = html.match(/sse-connect="\/events\?[^"]*v=([^"&]+)/)?.[1] ?? "";
        assert(v.endsWith(".1-1"), `${path}: the stream version ${v} leaves out the counts`);
      }
    });
    await st.step("an error page in the desk carries them too", async () => {
      for (const path of ["/tickets/assigned/t_nope", "/chats/c_nope", "/admin/hours"]) {
        const { status, html } = await page(s.t, s.ana.token, path);
        assert(status === 404 || status === 403, `${path}: ${status}`);
        const title = titleOf(html);
        assert(/^\(2\) \S.* · chatdesk$/.test(title), `${path}: title "${title}"`);
        assertEquals(navCount(html, "nav-unassigned"), "1", path);
      }
    });
    await st.step("the sign-in page is no desk page: no counts", async () => {
      const { html } = await page(s.t, null, "/login");
      assertEquals(titleOf(html), "Sign in · chatdesk");
    });
  } finally {
    await s.t.close();
  }
});

Deno.test("[routes] one meaningful h1 on every page", async (st) => {
  const s = await shift();
  try {
    const all: [string, string | null, string[]][] = [
      ...deskPages(s),
      ["signed out", null, ["/login"]],
    ];
    for (const [who, token, paths] of all) {
      await st.step(`${who}: exactly one visible, non-empty h1`, async () => {
        for (const path of paths) {
          const { html } = await page(s.t, token, path);
          const found = h1s(html);
          assertEquals(found.length, 1, `${path}: h1 count`);
          const [, attrs, inner] = found[0];
          assert(!/sr-only|hidden/.test(attrs), `${path}: the h1 is hidden (${attrs})`);
          assert(words(inner).length > 1, `${path}: the h1 is empty`);
        }
      });
    }
    await st.step(
      "the ticket lists are named after their queue; an open ticket by its customer",
      async () => {
        const heading = async (path: string) =>
          words(h1s((await page(s.t, s.ana.token, path)).html)[0][2]);
        assertEquals(await heading("/tickets/unassigned"), "Unassigned tickets");
        assertEquals(await heading("/tickets/assigned"), "Assigned tickets");
        assertEquals(await heading("/tickets/closed"), "Closed tickets");
        assertEquals(await heading(`/tickets/closed/${s.closed}`), "+27820000104");
        assertEquals(await heading("/chats"), "Chats");
      },
    );
  } finally {
    await s.t.close();
  }
});

Deno.test("[routes] the department filter offers an agent its own departments only", async (st) => {
  const s = await shift();
  try {
    await st.step("an agent: its departments and No department", async () => {
      for (const queue of ["unassigned", "assigned", "closed"]) {
        const { html } = await page(s.t, s.ana.token, `/tickets/${queue}`);
        assertEquals(departmentOptions(html), [
          ["", "All departments"],
          [s.support, "Support"],
          ["none", "No department"],
        ], queue);
      }
    });
    await st.step("supervisors and admins: every department", async () => {
      for (const token of [s.sam, s.ada]) {
        const { html } = await page(s.t, token, "/tickets/unassigned");
        assertEquals(departmentOptions(html).map(([v]) => v), ["", s.sales, s.support, "none"]);
      }
    });
    await st.step("its own department filters the list", async () => {
      const { html } = await page(s.t, s.ana.token, `/tickets/unassigned?department=${s.support}`);
      assert(html.includes("Nameless waiting"));
      assert(new RegExp(`<option value="${s.support}" selected`).test(html), "not selected");
    });
    await st.step("a foreign department in the query reveals nothing", async () => {
      // The Sales ticket is there for staff (so the filter would find it).
      const staff = await page(s.t, s.sam, `/tickets/unassigned?department=${s.sales}`);
      assert(staff.html.includes("A sales question"));
      for (
        const path of [
          `/tickets/unassigned?department=${s.sales}`,
          `/tickets/unassigned?department=${s.sales}&part=list&v=x`,
          `/tickets/unassigned/${s.nameless}?department=${s.sales}`,
        ]
      ) {
        const { status, html } = await page(s.t, s.ana.token, path);
        assertEquals(status, 200, path);
        assert(!html.includes("A sales question") && !html.includes("Sol Sales"), path);
        assert(!html.includes(s.sales), `${path}: the Sales department's id is in the page`);
        assert(!html.includes(">Sales<"), `${path}: the Sales department's name is in the page`);
      }
      // The filter is not applied: the list is Ana's usual one.
      const { html } = await page(s.t, s.ana.token, `/tickets/unassigned?department=${s.sales}`);
      assert(html.includes("Nameless waiting"));
      assert(!html.includes("Nothing matches"));
    });
  } finally {
    await s.t.close();
  }
});

Deno.test("[routes] a nameless customer's address is shown once in list rows", async (st) => {
  const s = await shift();
  try {
    await st.step("ticket lists: Unassigned, Assigned (name = address), Closed", async () => {
      for (
        const [path, id, number] of [
          ["/tickets/unassigned", s.nameless, "+27820000102"],
          ["/tickets/assigned", s.assigned, "+27820000103"],
          ["/tickets/closed", s.closed, "+27820000104"],
        ]
      ) {
        const { html } = await page(s.t, s.ana.token, path);
        const row = rowAround(html, `id="t-${id}"`, "li");
        assertEquals(occurrences(words(row), number), 1, `${path}: ${words(row)}`);
        assert(!row.includes("row-from"), `${path}: the address again under the name`);
      }
    });
    await st.step("a named customer still shows name and address", async () => {
      const { html } = await page(s.t, s.sam, "/tickets/unassigned");
      const row = words(rowAround(html, `id="t-${s.salesTicket}"`, "li"));
      assert(row.includes("Sol Sales") && row.includes("+27820000101"), row);
    });
    await st.step("the chats list", async () => {
      const { html } = await page(s.t, s.ana.token, "/chats");
      const row = rowAround(html, `data-chat="${s.chatId}"`, "li");
      assertEquals(occurrences(words(row), "+27820000105"), 1, words(row));
    });
    await st.step("supervisor queues and archive tables", async () => {
      for (
        const [path, id, number] of [
          ["/supervisor/queues", s.nameless, "+27820000102"],
          ["/supervisor/queues?queue=assigned", s.assigned, "+27820000103"],
          ["/supervisor/queues?queue=closed", s.closed, "+27820000104"],
        ]
      ) {
        const { html } = await page(s.t, s.sam, path);
        const row = rowAround(html, `/supervisor/tickets/${id}"`, "tr");
        assertEquals(occurrences(words(row), number), 1, `${path}: ${words(row)}`);
      }
    });
    await st.step("the supervisor's ticket page names it by its address", async () => {
      const { html } = await page(s.t, s.sam, `/supervisor/tickets/${s.nameless}`);
      assertEquals(titleOf(html).replace(/^\(\d+\) /, ""), "Ticket from +27820000102 · chatdesk");
    });
  } finally {
    await s.t.close();
  }
});

Deno.test("[routes] each page loads htmx and its area's one script; a reply box names its help", async (st) => {
  const s = await shift();
  try {
    const scripts = async (token: string, path: string) =>
      [...(await page(s.t, token, path)).html.matchAll(/<script src="\/static\/([^"?]+)/g)].map((
        m,
      ) => m[1]);
    await st.step("Tickets and Chats: the desk's script (keyboard help included)", async () => {
      for (
        const path of ["/tickets/unassigned", "/tickets/closed", `/tickets/closed/${s.closed}`]
      ) {
        assertEquals(await scripts(s.ana.token, path), ["htmx.min.js", "desk.js"], path);
      }
      assertEquals(await scripts(s.ana.token, "/chats"), ["htmx.min.js", "desk.js"]);
    });
    await st.step(
      "a reply box names its help, which desk.js loads at the box's first use",
      async () => {
        for (const path of [`/tickets/assigned/${s.assigned}`, `/chats/${s.liveChatId}`]) {
          const { html } = await page(s.t, s.ana.token, path);
          assertEquals(await scripts(s.ana.token, path), ["htmx.min.js", "desk.js"]);
          const src = /<form[^>]*data-compose-src="(\/static\/compose\.js\?v=[^"]+)"/.exec(html);
          assert(src, `${path} names no compose.js`);
          const res = await s.t.app.request(src[1]);
          assertEquals(res.status, 200);
          assert(
            (await res.text()).includes("data-compose"),
            "the named file is the reply box's help",
          );
        }
      },
    );
    await st.step("Supervisor and Admin: the live script alone", async () => {
      assertEquals(await scripts(s.sam, "/supervisor/queues"), ["htmx.min.js", "alerts.js"]);
      assertEquals(await scripts(s.ada, "/admin/hours"), ["htmx.min.js", "alerts.js"]);
    });
  } finally {
    await s.t.close();
  }
});

Deno.test("[views] rule 33: long names and texts are cut in rows, never inside an emoji", async (st) => {
  const { cut, ROW_NAME_MAX, ROW_PREVIEW_MAX } = await import("../views/tickets.tsx");
  const { ChatLists } = await import("../views/chats.tsx");
  await st.step("the cut keeps a surrogate pair whole", () => {
    const name = `${"a".repeat(ROW_NAME_MAX - 2)}😀😀 and more`;
    const short = cut(name, ROW_NAME_MAX);
    assert(short.endsWith("…"), short);
    assert(short.length <= ROW_NAME_MAX, `${short.length}`);
    assert(!/[\uD800-\uDBFF]…$/.test(short), `a lone high surrogate before the ellipsis: ${short}`);
    assertEquals(cut("short", ROW_NAME_MAX), "short");
  });
  await st.step("chat rows cut a long name like ticket rows", () => {
    const longName = `Customer ${"x".repeat(80)}`;
    const chat = {
      id: "c1",
      customerId: "cu1",
      state: "pending" as const,
      agentId: null,
      department: null,
      createdAt: 0,
      ticketId: null,
      preview: `Hello ${"y".repeat(200)}`,
    };
    const html = String(
      ChatLists({
        view: {
          pending: [{ chat, name: longName, from: "+15550100000", channel: "sms" }],
          live: [],
          now: 1000,
        },
      }),
    );
    assert(!html.includes(longName), "the whole name is not in the row");
    assert(html.includes(cut(longName, ROW_NAME_MAX)), "the cut name is");
    // Rule 56: a waiting chat's row shows the start of what the customer wrote, cut like a ticket's.
    assert(html.includes(cut(chat.preview, ROW_PREVIEW_MAX)), "the cut first words are");
  });
});
