/** The one table of channel facts: how an address looks, how long a message may be, rule 18. */
import { Conflict, Unprocessable } from "./errors.ts";
import type { Channel, Route } from "./types.ts";

export interface ChannelFacts {
  label: string;
  /** A valid customer address on this channel (`from` as the API takes it). */
  address: RegExp;
  /**
   * Rule 45: longest text one message the desk sends may carry, in UTF-16 units as a textarea
   * counts them: WhatsApp's text body 4,096; Twilio's `Body` 1,600 (longer fails with 21617).
   */
  maxLength: number;
  /** Rule 45: sent as SMS, so the reply box counts segments (`smsSegments`). */
  segmented: boolean;
  /** Rule 18: free text only within the window after the customer's last inbound message. */
  freeTextWindow: boolean;
  /** The provider routes this channel's customers may come in by. */
  routes: readonly Route[];
}

export const CHANNEL_FACTS: Record<Channel, ChannelFacts> = {
  whatsapp: {
    label: "WhatsApp",
    address: /^\+[1-9][0-9]{4,16}$/,
    maxLength: 4096,
    segmented: false,
    freeTextWindow: true,
    routes: ["meta", "api", "demo"],
  },
  sms: {
    label: "SMS",
    address: /^\+?[0-9]{3,17}$/,
    maxLength: 1600,
    segmented: true,
    freeTextWindow: false,
    routes: ["twilio", "api", "demo"],
  },
  webchat: {
    label: "Web chat",
    address: /^[A-Za-z0-9._:-]{1,128}$/,
    maxLength: 4096,
    segmented: false,
    freeTextWindow: false,
    routes: ["webchat", "api", "demo"],
  },
};

/**
 * Rule 45: a reply longer than its channel takes is refused before anything is stored (422
 * `too_long`, naming the limit), instead of failing at the provider.
 */
export function assertFitsChannel(channel: Channel, text: string): void {
  const { label, maxLength } = CHANNEL_FACTS[channel];
  if (text.length <= maxLength) return;
  const n = (v: number) => v.toLocaleString("en-US");
  throw new Unprocessable(
    "too_long",
    `${label} messages may have at most ${n(maxLength)} characters; this one has ${
      n(text.length)
    }.`,
  );
}

/**
 * GSM 03.38 (3GPP TS 23.038): the default alphabet (ASCII from space to `@`, the letters, `_`,
 * line breaks and these others), one septet each, and its extension table, two septets each (the
 * escape and the character). static/compose.js holds the same two classes.
 */
export const GSM_BASIC = /[\n\r -@A-Z_a-z£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà]/;
export const GSM_EXTENDED = /[\f^{}\\[~\]|€]/;

export interface SmsCount {
  encoding: "GSM-7" | "UCS-2";
  /** Septets (GSM-7) or UTF-16 units (UCS-2). */
  units: number;
  segments: number;
}

/**
 * Rule 45: how many SMS segments a text takes. GSM-7 when every character is in the GSM alphabet
 * (160 septets in one segment, 153 in each of several: the rest is the concatenation header),
 * else UCS-2 (70 UTF-16 units, 67 each of several); an empty text is one segment (Twilio,
 * "How long can a message be?", twilio.com/docs/glossary/what-sms-character-limit).
 */
export function smsSegments(text: string): SmsCount {
  let septets = 0;
  for (const ch of text) {
    if (GSM_BASIC.test(ch)) septets += 1;
    else if (GSM_EXTENDED.test(ch)) septets += 2;
    else {
      const units = text.length;
      return { encoding: "UCS-2", units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
    }
  }
  return {
    encoding: "GSM-7",
    units: septets,
    segments: septets <= 160 ? 1 : Math.ceil(septets / 153),
  };
}

/** KV values must stay well under 64 KiB; every channel's limit is at most this. */
export const MAX_MESSAGE_LENGTH = Math.max(
  ...Object.values(CHANNEL_FACTS).map((f) => f.maxLength),
);

export const channelLabel = (channel: Channel): string => CHANNEL_FACTS[channel].label;

export const ROUTE_LABELS: Record<Route, string> = {
  meta: "WhatsApp Cloud API",
  twilio: "Twilio",
  webchat: "Web chat",
  api: "API channel",
  demo: "Demo",
};

/** Web chat visitor ids: this prefix and a time-ordered id, made only by `createVisitor`. */
export const VISITOR_PREFIX = "wv_";
const VISITOR_ID = new RegExp(`^${VISITOR_PREFIX}[0-9A-HJKMNP-TV-Z]{26}$`);

/** SPEC "Routes": a web chat visitor id names a visitor only `POST /webchat/api/visitors` made. */
export function isVisitorAddress(channel: Channel, from: string): boolean {
  return channel === "webchat" && VISITOR_ID.test(from);
}

/** `POST /api/inbound` may not speak for a web chat visitor: 409 `address_taken`. */
export function refuseVisitorAddress(channel: Channel, from: string): void {
  if (isVisitorAddress(channel, from)) {
    throw new Conflict(
      "address_taken",
      "This address belongs to a web chat visitor; only the visitor's own widget writes for it.",
    );
  }
}
