/** Dashboard numbers: hours of the business's own clock, medians. */
import assert from "node:assert/strict";
import { createdPerHour, median } from "../domain/stats.ts";
import { leaveMessage, testDesk } from "./helpers.ts";

Deno.test("[domain] tickets per hour follow the business's clock, half-hour zones included", async () => {
  const d = await testDesk({ at: Date.parse("2026-11-25T20:40:00Z") }); // 02:10 on the 26th in Kolkata
  await leaveMessage(d, "+27820020001");
  d.clock.advance(25 * 60_000); // 21:05 UTC = 02:35 local: same local hour (02:00–03:00 = 20:30–21:30 UTC)
  await leaveMessage(d, "+27820020002");
  const kolkata = await createdPerHour(d.kv, d.clock.now(), 2, "Asia/Kolkata");
  assert.deepEqual(kolkata, [
    { hour: Date.parse("2026-11-25T19:30:00Z"), count: 0 },
    { hour: Date.parse("2026-11-25T20:30:00Z"), count: 2 },
  ]);
  const utc = await createdPerHour(d.kv, d.clock.now(), 2, "UTC");
  assert.deepEqual(utc.map((p) => p.count), [1, 1]);
  await d.close();
});

Deno.test("[domain] median of accept times", () => {
  assert.equal(median([]), null);
  assert.equal(median([30]), 30);
  assert.equal(median([50, 10, 30]), 30);
  assert.equal(median([10, 20, 31, 41]), 26);
});
