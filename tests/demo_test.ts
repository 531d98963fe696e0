/** Demo data for `task start`: seeded once into an empty store, through the real paths. */
import assert from "node:assert/strict";
import { seedDemo } from "../domain/demo.ts";
import { keys } from "../domain/keys.ts";
import type { Ticket } from "../domain/types.ts";
import { testDesk } from "./helpers.ts";

Deno.test("[domain] demo data: a believable queue in an empty store, seeded only once", async (t) => {
  const d = await testDesk();
  await t.step(
    "an empty store gets departments, agents and tickets of different ages",
    async () => {
      assert.equal(await seedDemo(d.desk), true);
      const tickets: Ticket[] = [];
      for await (const e of d.kv.list<Ticket>({ prefix: keys.tickets() })) tickets.push(e.value);
      assert.equal(tickets.length, 10);
      assert.ok(
        tickets.every((x) => x.createdAt < d.clock.now()),
        "a demo ticket is dated in the future",
      );
      assert.ok(new Set(tickets.map((x) => x.createdAt)).size > 5);
      assert.deepEqual(
        [...new Set(tickets.map((x) => x.status))].sort(),
        ["assigned", "closed", "unassigned"],
      );
      const ana = await d.json<{ token: string }>("POST", "/api/session", {
        body: { email: "ana@chatdesk.local", password: "demo-pass-1" },
      });
      assert.equal(ana.status, 200);
    },
  );
  await t.step(
    "every seeded ticket, history entry, message and customer time is at or before now",
    async () => {
      const now = d.clock.now();
      const late: string[] = [];
      let seen = 0;
      /** Every event time in a stored value: `at` and `…At` numbers (not deadlines or due times). */
      const walk = (value: unknown, path: string) => {
        if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
        else if (value && typeof value === "object") {
          for (const [k, v] of Object.entries(value)) {
            if (typeof v === "number" && (k === "at" || /[a-z]At$/.test(k)) && k !== "dueAt") {
              seen++;
              if (v > now) late.push(`${path}.${k} is ${(v - now) / 60_000} min after now`);
            } else walk(v, `${path}.${k}`);
          }
        }
      };
      for (const prefix of [keys.tickets(), ["messages"], ["customers"], ["conversations"]]) {
        let found = 0;
        for await (const e of d.kv.list({ prefix })) {
          found++;
          walk(e.value, e.key.join("/"));
        }
        assert.ok(found > 0, `the demo stored nothing under ${prefix.join("/")}`);
      }
      assert.ok(seen > 100, `only ${seen} times found`);
      assert.deepEqual(late, []);
      const tickets: Ticket[] = [];
      for await (const e of d.kv.list<Ticket>({ prefix: keys.tickets() })) tickets.push(e.value);
      // The replay still spans more than a day: the oldest ticket is over 30 hours old.
      assert.ok(Math.min(...tickets.map((x) => x.createdAt)) < now - 30 * 3600_000);
      assert.ok(tickets.some((x) => x.closedAt !== null && x.closedAt > now - 3 * 3600_000));
    },
  );
  await t.step("a second start seeds nothing more", async () => {
    assert.equal(await seedDemo(d.desk), false);
    let count = 0;
    for await (const _ of d.kv.list({ prefix: keys.tickets() })) count++;
    assert.equal(count, 10);
  });
  await d.close();
});
