/** The creation time inside a time-ordered id (domain/ids.ts), and key bounds built from it. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;

/** Epoch ms encoded in an id's first 10 characters; NaN when it is not one of our ids. */
export function idTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, TIME_CHARS)) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return NaN;
    t = t * 32 + v;
  }
  return id.length >= TIME_CHARS ? t : NaN;
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
