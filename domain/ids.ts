const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
let lastMs = -1;
let lastRandom: number[] = [];

/** ULID-style id: 10 time characters then 16 random ones, so key order is creation order. */
export function newId(atMs: number): string {
  const time = idTimePrefix(atMs);
  if (atMs === lastMs) {
    // Same millisecond: increment the random part so ids made in one ms stay ordered.
    for (let i = 15; i >= 0; i--) {
      if (lastRandom[i] < 31) {
        lastRandom[i]++;
        break;
      }
      lastRandom[i] = 0;
    }
  } else {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    lastRandom = Array.from(bytes, (b) => b % 32);
    lastRandom[0] = lastRandom[0] % 16; // leave headroom for increments
    lastMs = atMs;
  }
  return time + lastRandom.map((n) => ALPHABET[n]).join("");
}

const TIME_CHARS = 10;

/** Epoch ms encoded in an id's first 10 characters; NaN when it is not one of our ids. */
export function idTime(id: string): number {
  if (id.length < TIME_CHARS) return NaN;
  let t = 0;
  for (const ch of id.slice(0, TIME_CHARS)) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return NaN;
    t = t * 32 + v;
  }
  return t;
}

/**
 * The 10-character time prefix of ids made at `atMs`: as a key part it sorts before every id made
 * at or after `atMs` and after every id made before it, so it bounds a key range by time.
 */
export function idTimePrefix(atMs: number): string {
  let t = Math.max(0, Math.floor(atMs));
  let out = "";
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/**
 * A customer's id, derived from its channel address: the inbound path can read the customer,
 * its conversation and its open ticket in one round trip, and one address is one customer.
 */
export async function customerIdFor(channel: string, from: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${channel}:${from}`)),
  );
  return "C" + Array.from(digest.slice(0, 25), (b) => ALPHABET[b % 32]).join("");
}
