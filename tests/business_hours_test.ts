import assert from "node:assert/strict";
import {
  type BusinessHours,
  DEFAULT_HOURS,
  describeOpening,
  type Interval,
  isOpenAt,
  isValidTimeZone,
  localDate,
  nextChangeAt,
  parseBusinessHours,
  startOfLocalDay,
  timeZones,
  type Weekday,
  WEEKDAYS,
} from "../domain/business_hours.ts";
import { Temporal, temporalSource } from "../domain/temporal.ts";

const HOUR = 3_600_000;
const utc = (iso: string) => Temporal.Instant.from(iso).epochMilliseconds;
/** Epoch ms of a local wall time ("2026-03-09T09:00") in a zone. */
const local = (tz: string, wall: string) =>
  Temporal.PlainDateTime.from(wall).toZonedDateTime(tz).epochMilliseconds;
const hours = (
  timeZone: string,
  weekly: Partial<Record<Weekday, Interval[]>>,
  closures: string[] = [],
): BusinessHours => ({ timeZone, weekly, closures, closureLabels: {} });
const everyDay = (iv: Interval[]) => Object.fromEntries(WEEKDAYS.map((d) => [d, iv]));
const weekdays = (iv: Interval[]) => Object.fromEntries(WEEKDAYS.slice(0, 5).map((d) => [d, iv]));
const errorsOf = (input: unknown) => {
  const r = parseBusinessHours(input);
  assert.equal(r.ok, false, `expected refusal of ${JSON.stringify(input)}`);
  return r.ok ? {} : r.errors;
};
const valueOf = (input: unknown, base?: BusinessHours) => {
  const r = parseBusinessHours(input, base);
  assert.ok(r.ok, `expected acceptance, got ${JSON.stringify(!r.ok && r.errors)}`);
  return r.value;
};

// 2026-03-02 is a Monday; 2026-03-08 and 2026-11-01 are the US DST Sundays, 2026-03-29 the EU one.
Deno.test("[domain] business hours: open or closed at an instant (rule 22)", async (t) => {
  await t.step("the default is UTC, Monday to Friday 09:00–17:00", () => {
    assert.equal(DEFAULT_HOURS.timeZone, "UTC");
    assert.deepEqual(DEFAULT_HOURS.weekly, weekdays([["09:00", "17:00"]]));
    assert.deepEqual(DEFAULT_HOURS.closures, []);
  });

  await t.step("the opening minute is open and the closing minute is closed", () => {
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-02T08:59:59.999Z")), false);
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-02T09:00:00Z")), true);
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-02T16:59:59.999Z")), true);
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-02T17:00:00Z")), false);
  });

  await t.step("a day missing from the week is closed all day", () => {
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-07T12:00:00Z")), false);
    assert.equal(isOpenAt(DEFAULT_HOURS, utc("2026-03-08T12:00:00Z")), false);
  });

  await t.step("several intervals a day leave the lunch break closed", () => {
    const h = hours("UTC", { mon: [["09:00", "12:00"], ["13:00", "17:00"]] });
    assert.equal(isOpenAt(h, utc("2026-03-02T11:59:00Z")), true);
    assert.equal(isOpenAt(h, utc("2026-03-02T12:00:00Z")), false);
    assert.equal(isOpenAt(h, utc("2026-03-02T12:59:00Z")), false);
    assert.equal(isOpenAt(h, utc("2026-03-02T13:00:00Z")), true);
    assert.equal(isOpenAt(h, utc("2026-03-02T17:00:00Z")), false);
  });

  await t.step("an interval ending 24:00 runs to the start of the next local day", () => {
    const h = hours("UTC", { sat: [["20:00", "24:00"]] });
    assert.equal(isOpenAt(h, utc("2026-03-07T23:59:59.999Z")), true);
    assert.equal(isOpenAt(h, utc("2026-03-08T00:00:00Z")), false);
  });

  await t.step("a closure date closes the whole local day and only that day", () => {
    const h = hours("UTC", weekdays([["09:00", "17:00"]]), ["2026-03-02"]);
    assert.equal(isOpenAt(h, utc("2026-03-02T12:00:00Z")), false);
    assert.equal(isOpenAt(h, utc("2026-03-03T12:00:00Z")), true);
  });

  await t.step("a closure on the 23-hour spring-forward day closes exactly that local day", () => {
    const h = hours("America/New_York", everyDay([["00:00", "24:00"]]), ["2026-03-08"]);
    assert.equal(isOpenAt(h, utc("2026-03-08T04:59:59Z")), true); // Mar 7 23:59 EST
    assert.equal(isOpenAt(h, utc("2026-03-08T05:00:00Z")), false); // Mar 8 00:00 EST
    assert.equal(isOpenAt(h, utc("2026-03-09T03:59:59Z")), false); // Mar 8 23:59 EDT
    assert.equal(isOpenAt(h, utc("2026-03-09T04:00:00Z")), true); // Mar 9 00:00 EDT
    assert.equal(nextChangeAt(h, utc("2026-03-08T12:00:00Z")), utc("2026-03-09T04:00:00Z"));
  });

  await t.step("a closure on the 25-hour fall-back day closes exactly that local day", () => {
    const h = hours("America/New_York", everyDay([["00:00", "24:00"]]), ["2026-11-01"]);
    assert.equal(isOpenAt(h, utc("2026-11-01T03:59:59Z")), true); // Oct 31 23:59 EDT
    assert.equal(isOpenAt(h, utc("2026-11-01T04:00:00Z")), false); // Nov 1 00:00 EDT
    assert.equal(isOpenAt(h, utc("2026-11-02T04:30:00Z")), false); // Nov 1 23:30 EST
    assert.equal(isOpenAt(h, utc("2026-11-02T05:00:00Z")), true); // Nov 2 00:00 EST
    assert.equal(nextChangeAt(h, utc("2026-11-01T12:00:00Z")), utc("2026-11-02T05:00:00Z"));
  });
});

Deno.test("[domain] business hours: daylight saving does not shift opening hours", async (t) => {
  await t.step("Europe/London opens at 09:00 local before and after the March change", () => {
    const h = hours("Europe/London", weekdays([["09:00", "17:00"]]));
    const friday = utc("2026-03-27T09:00:00Z"); // GMT
    const monday = utc("2026-03-30T08:00:00Z"); // 09:00 BST
    assert.equal(monday - (friday + 3 * 24 * HOUR), -HOUR);
    assert.equal(nextChangeAt(h, utc("2026-03-27T08:00:00Z")), friday);
    assert.equal(nextChangeAt(h, utc("2026-03-27T17:00:00Z")), monday);
    assert.equal(isOpenAt(h, monday - 1), false);
    assert.equal(isOpenAt(h, monday), true);
    assert.equal(isOpenAt(h, utc("2026-03-30T16:00:00Z")), false); // 17:00 BST
  });

  await t.step("America/New_York opens at 09:00 local across both changes", () => {
    const h = hours("America/New_York", weekdays([["09:00", "17:00"]]));
    const [marFri, marMon] = [utc("2026-03-06T14:00:00Z"), utc("2026-03-09T13:00:00Z")];
    assert.equal(marMon - (marFri + 3 * 24 * HOUR), -HOUR);
    assert.equal(nextChangeAt(h, utc("2026-03-06T22:00:00Z")), marMon);
    assert.equal(isOpenAt(h, marMon), true);
    const [octFri, novMon] = [utc("2026-10-30T13:00:00Z"), utc("2026-11-02T14:00:00Z")];
    assert.equal(novMon - (octFri + 3 * 24 * HOUR), HOUR);
    assert.equal(nextChangeAt(h, utc("2026-10-30T21:00:00Z")), novMon);
    assert.equal(isOpenAt(h, novMon - 1), false);
  });

  await t.step("a local opening time skipped by spring-forward resolves forward", () => {
    const h = hours("America/New_York", { sun: [["02:30", "04:00"]] });
    // 02:30 does not exist on 2026-03-08: it opens at 03:30 EDT (07:30Z).
    assert.equal(nextChangeAt(h, utc("2026-03-08T05:00:00Z")), utc("2026-03-08T07:30:00Z"));
    assert.equal(isOpenAt(h, utc("2026-03-08T07:29:00Z")), false);
    assert.equal(isOpenAt(h, utc("2026-03-08T07:59:00Z")), true);
    assert.equal(nextChangeAt(h, utc("2026-03-08T07:30:00Z")), utc("2026-03-08T08:00:00Z"));
  });

  await t.step("on a change day the hours before the change keep the old offset", () => {
    // Midnight is still EST (-05:00) on the spring-forward day, EDT (-04:00) on the fall-back one.
    const h = hours("America/New_York", { sun: [["00:00", "01:00"]] });
    assert.equal(nextChangeAt(h, utc("2026-03-08T00:00:00Z")), utc("2026-03-08T05:00:00Z"));
    assert.equal(nextChangeAt(h, utc("2026-03-08T05:00:00Z")), utc("2026-03-08T06:00:00Z"));
    assert.equal(nextChangeAt(h, utc("2026-11-01T00:00:00Z")), utc("2026-11-01T04:00:00Z"));
    assert.equal(nextChangeAt(h, utc("2026-11-01T04:00:00Z")), utc("2026-11-01T05:00:00Z"));
    assert.equal(localDate("America/New_York", utc("2026-11-01T03:59:00Z")), "2026-10-31");
  });

  await t.step("daily hours from 02:30 open at 03:30 EDT on the spring-forward day", () => {
    const h = hours("America/New_York", everyDay([["02:30", "04:00"]]));
    assert.equal(isOpenAt(h, utc("2026-03-08T07:29:59Z")), false);
    assert.equal(isOpenAt(h, utc("2026-03-08T07:30:00Z")), true);
    assert.equal(
      describeOpening(h, utc("2026-03-08T05:00:00Z")),
      "Closed — opens today 03:30 (in 3 hours)",
    );
    assert.equal(nextChangeAt(h, utc("2026-03-08T08:00:00Z")), utc("2026-03-09T06:30:00Z"));
  });

  await t.step("an interval ending 24:00 on a 23- or 25-hour day ends at local midnight", () => {
    const h = hours("America/New_York", { sun: [["20:00", "24:00"]] });
    assert.equal(nextChangeAt(h, utc("2026-03-09T00:00:00Z")), utc("2026-03-09T04:00:00Z"));
    assert.equal(isOpenAt(h, utc("2026-11-02T04:30:00Z")), true); // Nov 1 23:30 EST
    assert.equal(nextChangeAt(h, utc("2026-11-02T01:00:00Z")), utc("2026-11-02T05:00:00Z"));
  });

  await t.step("an interval straddling the skipped hour resolves empty on that day", () => {
    // 02:30 -> 03:30 EDT (compatible) is after 03:15, so 2026-03-08 has no opening.
    const h = hours("America/New_York", { sun: [["02:30", "03:15"]] });
    assert.equal(nextChangeAt(h, utc("2026-03-08T05:00:00Z")), utc("2026-03-15T06:30:00Z"));
  });

  await t.step("a fall-back hour repeated inside an interval stays open both times", () => {
    const h = hours("America/New_York", { sun: [["01:00", "02:00"]] });
    assert.equal(isOpenAt(h, utc("2026-11-01T05:30:00Z")), true); // 01:30 EDT
    assert.equal(isOpenAt(h, utc("2026-11-01T06:30:00Z")), true); // 01:30 EST
    assert.equal(nextChangeAt(h, utc("2026-11-01T05:00:00Z")), utc("2026-11-01T07:00:00Z"));
  });

  await t.step("Australia/Lord_Howe's half-hour change moves 09:00 by 30 minutes in UTC", () => {
    const h = hours("Australia/Lord_Howe", weekdays([["09:00", "17:00"]]));
    const before = utc("2026-03-29T22:00:00Z"); // Monday 2026-03-30 09:00 +11:00
    const after = utc("2026-04-05T22:30:00Z"); // Monday 2026-04-06 09:00 +10:30
    assert.equal(after - before - 7 * 24 * HOUR, HOUR / 2);
    assert.equal(isOpenAt(h, before), true);
    assert.equal(isOpenAt(h, after - 1), false);
    assert.equal(isOpenAt(h, after), true);
  });

  await t.step("half- and three-quarter-hour zones open on their local clock", () => {
    const kolkata = hours("Asia/Kolkata", weekdays([["09:00", "17:00"]]));
    assert.equal(isOpenAt(kolkata, utc("2026-03-02T03:29:59Z")), false);
    assert.equal(isOpenAt(kolkata, utc("2026-03-02T03:30:00Z")), true);
    assert.equal(isOpenAt(kolkata, utc("2026-03-02T11:30:00Z")), false);
    const kathmandu = hours("Asia/Kathmandu", weekdays([["09:00", "17:00"]]));
    assert.equal(isOpenAt(kathmandu, utc("2026-03-02T03:14:59Z")), false);
    assert.equal(isOpenAt(kathmandu, utc("2026-03-02T03:15:00Z")), true);
  });
});

Deno.test("[domain] business hours: the next change of open state", async (t) => {
  await t.step("an open business changes at today's closing time", () => {
    assert.equal(
      nextChangeAt(DEFAULT_HOURS, utc("2026-03-06T09:00:00Z")),
      utc("2026-03-06T17:00:00Z"),
    );
  });

  await t.step("after Friday closing the next change is Monday's opening", () => {
    assert.equal(
      nextChangeAt(DEFAULT_HOURS, utc("2026-03-06T17:00:00Z")),
      utc("2026-03-09T09:00:00Z"),
    );
  });

  await t.step("a closed Monday is skipped to Tuesday's opening", () => {
    const h = hours("UTC", weekdays([["09:00", "17:00"]]), ["2026-03-09"]);
    assert.equal(nextChangeAt(h, utc("2026-03-06T17:00:00Z")), utc("2026-03-10T09:00:00Z"));
  });

  await t.step("touching intervals and a midnight hand-over are not a change", () => {
    const h = hours("UTC", {
      mon: [["09:00", "12:00"], ["12:00", "13:00"], ["22:00", "24:00"]],
      tue: [["00:00", "02:00"]],
    });
    assert.equal(isOpenAt(h, utc("2026-03-02T12:00:00Z")), true);
    assert.equal(nextChangeAt(h, utc("2026-03-02T10:00:00Z")), utc("2026-03-02T13:00:00Z"));
    assert.equal(nextChangeAt(h, utc("2026-03-02T23:00:00Z")), utc("2026-03-03T02:00:00Z"));
  });

  await t.step("an opening followed by 400 days of closures still reports its closing", () => {
    const mondays = Array.from(
      { length: 60 },
      (_, i) => Temporal.PlainDate.from("2026-03-09").add({ weeks: i }).toString(),
    );
    const h = hours("UTC", { mon: [["09:00", "17:00"]] }, mondays);
    assert.equal(nextChangeAt(h, utc("2026-03-02T10:00:00Z")), utc("2026-03-02T17:00:00Z"));
    assert.equal(describeOpening(h, utc("2026-03-02T10:00:00Z")), "Open now until 17:00");
    assert.equal(nextChangeAt(h, utc("2026-03-02T17:00:00Z")), null);
  });

  await t.step("no opening hours, or open around the clock, never changes", () => {
    assert.equal(nextChangeAt(hours("UTC", {}), utc("2026-03-02T10:00:00Z")), null);
    const always = hours("UTC", everyDay([["00:00", "24:00"]]));
    assert.equal(nextChangeAt(always, utc("2026-03-02T10:00:00Z")), null);
  });
});

Deno.test("[domain] business hours: the admin preview sentence", async (t) => {
  await t.step("open now says until when, on the business clock", () => {
    assert.equal(
      describeOpening(DEFAULT_HOURS, utc("2026-03-02T10:00:00Z")),
      "Open now until 17:00",
    );
    const london = hours("Europe/London", weekdays([["09:00", "17:00"]]));
    assert.equal(describeOpening(london, utc("2026-06-01T15:30:00Z")), "Open now until 17:00");
  });

  await t.step("closed says the next opening day, time and distance", () => {
    const at = (iso: string) => describeOpening(DEFAULT_HOURS, utc(iso));
    assert.equal(at("2026-03-06T18:00:00Z"), "Closed — opens Monday 09:00 (in 3 days)");
    assert.equal(at("2026-03-07T09:00:00Z"), "Closed — opens Monday 09:00 (in 2 days)");
    assert.equal(at("2026-03-02T18:00:00Z"), "Closed — opens tomorrow 09:00 (in 15 hours)");
    assert.equal(at("2026-03-02T08:40:00Z"), "Closed — opens today 09:00 (in 20 minutes)");
    assert.equal(at("2026-03-02T08:59:00Z"), "Closed — opens today 09:00 (in 1 minute)");
  });

  await t.step("the opening time is shown in the business zone", () => {
    const ny = hours("America/New_York", weekdays([["09:00", "17:00"]]));
    assert.equal(
      describeOpening(ny, local("America/New_York", "2026-03-08T20:00")),
      "Closed — opens tomorrow 09:00 (in 13 hours)",
    );
  });

  await t.step("a business that never opens says so", () => {
    assert.equal(
      describeOpening(hours("UTC", {}), utc("2026-03-02T10:00:00Z")),
      "Closed — no opening hours set",
    );
  });
});

Deno.test("[domain] business hours: local days in the business zone", async (t) => {
  await t.step("the local date follows the zone, not UTC", () => {
    assert.equal(localDate("America/New_York", utc("2026-03-08T04:59:00Z")), "2026-03-07");
    assert.equal(localDate("America/New_York", utc("2026-03-08T05:00:00Z")), "2026-03-08");
    assert.equal(localDate("Asia/Kolkata", utc("2026-03-01T18:30:00Z")), "2026-03-02");
  });

  await t.step("the spring-forward day is 23 hours long", () => {
    const start = startOfLocalDay("America/New_York", utc("2026-03-08T20:00:00Z"));
    assert.equal(start, utc("2026-03-08T05:00:00Z"));
    const next = startOfLocalDay("America/New_York", utc("2026-03-09T12:00:00Z"));
    assert.equal(next - start, 23 * HOUR);
    const london = startOfLocalDay("Europe/London", utc("2026-03-29T12:00:00Z"));
    assert.equal(startOfLocalDay("Europe/London", utc("2026-03-30T12:00:00Z")) - london, 23 * HOUR);
  });

  await t.step("the fall-back day is 25 hours long", () => {
    const start = startOfLocalDay("America/New_York", utc("2026-11-01T20:00:00Z"));
    assert.equal(start, utc("2026-11-01T04:00:00Z"));
    const next = startOfLocalDay("America/New_York", utc("2026-11-02T12:00:00Z"));
    assert.equal(next - start, 25 * HOUR);
  });
});

Deno.test("[domain] business hours: validating settings input", async (t) => {
  await t.step("intervals are sorted and closures deduplicated, sorted and labelled", () => {
    const v = valueOf({
      timeZone: "europe/london",
      weekly: { mon: [["13:00", "17:00"], ["09:00", "12:00"]], sat: [] },
      closures: ["2026-12-26", { date: "2026-12-25", label: " Christmas " }, "2026-12-25"],
    });
    assert.deepEqual(v, {
      timeZone: "Europe/London",
      weekly: { mon: [["09:00", "12:00"], ["13:00", "17:00"]], sat: [] },
      closures: ["2026-12-25", "2026-12-26"],
      closureLabels: { "2026-12-25": "Christmas" },
    });
  });

  await t.step("a partial input keeps the rest from the base; a given week replaces it", () => {
    const base = hours("UTC", weekdays([["09:00", "17:00"]]), ["2026-12-25"]);
    const tzOnly = valueOf({ timeZone: "Asia/Kolkata" }, base);
    assert.deepEqual(tzOnly, { ...base, timeZone: "Asia/Kolkata" });
    const week = valueOf({ weekly: { mon: [["10:00", "11:00"]] } }, base);
    assert.deepEqual(week.weekly, { mon: [["10:00", "11:00"]] });
    assert.deepEqual(week.closures, ["2026-12-25"]);
    assert.deepEqual(valueOf({}).weekly, DEFAULT_HOURS.weekly);
  });

  await t.step("touching intervals are accepted and kept apart", () => {
    const v = valueOf({ weekly: { mon: [["12:00", "13:00"], ["09:00", "12:00"]] } });
    assert.deepEqual(v.weekly.mon, [["09:00", "12:00"], ["12:00", "13:00"]]);
    assert.deepEqual(valueOf({ weekly: { mon: [["18:00", "24:00"]] } }).weekly.mon, [[
      "18:00",
      "24:00",
    ]]);
  });

  await t.step("an interval across midnight is refused with how to split it", () => {
    const msg = errorsOf({ weekly: { fri: [["22:00", "02:00"]] } })["weekly.fri.0"];
    assert.match(msg, /22:00–24:00/);
    assert.match(msg, /next day 00:00–02:00/);
    assert.equal(
      errorsOf({ weekly: { fri: [["22:00", "00:00"]] } })["weekly.fri.0"],
      "Use 24:00 for an end at midnight",
    );
  });

  await t.step("overlapping intervals are refused on the later one", () => {
    assert.deepEqual(errorsOf({ weekly: { mon: [["11:00", "13:00"], ["09:00", "12:00"]] } }), {
      "weekly.mon.0": "Overlaps 09:00–12:00",
    });
    assert.deepEqual(errorsOf({ weekly: { tue: [["09:00", "17:00"], ["10:00", "11:00"]] } }), {
      "weekly.tue.1": "Overlaps 09:00–17:00",
    });
    assert.ok(
      errorsOf({ weekly: { wed: [["09:00", "10:00"], ["09:00", "10:00"]] } })["weekly.wed.1"],
    );
  });

  await t.step("times must be strict HH:MM with the end after the start", () => {
    const bad: unknown[] = [
      ["9:00", "17:00"],
      ["09:00", "17:0"],
      ["24:00", "24:00"],
      ["23:60", "24:00"],
      ["09:00:00", "17:00"],
      ["09:00", "24:01"],
      ["10:00", "10:00"],
      ["09:00"],
      ["09:00", "12:00", "13:00"],
      [900, 1700],
      "09:00-17:00",
    ];
    for (const iv of bad) {
      assert.deepEqual(Object.keys(errorsOf({ weekly: { mon: [iv] } })), ["weekly.mon.0"], `${iv}`);
    }
    assert.ok(errorsOf({ weekly: { mon: "09:00-17:00" } })["weekly.mon"]);
    assert.ok(errorsOf({ weekly: [] }).weekly);
  });

  await t.step("closures must be real dates", () => {
    const errors = errorsOf({
      closures: ["2026-02-30", "2026-2-3", 20261225, { date: "2026-13-01" }, "2026-12-25T00:00"],
    });
    assert.deepEqual(Object.keys(errors), [0, 1, 2, 3, 4].map((i) => `closures.${i}`));
    assert.equal(errors["closures.0"].startsWith("Not a valid date"), true);
    assert.ok(errorsOf({ closures: "2026-12-25" }).closures);
    assert.deepEqual(valueOf({ closures: ["2028-02-29"] }).closures, ["2028-02-29"]);
  });

  await t.step("unknown weekdays, unknown fields and unknown zones are refused", () => {
    assert.ok(errorsOf({ weekly: { monday: [["09:00", "17:00"]] } })["weekly.monday"]);
    assert.ok(errorsOf({ timezone: "UTC" }).timezone);
    assert.equal(errorsOf({ timeZone: "Mars/Olympus" }).timeZone, "Unknown time zone");
    assert.equal(errorsOf({ timeZone: "+05:30" }).timeZone, "Unknown time zone");
    assert.equal(errorsOf({ timeZone: 5 }).timeZone, "Unknown time zone");
    assert.ok(errorsOf(null).hours);
    assert.ok(errorsOf([]).hours);
  });

  await t.step("every problem is reported at once", () => {
    const errors = errorsOf({
      timeZone: "Nowhere/Land",
      weekly: { mon: [["09:00", "12:00"], ["11:00", "13:00"]], xyz: [] },
      closures: ["2026-02-30"],
    });
    assert.deepEqual(Object.keys(errors).sort(), [
      "closures.0",
      "timeZone",
      "weekly.mon.1",
      "weekly.xyz",
    ]);
  });

  await t.step("closure labels given as a map are kept for listed dates only", () => {
    const v = valueOf({
      closures: ["2026-12-25"],
      closureLabels: { "2026-12-25": "Christmas", "2026-01-01": "New Year" },
    });
    assert.deepEqual(v.closureLabels, { "2026-12-25": "Christmas" });
  });
});

Deno.test("[domain] business hours: time zones", async (t) => {
  await t.step("IANA names are valid; offsets and inventions are not", () => {
    for (const tz of ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]) {
      assert.equal(isValidTimeZone(tz), true, tz);
    }
    for (const tz of ["", "Mars/Olympus", "+02:00", "Europe/London "]) {
      assert.equal(isValidTimeZone(tz), false, tz);
    }
  });

  await t.step("the zone list includes UTC and is sorted", () => {
    const zones = timeZones();
    assert.ok(zones.includes("UTC"));
    assert.ok(zones.includes("Europe/London"));
    assert.deepEqual(zones, [...zones].sort());
  });
});

Deno.test("[domain] closure labels are capped at 80 characters", () => {
  const long = parseBusinessHours({ closures: [{ date: "2026-12-25", label: "x".repeat(81) }] });
  assert.equal(long.ok, false);
  const fine = parseBusinessHours({ closures: [{ date: "2026-12-25", label: "x".repeat(80) }] });
  assert.equal(fine.ok, true);
});

/** New York's offset at 01:00 EST on the 2026 spring-forward day, by a given `Temporal`. */
const springForwardOffset = (api: typeof Temporal) =>
  api.Instant.from("2026-03-08T06:00:00Z").toZonedDateTimeISO("America/New_York").offset;

Deno.test("[domain] business hours: the Temporal in use is right on DST days", async (t) => {
  await t.step("New York's offset matches Intl before and after both 2026 changes", () => {
    const intl = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      timeZoneName: "longOffset",
    });
    for (
      const iso of [
        "2026-03-08T05:00:00Z",
        "2026-03-08T06:59:00Z",
        "2026-03-08T07:00:00Z",
        "2026-11-01T04:00:00Z",
        "2026-11-01T05:59:00Z",
        "2026-11-01T06:00:00Z",
      ]
    ) {
      const offset = Temporal.Instant.from(iso).toZonedDateTimeISO("America/New_York").offset;
      const expected = intl.formatToParts(new Date(iso)).find((p) => p.type === "timeZoneName");
      assert.equal(`GMT${offset}`, expected?.value, iso);
    }
  });

  await t.step("the runtime's own Temporal is used only when it has these offsets right", () => {
    const builtin = (globalThis as { Temporal?: typeof Temporal }).Temporal;
    const right = builtin !== undefined && springForwardOffset(builtin) === "-05:00";
    assert.equal(temporalSource, right ? "built-in" : "polyfill");
  });

  await t.step("with --unstable-temporal a wrong built-in is replaced; 02:30 opens", async () => {
    // Deno 2.5's built-in panics on 02:30: its own process turns a panic into a failed step.
    const hoursModule = JSON.stringify(import.meta.resolve("../domain/business_hours.ts"));
    const temporalModule = JSON.stringify(import.meta.resolve("../domain/temporal.ts"));
    const code = `
      import { nextChangeAt } from ${hoursModule};
      import { temporalSource } from ${temporalModule};
      const weekly = { sun: [["02:30", "04:00"]] };
      const hours = { timeZone: "America/New_York", weekly, closures: [], closureLabels: {} };
      console.log(JSON.stringify({
        builtinOffset: globalThis.Temporal?.Instant.from("2026-03-08T06:00:00Z")
          .toZonedDateTimeISO("America/New_York").offset ?? null,
        source: temporalSource,
        opens: nextChangeAt(hours, Date.parse("2026-03-08T05:00:00Z")),
      }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--unstable-temporal", code],
      cwd: new URL("..", import.meta.url),
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.notEqual(result.builtinOffset, null, "the flag switches the built-in on");
    assert.equal(result.source, result.builtinOffset === "-05:00" ? "built-in" : "polyfill");
    assert.equal(result.opens, utc("2026-03-08T07:30:00Z"));
  });
});
