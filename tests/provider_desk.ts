/**
 * A desk closed for business (every first message asks YES/NO) with WhatsApp and Twilio set up
 * against fake providers on 127.0.0.1 (tests/fake_provider.ts), delivering right after each
 * commit like main.ts: what the delivery and media-sending tests start from.
 */
import { updateChannel } from "../domain/channel_settings.ts";
import { receiveInbound } from "../domain/inbound.ts";
import type { Agent, Route } from "../domain/types.ts";
import { FakeProvider, metaAccepted, type Responder, twilioAccepted } from "./fake_provider.ts";
import { CLOSED_TIME, type TestDesk, testDesk } from "./helpers.ts";

export const WHATSAPP = {
  phoneNumberId: "106540352242922",
  accessToken: "EAAG-test-token",
  appSecret: "app-secret-1",
  verifyToken: "verify-1",
  enabled: true,
};
export const TWILIO = {
  accountSid: "AC" + "0".repeat(32),
  authToken: "twilio-token-1",
  fromNumber: "+15550001111",
  enabled: true,
};
export const PUBLIC_URL = "http://127.0.0.1:8000";

export interface ProviderDesk {
  d: TestDesk;
  meta: FakeProvider;
  twilio: FakeProvider;
  /** An admin, signed in (tests renew the token when the manual clock ran its session out). */
  admin: { agent: Agent; token: string };
  close(): Promise<void>;
}

export interface ProviderDeskOptions {
  /** How the fake Meta answers (every send accepted unless given). */
  meta?: Responder;
  timeoutMs?: number;
  /** `CHATDESK_PUBLIC_URL` (null: none). */
  publicUrl?: string | null;
}

export async function providerDesk(opts: ProviderDeskOptions = {}): Promise<ProviderDesk> {
  const meta = FakeProvider.start(opts.meta ?? metaAccepted);
  const twilio = FakeProvider.start(twilioAccepted);
  const d = await testDesk({
    at: CLOSED_TIME,
    listen: true,
    providers: {
      whatsappApiBase: meta.url,
      twilioApiBase: twilio.url,
      publicUrl: opts.publicUrl === undefined ? PUBLIC_URL : opts.publicUrl,
      timeoutMs: opts.timeoutMs ?? 2_000,
    },
  });
  const ctx = { clock: d.clock, publicUrl: PUBLIC_URL };
  await updateChannel(d.kv, "whatsapp", WHATSAPP, ctx);
  await updateChannel(d.kv, "twilio", TWILIO, ctx);
  const admin = await d.person("admin");
  return {
    d,
    meta,
    twilio,
    admin,
    async close() {
      await d.close();
      await meta.close();
      await twilio.close();
    },
  };
}

let provided = 0;
/** A customer's message as a provider webhook would store it (a new provider id each time). */
export function writeIn(
  d: TestDesk,
  from: string,
  text: string,
  route: Route = "meta",
  extra: { optOut?: "stop" } = {},
) {
  const channel = route === "twilio"
    ? "sms" as const
    : route === "webchat"
    ? "webchat" as const
    : "whatsapp" as const;
  return receiveInbound(d.desk, { channel, from, text, route, id: `in-${++provided}`, ...extra });
}
