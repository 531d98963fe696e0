/**
 * [e2e] The hostile-text sweep. A desk where every stored free-text field holds hostile text
 * (markup, script URLs, template syntax, a 4,000-character word, bidi overrides, zero-width and
 * control characters, astral emoji, htmx attribute injection, SSE framing) is visited page by
 * page in headless Chromium as an agent, a supervisor and an admin, as a visitor on `/webchat`
 * and through the widget on a shop of another origin, while live updates (SSE) carry more hostile
 * text in. On every page: no injected script ran (`window.__xss`), no dialog, no console error
 * (CSP reports included), no request the markup asked for (`x`, `/api/x`, `/logout`), no 5xx,
 * the text shown as text (exactly, where a whole text is shown), no text spilling out of its box
 * or widening the page, and axe-core finds nothing. A first step proves the watches can see a
 * script that does run.
 *
 * What the desk refused while seeding (a 4xx naming the field) is printed, not failed: a name
 * over its limit, a control character in a secret, a template name that is not `a-z0-9_`. The
 * refused value is then stored cut to the limit (or without its control characters), so every
 * field still holds hostile text. `CHATDESK_SOAK=1` adds more texts and runs axe-core on every
 * visit instead of once per page.
 *
 * Screenshots of the tickets list and a ticket page (agent, 1280 and 360 px) go to ./.shots/;
 * `CHATDESK_SWEEP_SHOTS=1` takes one of every visit, `CHATDESK_SWEEP_TIMINGS=1` prints each
 * visit's time, `CHATDESK_SWEEP_REQUESTS=1` every request the pages made.
 */
import assert from "node:assert/strict";
import { CHANNEL_FACTS } from "../domain/channels.ts";
import { archiveClosed } from "../domain/tickets.ts";
import { getSettings, updateSettings } from "../domain/settings.ts";
import { INBOUND_TOKEN, type TestDesk } from "./helpers.ts";
import {
  axeViolations,
  type Browser,
  launchBrowser,
  type Page,
  PASSWORD,
  screenshot,
  startServer,
  startShop,
  TIMEOUT,
} from "./browser.ts";
import { SOAK } from "./soak.ts";
import { metaBody, metaMessage, metaSignature, PHONE_NUMBER_ID } from "./provider_webhooks.ts";

// ---------------------------------------------------------------------------------------------
// The texts. Each carries a marker (zqNN) that the pages are searched for.

const BASE_TEXTS = [
  "zq01 <script>window.__xss=1</script>",
  'zq02 "><img src=x onerror="window.__xss=1">',
  "javascript:window.__xss=1//zq03",
  "zq04 {{customer.name}}{{7*7}}",
  "zq05 '-alert(1)-'",
  "zq06 " + "W".repeat(3995),
  "zq07 \u202Egnp.exe\u202C tail",
  "zq08 zero\u200Bwidth\u200C\u200D\uFEFFjoin\u2060end",
  "zq09 🎉 👩‍👩‍👧‍👦 𝕏𝔸 𠜎 🇿🇦",
  "zq10 nul\u0000bel\u0007esc\u001B[31mdel\u007F",
  "zq11 </textarea><svg onload=window.__xss=1>",
  'zq12 " hx-get="/api/x" hx-trigger="load" x="',
  "zq13 \n\ndata: x\n\nevent: list\n",
  "zq14 ' hx-post='/logout' hx-trigger='load' x='",
];

/** More in a soak: other sinks' classics, double escaping, CR framing, floods of marks. */
const SOAK_TEXTS = [
  'zq15 <iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
  'zq16 <a href="javascript:window.__xss=1">click</a>',
  "zq17 <style>*{display:none!important}</style>",
  'zq18 <base href="http://evil.invalid/"><meta http-equiv="refresh" content="0;url=/logout">',
  "zq19 &lt;script&gt;window.__xss=1&lt;/script&gt; &amp; &#x3C;",
  "zq20 \r\n\r\nevent: signed-out\r\ndata: x\r\n\r\n",
  "zq21 Z\u0334\u0321\u031b a\u0338l\u0337g\u0336o" + "\u0301".repeat(300),
  "zq22 " + "😀".repeat(1990),
  "zq23 <details open ontoggle=window.__xss=1>x</details><input autofocus onfocus=window.__xss=1>",
  "zq24 ${7*7} #{7*7} <%= 7*7 %> {% raw %}",
  "zq25 \u2066isolate\u2069 \u061C\u200F\u200E",
  "zq26 <!-- --> ]]> <![CDATA[x]]>",
  "zq27 <form action=/logout method=post><button>go</button></form>",
  "zq28 %3Cscript%3Ewindow.__xss=1%3C/script%3E",
  "zq29 " + "<b>".repeat(300),
  "zq30 \uD800 lone surrogate \uDFFF",
];

const TEXTS = SOAK ? [...BASE_TEXTS, ...SOAK_TEXTS] : BASE_TEXTS;
const N = TEXTS.length;
const markerOf = (text: string) => /zq\d\d/.exec(text)![0];
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Cuts to `max` UTF-16 units without splitting a surrogate pair. */
function cutTo(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]) ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * What the DOM holds for a stored text, as the HTML parser keeps it: CR LF and CR become LF, a NUL
 * is dropped from text (and becomes U+FFFD in a form field), a lone surrogate is U+FFFD.
 */
function asParsed(text: string, where: "text" | "field" = "text"): string {
  return text.replace(/\r\n?/g, "\n").replaceAll("\u0000", where === "text" ? "" : "\uFFFD")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

// ---------------------------------------------------------------------------------------------
// Seeding through the API, recording what is refused.

interface Answer {
  status: number;
  body: unknown;
}

interface Seeded {
  tokens: Record<"agent" | "supervisor" | "admin", string>;
  emails: Record<"agent" | "supervisor" | "admin", string>;
  departments: string[];
  extraAgent: string;
  template: string;
  cannedReply: string;
  /** The agent's assigned ticket with intake still open: every text as a message, note, about. */
  ticketA: string;
  customerA: string;
  /** The agent's assigned ticket it replied to (so a live chat with its customer). */
  ticketB: string;
  chatB: string;
  /** Closed and archived. */
  ticketClosed: string;
  ticketArchived: string;
  fromA: string;
  fromB: string;
  /** The agent's assigned ticket that rule 7 closes during the sweep. */
  fromE: string;
  /** Texts stored, by where they are shown. */
  unassignedNames: string[];
  closedName: string;
  archivedName: string;
  messagesA: string[];
  notesA: string[];
  aboutA: string;
  repliesB: string[];
  pendingNames: string[];
  chatMessagesB: string[];
  webchatTitle: string;
  webchatGreeting: string;
}

const APP_SECRET = 'zq02 "><img src=x onerror="window.__xss=1">';

async function seed(
  t: TestDesk,
  shopUrl: string,
  refusals: string[],
  serverErrors: string[],
): Promise<Seeded> {
  const check = (what: string, res: Answer) => {
    if (res.status >= 500) serverErrors.push(`seeding ${what}: ${res.status}`);
  };
  /** Sends `text`; if refused, records why and tries it cut to `max`, then without controls. */
  const store = async (
    what: string,
    text: string,
    max: number,
    send: (value: string) => Promise<Answer>,
  ): Promise<string> => {
    const cut = cutTo(text, max);
    // deno-lint-ignore no-control-regex
    const tries = [text, cut, cut.replace(CONTROL, ""), cut.replace(/[\u0000-\u001f\u007f]/g, "")];
    for (const value of new Set(tries)) {
      const res = await send(value);
      check(what, res);
      if (res.status < 300) return value;
      const error = (res.body as { error?: { code?: string } } | null)?.error;
      if (![400, 409, 413, 422].includes(res.status) || !error?.code) {
        serverErrors.push(`${what} ${markerOf(text)}: ${res.status} without a clear error`);
      }
      refusals.push(
        `${what} ${markerOf(text)}${value === text ? "" : " (retried)"}: ` +
          `${res.status} ${error?.code}`,
      );
    }
    throw new Error(`${what} ${markerOf(text)} refused in every form`);
  };
  /** Sends a value the desk must refuse (a name outside a-z0-9_, a script URL); records why. */
  const refuse = async (what: string, text: string, send: () => Promise<Answer>) => {
    const res = await send();
    check(what, res);
    const error = (res.body as { error?: { code?: string } } | null)?.error;
    if (res.status < 400 || res.status >= 500 || !error?.code) {
      serverErrors.push(`${what} ${markerOf(text)}: ${res.status}, not a clear refusal`);
    }
    refusals.push(`${what} ${markerOf(text)}: ${res.status} ${error?.code}`);
  };
  const api = (method: string, path: string, token: string, body?: unknown) =>
    t.json(method, path, { token, body });
  const inbound = (body: Record<string, unknown>) =>
    api("POST", "/api/inbound", INBOUND_TOKEN, body);
  const ok = async <T>(what: string, answer: Promise<Answer>): Promise<T> => {
    const res = await answer;
    check(what, res);
    assert(res.status < 300, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
  };

  // People and departments (names ≤ 80).
  const admin = await t.person("admin", { name: TEXTS[2] });
  const departments: string[] = [];
  for (const text of TEXTS) {
    let id = "";
    await store("department name", text, 80, async (name) => {
      const res = await api("POST", "/api/departments", admin.token, { name });
      id = (res.body as { id: string }).id;
      return res;
    });
    departments.push(id);
  }
  // An agent belongs to at most 10 departments: tickets use those ten.
  const agent = await t.person("agent", { name: TEXTS[0], departments: departments.slice(0, 10) });
  const supervisor = await t.person("supervisor", { name: TEXTS[1] });
  const extraAgents = await Promise.all(TEXTS.map(async (text, i) => {
    let id = "";
    await store("agent name", text, 80, async (name) => {
      const res = await api("POST", "/api/agents", admin.token, {
        name,
        email: `hostile${i}@test.local`,
        password: PASSWORD,
        role: i % 3 === 0 ? "supervisor" : "agent",
        departments: [departments[i]],
      });
      id = (res.body as { id: string }).id;
      return res;
    });
    return id;
  }));

  // Templates (names are a-z0-9_: every hostile name is refused), canned replies.
  for (const text of TEXTS) {
    await refuse(
      "template name",
      text,
      () => api("POST", "/api/templates", admin.token, { name: text, body: "x" }),
    );
  }
  let template = "";
  for (const [i, text] of TEXTS.entries()) {
    await store("template body", text, 1024, async (body) => {
      const res = await api("POST", "/api/templates", admin.token, { name: `hostile_${i}`, body });
      template ||= (res.body as { id: string }).id;
      return res;
    });
  }
  let cannedReply = "";
  for (const text of TEXTS) {
    const body = `${text} {{customer.name}} / {{agent.name}}`;
    await store("canned reply title", text, 80, async (title) => {
      const res = await api("POST", "/api/canned-replies", admin.token, {
        title,
        body: cutTo(body, 4096),
        department: null,
      });
      cannedReply ||= (res.body as { id: string }).id;
      return res;
    });
  }

  // Auto-reply texts: every text tried in one, then one text in each.
  const textKeys = ["outOfHours", "noAgent", "prompt", "yesAck", "noGoodbye", "endAck"];
  for (const text of TEXTS) {
    await store(
      "auto-reply text",
      text,
      1000,
      (v) => api("PUT", "/api/settings", admin.token, { texts: { outOfHours: v } }),
    );
  }
  for (const [k, key] of textKeys.entries()) {
    const text = TEXTS[[0, 1, 10, 11, 12, 13][k]];
    await store(
      `auto-reply ${key}`,
      text,
      1000,
      (v) => api("PUT", "/api/settings", admin.token, { texts: { [key]: v } }),
    );
  }
  // Business hours: closure labels (≤ 80); closed all week while tickets are made.
  const labels: string[] = [];
  for (const [i, text] of TEXTS.entries()) {
    const date = `2027-01-${String(i + 1).padStart(2, "0")}`;
    labels.push(
      await store("closure label", text, 80, (label) =>
        api("PUT", "/api/settings", admin.token, {
          hours: { timeZone: "UTC", weekly: {}, closures: [{ date, label }] },
        })),
    );
  }
  const closures = labels.map((label, i) => ({
    date: `2027-01-${String(i + 1).padStart(2, "0")}`,
    label,
  }));
  const closedHours = { timeZone: "UTC", weekly: {}, closures };
  const openHours = {
    timeZone: "UTC",
    weekly: Object.fromEntries(
      ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, [["00:00", "24:00"]]]),
    ),
    closures,
  };
  await ok("closed hours", api("PUT", "/api/settings", admin.token, { hours: closedHours }));

  // Channels: web chat texts and origins, provider secrets (write-only), a script URL.
  let webchatTitle = "";
  let webchatGreeting = "";
  for (const text of TEXTS) {
    webchatTitle = await store(
      "web chat title",
      text,
      60,
      (title) => api("PUT", "/api/channels/webchat", admin.token, { title }),
    );
    webchatGreeting = await store(
      "web chat greeting",
      text,
      500,
      (greeting) => api("PUT", "/api/channels/webchat", admin.token, { greeting }),
    );
  }
  webchatTitle = await store(
    "web chat title",
    TEXTS[1],
    60,
    (title) => api("PUT", "/api/channels/webchat", admin.token, { title }),
  );
  webchatGreeting = await store(
    "web chat greeting (every text joined, from)",
    TEXTS.join(" "),
    500,
    (greeting) => api("PUT", "/api/channels/webchat", admin.token, { greeting }),
  );
  await refuse(
    "web chat origin",
    TEXTS[2],
    () => api("PUT", "/api/channels/webchat", admin.token, { allowedOrigins: [TEXTS[2]] }),
  );
  await ok(
    "web chat",
    api("PUT", "/api/channels/webchat", admin.token, {
      enabled: true,
      allowedOrigins: [shopUrl],
      color: "#0a7d4f",
    }),
  );
  for (const text of TEXTS) {
    await store(
      "WhatsApp access token",
      text,
      4096,
      (accessToken) => api("PUT", "/api/channels/whatsapp", admin.token, { accessToken }),
    );
    await store(
      "Twilio auth token",
      text,
      512,
      (authToken) => api("PUT", "/api/channels/twilio", admin.token, { authToken }),
    );
    await store(
      "API channel secret",
      text,
      512,
      (secret) => api("PUT", "/api/channels/api", admin.token, { secret }),
    );
  }
  await refuse(
    "API webhook URL",
    TEXTS[2],
    () => api("PUT", "/api/channels/api", admin.token, { webhookUrl: TEXTS[2] }),
  );
  await ok(
    "WhatsApp",
    api("PUT", "/api/channels/whatsapp", admin.token, {
      phoneNumberId: PHONE_NUMBER_ID,
      appSecret: APP_SECRET,
      verifyToken: TEXTS[4],
      enabled: true,
    }),
  );
  await ok(
    "Twilio",
    api("PUT", "/api/channels/twilio", admin.token, {
      accountSid: `AC${"a".repeat(32)}`,
      fromNumber: "+14155550000",
      enabled: true,
    }),
  );
  await ok(
    "API channel",
    api("PUT", "/api/channels/api", admin.token, { webhookUrl: "https://gateway.example/hook" }),
  );

  // Tickets: one customer per text, named with it, in its department (closed: YES/NO asked).
  const from = (n: number) => `+2782${String(1000000 + n).slice(1)}`;
  const leave = async (
    n: number,
    name: string,
    texts: string[],
    department: string,
    end = true,
  ): Promise<{ ticketId: string; customerId: string; name: string }> => {
    const channel = n % 2 ? "sms" : "whatsapp";
    const base = { channel, from: from(n), department };
    let customerId = "";
    const stored = await store("customer name", name, 100, async (v) => {
      const res = await inbound({ ...base, name: v, text: texts[0] });
      customerId = (res.body as { customerId: string }).customerId;
      return res;
    });
    const yes = await ok<{ ticketId: string }>("YES", inbound({ ...base, text: "YES" }));
    for (const text of texts.slice(1)) {
      await store("message text", text, 4096, (v) => inbound({ ...base, text: v }));
    }
    if (end) await ok("//end", inbound({ ...base, text: "//end" }));
    return { ticketId: yes.ticketId, customerId, name: stored };
  };
  const unassigned: { ticketId: string; name: string }[] = [];
  for (const [i, text] of TEXTS.entries()) {
    unassigned.push(await leave(i, text, [text, TEXTS[(i + 1) % N]], departments[i % 10]));
  }

  // Ticket A: every text as a message, a note and the about; intake left open.
  const a = await leave(100, TEXTS[3], TEXTS, departments[0], false);
  await ok("accept A", api("POST", `/api/tickets/${a.ticketId}/accept`, agent.token));
  const notesA: string[] = [];
  for (const text of TEXTS) {
    notesA.push(
      await store(
        "ticket note",
        text,
        4096,
        (v) => api("POST", `/api/tickets/${a.ticketId}/notes`, agent.token, { text: v }),
      ),
    );
  }
  for (const text of TEXTS) {
    await store(
      "customer about",
      text,
      2000,
      (about) => api("PATCH", `/api/customers/${a.customerId}`, agent.token, { about }),
    );
    await store(
      "customer name edit",
      text,
      100,
      (name) => api("PATCH", `/api/customers/${a.customerId}`, agent.token, { name }),
    );
  }
  const aboutA = await store(
    "customer about (every text joined, from)",
    TEXTS.join("\n"),
    2000,
    (about) => api("PATCH", `/api/customers/${a.customerId}`, agent.token, { about }),
  );
  await ok(
    "name A",
    api("PATCH", `/api/customers/${a.customerId}`, agent.token, { name: TEXTS[3] }),
  );

  // Ticket B: the agent replies with every text (a live chat starts with the first).
  const b = await leave(101, TEXTS[4], [TEXTS[4], TEXTS[9]], departments[5]); // the longest department name
  await ok("accept B", api("POST", `/api/tickets/${b.ticketId}/accept`, agent.token));
  const repliesB: string[] = [];
  for (const text of TEXTS) {
    repliesB.push(
      await store(
        "ticket reply",
        text,
        // B writes by SMS (an odd n): its replies stop at Twilio's 1,600 (rule 45).
        CHANNEL_FACTS.sms.maxLength,
        (v) => api("POST", `/api/tickets/${b.ticketId}/reply`, agent.token, { text: v }),
      ),
    );
  }
  const customerB = await ok<{ conversation: { chatId?: string } }>(
    "customer B",
    api("GET", `/api/customers/${b.customerId}`, agent.token),
  );
  const chatB = customerB.conversation.chatId!;
  assert(chatB, "ticket B's reply started a live chat");

  // Closed and archived tickets; ticket E stays assigned for rule 7 during the sweep.
  const [archived, closed] = [unassigned.splice(5, 1)[0], unassigned.splice(5, 1)[0]];
  for (const ticket of [archived, closed]) {
    await ok("accept", api("POST", `/api/tickets/${ticket.ticketId}/accept`, agent.token));
    await ok("close", api("POST", `/api/tickets/${ticket.ticketId}/close`, agent.token));
    if (ticket === archived) await archiveClosed(t.desk, 0);
  }
  const e = await leave(102, TEXTS[8], [TEXTS[8]], departments[0]);
  await ok("accept E", api("POST", `/api/tickets/${e.ticketId}/accept`, agent.token));

  // A WhatsApp customer named by its provider profile (a signed Meta webhook).
  for (const text of ["zq00 hello", "YES", TEXTS[7]]) {
    const raw = metaBody({
      contacts: [{ profile: { name: cutTo(TEXTS[12], 100) }, wa_id: "27821990003" }],
      messages: [metaMessage("27821990003", text, {
        id: `wamid.hostile.${text.length}.${text.slice(0, 4)}`,
      })],
    });
    const signature = metaSignature(APP_SECRET, raw);
    const res = await t.call("POST", "/webhooks/whatsapp", {
      raw,
      headers: { "x-hub-signature-256": signature },
    });
    await res.body?.cancel();
    assert(res.status === 200, `Meta webhook: ${res.status}`);
  }

  // A web chat visitor leaves every text.
  const visitor = await ok<{ token: string }>(
    "visitor",
    api("POST", "/webchat/api/visitors", ""),
  );
  const say = (text: string, i: number) =>
    store(
      "web chat message",
      text,
      4096,
      (v) => api("POST", "/webchat/api/messages", visitor.token, { text: v, clientId: `c${i}` }),
    );
  await say(TEXTS[0], 0);
  await say("YES", 1);
  for (const [i, text] of TEXTS.entries()) {
    // A visitor may send 30 messages a minute (rule 30): the soak's texts take two minutes.
    if (i % 25 === 24) t.clock.advance(61_000);
    await say(text, i + 2);
  }

  // Chats: open, the agent online; two pending chats and the live chat with B get texts.
  await ok("open hours", api("PUT", "/api/settings", admin.token, { hours: openHours }));
  await ok(
    "online",
    api("PUT", "/api/agents/me/status", agent.token, { status: "online" }),
  );
  const pendingNames: string[] = [];
  for (const [k, i] of [11, 13].entries()) {
    let customerId = "";
    pendingNames.push(
      await store("customer name", TEXTS[i], 100, async (name) => {
        const res = await inbound({
          channel: "whatsapp",
          from: from(110 + k),
          name,
          text: TEXTS[i],
          department: departments[0],
        });
        customerId = (res.body as { customerId: string }).customerId;
        return res;
      }),
    );
    const customer = await ok<{ conversation: { state: string; chatId?: string } }>(
      "pending customer",
      api("GET", `/api/customers/${customerId}`, admin.token),
    );
    assert(customer.conversation.state === "pending", "a pending chat");
    for (const text of TEXTS.slice(0, 4)) {
      await store(
        "chat note",
        text,
        4096,
        (v) =>
          api("POST", `/api/chats/${customer.conversation.chatId}/notes`, agent.token, { text: v }),
      );
    }
  }
  const chatMessagesB: string[] = [];
  for (const text of TEXTS) {
    chatMessagesB.push(
      await store(
        "chat message",
        text,
        CHANNEL_FACTS.sms.maxLength,
        (v) => api("POST", `/api/chats/${chatB}/messages`, agent.token, { text: v }),
      ),
    );
    await store(
      "chat note",
      text,
      4096,
      (v) => api("POST", `/api/chats/${chatB}/notes`, agent.token, { text: v }),
    );
  }

  return {
    tokens: { agent: agent.token, supervisor: supervisor.token, admin: admin.token },
    emails: {
      agent: agent.agent.email,
      supervisor: supervisor.agent.email,
      admin: admin.agent.email,
    },
    departments,
    extraAgent: extraAgents[1],
    template,
    cannedReply,
    ticketA: a.ticketId,
    customerA: a.customerId,
    ticketB: b.ticketId,
    chatB,
    ticketClosed: closed.ticketId,
    ticketArchived: archived.ticketId,
    fromA: from(100),
    fromB: from(101),
    fromE: from(102),
    unassignedNames: unassigned.map((u) => u.name),
    closedName: closed.name,
    archivedName: archived.name,
    messagesA: TEXTS,
    notesA,
    aboutA,
    repliesB,
    pendingNames,
    chatMessagesB,
    webchatTitle,
    webchatGreeting,
  };
}

// ---------------------------------------------------------------------------------------------
// Watching pages.

type Role = "agent" | "supervisor" | "admin";

/** What a page must show; `live` says what the sweep writes while it is open. */
interface Visit {
  /** One name per page, whatever the role (axe runs once per name). */
  name: string;
  path: string;
  roles: readonly Role[];
  status?: number;
  markers?: (role: Role) => string[];
  /** Texts that must be in this element's text exactly (as the HTML parser keeps them). */
  verbatim?: { selector: string; texts: string[] }[];
  /** Markers a visible element must show (shadow trees included, unlike `markers`). */
  visible?: string[];
  /** Form fields that must hold these values exactly. */
  values?: { selector: string; value: string }[];
  live?: "ticket" | "chat" | "append" | "chatMessage" | "rule7";
  /** More to do on the page (fill a form, insert a canned reply). */
  act?: (page: Page) => Promise<void>;
  shot?: string;
}

interface Watch {
  problems: string[];
  requests: string[];
  /** Allowed console errors during the current visit (a 404 page logs its own 404). */
  allow: RegExp | null;
  visit: string;
}

function watchPage(page: Page, w: Watch, origins: string[]) {
  page.setDefaultTimeout(TIMEOUT);
  page.on("dialog", (d) => {
    w.problems.push(`${w.visit}: a ${d.type()} dialog opened: ${d.message()}`);
    void d.dismiss().catch(() => {});
  });
  page.on("console", (m) => {
    if (m.type() !== "error" && !/Content.Security.Policy/i.test(m.text())) return;
    if (w.allow?.test(m.text())) return;
    // A page without its own icon (the framed web chat preview, opened alone) asks for one.
    if (m.location().url.endsWith("/favicon.ico")) return;
    w.problems.push(`${w.visit}: console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.problems.push(`${w.visit}: page error: ${e}`));
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol === "data:") return;
    w.requests.push(`${w.visit}: ${r.method()} ${url.pathname}${url.search}`);
    const path = url.pathname;
    const bad = !origins.includes(url.origin) || path === "/logout" || path === "/api/x" ||
      /\/x$/.test(path) || path.includes("evil");
    if (bad) w.problems.push(`${w.visit}: unexpected request ${r.method()} ${r.url()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 500) w.problems.push(`${w.visit}: ${r.status()} from ${r.url()}`);
  });
}

/** Polls an expression through the DevTools protocol (the pages' CSP forbids string eval). */
async function until(page: Page, expression: string, what: string, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await page.evaluate(expression)) return;
    await new Promise((r) => setTimeout(r, 40));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Which of these markers the page shows neither as text nor in a form field. */
const missing = (page: Page, markers: string[]) => {
  const wanted = JSON.stringify(markers);
  return page.evaluate(`(() => {
    const text = document.body.innerText;
    const values = [...document.querySelectorAll("input, textarea, select")].map((e) => e.value);
    return ${wanted}.filter((m) => !text.includes(m) && !values.some((v) => v.includes(m)));
  })()`) as Promise<string[]>;
};

/**
 * Layout broken by long text: the page scrolling sideways, a scroll box wider than itself, or a
 * box whose text spills out of it (over its neighbours).
 */
const overflows = (page: Page) =>
  page.evaluate(`(() => {
    const out = [];
    const name = (el) => el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className;
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) out.push("the page (" + root.scrollWidth + " px)");
    for (const el of document.body.querySelectorAll("*")) {
      const style = getComputedStyle(el);
      const x = style.overflowX;
      if (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.clientWidth === 0) continue;
      // Not drawn (in a closed <details>, hidden): nothing to spill over.
      if (!el.checkVisibility()) continue;
      if (el.scrollWidth <= el.clientWidth + 1) continue;
      if (x === "auto" || x === "scroll") {
        out.push(name(el) + " scrolls (" + el.scrollWidth + " > " + el.clientWidth + " px)");
      } else if (x === "visible") {
        out.push(name(el) + " spills (" + el.scrollWidth + " > " + el.clientWidth + " px)");
      }
    }
    return out;
  })()`) as Promise<string[]>;

const countOf = (page: Page) =>
  page.evaluate(`Number((/^\\((\\d+)\\)/.exec(document.title) || [])[1] ?? -1)`) as Promise<
    number
  >;

// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "[e2e] hostile text everywhere: every page, every role, live updates, no script runs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(s) {
    const started = Date.now();
    const server = await startServer();
    const { url, t } = server;
    const shop = startShop(url);
    let browser: Browser | null = null;
    const refusals: string[] = [];
    const serverErrors: string[] = [];
    // Shared by every page's watch (the roles browse at the same time).
    const problems: string[] = [];
    const requests: string[] = [];
    const watch = (): Watch => ({ problems, requests, allow: null, visit: "" });
    try {
      const seeded = await seed(t, shop.url, refusals, serverErrors);
      const { tokens } = seeded;
      const seededAt = Date.now();
      browser = await launchBrowser();
      const origins = [url, shop.url];
      let live = 0;
      const inbound = async (body: Record<string, unknown>) => {
        const res = await t.call("POST", "/api/inbound", { token: INBOUND_TOKEN, body });
        await res.body?.cancel();
        assert(res.status === 200, `live inbound: ${res.status}`);
      };
      const hostileName = (k: number) => cutTo(`live${k} ${TEXTS[k % N]}`, 100);
      const setHours = async (open: boolean) => {
        const weekly = open
          ? Object.fromEntries(
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, [["00:00", "24:00"]]]),
          )
          : {};
        const { hours } = await getSettings(t.kv);
        await updateSettings(t.kv, { hours: { ...hours, weekly } });
      };

      // One live write at a time: a new ticket closes the desk for a moment.
      let lock: Promise<unknown> = Promise.resolve();
      const writeLive = (kind: Visit["live"]): Promise<string> => {
        const run = lock.then(() => write(kind));
        lock = run.catch(() => {});
        return run;
      };
      /** Writes hostile text the open page should receive live; returns what to wait for. */
      const write = async (kind: Visit["live"]): Promise<string> => {
        const k = ++live;
        const marker = `live${k}`;
        const from = `+2783${String(1000000 + k).slice(1)}`;
        const text = `${marker} ${TEXTS[k % N]}`;
        switch (kind) {
          case "ticket":
            await setHours(false);
            await inbound({
              channel: "sms",
              from,
              name: hostileName(k),
              text,
              // The department with the longest name: its badge is in the new row.
              department: seeded.departments[5],
            });
            await inbound({ channel: "sms", from, text: "YES" });
            await setHours(true);
            return marker;
          case "append":
            await inbound({ channel: "whatsapp", from: seeded.fromA, text });
            return marker;
          case "chatMessage":
            await inbound({ channel: "sms", from: seeded.fromB, text });
            return marker;
          case "rule7": {
            const answer = await t.json<{ customerId: string }>("POST", "/api/inbound", {
              token: INBOUND_TOKEN,
              body: { channel: "whatsapp", from: seeded.fromE, text },
            });
            const customer = await t.json<{ conversation: { chatId: string } }>(
              "GET",
              `/api/customers/${answer.body.customerId}`,
              { token: tokens.supervisor },
            );
            const accept = await t.call(
              "POST",
              `/api/chats/${customer.body.conversation.chatId}/accept`,
              { token: tokens.supervisor },
            );
            await accept.body?.cancel();
            assert(accept.status === 200, `rule 7 accept: ${accept.status}`);
            return markerOf(TEXTS[8]);
          }
          default:
            await inbound({
              channel: "whatsapp",
              from,
              name: hostileName(k),
              text,
              department: seeded.departments[0],
            });
            return marker;
        }
      };

      const everyone: Role[] = ["agent", "supervisor", "admin"];
      const staff: Role[] = ["supervisor", "admin"];
      const admins: Role[] = ["admin"];
      const q = encodeURIComponent(TEXTS[1]);
      const visits: Visit[] = [
        {
          name: "unassigned",
          path: "/tickets/unassigned",
          roles: everyone,
          markers: () => seeded.unassignedNames.map(markerOf),
          live: "ticket",
          shot: "hostile-tickets-list",
        },
        {
          name: "unassigned search",
          path: `/tickets/unassigned?q=${q}`,
          roles: everyone,
          values: [{ selector: "input[name=q]", value: TEXTS[1] }],
        },
        {
          name: "assigned",
          path: "/tickets/assigned",
          roles: everyone,
          markers: (role) => role === "agent" ? [markerOf(TEXTS[3]), markerOf(TEXTS[4])] : [],
          live: "rule7",
        },
        {
          name: "ticket A",
          path: `/tickets/assigned/${seeded.ticketA}`,
          roles: everyone,
          verbatim: [
            { selector: "#conversation", texts: seeded.messagesA },
            { selector: "#notes", texts: seeded.notesA },
          ],
          values: [{ selector: "#customer-about", value: seeded.aboutA }],
          live: "append",
          shot: "hostile-ticket",
          act: insertCannedReply,
        },
        {
          name: "ticket B",
          path: `/tickets/assigned/${seeded.ticketB}`,
          roles: everyone,
          verbatim: [{ selector: "#conversation", texts: seeded.repliesB }],
          live: "chat",
        },
        {
          name: "closed",
          path: "/tickets/closed",
          roles: everyone,
          markers: () => [markerOf(seeded.closedName)],
          live: "chat",
        },
        {
          name: "closed ticket",
          path: `/tickets/closed/${seeded.ticketClosed}`,
          roles: everyone,
          markers: () => [markerOf(seeded.closedName)],
          live: "chat",
        },
        {
          name: "chats",
          path: "/chats",
          roles: everyone,
          markers: () => seeded.pendingNames.map(markerOf),
          live: "chat",
        },
        {
          name: "chat B",
          path: `/chats/${seeded.chatB}`,
          roles: everyone,
          verbatim: [{ selector: "#chat-messages", texts: seeded.chatMessagesB }],
          live: "chatMessage",
        },
        {
          name: "not found",
          path: `/tickets/assigned/${encodeURIComponent(TEXTS[0])}`,
          roles: everyone,
          status: 404,
        },
        { name: "supervisor", path: "/supervisor", roles: staff, live: "chat" },
        {
          name: "supervisor queues",
          path: "/supervisor/queues",
          roles: staff,
          markers: () => seeded.unassignedNames.slice(0, 4).map(markerOf),
          live: "chat",
        },
        {
          name: "supervisor queues search",
          path: `/supervisor/queues?q=${q}`,
          roles: staff,
          values: [{ selector: "input[name=q]", value: TEXTS[1] }],
        },
        {
          name: "archive",
          path: "/supervisor/archive",
          roles: staff,
          markers: () => [markerOf(seeded.archivedName)],
          live: "chat",
        },
        {
          name: "supervisor ticket",
          path: `/supervisor/tickets/${seeded.ticketA}`,
          roles: staff,
          verbatim: [{ selector: "main", texts: seeded.messagesA }],
          live: "chat",
        },
        { name: "transcripts", path: "/supervisor/transcripts", roles: staff, live: "chat" },
        {
          name: "hours",
          path: "/admin/hours",
          roles: admins,
          markers: () => TEXTS.map(markerOf),
          live: "chat",
        },
        {
          name: "agents",
          path: "/admin/agents",
          roles: admins,
          markers: () => TEXTS.map(markerOf),
          live: "chat",
        },
        { name: "agent", path: `/admin/agents/${seeded.extraAgent}`, roles: admins, live: "chat" },
        {
          name: "departments",
          path: "/admin/departments",
          roles: admins,
          markers: () => TEXTS.map(markerOf),
          live: "chat",
        },
        {
          name: "texts",
          path: "/admin/texts",
          roles: admins,
          markers: () => [0, 1, 10, 11, 12, 13].map((i) => markerOf(TEXTS[i])),
          live: "chat",
          act: previewTexts,
        },
        {
          name: "templates",
          path: "/admin/templates",
          roles: admins,
          markers: () => TEXTS.map(markerOf),
          live: "chat",
        },
        {
          name: "template",
          path: `/admin/templates/${seeded.template}`,
          roles: admins,
          values: [{ selector: "textarea[name=body]", value: cutTo(TEXTS[0], 1024) }],
          live: "chat",
        },
        {
          name: "canned replies",
          path: "/admin/canned-replies",
          roles: admins,
          markers: () => TEXTS.map(markerOf),
          live: "chat",
        },
        {
          name: "canned reply",
          path: `/admin/canned-replies/${seeded.cannedReply}`,
          roles: admins,
          markers: () => [markerOf(TEXTS[0])],
          live: "chat",
        },
        {
          name: "integrations",
          path: "/admin/integrations",
          roles: admins,
          values: [
            { selector: "#webchat-title", value: seeded.webchatTitle },
            { selector: "#webchat-greeting", value: seeded.webchatGreeting },
          ],
          live: "chat",
          act: refusedWebhookUrl,
        },
        {
          name: "web chat preview",
          path: `/webchat/preview?${new URLSearchParams({
            title: TEXTS[11],
            greeting: `${TEXTS[0]} ${TEXTS[13]}`,
            color: "#0a7d4f",
          })}`,
          roles: admins,
          visible: [markerOf(TEXTS[11]), markerOf(TEXTS[0])],
        },
      ];

      const axeDone = new Set<string>();
      const timings: string[] = [];
      const visit = async (page: Page, w: Watch, role: Role, v: Visit) => {
        w.visit = `${role} ${v.name}`;
        w.allow = v.status === 404 ? /status of 404/ : null;
        const began = Date.now();
        const stream = v.live
          ? page.waitForResponse((r) => new URL(r.url()).pathname === "/events")
          : null;
        const res = await page.goto(url + v.path);
        const status = res?.status() ?? 0;
        if (status !== (v.status ?? 200)) w.problems.push(`${w.visit}: status ${status}`);
        for (const marker of await missing(page, v.markers?.(role) ?? [])) {
          w.problems.push(`${w.visit}: ${marker} not shown`);
        }
        for (const marker of v.visible ?? []) {
          if (!(await page.getByText(marker).first().isVisible())) {
            w.problems.push(`${w.visit}: ${marker} not visible`);
          }
        }
        for (const { selector, texts } of v.verbatim ?? []) {
          const shown = await page.locator(selector).first().textContent() ?? "";
          for (const text of texts) {
            if (!shown.includes(asParsed(text))) {
              w.problems.push(`${w.visit}: ${selector} lacks ${markerOf(text)} exactly as stored`);
            }
          }
        }
        for (const { selector, value } of v.values ?? []) {
          const held = await page.locator(selector).first().inputValue();
          if (held !== asParsed(value, "field")) {
            w.problems.push(`${w.visit}: ${selector} holds ${JSON.stringify(held.slice(0, 60))}`);
          }
        }
        if (stream) {
          await stream;
          if (v.live !== "rule7" || role === "agent") {
            await until(page, `/^\\(\\d+\\)/.test(document.title)`, `${w.visit}: counts`);
          }
          const before = await countOf(page);
          const kind = v.live === "rule7" && role !== "agent" ? "chat" : v.live;
          const marker = await writeLive(kind);
          const where = kind === "ticket"
            ? "#queue-list"
            : kind === "append"
            ? "#conversation"
            : kind === "chatMessage"
            ? "#chat-messages"
            : kind === "rule7"
            ? "#notices"
            : v.name === "chats"
            ? "main"
            : null;
          if (where) {
            await page.locator(where).getByText(marker).first().waitFor({ state: "visible" })
              .catch(() => w.problems.push(`${w.visit}: live ${marker} never shown in ${where}`));
          }
          if (kind === "ticket" || kind === "chat") {
            await until(
              page,
              `Number((/^\\((\\d+)\\)/.exec(document.title) || [])[1]) > ${before}`,
              `${w.visit}: the count`,
            )
              .catch((e) => w.problems.push(String(e)));
          }
        }
        if (v.shot && role === "agent") {
          // What the agent sees first (the whole page of a 4,000-character note is very tall).
          await Deno.mkdir("./.shots", { recursive: true });
          await page.evaluate("window.scrollTo(0, 0)");
          await page.setViewportSize({ width: 1280, height: 900 });
          await page.screenshot({ path: `./.shots/${v.shot}-${role}-1280.png` });
          await page.setViewportSize({ width: 360, height: 800 });
          await page.screenshot({ path: `./.shots/${v.shot}-${role}-360.png` });
          await page.setViewportSize({ width: 1280, height: 800 });
        }
        if (v.act) {
          // A refused form answers 400, which Chromium logs.
          w.allow = /status of 400/;
          await v.act(page);
          w.allow = null;
        }
        if (Deno.env.get("CHATDESK_SWEEP_SHOTS")) await screenshot(page, `hostile-${w.visit}`);
        for (const o of await overflows(page)) w.problems.push(`${w.visit}: overflows: ${o}`);
        if (SOAK || !axeDone.has(v.name)) {
          axeDone.add(v.name);
          for (const a of await axeViolations(page)) w.problems.push(`${w.visit}: axe ${a}`);
        }
        if (await page.evaluate("window.__xss !== undefined")) {
          w.problems.push(`${w.visit}: injected script ran`);
        }
        timings.push(`${w.visit} ${Date.now() - began} ms`);
      };

      await s.step(
        "the watches see markup that does run (so their silence means something)",
        async () => {
          const seen: string[] = [];
          const context = await browser!.newContext();
          const w: Watch = { problems: seen, requests: [], allow: null, visit: "control" };
          for (const at of [`${url}/login`, shop.url]) {
            const page = await context.newPage();
            watchPage(page, w, origins);
            await page.goto(at);
            await page.evaluate(
              `document.body.insertAdjacentHTML("beforeend", ${JSON.stringify(BASE_TEXTS[1])})`,
            );
            await until(
              page,
              `performance.getEntriesByType("resource").some((e) => e.name.endsWith("/x"))`,
              "the img",
            );
            await page.waitForTimeout(100);
            if (at === shop.url) {
              // No CSP on the shop: the handler runs, and the check below must notice it.
              assert(
                await page.evaluate("window.__xss === 1"),
                "the shop ran the injected handler",
              );
            }
          }
          await context.close();
          const has = (re: RegExp) => seen.some((p) => re.test(p));
          assert(
            has(/unexpected request GET .*\/x$/),
            `no request to x noticed: ${seen.join("; ")}`,
          );
          assert(has(/Content Security Policy/), `no CSP report noticed: ${seen.join("; ")}`);
        },
      );

      await s.step(
        "an agent, a supervisor and an admin at once, every page each may open",
        async () => {
          // Four browsers at once: the admin's pages are shared by two of them (each signed in).
          const adminOnly = (v: Visit) => v.roles.length === 1;
          const workers: [Role, (v: Visit) => boolean][] = [
            ["agent", () => true],
            ["supervisor", () => true],
            ["admin", (v) => !adminOnly(v)],
            ["admin", adminOnly],
          ];
          await Promise.all(workers.map(async ([role, mine], i) => {
            const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
            const page = await context.newPage();
            const w = watch();
            watchPage(page, w, origins);
            await signIn(page, url, seeded.emails[role], w, i === 0);
            for (const v of visits.filter((v) => v.roles.includes(role) && mine(v))) {
              await visit(page, w, role, v);
            }
            await context.close();
          }));
          assert(problems.length === 0, problems.join("\n"));
        },
      );

      await s.step("a visitor on /webchat and through the widget on another site", async () => {
        const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
        for (const where of ["/webchat", "the shop"] as const) {
          const page = await context.newPage();
          const w = watch();
          watchPage(page, w, origins);
          w.visit = `visitor on ${where}`;
          await visitorChat(page, where === "/webchat" ? `${url}/webchat` : shop.url, t, tokens, w);
          for (const o of await overflows(page)) w.problems.push(`${w.visit}: overflows: ${o}`);
          for (const a of await axeViolations(page)) w.problems.push(`${w.visit}: axe ${a}`);
          if (await page.evaluate("window.__xss !== undefined")) {
            w.problems.push(`${w.visit}: injected script ran`);
          }
        }
        await context.close();
        assert(problems.length === 0, problems.join("\n"));
      });

      await s.step("nothing asked for by the markup was requested; no 5xx anywhere", () => {
        assert(serverErrors.length === 0, serverErrors.join("\n"));
        assert(problems.length === 0, problems.join("\n"));
        assert(requests.length > 0, "requests were recorded");
      });
      console.log(
        `hostile sweep: ${N} texts, ${requests.length} requests seen, ` +
          `seeded in ${seededAt - started} ms, all in ${Date.now() - started} ms\n` +
          `refused while seeding (${refusals.length}):\n  ${
            [...new Set(refusals)].sort().join("\n  ")
          }`,
      );
      if (Deno.env.get("CHATDESK_SWEEP_TIMINGS")) {
        const { default: process } = await import("node:process");
        const cpu = process.cpuUsage();
        console.log(`deno cpu: ${Math.round((cpu.user + cpu.system) / 1000)} ms`);
        console.log(timings.join("\n"));
      }
      if (Deno.env.get("CHATDESK_SWEEP_REQUESTS")) console.log(requests.join("\n"));
    } finally {
      await browser?.close();
      await shop.close();
      await server.close();
    }
  },
});

/** Signs in through /login with a script URL as `next`, after a refused hostile e-mail. */
async function signIn(page: Page, url: string, email: string, w: Watch, axe: boolean) {
  w.visit = `sign-in as ${email}`;
  // The refused sign-in answers 401, which Chromium logs.
  w.allow = /status of 401/;
  await page.goto(`${url}/login?next=${encodeURIComponent("javascript:window.__xss=1//zq03")}`);
  // The browser would refuse it as an e-mail address: the server is what is tested.
  await page.evaluate(`document.querySelector("input[name=email]").form.noValidate = true`);
  await page.fill("input[name=email]", `"><img src=x onerror="window.__xss=1">@x.io`);
  await page.fill("input[name=password]", "wrong-password-1");
  await page.click("button[type=submit]");
  await page.waitForSelector("text=Wrong e-mail or password");
  if (axe || SOAK) {
    for (const a of await axeViolations(page)) w.problems.push(`${w.visit}: axe ${a}`);
  }
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", PASSWORD);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith("/login")),
    page.click("button[type=submit]"),
  ]);
  const at = new URL(page.url());
  if (at.origin !== url) w.problems.push(`${w.visit}: sent to ${page.url()}`);
  if (await page.evaluate("window.__xss !== undefined")) {
    w.problems.push(`${w.visit}: injected script ran`);
  }
  w.allow = null;
}

/** Ticket page: the hostile canned reply goes into the reply box as text, placeholders kept. */
async function insertCannedReply(page: Page) {
  const select = page.locator("#reply-text-canned");
  if (!(await select.count())) return;
  await select.selectOption({ index: 1 });
  await page.click("[data-insert]");
  await until(page, `document.querySelector("#reply-text").value.includes("zq")`, "the insert");
}

/** Texts page: typing hostile text refreshes the htmx preview with it, as text. */
async function previewTexts(page: Page) {
  await page.fill("#text-outOfHours", `preview ${BASE_TEXTS[10]} ${BASE_TEXTS[11]}`);
  await page.locator("#texts-preview").getByText("preview zq11").first().waitFor();
}

/** Integrations: a script URL as webhook URL is refused and shown back in the field as typed. */
async function refusedWebhookUrl(page: Page) {
  const field = page.locator("#api-webhookUrl");
  if (!(await field.count())) throw new Error("no #api-webhookUrl field on the page");
  await field.fill(BASE_TEXTS[2]);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/admin/integrations/api")),
    field.press("Enter"),
  ]);
  await page.waitForLoadState();
  const held = await page.locator("#api-webhookUrl").inputValue();
  assert(held === BASE_TEXTS[2], `the refused URL is shown back: ${held}`);
}

/** A visitor writes hostile text; the desk answers with hostile text over the stream. */
async function visitorChat(
  page: Page,
  at: string,
  t: TestDesk,
  tokens: Record<Role, string>,
  w: Watch,
) {
  await page.goto(at);
  const root = at.endsWith("/webchat") ? "#chatdesk-webchat" : "chatdesk-chat";
  if (root === "chatdesk-chat") {
    await page.locator(`${root} .go`).click();
  }
  const box = page.locator(`${root} textarea`);
  await box.waitFor();
  const said = `${w.visit} ${BASE_TEXTS[w.visit.length % 2 ? 0 : 10]}`;
  await box.fill(said);
  await box.press("Enter");
  await page.locator(`${root} .log .m[data-id]`).getByText(said.slice(0, 20)).first().waitFor();
  // The desk takes the chat and answers with hostile text; it arrives over the stream.
  const chats = await t.json<{ chats: { id: string; createdAt: string }[] }>(
    "GET",
    "/api/chats?state=pending",
    { token: tokens.admin },
  );
  const chat = chats.body.chats.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1)!;
  await t.call("POST", `/api/chats/${chat.id}/accept`, { token: tokens.admin });
  const answer = `desk ${BASE_TEXTS[1]} ${BASE_TEXTS[13]}`;
  const sent = await t.call("POST", `/api/chats/${chat.id}/messages`, {
    token: tokens.admin,
    body: { text: answer },
  });
  await sent.body?.cancel();
  assert(sent.status === 201, `desk message: ${sent.status}`);
  await page.locator(`${root} .log .m[data-id]`).getByText("desk zq02").first().waitFor();
  const texts = await page.locator(`${root} .log .m`).allTextContents();
  for (const text of [said, answer]) {
    if (!texts.some((x) => x.includes(asParsed(text)))) {
      w.problems.push(`${w.visit}: ${markerOf(text)} not shown exactly`);
    }
  }
}
