/**
 * Rule 54, one name everywhere: how a customer is named and its address written in every list
 * row, page header, notice, transcript and canned reply. A name counts as the customer's own only
 * when it is not empty, not the address and not the label the web chat generates for a visitor
 * ("Visitor J0PWW"); without one the customer is its address, formatted, never a raw id.
 */
import { isVisitorAddress } from "./channels.ts";
import type { Channel } from "./types.ts";

/** What naming needs to know of a customer (a customer, a ticket or a chat row all have it). */
export interface Named {
  name: string;
  from: string;
  channel: Channel;
}

/** The label agents see for a web chat visitor with no name: its id's last five characters. */
export const visitorLabel = (visitorId: string): string => `Visitor ${visitorId.slice(-5)}`;

/** Rules 34 and 54: whether the customer has a name of its own (not its address, not a label). */
export function hasOwnName(c: Named): boolean {
  const name = c.name.trim();
  if (name === "" || name === c.from) return false;
  return !(isVisitorAddress(c.channel, c.from) && name === visitorLabel(c.from));
}

/**
 * Rule 54: an address as people read it: a web chat visitor by its label, never its 29-character
 * id; a phone number in its international form (+27820000001), which agents copy and search by.
 */
export function formatAddress(channel: Channel, from: string): string {
  return isVisitorAddress(channel, from) ? visitorLabel(from) : from;
}

/** Rule 54: what a customer is called everywhere: its own name, else its address, formatted. */
export const displayName = (c: Named): string =>
  hasOwnName(c) ? c.name.trim() : formatAddress(c.channel, c.from);
