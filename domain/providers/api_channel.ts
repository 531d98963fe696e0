/**
 * The API channel (any other gateway, like Chatwoot's API inbox): our message as a signed JSON
 * webhook to the integrator's URL, and how its answer is classed (rule 25).
 */
import type { ApiChannelSettings } from "../channel_settings.ts";
import {
  classifyHttpStatus,
  cutText,
  failedOutcome,
  hmac,
  jsonObject,
  type Provider,
  toHex,
} from "./provider.ts";

/**
 * `X-Chatdesk-Signature`: `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with the webhook
 * secret; the timestamp (unix seconds) is the `X-Chatdesk-Timestamp` header, so a gateway can
 * refuse a replay more than 5 minutes old.
 */
export async function apiChannelSignature(
  secret: string,
  timestamp: number,
  rawBody: string,
): Promise<string> {
  return `sha256=${toHex(await hmac("SHA-256", secret, `${timestamp}.${rawBody}`))}`;
}

export const apiChannelProvider: Provider<ApiChannelSettings> = {
  route: "api",
  async request(out, settings, _config, now) {
    if (!settings.webhookUrl || !settings.secret) {
      throw new Error("The API channel has no webhook URL or secret.");
    }
    const { message } = out;
    const body = JSON.stringify({
      id: message.id,
      customerId: out.customerId,
      channel: out.channel,
      to: out.to,
      text: message.text,
      ...(message.template ? { template: message.template, params: message.params ?? [] } : {}),
      ...(out.ticketId ? { ticketId: out.ticketId } : {}),
      at: new Date(message.at).toISOString(),
    });
    const timestamp = Math.floor(now / 1000);
    return {
      url: settings.webhookUrl,
      method: "POST",
      headers: {
        "content-type": "application/json",
        "X-Chatdesk-Timestamp": String(timestamp),
        "X-Chatdesk-Signature": await apiChannelSignature(settings.secret, timestamp, body),
      },
      body,
    };
  },
  classify(status, headers, body, now) {
    const kind = classifyHttpStatus(status);
    if (kind === "ok") {
      const id = jsonObject(body)?.providerId;
      return {
        kind: "accepted",
        providerId: typeof id === "string" && id ? cutText(id, 256) : null,
      };
    }
    const message = cutText(body.trim() || `HTTP ${status}`, 200);
    return failedOutcome(kind, `http_${status}`, message, headers, now);
  },
};
