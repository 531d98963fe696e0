/**
 * Prints the one directory `deno task start` lets the desk write: the folder of the configured
 * KV file (`CHATDESK_KV_PATH`, default `./data`). The desk writes nothing else; a KV that is not
 * a file (`:memory:`, KV Connect, the platform's) still gets `./data`, which it never touches.
 */
import { isFileStore, parseConfig } from "../domain/config.ts";

export function kvWriteDirectory(env: Record<string, string | undefined>): string {
  let path: string;
  try {
    path = parseConfig(env, { demo: true }).kvPath;
  } catch {
    return "./data"; // main.ts reports the configuration problem itself
  }
  if (!isFileStore(path)) return "./data";
  return path.replace(/[^/]*$/, "").replace(/(.)\/$/, "$1") || ".";
}

if (import.meta.main) console.log(kvWriteDirectory(Deno.env.toObject()));
