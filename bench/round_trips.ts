/**
 * Rule 41: sequential KV round trips per action, with the real app on a KV Connect store 90 ms
 * away (tests/round_trip_actions.ts). Prints a Markdown table:
 * `npx -y deno@2 run -A bench/round_trips.ts`.
 */
import { DELAY_MS, LIMITS, measureActions } from "../tests/round_trip_actions.ts";

const rows = await measureActions();
console.log(
  `| Action (${DELAY_MS} ms per KV call) | Rounds | Limit | KV calls | Status | Wall time |`,
);
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.action} | ${r.rounds} | ${LIMITS[r.action] ?? "–"} | ${r.calls} | ${r.status} | ${
      Math.round(r.ms)
    } ms |`,
  );
}
