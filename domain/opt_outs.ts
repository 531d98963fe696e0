/**
 * Rule 44: a customer's opt-out state. Twilio answers opt-out, opt-in and help keywords itself
 * and then blocks every message to a number that opted out (error 21610) until it opts in again;
 * the desk keeps the same state on the customer record (which the inbound path reads anyway), so
 * replies are refused at once instead of failing at Twilio.
 */
import { Unprocessable } from "./errors.ts";
import type { Customer, DeliveryError, OptOutKind } from "./types.ts";

/**
 * The customer after an opt-out (`stop`) or opt-in (`start`) keyword; the same object when its
 * state does not change (a second STOP keeps the first time).
 */
export function withOptOut(
  customer: Customer,
  kind: OptOutKind | undefined,
  now: number,
): Customer {
  if (kind === "stop") return customer.optedOutAt ? customer : { ...customer, optedOutAt: now };
  if (kind === "start" && customer.optedOutAt) return { ...customer, optedOutAt: null };
  return customer;
}

/** Whether the customer opted out (rule 44). */
export const isOptedOut = (customer: Customer | null | undefined): boolean =>
  !!customer?.optedOutAt;

/** Why a queued message to an opted-out customer failed (rule 44). */
export const OPTED_OUT: DeliveryError = {
  code: "customer_opted_out",
  message: "The customer opted out by texting STOP: nothing is sent until they text START.",
};

/** Rule 44: a reply to an opted-out customer is refused before anything is stored (422). */
export function refuseOptedOut(customer: Customer): void {
  if (isOptedOut(customer)) throw new Unprocessable(OPTED_OUT.code, OPTED_OUT.message);
}
