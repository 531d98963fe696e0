/** The one source of time (rule 21). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests and `CHATDESK_CLOCK=manual` move by hand; starts at the given instant. */
export class ManualClock implements Clock {
  constructor(private at: number = Date.now()) {}
  now(): number {
    return this.at;
  }
  set(at: number): number {
    this.at = at;
    return at;
  }
  advance(ms: number): number {
    this.at += ms;
    return this.at;
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
