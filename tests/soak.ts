/**
 * How hard the adversarial tests push. `deno task test` runs their quick versions; `deno task soak`
 * sets `CHATDESK_SOAK=1` for the longer ones (the authorization matrix, the fuzz, the crash test,
 * the hostile-text sweep). `CHATDESK_SOAK=2`, `3`… scale the soak's counts further.
 *
 * A soak draws a fresh random seed each time and prints it; `CHATDESK_SOAK_SEED=<n>` replays one
 * (in either mode).
 */

function readLevel(): number {
  const raw = (Deno.env.get("CHATDESK_SOAK") ?? "").trim();
  if (raw === "" || raw === "0") return 0;
  const level = Number(raw);
  if (!Number.isFinite(level) || level <= 0) {
    throw new Error(`CHATDESK_SOAK must be empty, 0, 1 or a larger number, not "${raw}".`);
  }
  return level;
}

/** 0: the quick version; 1: `deno task soak`; more: longer still. */
export const SOAK_LEVEL = readLevel();
export const SOAK = SOAK_LEVEL > 0;

/** `quick` in `deno task test`; in a soak, `long` scaled by the soak level (at least `long`). */
export function bySoak(quick: number, long: number): number {
  return SOAK ? Math.max(long, Math.round(long * SOAK_LEVEL)) : quick;
}

/**
 * The seed a randomized test uses: `CHATDESK_SOAK_SEED` when given, else `fixed` in the quick
 * version and a random one in a soak. Prints it with the command that replays it.
 */
export function soakSeed(test: string, fixed: number): number {
  const given = Deno.env.get("CHATDESK_SOAK_SEED");
  let seed = fixed;
  if (given !== undefined && given.trim() !== "") {
    seed = Number(given);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`CHATDESK_SOAK_SEED must be a whole number, not "${given}".`);
    }
  } else if (SOAK) seed = crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
  if (SOAK || given !== undefined) {
    console.log(
      `${test}: seed ${seed} (replay: CHATDESK_SOAK=${SOAK_LEVEL || 0} CHATDESK_SOAK_SEED=${seed})`,
    );
  }
  return seed;
}
