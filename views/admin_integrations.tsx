/**
 * Admin › Integrations (SPEC "Channel settings", rules 28 and 31): a card per channel with its
 * settings form, the addresses to paste into the provider's console, and a test message. The page
 * is drawn from the public view of the settings only, so it has no secret it could show.
 */
import type { Child, JSX } from "hono/jsx";
import type {
  ChannelStatus,
  ProviderChannel,
  publicChannels,
  SettingsChannel,
} from "../domain/channel_settings.ts";
import { CHANNEL_FACTS } from "../domain/channels.ts";
import type { SendOutcome } from "../domain/providers/provider.ts";
import { type Channel, CHANNELS } from "../domain/types.ts";
import { assetUrl } from "./assets.ts";
import { LocalTime } from "./local_time.tsx";
import { Card, type Errors, Field, FieldError, invalid, TextField } from "./admin_shell.tsx";

/** `GET /api/channels`: what the page may know (never a secret, only whether each is set). */
export type PublicChannels = ReturnType<typeof publicChannels>;

export const CHANNEL_TITLES: Record<SettingsChannel, string> = {
  whatsapp: "WhatsApp Cloud API",
  twilio: "Twilio SMS",
  api: "API channel",
  webchat: "Web chat",
};

export interface WhatsAppDraft {
  enabled: boolean;
  phoneNumberId: string;
}
export type TwilioSender = "fromNumber" | "messagingServiceSid";
export interface TwilioDraft {
  enabled: boolean;
  accountSid: string;
  sender: TwilioSender;
  fromNumber: string;
  messagingServiceSid: string;
}
export interface ApiDraft {
  enabled: boolean;
  webhookUrl: string;
}
export interface WebchatDraft {
  enabled: boolean;
  /** One origin per line, as typed. */
  allowedOrigins: string;
  title: string;
  greeting: string;
  color: string;
}
/** What each form shows: the saved values, or what was typed into a refused form. */
export interface ChannelDrafts {
  whatsapp: WhatsAppDraft;
  twilio: TwilioDraft;
  api: ApiDraft;
  webchat: WebchatDraft;
}

export function draftsOf(view: PublicChannels): ChannelDrafts {
  const { whatsapp: w, twilio: t, api: a, webchat: c } = view;
  return {
    whatsapp: { enabled: w.enabled, phoneNumberId: w.phoneNumberId ?? "" },
    twilio: {
      enabled: t.enabled,
      accountSid: t.accountSid ?? "",
      sender: t.messagingServiceSid ? "messagingServiceSid" : "fromNumber",
      fromNumber: t.fromNumber ?? "",
      messagingServiceSid: t.messagingServiceSid ?? "",
    },
    api: { enabled: a.enabled, webhookUrl: a.webhookUrl ?? "" },
    webchat: {
      enabled: c.enabled,
      allowedOrigins: c.allowedOrigins.join("\n"),
      title: c.title,
      greeting: c.greeting,
      color: c.color,
    },
  };
}

/** A write-only secret of a channel: its form name, label, and the public "is it set" flag. */
interface Secret {
  name: string;
  label: string;
  isSet: (view: PublicChannels) => boolean;
  max: number;
  hint?: string;
}

export const SECRETS: Record<ProviderChannel, Secret[]> = {
  whatsapp: [
    {
      name: "accessToken",
      label: "Access token",
      isSet: (v) => v.whatsapp.accessTokenSet,
      max: 4096,
      hint: "A permanent system-user token with whatsapp_business_messaging.",
    },
    {
      name: "appSecret",
      label: "App secret",
      isSet: (v) => v.whatsapp.appSecretSet,
      max: 512,
      hint: "App settings › Basic: it signs the webhooks Meta sends.",
    },
    {
      name: "verifyToken",
      label: "Verify token",
      isSet: (v) => v.whatsapp.verifyTokenSet,
      max: 512,
      hint: "Any phrase you choose; type the same one in Meta's webhook set-up.",
    },
  ],
  twilio: [{
    name: "authToken",
    label: "Auth token",
    isSet: (v) => v.twilio.authTokenSet,
    max: 512,
    hint: "Console › Account info. It also signs Twilio's webhooks.",
  }],
  api: [{
    name: "secret",
    label: "Webhook secret",
    isSet: (v) => v.api.secretSet,
    max: 512,
    hint: "Signs each webhook (X-Chatdesk-Signature); your gateway checks it.",
  }],
};

/** Names for the fields a `channel_incomplete` answer lists. */
export const FIELD_LABELS: Record<string, string> = {
  phoneNumberId: "Phone number ID",
  accessToken: "Access token",
  appSecret: "App secret",
  verifyToken: "Verify token",
  accountSid: "Account SID",
  authToken: "Auth token",
  fromNumber: "Phone number",
  messagingServiceSid: "Messaging service SID",
  "fromNumber or messagingServiceSid": "a sender (phone number or messaging service)",
  CHATDESK_PUBLIC_URL: "CHATDESK_PUBLIC_URL (set when the desk starts)",
  webhookUrl: "Webhook URL",
  secret: "Webhook secret",
};

/** What a field refused for its format should say (the domain's own words are terse). */
export const FORMAT_ERRORS: Record<string, string> = {
  phoneNumberId: "Digits only: the phone number ID, not the phone number.",
  accountSid: "AC followed by 32 hexadecimal characters.",
  fromNumber: "A number in international format, like +15551234567.",
  messagingServiceSid: "MG followed by 32 hexadecimal characters.",
  webhookUrl: "An https:// address (http:// only for 127.0.0.1 or localhost).",
  title: "Required, at most 60 characters.",
  greeting: "At most 500 characters.",
  allowedOrigins: "One exact origin per line, like https://shop.example (no path).",
  color: "A colour like #1f6feb.",
};

export interface TestDraft {
  channel: Channel;
  to: string;
  text: string;
}

/** The "send a test message" form of one provider channel, and how the provider answered. */
export interface TestState {
  draft: TestDraft;
  errors: Errors;
  outcome?: SendOutcome;
}

/** The channel a provider's test goes out on; the API channel lets the admin choose. */
export const TEST_CHANNEL: Record<ProviderChannel, Channel> = {
  whatsapp: "whatsapp",
  twilio: "sms",
  api: "whatsapp",
};

export const defaultTest = (channel: ProviderChannel): TestDraft => ({
  channel: TEST_CHANNEL[channel],
  to: "",
  text: "Test message from chatdesk.",
});

/** Where providers reach the desk: `base` is the public URL, else the address being browsed. */
export interface Addresses {
  base: string;
  publicUrl: string | null;
  browsed: string;
}

/** Rule 58: where the inbound token comes from, its latest rotation, and a new one to show once. */
export interface InboundTokenView {
  /** CHATDESK_INBOUND_TOKEN set it (else the desk generated it at its first start). */
  fromEnvironment: boolean;
  rotatedAt: number | null;
  rotatedBy: string | null;
  /** The token just made by a rotation: this page is the only time it is shown. */
  fresh?: string;
  timeZone: string;
}

export function IntegrationsPage(props: {
  view: PublicChannels;
  drafts: ChannelDrafts;
  errors: Partial<Record<SettingsChannel, Errors>>;
  tests: Partial<Record<ProviderChannel, TestState>>;
  addresses: Addresses;
  inboundToken: InboundTokenView;
}) {
  const { view, drafts, errors, tests, addresses } = props;
  const test = (c: ProviderChannel) => tests[c] ?? { draft: defaultTest(c), errors: {} };
  return (
    <div class="stack">
      <PublicUrlNotice addresses={addresses} />
      <nav aria-label="Channels" class="inline small">
        <span class="muted">Jump to:</span>
        {(Object.keys(CHANNEL_TITLES) as SettingsChannel[]).map((c) => (
          <a href={`#${c}`}>{CHANNEL_TITLES[c]}</a>
        ))}
      </nav>
      <WhatsAppCard
        view={view}
        draft={drafts.whatsapp}
        errors={errors.whatsapp ?? {}}
        test={test("whatsapp")}
        base={addresses.base}
      />
      <TwilioCard
        view={view}
        draft={drafts.twilio}
        errors={errors.twilio ?? {}}
        test={test("twilio")}
        addresses={addresses}
      />
      <ApiCard
        view={view}
        draft={drafts.api}
        errors={errors.api ?? {}}
        test={test("api")}
        base={addresses.base}
        token={props.inboundToken}
      />
      <WebchatCard
        draft={drafts.webchat}
        errors={errors.webchat ?? {}}
        base={addresses.base}
        enabled={view.webchat.enabled}
      />
    </div>
  );
}

function PublicUrlNotice({ addresses }: { addresses: Addresses }) {
  const { publicUrl, browsed } = addresses;
  if (!publicUrl) {
    return (
      <div class="flash flash-error" role="alert">
        <strong>CHATDESK_PUBLIC_URL must be set</strong>{" "}
        to the desk's public https:// address (then restart the desk). Until then the addresses
        below use the one you are browsing, <code>{browsed}</code>, and Twilio cannot be enabled.
      </div>
    );
  }
  if (originOf(publicUrl) !== browsed) {
    return (
      <div class="flash flash-info" role="alert">
        <strong>Check the public address.</strong> Providers are given <code>{publicUrl}</code>{" "}
        (CHATDESK_PUBLIC_URL), but you are browsing{" "}
        <code>{browsed}</code>. Make sure the public address reaches this desk, or Twilio's
        signatures will not verify.
      </div>
    );
  }
  return (
    <p class="muted small">
      Webhook addresses use CHATDESK_PUBLIC_URL, <code>{publicUrl}</code>.
    </p>
  );
}

const originOf = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
};

function StatusBadge({ status }: { status: ChannelStatus }) {
  if (status === "active") return <span class="badge badge-ok">Active</span>;
  if (status === "auth_failed") return <span class="badge badge-warn">Paused</span>;
  return <span class="badge badge-muted">Disabled</span>;
}

function PausedNote({ error }: { error?: { code: string; message: string } }) {
  if (!error) return null;
  return (
    <p class="flash flash-error">
      Paused: the provider refused the credentials ({error.code}:{" "}
      {error.message}) — enter new credentials to resume.
    </p>
  );
}

/** The form's summary: what stopped the save (a missing field list), or how many fields. */
function SaveErrors({ errors }: { errors: Errors }) {
  const count = Object.keys(errors).length;
  if (!count) return null;
  return (
    <div class="flash flash-error" role="alert">
      {errors.form ??
        (count === 1
          ? "Not saved: one field needs attention."
          : `Not saved: ${count} fields need attention.`)}
    </div>
  );
}

function EnabledCheck(
  { prefix, enabled, error, children }: {
    prefix: string;
    enabled: boolean;
    error?: string;
    children: Child;
  },
) {
  const id = `${prefix}-enabled`;
  return (
    <div>
      <label class="check">
        <input type="checkbox" id={id} name="enabled" value="1" checked={enabled} />
        Enabled
      </label>
      <p class="hint">{children}</p>
      <FieldError id={id} error={error} />
    </div>
  );
}

/** A secret's input: always empty (rule 31), with a Clear box once it is set. */
function SecretField(
  { prefix, secret, view, error }: {
    prefix: string;
    secret: Secret;
    view: PublicChannels;
    error?: string;
  },
) {
  const id = `${prefix}-${secret.name}`;
  const isSet = secret.isSet(view);
  return (
    <div class="field secret-field">
      <label for={id}>
        {secret.label} {isSet
          ? <span class="badge badge-ok">set</span>
          : <span class="badge badge-muted">not set</span>}
      </label>
      <input
        id={id}
        name={secret.name}
        type="password"
        autocomplete="new-password"
        spellcheck={false}
        maxlength={secret.max}
        placeholder={isSet ? "set — leave empty to keep" : "not set"}
        {...invalid(id, error)}
      />
      {secret.hint ? <p class="hint">{secret.hint}</p> : null}
      {isSet
        ? (
          <label class="check">
            <input type="checkbox" id={`${id}-clear`} name={`${secret.name}.clear`} value="1" />
            Clear<span class="sr-only">the {secret.label.toLowerCase()}</span>
          </label>
        )
        : null}
      <FieldError id={id} error={error} />
    </div>
  );
}

/** Addresses to paste into a provider's console, each on its own line so they copy whole. */
function CopyList(
  { rows }: { rows: { label: string; value?: string; note?: string }[] },
) {
  return (
    <dl class="copy-list">
      {rows.map(({ label, value, note }) => (
        <>
          <dt>{label}</dt>
          <dd>
            {value ? <code>{value}</code> : null}
            {note ? <span class="hint">{note}</span> : null}
          </dd>
        </>
      ))}
    </dl>
  );
}

function ProviderCard(
  { channel, status, children }: {
    channel: SettingsChannel;
    status: ChannelStatus;
    children: Child;
  },
) {
  return (
    <Card id={channel} title={CHANNEL_TITLES[channel]} aside={<StatusBadge status={status} />}>
      {children}
    </Card>
  );
}

function WhatsAppCard(
  { view, draft, errors, test, base }: {
    view: PublicChannels;
    draft: WhatsAppDraft;
    errors: Errors;
    test: TestState;
    base: string;
  },
) {
  const w = view.whatsapp;
  return (
    <ProviderCard channel="whatsapp" status={w.status}>
      <form method="post" action="/admin/integrations/whatsapp#whatsapp" class="card-body stack">
        <PausedNote error={w.error} />
        <SaveErrors errors={errors} />
        <EnabledCheck prefix="whatsapp" enabled={draft.enabled} error={errors.enabled}>
          Replies to WhatsApp customers go out through Meta. Off: they wait, queued.
        </EnabledCheck>
        <TextField
          id="whatsapp-phoneNumberId"
          label="Phone number ID"
          hint="WhatsApp › API Setup in Meta's app dashboard (digits, not the phone number)."
          error={errors.phoneNumberId}
          name="phoneNumberId"
          value={draft.phoneNumberId}
          inputmode="numeric"
          maxlength={32}
          autocomplete="off"
        />
        <div class="field-row">
          {SECRETS.whatsapp.map((s) => (
            <SecretField prefix="whatsapp" secret={s} view={view} error={errors[s.name]} />
          ))}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Save WhatsApp settings</button>
        </div>
      </form>
      <div class="card-body card-part stack">
        <h3>In Meta's console</h3>
        <p class="hint">
          WhatsApp › Configuration › Webhook; then subscribe to the messages field.
        </p>
        <CopyList
          rows={[
            { label: "Callback URL", value: `${base}/webhooks/whatsapp` },
            {
              label: "Verify token",
              note: w.verifyTokenSet
                ? "The one saved above."
                : "Choose one and save it above first.",
            },
          ]}
        />
      </div>
      <TestForm channel="whatsapp" state={test} />
    </ProviderCard>
  );
}

function TwilioCard(
  { view, draft, errors, test, addresses }: {
    view: PublicChannels;
    draft: TwilioDraft;
    errors: Errors;
    test: TestState;
    addresses: Addresses;
  },
) {
  const t = view.twilio;
  const base = addresses.base;
  /** A radio to pick the sender, and its field (labelled for screen readers by its own label). */
  const sender = (value: TwilioSender, label: string, input: JSX.IntrinsicElements["input"]) => {
    const id = `twilio-${value}`;
    return (
      <div class="sender-row">
        <label class="check">
          <input
            type="radio"
            id={`twilio-sender-${value}`}
            name="sender"
            value={value}
            checked={draft.sender === value}
          />
          {label}
        </label>
        <div class="field">
          <label class="sr-only" for={id}>{label}</label>
          <input
            id={id}
            name={value}
            value={draft[value]}
            autocomplete="off"
            spellcheck={false}
            {...input}
            {...invalid(id, errors[value])}
          />
          <FieldError id={id} error={errors[value]} />
        </div>
      </div>
    );
  };
  return (
    <ProviderCard channel="twilio" status={t.status}>
      <form method="post" action="/admin/integrations/twilio#twilio" class="card-body stack">
        <PausedNote error={t.error} />
        <SaveErrors errors={errors} />
        <EnabledCheck prefix="twilio" enabled={draft.enabled} error={errors.enabled}>
          Replies to SMS customers go out through Twilio. Off: they wait, queued.
          {addresses.publicUrl ? null : " Needs CHATDESK_PUBLIC_URL."}
        </EnabledCheck>
        <div class="field-row">
          <TextField
            id="twilio-accountSid"
            label="Account SID"
            hint="Console › Account info (AC…)."
            error={errors.accountSid}
            name="accountSid"
            value={draft.accountSid}
            maxlength={34}
            autocomplete="off"
            spellcheck={false}
          />
          {SECRETS.twilio.map((s) => (
            <SecretField prefix="twilio" secret={s} view={view} error={errors[s.name]} />
          ))}
        </div>
        <fieldset class="field plain-fieldset sender-fieldset">
          <legend class="label">Send from</legend>
          <p class="hint">
            Replies come from the number the customer wrote to; new messages use this sender.
          </p>
          {sender("fromNumber", "Phone number", {
            type: "tel",
            maxlength: 18,
            placeholder: "+15551234567",
          })}
          {sender("messagingServiceSid", "Messaging service", {
            maxlength: 34,
            placeholder: "MG…",
          })}
          <p class="hint">The one chosen is saved; the other is cleared.</p>
          <FieldError id="twilio-sender" error={errors.sender} />
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Save Twilio settings</button>
        </div>
      </form>
      <div class="card-body card-part stack">
        <h3>In Twilio's console</h3>
        <p class="hint">Phone Numbers › your number › Messaging configuration.</p>
        <CopyList
          rows={[
            { label: '"A message comes in" (HTTP POST)', value: `${base}/webhooks/twilio` },
            {
              label: "Status callback",
              value: `${base}/webhooks/twilio/status`,
              note: "The desk sets it on every message it sends: nothing to paste.",
            },
          ]}
        />
      </div>
      <TestForm channel="twilio" state={test} />
    </ProviderCard>
  );
}

function ApiCard(
  { view, draft, errors, test, base, token }: {
    view: PublicChannels;
    draft: ApiDraft;
    errors: Errors;
    test: TestState;
    base: string;
    token: InboundTokenView;
  },
) {
  const a = view.api;
  return (
    <ProviderCard channel="api" status={a.status}>
      <form method="post" action="/admin/integrations/api#api" class="card-body stack">
        <PausedNote error={a.error} />
        <SaveErrors errors={errors} />
        <EnabledCheck prefix="api" enabled={draft.enabled} error={errors.enabled}>
          Replies to customers who came in by POST /api/inbound go to your webhook. Off: they are
          returned in that call's answer instead.
        </EnabledCheck>
        <div class="field-row">
          <TextField
            id="api-webhookUrl"
            label="Webhook URL"
            hint="Your gateway: https:// (http:// only for 127.0.0.1 or localhost)."
            error={errors.webhookUrl}
            name="webhookUrl"
            value={draft.webhookUrl}
            type="url"
            maxlength={2048}
            autocomplete="off"
            placeholder="https://gateway.example/chatdesk"
          />
          {SECRETS.api.map((s) => (
            <SecretField prefix="api" secret={s} view={view} error={errors[s.name]} />
          ))}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Save API channel settings</button>
        </div>
      </form>
      <div class="card-body card-part stack">
        <h3>In your gateway</h3>
        <p class="hint">Both calls take the inbound token as Authorization: Bearer.</p>
        <CopyList
          rows={[
            { label: "Inbound messages", value: `${base}/api/inbound` },
            { label: "Delivery statuses", value: `${base}/api/inbound/status` },
          ]}
        />
      </div>
      <InboundTokenPart token={token} />
      <TestForm channel="api" state={test} />
    </ProviderCard>
  );
}

/**
 * Rule 58: the inbound token is never shown again (rule 31), only where it came from and when it
 * was last rotated; Rotate makes a new one, shown here once, and the old one stops working.
 */
function InboundTokenPart({ token }: { token: InboundTokenView }) {
  const source = token.rotatedAt !== null
    ? (
      <>
        Rotated <LocalTime at={token.rotatedAt} timeZone={token.timeZone} />
        {token.rotatedBy ? ` by ${token.rotatedBy}` : ""}.
      </>
    )
    : token.fromEnvironment
    ? "Set by CHATDESK_INBOUND_TOKEN."
    : "Generated at the desk's first start (printed once then).";
  return (
    <section
      class="card-body card-part stack"
      id="inbound-token"
      aria-labelledby="inbound-token-h"
    >
      <h3 id="inbound-token-h">Inbound token</h3>
      {token.fresh
        ? (
          <div class="flash flash-ok stack" role="status">
            <p>
              <strong>New inbound token.</strong>{" "}
              Copy it now into your gateway: it is not shown again, and the old token no longer
              works.
            </p>
            <p>
              <code class="secret-once" data-token>{token.fresh}</code>
            </p>
          </div>
        )
        : null}
      <p class="hint">
        {source}{" "}
        Gateways send it as Authorization: Bearer to POST /api/inbound and /api/inbound/status.
        {token.fromEnvironment
          ? " A rotation here replaces the variable's token until the variable is changed."
          : ""}
      </p>
      <form method="post" action="/admin/integrations/inbound-token#inbound-token">
        <button type="submit" class="btn">Rotate inbound token</button>
      </form>
    </section>
  );
}

function WebchatCard(
  { draft, errors, base, enabled }: {
    draft: WebchatDraft;
    errors: Errors;
    base: string;
    enabled: boolean;
  },
) {
  const snippet = `<script src="${base}/webchat/widget.js" defer></script>`;
  return (
    <ProviderCard channel="webchat" status={enabled ? "active" : "disabled"}>
      <div class="grid-2">
        <WebchatForm draft={draft} errors={errors} />
        <WebchatPreview draft={draft} />
      </div>
      <div class="card-body card-part stack">
        <Field
          id="webchat-snippet"
          label="Snippet for your site"
          hint={
            <>
              Paste it before <code>{"</body>"}</code>. <a href="/webchat">Open the chat page</a>
              {" "}
              to try it as a customer.
            </>
          }
        >
          <textarea id="webchat-snippet" class="snippet" rows={3} readonly spellcheck={false}>
            {snippet}
          </textarea>
        </Field>
      </div>
    </ProviderCard>
  );
}

function WebchatForm({ draft, errors }: { draft: WebchatDraft; errors: Errors }) {
  return (
    <form
      id="webchat-form"
      method="post"
      action="/admin/integrations/webchat#webchat"
      class="card-body stack"
    >
      <SaveErrors errors={errors} />
      <EnabledCheck prefix="webchat" enabled={draft.enabled} error={errors.enabled}>
        Sites with the snippet below show a chat button.
      </EnabledCheck>
      <Field
        id="webchat-allowedOrigins"
        label="Allowed sites"
        hint="One origin per line, exactly scheme://host[:port], like https://shop.example. None: only pages on the desk's own address."
        error={errors.allowedOrigins}
      >
        <textarea
          id="webchat-allowedOrigins"
          name="allowedOrigins"
          rows={3}
          spellcheck={false}
          autocomplete="off"
          {...invalid("webchat-allowedOrigins", errors.allowedOrigins)}
        >
          {draft.allowedOrigins}
        </textarea>
      </Field>
      <div class="field-row">
        <TextField
          id="webchat-title"
          label="Title"
          hint="Heads the chat panel."
          error={errors.title}
          name="title"
          value={draft.title}
          maxlength={60}
          required
        />
        <TextField
          id="webchat-color"
          class="field field-color"
          label="Colour"
          error={errors.color}
          name="color"
          type="color"
          value={draft.color}
        />
      </div>
      <Field
        id="webchat-greeting"
        label="Greeting"
        hint="Shown when a visitor opens the chat; may be empty."
        error={errors.greeting}
      >
        <textarea
          id="webchat-greeting"
          name="greeting"
          rows={2}
          maxlength={500}
          {...invalid("webchat-greeting", errors.greeting)}
        >
          {draft.greeting}
        </textarea>
      </Field>
      <div class="form-actions">
        <button type="submit" class="btn btn-primary">Save web chat settings</button>
      </div>
    </form>
  );
}

/**
 * Rule 30: the widget as visitors will see it, in a frame of the desk's own preview page. It
 * shows the form's values (the saved ones, or a refused form's); static/webchat_preview.js
 * reloads it with what is typed, before saving.
 */
function WebchatPreview({ draft }: { draft: WebchatDraft }) {
  const { title, greeting, color } = draft;
  const src = `/webchat/preview?${new URLSearchParams({ title, greeting, color })}`;
  return (
    <div class="card-body stack">
      <h3>Preview</h3>
      <p class="hint" id="webchat-preview-hint">
        The chat button and its open panel on a site. It follows the title, greeting and colour as
        you type; visitors see them once saved.
      </p>
      <iframe
        id="webchat-preview"
        title="Web chat preview"
        src={src}
        data-form="webchat-form"
        width="100%"
        height="520"
        aria-describedby="webchat-preview-hint"
      >
      </iframe>
      <script src={assetUrl("webchat_preview.js")} defer></script>
    </div>
  );
}

const TEST_PLACEHOLDERS: Record<Channel, string> = {
  whatsapp: "+27820000001",
  sms: "+15551234567",
  webchat: "a visitor id",
};

function TestForm({ channel, state }: { channel: ProviderChannel; state: TestState }) {
  const { draft, errors, outcome } = state;
  const prefix = `${channel}-test`;
  return (
    <form
      method="post"
      action={`/admin/integrations/${channel}/test#${prefix}`}
      class="card-body card-part stack"
      aria-labelledby={`${prefix} ${channel}`}
    >
      <h3 id={prefix}>Send a test message</h3>
      <p class="hint">
        One message straight to the provider with the saved settings (also while disabled); it is
        stored nowhere.
      </p>
      {errors.form ? <div class="flash flash-error" role="alert">{errors.form}</div> : null}
      <div class="field-row align-end">
        {channel === "api"
          ? (
            <Field id={`${prefix}-channel`} label="Channel" error={errors.channel}>
              <select id={`${prefix}-channel`} name="channel">
                {CHANNELS.map((c) => (
                  <option value={c} selected={draft.channel === c}>{CHANNEL_FACTS[c].label}</option>
                ))}
              </select>
            </Field>
          )
          : null}
        <TextField
          id={`${prefix}-to`}
          label="To"
          error={errors.to}
          name="to"
          value={draft.to}
          required
          maxlength={128}
          autocomplete="off"
          placeholder={TEST_PLACEHOLDERS[draft.channel]}
        />
        <TextField
          id={`${prefix}-text`}
          label="Text"
          error={errors.text}
          name="text"
          value={draft.text}
          required
          maxlength={CHANNEL_FACTS[draft.channel].maxLength}
        />
      </div>
      <div class="form-actions">
        <button type="submit" class="btn">Send test message</button>
      </div>
      <TestOutcome outcome={outcome} />
    </form>
  );
}

function TestOutcome({ outcome }: { outcome?: SendOutcome }) {
  if (!outcome) return null;
  if (outcome.kind === "accepted") {
    return (
      <div class="flash flash-ok" role="status">
        Accepted by the provider{outcome.providerId
          ? (
            <>
              , id <code class="wrap-anywhere">{outcome.providerId}</code>.
            </>
          )
          : " (it gave no id)."}
      </div>
    );
  }
  const what = {
    auth: "The provider refused the credentials",
    retry: "Not sent, a temporary failure (a real message would be retried)",
    permanent: "Refused by the provider",
  }[outcome.kind];
  return (
    <div class="flash flash-error" role="alert">
      {what}: <code>{outcome.code}</code> {outcome.message}
    </div>
  );
}
