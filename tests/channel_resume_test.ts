/**
 * Rule 47: when a channel's credentials change, every message paused by the old ones resumes,
 * including those whose attempt was in flight at the change (their 401 is about the old ones).
 */
import assert from "node:assert/strict";
import { updateChannel } from "../domain/channel_settings.ts";
import { receiveInbound } from "../domain/inbound.ts";
import { keys } from "../domain/keys.ts";
import type { Message } from "../domain/types.ts";
import { FakeProvider, twilioAccepted } from "./fake_provider.ts";
import { CLOSED_TIME, testDesk, waitFor } from "./helpers.ts";

const OLD = {
  accountSid: "AC" + "1".repeat(32),
  authToken: "old-token-1",
  fromNumber: "+15550001111",
};

Deno.test("[domain] rule 47: new credentials resume every paused message, also those in flight at the change", async () => {
  // Twilio's 401 for the old token (error 20003), slow enough to be in flight at the change.
  const twilio = FakeProvider.start((r, i) => {
    const basic = atob((r.headers.get("authorization") ?? "").replace(/^Basic /, ""));
    return basic.endsWith(":old-token-1")
      ? {
        status: 401,
        body: { code: 20003, message: "Authenticate", status: 401 },
        delayMs: 1_000,
      }
      : twilioAccepted(r, i);
  });
  const d = await testDesk({
    at: CLOSED_TIME,
    listen: true,
    providers: { twilioApiBase: twilio.url, timeoutMs: 5_000 },
  });
  try {
    await updateChannel(d.kv, "twilio", { ...OLD, enabled: true }, {
      clock: d.clock,
      publicUrl: "http://127.0.0.1:8000",
    });
    const { token: admin } = await d.person("admin");
    const replies: string[] = [];
    for (let n = 0; n < 20; n++) {
      const from = `+1555010${String(n).padStart(4, "0")}`;
      const answer = await receiveInbound(d.desk, {
        channel: "sms",
        from,
        text: "hi",
        route: "twilio",
      });
      replies.push(...answer.replies.map((r) => r.id));
    }
    // Every customer's head is in flight with the old token when the admin saves a new one.
    await twilio.waitFor(20);
    const saved = await d.json("PUT", "/api/channels/twilio", {
      token: admin,
      body: { authToken: "new-token-2" },
    });
    assert.equal(saved.status, 200);
    const statusOf = async (id: string) => {
      const at = (await d.kv.get<string>(keys.messageById(id))).value!;
      return (await d.kv.get<Message>(keys.message(at, id))).value!.delivery!;
    };
    await waitFor(
      async () => (await Promise.all(replies.map(statusOf))).every((x) => x.status === "sent"),
      20_000,
      "every message sent with the new token",
    );
    const held = await Array.fromAsync(d.kv.list({ prefix: keys.deliveryHeld("twilio") }));
    assert.equal(held.length, 0);
    const channels = await d.json<{ twilio: { status: string } }>("GET", "/api/channels", {
      token: admin,
    });
    assert.equal(channels.body.twilio.status, "active");
  } finally {
    await d.close();
    await twilio.close();
  }
});
