const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
let lastMs = -1;
let lastRandom: number[] = [];

/** ULID-style id: 10 time characters then 16 random ones, so key order is creation order. */
export function newId(atMs: number): string {
  let time = "";
  let t = Math.max(0, Math.floor(atMs));
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
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

export function isId(value: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}
