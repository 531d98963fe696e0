/** Reading requests safely: JSON bodies with a clear 400, and the caller's address. */
import type { Context } from "hono";
import type { Config } from "../domain/config.ts";
import { Invalid } from "../domain/errors.ts";

export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") {
    throw new Invalid("invalid_body", "The request body must be a JSON object.");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Invalid("invalid_json", "The body is not valid JSON.");
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-f:.]{2,45}$/i;

/**
 * One address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, or a
 * Forwarded element's `for="[2001:db8::1]"`. Anything else (`unknown`, an obfuscated name) is null.
 */
export function parseAddress(text: string): string | null {
  let value = text.trim();
  const forwarded = /(?:^|;)\s*for=("?)([^";]*)\1/i.exec(value);
  if (forwarded) value = forwarded[2].trim();
  else if (value.includes("=")) return null;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(":"));
  if (IPV4.test(value)) return value;
  if (IPV6.test(value) && value.includes(":") && !value.includes(":::")) {
    return value.toLowerCase();
  }
  return null;
}

/**
 * The client's address: the peer Deno.serve saw, or, when `CHATDESK_TRUSTED_PROXY_HEADER` names
 * the header our own proxy sets, that header's right-most entry (the one our proxy appended; the
 * entries left of it are whatever the client sent, so anyone can forge them). A request that did
 * not come through the proxy (no usable header) keeps its peer address.
 */
export function clientAddress(c: Context, config?: Pick<Config, "trustedProxyHeader">): string {
  const info = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
  const peer = info?.hostname ?? "local";
  const header = config?.trustedProxyHeader;
  if (!header) return peer;
  const value = c.req.header(header);
  if (!value) return peer;
  const entries = value.split(",");
  return parseAddress(entries[entries.length - 1]) ?? peer;
}
