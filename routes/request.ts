/** Reading requests safely: JSON bodies with a clear 400, and the caller's address. */
import type { Context } from "hono";
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

/** The peer address Deno.serve saw (never a client-supplied header, which anyone can forge). */
export function clientAddress(c: Context): string {
  const info = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
  return info?.hostname ?? "local";
}
