/** Password hashing with PBKDF2-SHA-256 from WebCrypto: salted, slow, self-describing. */
const ITERATIONS = 210_000;
const enc = new TextEncoder();

const b64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** "pbkdf2-sha256$iterations$salt$hash" */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2-sha256$${ITERATIONS}$${b64(salt)}$${
    b64(await derive(password, salt, ITERATIONS))
  }`;
}

let dummy: Promise<string> | null = null;

/**
 * The hash of a password nobody knows. Sign-in checks guesses for unknown e-mails against it, so
 * every failure costs the same key derivation and timing does not tell which e-mails exist.
 */
export function dummyHash(): Promise<string> {
  return dummy ??= hashPassword(newToken());
}

/** Constant-time check of a password against its stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iterations, salt, hash] = stored.split("$");
  if (scheme !== "pbkdf2-sha256" || !iterations || !salt || !hash) {
    await verifyPassword(password, await dummyHash());
    return false;
  }
  const actual = await derive(password, unb64(salt), Number(iterations));
  const expected = unb64(hash);
  if (actual.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < actual.length; i++) diff |= actual[i] ^ expected[i];
  return diff === 0;
}

/** A random token of 256 bits, and the SHA-256 under which its session is stored. */
export function newToken(): string {
  return b64(crypto.getRandomValues(new Uint8Array(32))).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

export async function hashToken(token: string): Promise<string> {
  return b64(new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(token))));
}
