/** The one table of channel facts: how an address looks, how long a message may be, rule 18. */
import { Conflict } from "./errors.ts";
import type { Channel, Route } from "./types.ts";

export interface ChannelFacts {
  label: string;
  /** A valid customer address on this channel (`from` as the API takes it). */
  address: RegExp;
  /** Longest text one message may carry (WhatsApp's own limit is 4,096). */
  maxLength: number;
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
    freeTextWindow: true,
    routes: ["meta", "api", "demo"],
  },
  sms: {
    label: "SMS",
    address: /^\+?[0-9]{3,17}$/,
    maxLength: 4096,
    freeTextWindow: false,
    routes: ["twilio", "api", "demo"],
  },
  webchat: {
    label: "Web chat",
    address: /^[A-Za-z0-9._:-]{1,128}$/,
    maxLength: 4096,
    freeTextWindow: false,
    routes: ["webchat", "api", "demo"],
  },
};

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
