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
  await t.step("a second start seeds nothing more", async () => {
    assert.equal(await seedDemo(d.desk), false);
    let count = 0;
    for await (const _ of d.kv.list({ prefix: keys.tickets() })) count++;
    assert.equal(count, 10);
  });
  await d.close();
});
