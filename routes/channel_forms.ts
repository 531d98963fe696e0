/**
 * Saving channel settings (shared by `PUT /api/channels/*` and Admin › Integrations), and the
 * Integrations forms read into the same input the API takes. Rule 31: a secret field left empty
 * keeps the saved secret; its Clear box removes it.
 */
import {
  type ProviderChannel,
  type SettingsChannel,
  updateChannel,
} from "../domain/channel_settings.ts";
import { CHANNEL_FACTS } from "../domain/channels.ts";
import { DeskError, Invalid, Unprocessable } from "../domain/errors.ts";
import type { ProviderRoute } from "../domain/providers/provider.ts";
import { type Channel, CHANNELS } from "../domain/types.ts";
import type { Errors } from "../views/admin_shell.tsx";
import {
  CHANNEL_TITLES,
  type ChannelDrafts,
  FIELD_LABELS,
  FORMAT_ERRORS,
  type PublicChannels,
  SECRETS,
  TEST_CHANNEL,
  type TestDraft,
  type TwilioSender,
} from "../views/admin_integrations.tsx";
import type { AppDeps } from "./context.ts";

export const CHANNEL_ROUTE: Record<ProviderChannel, ProviderRoute> = {
  whatsapp: "meta",
  twilio: "twilio",
  api: "api",
};

/** Saves a channel's settings; a held queue goes again when the channel may send now. */
export async function saveChannel(deps: AppDeps, channel: SettingsChannel, input: unknown) {
  const { desk, config, courier } = deps;
  const { settings } = await updateChannel(desk.kv, channel, input, {
    clock: desk.clock,
    publicUrl: config.publicUrl,
  });
  if (channel !== "webchat") {
    // Not awaited: the admin's answer must not wait for provider calls.
    courier.resume(CHANNEL_ROUTE[channel]).catch((e) => console.error("resume failed", e));
  }
  return settings;
}

const text = (form: FormData, name: string): string => {
  const v = form.get(name);
  return typeof v === "string" ? v.trim() : "";
};
const ticked = (form: FormData, name: string): boolean => form.get(name) === "1";
/** A plain field: what the form shows is what is saved, so an emptied field clears it. */
const orNull = (value: string): string | null => value === "" ? null : value;

/** Secrets are never shown, so an empty field means "unchanged"; Clear removes the secret. */
function secrets(form: FormData, channel: ProviderChannel): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const { name } of SECRETS[channel]) {
    const typed = form.get(name);
    if (typeof typed === "string" && typed.trim() !== "") out[name] = typed;
    else if (ticked(form, `${name}.clear`)) out[name] = null;
  }
  return out;
}

type Read<C extends SettingsChannel> = (form: FormData) => {
  draft: ChannelDrafts[C];
  input: Record<string, unknown>;
};

/** Each Integrations form: the draft to show again if refused, and the `PUT` body to save. */
export const CHANNEL_FORMS: { [C in SettingsChannel]: Read<C> } = {
  whatsapp(form) {
    const draft = { enabled: ticked(form, "enabled"), phoneNumberId: text(form, "phoneNumberId") };
    return {
      draft,
      input: {
        enabled: draft.enabled,
        phoneNumberId: orNull(draft.phoneNumberId),
        ...secrets(form, "whatsapp"),
      },
    };
  },
  twilio(form) {
    const fromNumber = text(form, "fromNumber");
    const messagingServiceSid = text(form, "messagingServiceSid");
    const picked = text(form, "sender");
    // No choice posted: the filled field is the sender.
    const sender: TwilioSender = picked === "messagingServiceSid" ||
        (picked !== "fromNumber" && !fromNumber && messagingServiceSid)
      ? "messagingServiceSid"
      : "fromNumber";
    const draft = {
      enabled: ticked(form, "enabled"),
      accountSid: text(form, "accountSid"),
      sender,
      fromNumber,
      messagingServiceSid,
    };
    // The chosen sender is saved and the other cleared (only one may be set).
    const senders = sender === "fromNumber"
      ? { fromNumber: orNull(fromNumber), messagingServiceSid: null }
      : { messagingServiceSid: orNull(messagingServiceSid), fromNumber: null };
    return {
      draft,
      input: {
        enabled: draft.enabled,
        accountSid: orNull(draft.accountSid),
        ...senders,
        ...secrets(form, "twilio"),
      },
    };
  },
  api(form) {
    const draft = { enabled: ticked(form, "enabled"), webhookUrl: text(form, "webhookUrl") };
    return {
      draft,
      input: {
        enabled: draft.enabled,
        webhookUrl: orNull(draft.webhookUrl),
        ...secrets(form, "api"),
      },
    };
  },
  webchat(form) {
    const draft = {
      enabled: ticked(form, "enabled"),
      allowedOrigins: text(form, "allowedOrigins"),
      title: text(form, "title"),
      greeting: text(form, "greeting"),
      color: text(form, "color"),
    };
    return {
      draft,
      input: {
        ...draft,
        allowedOrigins: draft.allowedOrigins.split(/\r?\n/).map((o) => o.trim()).filter(Boolean),
      },
    };
  },
};

/**
 * A refused save's messages: formats next to their fields, and for `channel_incomplete` the
 * missing fields named at the top and marked where they are.
 */
export function channelErrors(error: unknown, channel: SettingsChannel): Errors {
  if (!(error instanceof DeskError)) throw error;
  if (error instanceof Unprocessable && error.code === "channel_incomplete") {
    const out: Errors = {
      form: `To enable ${CHANNEL_TITLES[channel]}, fill in: ${
        error.fields.map((f) => FIELD_LABELS[f] ?? f).join(", ")
      }.`,
    };
    for (const f of error.fields) {
      const key = f === "fromNumber or messagingServiceSid" ? "sender" : f;
      if (key === "sender" || key in FIELD_LABELS && key !== "CHATDESK_PUBLIC_URL") {
        out[key] = "Needed to enable the channel.";
      }
    }
    return out;
  }
  if (error instanceof Invalid && Object.keys(error.fields).length) {
    return Object.fromEntries(
      Object.entries(error.fields).map(([k, v]) => [k, FORMAT_ERRORS[k] ?? sentence(v)]),
    );
  }
  return { form: error.message };
}

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const isChannel = (v: string): v is Channel => (CHANNELS as readonly string[]).includes(v);

/** The test form of one provider channel: what to show again, and what stops the send. */
export function readTestForm(
  channel: ProviderChannel,
  form: FormData,
): { draft: TestDraft; errors: Errors } {
  const picked = text(form, "channel");
  const testChannel = channel === "api" && isChannel(picked) ? picked : TEST_CHANNEL[channel];
  const draft = { channel: testChannel, to: text(form, "to"), text: text(form, "text") };
  const facts = CHANNEL_FACTS[testChannel];
  const errors: Errors = {};
  if (!facts.address.test(draft.to)) {
    errors.to = testChannel === "webchat"
      ? "A visitor id: letters, digits and . _ : -"
      : "A number in international format, like +15551234567.";
  }
  if (!draft.text) errors.text = "Type the message to send.";
  else if (draft.text.length > facts.maxLength) {
    errors.text = `At most ${facts.maxLength} characters.`;
  }
  return { draft, errors };
}

/** What a test send needs saved first (the channel need not be enabled). */
export function testMissing(view: PublicChannels, channel: ProviderChannel): string | null {
  const need: [boolean, string][] = channel === "whatsapp"
    ? [[!view.whatsapp.phoneNumberId, "Phone number ID"], [
      !view.whatsapp.accessTokenSet,
      "Access token",
    ]]
    : channel === "twilio"
    ? [
      [!view.twilio.accountSid, "Account SID"],
      [!view.twilio.authTokenSet, "Auth token"],
      [!view.twilio.fromNumber && !view.twilio.messagingServiceSid, "a sender"],
    ]
    : [[!view.api.webhookUrl, "Webhook URL"], [!view.api.secretSet, "Webhook secret"]];
  const missing = need.filter(([m]) => m).map(([, label]) => label);
  return missing.length ? `Save the ${missing.join(", ")} first.` : null;
}
