import assert from "node:assert/strict";
import { getAgent } from "../domain/agents.ts";
import { describeOpening, isOpenAt, isValidTimeZone, timeZones } from "../domain/business_hours.ts";
import { listDepartments } from "../domain/departments.ts";
import {
  applyAction,
  draftFromForm,
  draftFromHours,
  type HoursDraft,
  hoursFromDraft,
  parseAction,
  zoneChoices,
} from "../domain/hours_form.ts";
import { DEFAULT_SETTINGS, getSettings } from "../domain/settings.ts";
import { listTemplates } from "../domain/templates.ts";
import { SESSION_COOKIE } from "../routes/auth.ts";
import { closeBusiness, leaveMessage, type TestDesk, testDesk } from "./helpers.ts";

const utc = (iso: string) => Date.parse(iso);
const base = DEFAULT_SETTINGS.hours;

/** Builds posted fields in order, repeated names allowed. */
function form(pairs: [string, string][]): URLSearchParams {
  return new URLSearchParams(pairs);
}

/** The hours form's fields for a draft (what a browser would post), plus the button pressed. */
function hoursFields(draft: HoursDraft, op = "save"): [string, string][] {
  const out: [string, string][] = [["timeZone", draft.timeZone]];
  for (const [day, rows] of Object.entries(draft.days)) {
    for (const r of rows) out.push([`${day}.start`, r.start], [`${day}.end`, r.end]);
  }
  for (const c of draft.closures) out.push(["closure.date", c.date], ["closure.label", c.label]);
  out.push(["op", op]);
  return out;
}

function draft(
  timeZone: string,
  days: Partial<Record<keyof HoursDraft["days"], [string, string][]>>,
  closures: [string, string][] = [],
): HoursDraft {
  const all = { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] } as HoursDraft[
    "days"
  ];
  for (const [d, rows] of Object.entries(days)) {
    all[d as keyof HoursDraft["days"]] = rows!.map(([start, end]) => ({ start, end }));
  }
  return { timeZone, days: all, closures: closures.map(([date, label]) => ({ date, label })) };
}

const refused = (d: HoursDraft) => {
  const r = hoursFromDraft(d, base);
  assert.equal(r.ok, false, "expected the form to be refused");
  return r.ok ? {} : r.errors;
};
const accepted = (d: HoursDraft) => {
  const r = hoursFromDraft(d, base);
  assert.ok(r.ok, `expected acceptance, got ${JSON.stringify(!r.ok && r.errors)}`);
  return r.value;
};

Deno.test("[domain] hours form: fields to business hours and back", async (t) => {
  await t.step(
    "stored hours become rows; an end at 24:00 shows as 00:00 (a time input's midnight)",
    () => {
      const d = draftFromHours({
        timeZone: "Europe/London",
        weekly: { mon: [["09:00", "12:00"], ["13:00", "24:00"]] },
        closures: ["2026-12-25"],
        closureLabels: { "2026-12-25": "Christmas" },
      });
      assert.deepEqual(d.days.mon, [{ start: "09:00", end: "12:00" }, {
        start: "13:00",
        end: "00:00",
      }]);
      assert.deepEqual(d.days.tue, []);
      assert.deepEqual(d.closures, [{ date: "2026-12-25", label: "Christmas" }]);
    },
  );

  await t.step("an end of 00:00 is stored as 24:00, and rows round-trip", () => {
    const value = accepted(draft("UTC", { sat: [["20:00", "00:00"]], sun: [["00:00", "00:00"]] }));
    assert.deepEqual(value.weekly.sat, [["20:00", "24:00"]]);
    assert.deepEqual(value.weekly.sun, [["00:00", "24:00"]], "00:00–00:00 is the whole day");
    assert.deepEqual(draftFromHours(value).days.sat, [{ start: "20:00", end: "00:00" }]);
  });

  await t.step("posted fields are read per row, in order, with the button pressed", () => {
    const { draft: d, action } = draftFromForm(form([
      ["timeZone", " Asia/Kolkata "],
      ["mon.start", "09:00"],
      ["mon.end", "12:00"],
      ["mon.start", "13:00"],
      ["mon.end", "17:30"],
      ["closure.date", "2026-01-26"],
      ["closure.label", "Republic Day"],
      ["op", "add:tue"],
    ]));
    assert.equal(d.timeZone, "Asia/Kolkata");
    assert.deepEqual(d.days.mon, [{ start: "09:00", end: "12:00" }, {
      start: "13:00",
      end: "17:30",
    }]);
    assert.deepEqual(d.closures, [{ date: "2026-01-26", label: "Republic Day" }]);
    assert.deepEqual(action, { kind: "add", day: "tue" });
  });

  await t.step("add and remove buttons change one row and keep everything typed", () => {
    const d = draft("UTC", { mon: [["09:00", "12:00"], ["13:00", "nonsense"]] }, [[
      "2026-12-25",
      "X",
    ]]);
    const added = applyAction(d, { kind: "add", day: "mon" });
    assert.deepEqual(added.days.mon.at(-1), { start: "", end: "" });
    assert.equal(added.days.mon[1].end, "nonsense", "typed text survives");
    const removed = applyAction(d, { kind: "remove", day: "mon", index: 0 });
    assert.deepEqual(removed.days.mon, [{ start: "13:00", end: "nonsense" }]);
    assert.equal(applyAction(d, { kind: "addClosure" }).closures.length, 2);
    assert.equal(applyAction(d, { kind: "removeClosure", index: 0 }).closures.length, 0);
    assert.equal(d.days.mon.length, 2, "the draft itself is not changed");
  });

  await t.step("buttons are parsed strictly; anything unknown means save", () => {
    assert.deepEqual(parseAction("remove:fri:2"), { kind: "remove", day: "fri", index: 2 });
    assert.deepEqual(parseAction("remove:closure:0"), { kind: "removeClosure", index: 0 });
    assert.deepEqual(parseAction("add:closure"), { kind: "addClosure" });
    assert.deepEqual(parseAction("preview"), { kind: "preview" });
    for (const op of ["", "add:funday", "remove:mon:-1", "remove:mon:x", "drop"]) {
      assert.deepEqual(parseAction(op), { kind: "save" }, op);
    }
  });

  await t.step("blank rows are ignored; a half-filled row is refused on that row", () => {
    const value = accepted(draft("UTC", { mon: [["", ""], ["09:00", "17:00"]] }));
    assert.deepEqual(value.weekly.mon, [["09:00", "17:00"]]);
    const errors = refused(draft("UTC", { mon: [["09:00", ""]], tue: [["", "17:00"]] }));
    assert.match(errors["mon.0"], /both a start and an end/);
    assert.match(errors["tue.0"], /both a start and an end/);
  });

  await t.step("an interval across midnight is refused on its row, with how to split it", () => {
    const errors = refused(
      draft("UTC", { fri: [["", ""], ["09:00", "12:00"], ["22:00", "02:00"]] }),
    );
    assert.deepEqual(Object.keys(errors), ["fri.2"], "the message points at the typed row");
    assert.match(errors["fri.2"], /22:00–24:00 and next day 00:00–02:00/);
  });

  await t.step(
    "overlapping intervals are refused on the later row, whatever the typed order",
    () => {
      const errors = refused(draft("UTC", { wed: [["13:00", "18:00"], ["09:00", "14:00"]] }));
      assert.deepEqual(Object.keys(errors), ["wed.0"]);
      assert.match(errors["wed.0"], /Overlaps 09:00–14:00/);
      // Touching is not overlapping.
      accepted(draft("UTC", { wed: [["09:00", "13:00"], ["13:00", "18:00"]] }));
    },
  );

  await t.step("loose times are tidied; impossible ones refused", () => {
    const value = accepted(draft("UTC", { mon: [["9:00", "17:00:00"]] }));
    assert.deepEqual(value.weekly.mon, [["09:00", "17:00"]]);
    assert.ok(refused(draft("UTC", { mon: [["25:00", "26:00"]] }))["mon.0"]);
    assert.ok(refused(draft("UTC", { mon: [["09:00", "09:00"]] }))["mon.0"]);
  });

  await t.step("the zone must be chosen and real", () => {
    assert.match(refused(draft("", {})).timeZone, /Choose a time zone/);
    assert.match(refused(draft("Mars/Olympus", {})).timeZone, /Unknown time zone/);
    assert.match(refused(draft("+05:30", {})).timeZone, /Unknown time zone/);
  });

  await t.step("closures: real dates, a date for every label, short labels", () => {
    const errors = refused(draft("UTC", {}, [
      ["2026-02-30", ""],
      ["", "Orphan label"],
      ["2026-12-25", "x".repeat(81)],
      ["", ""],
    ]));
    assert.match(errors["closure.0"], /valid date/);
    assert.match(errors["closure.1"], /Enter the date/);
    assert.match(errors["closure.2"], /80 characters/);
    assert.equal(errors["closure.3"], undefined, "a blank closure row is ignored");
  });

  await t.step("a closure on a daylight-saving change day closes that whole local day", () => {
    // 2026-03-08: New York springs forward (a 23-hour day); open every day 09:00–17:00 local.
    const every = Object.fromEntries(
      ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, [["09:00", "17:00"]]]),
    ) as Partial<Record<keyof HoursDraft["days"], [string, string][]>>;
    const value = accepted(draft("America/New_York", every, [["2026-03-08", "DST test"]]));
    assert.deepEqual(value.closures, ["2026-03-08"]);
    assert.equal(value.closureLabels["2026-03-08"], "DST test");
    assert.equal(isOpenAt(value, utc("2026-03-08T04:59:00Z")), false, "23:59 on the 7th, local");
    assert.equal(isOpenAt(value, utc("2026-03-08T14:00:00Z")), false, "10:00 EDT on the 8th");
    assert.equal(isOpenAt(value, utc("2026-03-09T13:00:00Z")), true, "09:00 EDT on the 9th");
    assert.equal(isOpenAt(value, utc("2026-03-07T14:00:00Z")), true, "09:00 EST on the 7th");
    assert.equal(
      describeOpening(value, utc("2026-03-08T12:00:00Z")),
      "Closed — opens tomorrow 09:00 (in 1 day)",
    );
  });

  await t.step("a half-hour zone (Asia/Kolkata) opens on its own clock", () => {
    const value = accepted(draft("Asia/Kolkata", { wed: [["09:00", "17:30"]] }));
    // 2026-11-25 is a Wednesday; IST is UTC+05:30.
    assert.equal(isOpenAt(value, utc("2026-11-25T03:29:00Z")), false);
    assert.equal(isOpenAt(value, utc("2026-11-25T03:30:00Z")), true);
    assert.equal(isOpenAt(value, utc("2026-11-25T11:59:00Z")), true);
    assert.equal(isOpenAt(value, utc("2026-11-25T12:00:00Z")), false);
    assert.equal(
      describeOpening(value, utc("2026-11-25T03:00:00Z")),
      "Closed — opens today 09:00 (in 30 minutes)",
    );
    assert.equal(describeOpening(value, utc("2026-11-25T06:00:00Z")), "Open now until 17:30");
  });
});

// ---------------------------------------------------------------------------------------------
// Routes

const ORIGIN = "http://localhost";

interface PageAnswer {
  status: number;
  html: string;
  location: string | null;
  res: Response;
}

/** A browser-like client for the pages: session cookie, form posts with our Origin. */
function browser(t: TestDesk, token: string | null) {
  const headers = (extra: Record<string, string> = {}) => ({
    accept: "text/html",
    ...(token ? { cookie: `${SESSION_COOKIE}=${token}` } : {}),
    ...extra,
  });
  const answer = async (res: Response): Promise<PageAnswer> => ({
    status: res.status,
    html: await res.text(),
    location: res.headers.get("location"),
    res,
  });
  return {
    get: async (path: string, extra?: Record<string, string>) =>
      answer(await t.app.request(path, { headers: headers(extra) })),
    post: async (
      path: string,
      fields: [string, string][] | Record<string, string>,
      opts: { origin?: string | null; headers?: Record<string, string> } = {},
    ) => {
      const body = new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields));
      const extra: Record<string, string> = {
        "content-type": "application/x-www-form-urlencoded",
        ...opts.headers,
      };
      if (opts.origin !== null) extra.origin = opts.origin ?? ORIGIN;
      return answer(
        await t.app.request(path, { method: "POST", headers: headers(extra), body }),
      );
    },
  };
}

/** Reads the flash cookie a redirect set, as the next page would show it. */
function flashOf(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("chatdesk_flash="));
  // The flash is JSON, URI-encoded, then encoded again as a cookie value.
  const value = cookie?.split(";")[0].slice("chatdesk_flash=".length) ?? "";
  return decodeURIComponent(decodeURIComponent(value));
}

const ADMIN_PAGES = [
  "/admin",
  "/admin/hours",
  "/admin/agents",
  "/admin/departments",
  "/admin/texts",
  "/admin/templates",
];

Deno.test("[routes] admin pages: who may see them", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const supervisor = await desk.person("supervisor");
  const agent = await desk.person("agent");
  const template = await desk.json<{ id: string }>("POST", "/api/templates", {
    token: admin.token,
    body: { name: "hello", body: "Hi {{1}}" },
  });
  const pages = [
    ...ADMIN_PAGES,
    `/admin/agents/${agent.agent.id}`,
    `/admin/templates/${template.body.id}`,
  ];
  const posts: [string, Record<string, string>][] = [
    ["/admin/hours", { timeZone: "UTC", op: "save" }],
    ["/admin/agents", { name: "X", email: "x@test.local", password: "password-1", role: "admin" }],
    [`/admin/agents/${agent.agent.id}`, { name: "X", email: "x@test.local", role: "admin" }],
    [`/admin/agents/${agent.agent.id}/password`, { password: "password-9", confirm: "password-9" }],
    [`/admin/agents/${admin.agent.id}/active`, { active: "0" }],
    ["/admin/departments", { name: "Sales" }],
    ["/admin/texts", { outOfHours: "x" }],
    ["/admin/texts/preview", { outOfHours: "x" }],
    ["/admin/timeouts", { intakeMinutes: "5" }],
    ["/admin/templates", { name: "x", body: "y", language: "en" }],
    [`/admin/templates/${template.body.id}`, { name: "x", body: "y", language: "en" }],
    [`/admin/templates/${template.body.id}/delete`, {}],
  ];

  await t.step("an admin sees every admin page", async () => {
    const b = browser(desk, admin.token);
    for (const path of pages) {
      const page = await b.get(path);
      if (path === "/admin") {
        assert.equal(page.status, 303);
        assert.equal(page.location, "/admin/hours");
      } else {
        assert.equal(page.status, 200, path);
        assert.match(page.html, /<!DOCTYPE html>/);
        assert.match(page.html, /aria-current="page">Admin</, "the Admin tab is current");
      }
    }
  });

  await t.step("an agent and a supervisor get 403 on every admin page and form", async () => {
    for (const person of [agent, supervisor]) {
      const b = browser(desk, person.token);
      for (const path of pages) assert.equal((await b.get(path)).status, 403, path);
      for (const [path, fields] of posts) {
        assert.equal((await b.post(path, fields)).status, 403, `POST ${path}`);
      }
    }
    assert.equal((await getSettings(desk.kv)).hours.timeZone, "UTC");
    assert.equal((await getAgent(desk.kv, admin.agent.id)).active, true);
    assert.equal((await listTemplates(desk.kv)).length, 1);
  });

  await t.step("an agent gets 403 on every admin API", async () => {
    for (
      const [method, path] of [
        ["GET", "/api/settings"],
        ["PUT", "/api/settings"],
        ["GET", "/api/agents"],
        ["POST", "/api/agents"],
        ["PUT", `/api/agents/${agent.agent.id}`],
        ["DELETE", `/api/agents/${agent.agent.id}`],
        ["GET", "/api/departments"],
        ["POST", "/api/departments"],
        ["POST", "/api/templates"],
        ["PUT", `/api/templates/${template.body.id}`],
        ["DELETE", `/api/templates/${template.body.id}`],
      ]
    ) {
      const res = await desk.json(method, path, { token: agent.token, body: {} });
      assert.equal(res.status, 403, `${method} ${path}`);
    }
  });

  await t.step("signed out, pages send you to sign in", async () => {
    const page = await browser(desk, null).get("/admin/hours");
    assert.equal(page.status, 303);
    assert.equal(page.location, "/login?next=%2Fadmin%2Fhours");
  });

  await t.step(
    "a form posted from another site, or with no origin, is refused (CSRF)",
    async () => {
      const b = browser(desk, admin.token);
      for (const origin of ["https://evil.example", null]) {
        const res = await b.post("/admin/departments", { name: "Evil" }, { origin });
        assert.equal(res.status, 403);
        const hours = await b.post("/admin/hours", hoursFields(draft("Asia/Tokyo", {})), {
          origin,
        });
        assert.equal(hours.status, 403);
      }
      assert.deepEqual(await listDepartments(desk.kv), []);
      assert.equal((await getSettings(desk.kv)).hours.timeZone, "UTC");
    },
  );

  await desk.close();
});

Deno.test("[routes] admin business hours form", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);

  await t.step("the form shows the saved hours, the zone list and the preview line", async () => {
    const page = await b.get("/admin/hours");
    assert.equal(page.status, 200);
    assert.match(page.html, /<input id="timeZone" name="timeZone" list="zones" value="UTC"/);
    assert.match(page.html, /<option value="Asia\/Kolkata"><\/option>/);
    assert.match(page.html, /Open now until 17:00/);
    assert.equal((page.html.match(/name="mon.start"/g) ?? []).length, 1);
    assert.match(page.html, /name="op" value="add:sat"/);
  });

  await t.step(
    "Add hours re-renders with one more empty row and keeps what was typed",
    async () => {
      const d = draft("Europe/Berlin", { mon: [["08:00", "12:00"]] }, [["2026-12-24", "Eve"]]);
      const page = await b.post("/admin/hours", hoursFields(d, "add:mon"));
      assert.equal(page.status, 200);
      assert.equal((page.html.match(/name="mon.start"/g) ?? []).length, 2);
      assert.match(page.html, /value="Europe\/Berlin"/);
      assert.match(page.html, /value="08:00"/);
      assert.match(page.html, /value="Eve"/);
      assert.equal((await getSettings(desk.kv)).hours.timeZone, "UTC", "nothing saved");
    },
  );

  await t.step("Remove drops that row only", async () => {
    const d = draft("UTC", { tue: [["08:00", "10:00"], ["11:00", "12:00"]] });
    const page = await b.post("/admin/hours", hoursFields(d, "remove:tue:0"));
    assert.equal(page.status, 200);
    assert.equal((page.html.match(/name="tue.start"/g) ?? []).length, 1);
    assert.match(page.html, /value="11:00"/);
    assert.doesNotMatch(page.html, /value="08:00"/);
  });

  await t.step("Preview describes the typed hours without saving them", async () => {
    const d = draft("UTC", { wed: [["08:00", "20:00"]] });
    const page = await b.post("/admin/hours", hoursFields(d, "preview"));
    assert.equal(page.status, 200);
    assert.match(page.html, /Open now until 20:00/);
    assert.match(page.html, /not saved yet/);
    assert.deepEqual((await getSettings(desk.kv)).hours.weekly.wed, [["09:00", "17:00"]]);
  });

  await t.step("each refusal is shown next to its row and keeps what was typed", async () => {
    const d = draft("Mars/Base", {
      mon: [["22:00", "02:00"]],
      tue: [["09:00", "13:00"], ["12:00", "15:00"]],
      wed: [["09:00", ""]],
    }, [["2026-02-31", "Bad"]]);
    const page = await b.post("/admin/hours", hoursFields(d));
    assert.equal(page.status, 400);
    assert.match(page.html, /id="timeZone-error"[^>]*>Unknown time zone/);
    assert.match(page.html, /id="mon-0-error"[^>]*>Ends before it starts/);
    assert.match(page.html, /id="tue-1-error"[^>]*>Overlaps 09:00–13:00/);
    assert.match(page.html, /id="wed-0-error"[^>]*>Enter both a start and an end time/);
    assert.match(page.html, /id="closure-0-error"[^>]*>Not a valid date/);
    assert.match(page.html, /value="Mars\/Base"/, "the typed zone is kept");
    assert.match(page.html, /value="22:00"/);
    assert.match(page.html, /value="2026-02-31"/);
    assert.match(page.html, /aria-invalid="true"/);
    assert.match(page.html, /5 fields need attention/);
    assert.equal((await getSettings(desk.kv)).hours.timeZone, "UTC");
  });

  await t.step("Save stores the hours, redirects, and the router uses them", async () => {
    const d = draft("Asia/Kolkata", {
      mon: [["09:00", "13:00"], ["14:00", "18:00"]],
      sat: [["10:00", "00:00"]],
    }, [["2026-12-25", "Christmas"]]);
    const res = await b.post("/admin/hours", hoursFields(d));
    assert.equal(res.status, 303);
    assert.equal(res.location, "/admin/hours");
    assert.match(flashOf(res.res), /Business hours saved/);
    const { hours } = await getSettings(desk.kv);
    assert.equal(hours.timeZone, "Asia/Kolkata");
    assert.deepEqual(hours.weekly.mon, [["09:00", "13:00"], ["14:00", "18:00"]]);
    assert.deepEqual(hours.weekly.sat, [["10:00", "24:00"]]);
    assert.equal(hours.weekly.wed, undefined, "a day with no rows is closed");
    assert.deepEqual(hours.closures, ["2026-12-25"]);
    assert.equal(hours.closureLabels["2026-12-25"], "Christmas");
    // The test clock is Wednesday 10:00 UTC: closed now under the new hours (rule 4).
    const answer = await desk.inbound({ channel: "sms", from: "+15550100001", text: "hi" });
    assert.equal(answer.conversation.state, "awaiting_reply");
    assert.equal(answer.replies[0].text, DEFAULT_SETTINGS.texts.outOfHours);
    const page = await b.get("/admin/hours");
    assert.match(page.html, /value="Asia\/Kolkata"/);
    assert.match(page.html, /Closed — opens Saturday 10:00/);
  });

  await desk.close();
});

Deno.test("[routes] admin agents", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);
  const sales = await desk.department("Sales");
  const support = await desk.department("Support");
  const newAgent = (fields: Record<string, string>, departments: string[] = []) =>
    b.post("/admin/agents", [
      ...Object.entries({
        name: "Nomsa Dlamini",
        email: "nomsa@test.local",
        password: "secret-pass-1",
        role: "agent",
        ...fields,
      }),
      ...departments.map((d): [string, string] => ["departments", d]),
    ]);
  let nomsa = "";

  await t.step("creating an agent with departments", async () => {
    const res = await newAgent({}, [sales, support]);
    assert.equal(res.status, 303);
    assert.equal(res.location, "/admin/agents");
    assert.match(flashOf(res.res), /Nomsa Dlamini can now sign in/);
    const session = await desk.json<{ agent: { id: string; departments: string[] } }>(
      "POST",
      "/api/session",
      { body: { email: "nomsa@test.local", password: "secret-pass-1" } },
    );
    assert.equal(session.status, 200);
    nomsa = session.body.agent.id;
    assert.deepEqual(session.body.agent.departments.sort(), [sales, support].sort());
    const list = await b.get("/admin/agents");
    assert.match(list.html, /Nomsa Dlamini/);
    assert.match(list.html, /Sales, Support|Support, Sales/);
  });

  await t.step("each refusal keeps the form and says what is wrong", async () => {
    const cases: [Record<string, string>, string[], RegExp, number][] = [
      [{ name: "" }, [], /id="new-name-error"[^>]*>Required|Too short/, 400],
      [{ email: "not-an-email" }, [], /id="new-email-error"[^>]*>Not an e-mail address/, 400],
      [{ password: "short" }, [], /id="new-password-error"[^>]*>Too short/, 400],
      [{ role: "boss" }, [], /id="new-role-error"[^>]*>One of agent, supervisor, admin/, 400],
      [{ email: "NOMSA@test.local" }, [], /id="new-email-error"[^>]*>An agent with e-mail/, 409],
      [{ email: "x@test.local" }, ["no-such-dept"], /Unknown department/, 400],
    ];
    for (const [fields, departments, message, status] of cases) {
      const page = await newAgent({ name: "Typed Name", ...fields }, departments);
      assert.equal(page.status, status, JSON.stringify(fields));
      assert.match(page.html, message, JSON.stringify(fields));
      if (fields.name === undefined) assert.match(page.html, /value="Typed Name"/);
      assert.doesNotMatch(page.html, /secret-pass-1/, "a password is never echoed");
    }
  });

  await t.step("editing name, e-mail, role and departments", async () => {
    const res = await b.post(`/admin/agents/${nomsa}`, [
      ["name", "Nomsa D."],
      ["email", "nomsa.d@test.local"],
      ["role", "supervisor"],
      ["departments", support],
    ]);
    assert.equal(res.status, 303);
    const saved = await getAgent(desk.kv, nomsa);
    assert.equal(saved.name, "Nomsa D.");
    assert.equal(saved.email, "nomsa.d@test.local");
    assert.equal(saved.role, "supervisor");
    assert.deepEqual(saved.departments, [support]);
    const none = await b.post(`/admin/agents/${nomsa}`, {
      name: "Nomsa D.",
      email: "nomsa.d@test.local",
      role: "supervisor",
    });
    assert.equal(none.status, 303);
    assert.deepEqual((await getAgent(desk.kv, nomsa)).departments, [], "no box ticked: none");
  });

  await t.step("an edit refused keeps what was typed", async () => {
    const page = await b.post(`/admin/agents/${nomsa}`, {
      name: "Renamed",
      email: admin.agent.email,
      role: "agent",
    });
    assert.equal(page.status, 409);
    assert.match(page.html, /id="edit-email-error"/);
    assert.match(page.html, /value="Renamed"/);
    assert.equal((await getAgent(desk.kv, nomsa)).name, "Nomsa D.");
  });

  await t.step("an admin cannot remove their own admin role or deactivate themselves", async () => {
    const page = await b.post(`/admin/agents/${admin.agent.id}`, {
      name: admin.agent.name,
      email: admin.agent.email,
      role: "agent",
    });
    assert.equal(page.status, 400);
    assert.match(page.html, /cannot remove your own admin role/);
    const res = await b.post(`/admin/agents/${admin.agent.id}/active`, { active: "0" });
    assert.equal(res.status, 303);
    assert.match(flashOf(res.res), /cannot deactivate your own account/);
    const me = await getAgent(desk.kv, admin.agent.id);
    assert.equal(me.role, "admin");
    assert.equal(me.active, true);
  });

  await t.step("resetting a password", async () => {
    const mismatch = await b.post(`/admin/agents/${nomsa}/password`, {
      password: "brand-new-pass",
      confirm: "brand-new-typo",
    });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.html, /id="reset-confirm-error"[^>]*>The two passwords differ/);
    const short = await b.post(`/admin/agents/${nomsa}/password`, {
      password: "abc",
      confirm: "abc",
    });
    assert.equal(short.status, 400);
    assert.match(short.html, /id="reset-password-error"/);
    const ok = await b.post(`/admin/agents/${nomsa}/password`, {
      password: "brand-new-pass",
      confirm: "brand-new-pass",
    });
    assert.equal(ok.status, 303);
    const signIn = (password: string) =>
      desk.json("POST", "/api/session", { body: { email: "nomsa.d@test.local", password } });
    assert.equal((await signIn("brand-new-pass")).status, 200);
    assert.equal((await signIn("secret-pass-1")).status, 401);
  });

  await t.step(
    "a deactivated agent cannot sign in; their tickets stay with supervisors",
    async () => {
      const agent = await desk.person("agent", { name: "Leaving Agent" });
      await closeBusiness(desk);
      const ticket = await leaveMessage(desk, "+27820000099", ["please help"]);
      await desk.json("POST", `/api/tickets/${ticket}/accept`, { token: agent.token });
      const res = await b.post(`/admin/agents/${agent.agent.id}/active`, { active: "0" });
      assert.equal(res.status, 303);
      assert.match(flashOf(res.res), /deactivated and cannot sign in/);
      const signIn = await desk.json<{ error: { message: string } }>("POST", "/api/session", {
        body: { email: agent.agent.email, password: "password-123" },
      });
      assert.equal(signIn.status, 401);
      // The same answer as any failed sign-in: nothing tells an account's state (no enumeration).
      assert.equal(signIn.body.error.message, "Wrong e-mail or password.");
      assert.equal((await desk.json("GET", "/api/agents/me", { token: agent.token })).status, 401);
      const supervisor = await desk.person("supervisor");
      const seen = await desk.json<{ status: string; assignedTo: string }>(
        "GET",
        `/api/tickets/${ticket}`,
        { token: supervisor.token },
      );
      assert.equal(seen.body.assignedTo, agent.agent.id);
      const queue = await browser(desk, supervisor.token).get(
        `/supervisor/queues?queue=assigned&agent=${agent.agent.id}`,
      );
      assert.match(queue.html, new RegExp(`/supervisor/tickets/${ticket}`));
      assert.match(queue.html, /Leaving Agent \(deactivated\)/);
      const page = await b.get(`/admin/agents/${agent.agent.id}`);
      assert.match(page.html, /Holds 1 assigned ticket\./);
      const back = await b.post(`/admin/agents/${agent.agent.id}/active`, { active: "1" });
      assert.equal(back.status, 303);
      const again = await desk.json("POST", "/api/session", {
        body: { email: agent.agent.email, password: "password-123" },
      });
      assert.equal(again.status, 200);
    },
  );

  await t.step("an unknown agent is a 404 page", async () => {
    assert.equal((await b.get("/admin/agents/nope")).status, 404);
  });

  await desk.close();
});

Deno.test("[routes] admin departments", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);

  await t.step("creating a department", async () => {
    const res = await b.post("/admin/departments", { name: " Sales " });
    assert.equal(res.status, 303);
    assert.deepEqual((await listDepartments(desk.kv)).map((d) => d.name), ["Sales"]);
    assert.match((await b.get("/admin/departments")).html, /value="Sales"/);
  });

  await t.step("a blank or duplicate name is refused next to the field", async () => {
    const blank = await b.post("/admin/departments", { name: "" });
    assert.equal(blank.status, 400);
    assert.match(blank.html, /id="dept-name-error"/);
    const dup = await b.post("/admin/departments", { name: "sales" });
    assert.equal(dup.status, 409);
    assert.match(dup.html, /id="dept-name-error"[^>]*>A department named &quot;sales&quot;/);
    assert.match(dup.html, /value="sales"/);
  });

  await t.step("renaming, and a refused rename shown on its row", async () => {
    const [sales] = await listDepartments(desk.kv);
    const res = await b.post(`/admin/departments/${sales.id}`, { name: "Sales & Billing" });
    assert.equal(res.status, 303);
    assert.match(flashOf(res.res), /Renamed Sales to Sales & Billing/);
    await b.post("/admin/departments", { name: "Support" });
    const dup = await b.post(`/admin/departments/${sales.id}`, { name: "Support" });
    assert.equal(dup.status, 409);
    assert.match(dup.html, new RegExp(`id="rename-${sales.id}-error"`));
    assert.equal(
      (await listDepartments(desk.kv)).find((d) => d.id === sales.id)?.name,
      "Sales & Billing",
    );
  });

  await t.step("deactivating and reactivating", async () => {
    const [sales] = await listDepartments(desk.kv);
    assert.equal(
      (await b.post(`/admin/departments/${sales.id}/active`, { active: "0" })).status,
      303,
    );
    assert.equal((await listDepartments(desk.kv)).find((d) => d.id === sales.id)?.active, false);
    assert.match((await b.get("/admin/departments")).html, /Inactive/);
    assert.equal(
      (await b.post(`/admin/departments/${sales.id}/active`, { active: "1" })).status,
      303,
    );
    assert.equal((await listDepartments(desk.kv)).find((d) => d.id === sales.id)?.active, true);
  });

  await desk.close();
});

Deno.test("[routes] admin texts and timeouts", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);
  const texts = { ...DEFAULT_SETTINGS.texts };

  await t.step("the page shows all six texts and a preview of them", async () => {
    const page = await b.get("/admin/texts");
    for (const label of ["Out-of-hours notice", "No-agent notice", "YES/NO prompt"]) {
      assert.match(page.html, new RegExp(label));
    }
    assert.equal((page.html.match(/<textarea/g) ?? []).length, 6);
    assert.match(page.html, /id="texts-preview"/);
    assert.match(page.html, /hx-post="\/admin\/texts\/preview"/);
  });

  await t.step("saving texts; the next customer gets them", async () => {
    const res = await b.post("/admin/texts", {
      ...texts,
      outOfHours: "We are closed — back at 9.",
      op: "save",
    });
    assert.equal(res.status, 303);
    await closeBusiness(desk);
    const answer = await desk.inbound({ channel: "sms", from: "+15550100002", text: "hi" });
    assert.equal(answer.replies[0].text, "We are closed — back at 9.");
  });

  await t.step(
    "an empty or too long text is refused next to it, keeping the others typed",
    async () => {
      const page = await b.post("/admin/texts", {
        ...texts,
        outOfHours: "Typed but not saved",
        noAgent: "",
        prompt: "x".repeat(1001),
        op: "save",
      });
      assert.equal(page.status, 400);
      assert.match(page.html, /id="text-noAgent-error"[^>]*>Must not be empty/);
      assert.match(page.html, /id="text-prompt-error"[^>]*>At most 1000 characters/);
      assert.match(page.html, /Typed but not saved/);
      assert.equal((await getSettings(desk.kv)).texts.outOfHours, "We are closed — back at 9.");
    },
  );

  await t.step("the Preview button shows typed texts without saving (no JavaScript)", async () => {
    const page = await b.post("/admin/texts", {
      ...texts,
      yesAck: "Go ahead <b>now</b>",
      op: "preview",
    });
    assert.equal(page.status, 200);
    assert.match(page.html, /Preview: not saved yet/);
    assert.match(page.html, /Go ahead &lt;b&gt;now&lt;\/b&gt;/, "customer-facing text is escaped");
    assert.equal((await getSettings(desk.kv)).texts.yesAck, DEFAULT_SETTINGS.texts.yesAck);
  });

  await t.step("the live preview (htmx) returns just the preview fragment", async () => {
    const res = await b.post(
      "/admin/texts/preview",
      { ...texts, endAck: "<script>alert(1)</script>", noGoodbye: "" },
      { headers: { "hx-request": "true" } },
    );
    assert.equal(res.status, 200);
    assert.match(res.html, /^<div id="texts-preview"/);
    assert.doesNotMatch(res.html, /<script>/);
    assert.match(res.html, /&lt;script&gt;/);
    assert.match(
      res.html,
      new RegExp(DEFAULT_SETTINGS.texts.noGoodbye),
      "a blank shows the saved text",
    );
  });

  await t.step("saving timeouts", async () => {
    const res = await b.post("/admin/timeouts", {
      intakeMinutes: "15",
      sessionMinutes: "20",
      pendingMinutes: "3",
      archiveDays: "30",
      whatsappWindowHours: "24",
    });
    assert.equal(res.status, 303);
    assert.deepEqual((await getSettings(desk.kv)).timeouts, {
      intakeMinutes: 15,
      sessionMinutes: 20,
      pendingMinutes: 3,
      archiveDays: 30,
      whatsappWindowHours: 24,
    });
  });

  await t.step("timeouts out of bounds or not whole numbers are refused each by name", async () => {
    const page = await b.post("/admin/timeouts", {
      intakeMinutes: "0",
      sessionMinutes: "1441",
      pendingMinutes: "2.5",
      archiveDays: "ten",
      whatsappWindowHours: "",
    });
    assert.equal(page.status, 400);
    assert.match(
      page.html,
      /id="timeout-intakeMinutes-error"[^>]*>Must be a whole number from 1 to 1440/,
    );
    assert.match(page.html, /id="timeout-sessionMinutes-error"/);
    assert.match(page.html, /id="timeout-pendingMinutes-error"/);
    assert.match(
      page.html,
      /id="timeout-archiveDays-error"[^>]*>Must be a whole number from 1 to 3650/,
    );
    assert.match(page.html, /id="timeout-whatsappWindowHours-error"/);
    assert.match(page.html, /value="ten"/, "what was typed is kept");
    assert.equal((await getSettings(desk.kv)).timeouts.intakeMinutes, 15);
  });

  await desk.close();
});

Deno.test("[routes] admin message templates", async (t) => {
  const desk = await testDesk();
  const admin = await desk.person("admin");
  const b = browser(desk, admin.token);

  await t.step("creating a template with parameters", async () => {
    const res = await b.post("/admin/templates", {
      name: "order_update",
      body: "Hello {{1}}, your order {{2}} has shipped.",
      language: "en_US",
    });
    assert.equal(res.status, 303);
    const [t1] = await listTemplates(desk.kv);
    assert.equal(t1.name, "order_update");
    assert.equal(t1.language, "en_US");
    const page = await b.get("/admin/templates");
    assert.match(page.html, /<mark class="param">\{\{1\}\}<\/mark>/);
  });

  await t.step("each refusal is shown next to its field", async () => {
    const cases: [Record<string, string>, RegExp, number][] = [
      [{ name: "Order Update" }, /id="new-tname-error"[^>]*>Use a-z, 0-9 and _/, 400],
      [{ body: "Hi {{2}}" }, /id="new-tbody-error"[^>]*>Number parameters/, 400],
      [{ body: "" }, /id="new-tbody-error"/, 400],
      [{ language: "english" }, /id="new-tlang-error"[^>]*>Like en or en_US/, 400],
      [{ name: "order_update", language: "en_US" }, /id="new-tname-error"[^>]*>A template/, 409],
    ];
    for (const [fields, message, status] of cases) {
      const page = await b.post("/admin/templates", {
        name: "typed_name",
        body: "Typed {{1}} body",
        language: "en",
        ...fields,
      });
      assert.equal(page.status, status, JSON.stringify(fields));
      assert.match(page.html, message, JSON.stringify(fields));
    }
    assert.equal((await listTemplates(desk.kv)).length, 1);
  });

  await t.step("editing and deleting", async () => {
    const [t1] = await listTemplates(desk.kv);
    const bad = await b.post(`/admin/templates/${t1.id}`, {
      name: t1.name,
      body: "Only {{3}}",
      language: "en",
    });
    assert.equal(bad.status, 400);
    assert.match(bad.html, /Only \{\{3\}\}/, "the typed body is kept");
    const res = await b.post(`/admin/templates/${t1.id}`, {
      name: "order_shipped",
      body: "Hi {{1}}",
      language: "en",
    });
    assert.equal(res.status, 303);
    assert.equal((await listTemplates(desk.kv))[0].name, "order_shipped");
    const gone = await b.post(`/admin/templates/${t1.id}/delete`, {});
    assert.equal(gone.status, 303);
    assert.deepEqual(await listTemplates(desk.kv), []);
    assert.equal((await b.get(`/admin/templates/${t1.id}`)).status, 404);
  });

  await desk.close();
});

Deno.test("[domain] hours form: the zone list", async (t) => {
  await t.step("current names are offered beside the runtime's old aliases, all valid", () => {
    const zones = zoneChoices(timeZones(), "UTC");
    assert.ok(zones.includes("Asia/Kolkata"));
    assert.ok(zones.includes("Europe/Kyiv"));
    assert.ok(zones.includes("UTC"));
    assert.ok(zones.every(isValidTimeZone));
  });
  await t.step("a stored zone missing from the list is added", () => {
    assert.ok(zoneChoices(["UTC"], "Etc/GMT+5").includes("Etc/GMT+5"));
  });
});
