/**
 * Rule 51: desk links to one file that work without signing in, for providers that fetch what we
 * send (Twilio's `MediaUrl`) and SMS customers without MMS: `/media/:id?token=…`, the token an
 * HMAC-SHA256 of the file id and an expiry 7 days on, with a secret only the store knows. An
 * altered id, token or expiry, or a token past its time, opens nothing.
 */
import { hmac, timingSafeEqual } from "./providers/provider.ts";
import { keys } from "./keys.ts";

/** How long a signed link works. */
export const MEDIA_LINK_MS = 7 * 24 * 3600_000;

const encoder = new TextEncoder();

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** Each store's secret once read: it never changes, so links are signed and checked without a read. */
const secrets = new WeakMap<Deno.Kv, Promise<string>>();

/** The store's signing secret, made on first use (two instances racing keep the first). */
function secretOf(kv: Deno.Kv): Promise<string> {
  let secret = secrets.get(kv);
  if (!secret) {
    secret = readSecret(kv);
    secrets.set(kv, secret);
    // A failed read is not kept: the next link tries again.
    secret.catch(() => secrets.delete(kv));
  }
  return secret;
}

async function readSecret(kv: Deno.Kv): Promise<string> {
  const entry = await kv.get<string>(keys.mediaLinkSecret());
  if (entry.value) return entry.value;
  const made = base64url(crypto.getRandomValues(new Uint8Array(32)));
  await kv.atomic().check(entry).set(keys.mediaLinkSecret(), made).commit();
  const now = await kv.get<string>(keys.mediaLinkSecret());
  if (!now.value) throw new Error("could not make the media link secret");
  return now.value;
}

async function signature(secret: string, id: string, expires: number) {
  return base64url(await hmac("SHA-256", secret, `${id}.${expires}`));
}

/** A token for `id`, good for 7 days from `now` (the desk clock, epoch ms). */
export async function signMediaToken(kv: Deno.Kv, id: string, now: number): Promise<string> {
  const expires = Math.floor((now + MEDIA_LINK_MS) / 1000);
  return `${expires}.${await signature(await secretOf(kv), id, expires)}`;
}

/** Whether `token` was signed for `id` and has not expired at `now`. */
export async function verifyMediaToken(
  kv: Deno.Kv,
  id: string,
  token: string | null | undefined,
  now: number,
): Promise<boolean> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token ?? "");
  if (!match) return false;
  const expires = Number(match[1]);
  if (expires * 1000 <= now) return false;
  const expected = await signature(await secretOf(kv), id, expires);
  return timingSafeEqual(encoder.encode(expected), encoder.encode(match[2]));
}

/** The whole link for a file, on the desk's public address. */
export async function mediaLink(kv: Deno.Kv, publicUrl: string, id: string, now: number) {
  const token = await signMediaToken(kv, id, now);
  return `${publicUrl.replace(/\/+$/, "")}/media/${encodeURIComponent(id)}?token=${token}`;
}
