/** Rule 31: logs never carry the query strings of provider webhooks or the visitors' stream. */
import assert from "node:assert/strict";
import { loggablePath, withAccessLog } from "../routes/access_log.ts";

Deno.test("[routes] rule 31: access log lines strip secret-bearing query strings", async (t) => {
  await t.step("a Meta verify handshake is logged without its verify token", async () => {
    const lines: string[] = [];
    const handler = withAccessLog(() => new Response("challenge"), (line) => lines.push(line));
    const url =
      "http://desk/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=1";
    await handler(new Request(url), {} as Deno.ServeHandlerInfo);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^GET \/webhooks\/whatsapp 200 /);
    assert.ok(!lines[0].includes("s3cret"));
  });
  await t.step("the visitors' event stream ticket is never logged", () => {
    const path = loggablePath(new URL("http://desk/webchat/api/events?ticket=one-use-ticket"));
    assert.equal(path, "/webchat/api/events");
  });
  await t.step("other paths keep their query, capped", () => {
    assert.equal(
      loggablePath(new URL("http://desk/api/tickets?queue=closed")),
      "/api/tickets?queue=closed",
    );
    assert.equal(loggablePath(new URL(`http://desk/x?${"a".repeat(1000)}`)).length, 300);
  });
});
