/**
 * The customer profile (rule 36): name, the provider's profile name, channel and address, first
 * seen, staff's `about`, and the customer's tickets page by page. Agents see it only when rule 23
 * lets them see the customer; the tickets are listed even when the agent may not open them.
 */
import { maySeeCustomer } from "./access.ts";
import type { Desk } from "./desk.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { customerState } from "./inbound.ts";
import { keys } from "./keys.ts";
import { getAll, retryCommit } from "./kv_util.ts";
import type { Agent, Customer, Ticket, TicketStatus } from "./types.ts";
import { asBody, str } from "./validate.ts";

export const CUSTOMER_TICKETS_PAGE = 50;
export const ABOUT_MAX = 2000;
export const CUSTOMER_NAME_MAX = 100;

export interface CustomerTicketRow {
  id: string;
  status: TicketStatus;
  createdAt: number;
  assignedTo: string | null;
}

export interface CustomerProfile {
  id: string;
  channel: Customer["channel"];
  from: string;
  name: string;
  profileName: string | null;
  about: string;
  firstSeenAt: number;
  conversation: { state: string; chatId?: string };
  openTicketId: string | null;
  /** Newest first, one page. */
  tickets: CustomerTicketRow[];
  /** Pass back for the next (older) page; null on the last page. */
  ticketsCursor: string | null;
  version: number;
}

/** Records written before edits existed have no version: they are at 1. */
export const customerVersion = (c: Customer): number => c.version ?? 1;

const CURSOR = /^[0-9A-Za-z_-]{1,64}$/;

/**
 * Rule 36: the profile of a customer the agent may see (404 otherwise, rule 23), with its tickets
 * newest first, `pageSize` (50) at a time: `cursor` is the previous page's `ticketsCursor`.
 */
export async function customerProfile(
  desk: Desk,
  agent: Agent,
  customerId: string,
  cursor?: string | null,
  pageSize = CUSTOMER_TICKETS_PAGE,
): Promise<CustomerProfile> {
  if (cursor && !CURSOR.test(cursor)) {
    throw new Invalid("invalid_query", "cursor is not one this list gave.", {
      cursor: "Use the ticketsCursor of the previous answer.",
    });
  }
  const state = await customerState(desk, customerId);
  // Not found (not forbidden), so ids of customers the agent may not see reveal nothing.
  if (!state || !(await maySeeCustomer(desk, agent, customerId))) throw new NotFound("Customer");
  const { customer } = state;
  const prefix = keys.customerTickets(customerId);
  const ids: string[] = [];
  const listed = desk.kv.list<string>(
    cursor ? { prefix, end: [...prefix, cursor] } : { prefix },
    { reverse: true, limit: pageSize + 1 },
  );
  for await (const e of listed) ids.push(e.value);
  const page = ids.slice(0, pageSize);
  const tickets = (await getAll<Ticket>(desk.kv, page.map((id) => keys.ticket(id))))
    .map((e) => e.value)
    .filter((t): t is Ticket => t !== null)
    .map((t) => ({ id: t.id, status: t.status, createdAt: t.createdAt, assignedTo: t.assignedTo }));
  return {
    id: customer.id,
    channel: customer.channel,
    from: customer.from,
    name: customer.name,
    profileName: customer.profileName ?? null,
    about: customer.about ?? "",
    firstSeenAt: customer.createdAt,
    conversation: state.conversation,
    openTicketId: state.openTicketId,
    tickets,
    ticketsCursor: ids.length > pageSize ? page[page.length - 1] : null,
    version: customerVersion(customer),
  };
}

interface CustomerEdit {
  name?: string;
  about?: string;
  ifVersion?: number;
}

function parseCustomerEdit(input: unknown): CustomerEdit {
  const body = asBody(input);
  const edit: CustomerEdit = {};
  if (body.name !== undefined) {
    edit.name = str(body, "name", { max: CUSTOMER_NAME_MAX }).trim();
  }
  if (body.about !== undefined) {
    if (body.about !== null && typeof body.about !== "string") {
      throw new Invalid("invalid_field", '"about" must be text.', { about: "Must be text." });
    }
    const about = body.about ?? "";
    if (about.length > ABOUT_MAX) {
      throw new Invalid("invalid_field", `"about" must have at most ${ABOUT_MAX} characters.`, {
        about: `At most ${ABOUT_MAX} characters.`,
      });
    }
    edit.about = about;
  }
  if (body.ifVersion !== undefined && body.ifVersion !== null) {
    if (typeof body.ifVersion !== "number" || !Number.isInteger(body.ifVersion)) {
      throw new Invalid("invalid_field", '"ifVersion" must be the version you read.', {
        ifVersion: "A whole number.",
      });
    }
    edit.ifVersion = body.ifVersion;
  }
  return edit;
}

/**
 * Rule 36: staff who may see the customer edit its name (1–100) and `about` (≤ 2,000). Every
 * change bumps `version`; a stale `ifVersion` is a 409 `version_conflict`. A name an agent
 * changed wins over the provider's from then on (`nameSetByAgent`, see `renamedCustomer`).
 */
export async function updateCustomer(
  desk: Desk,
  agent: Agent,
  customerId: string,
  input: unknown,
): Promise<Customer> {
  const edit = parseCustomerEdit(input);
  if (!(await maySeeCustomer(desk, agent, customerId))) throw new NotFound("Customer");
  return await retryCommit(async () => {
    const entry = await desk.kv.get<Customer>(keys.customer(customerId));
    const customer = entry.value;
    if (!customer) throw new NotFound("Customer");
    const version = customerVersion(customer);
    if (edit.ifVersion !== undefined && edit.ifVersion !== version) {
      throw new Conflict(
        "version_conflict",
        `The customer changed meanwhile (version ${version}, not ${edit.ifVersion}); reload it.`,
      );
    }
    let next = customer;
    if (edit.name !== undefined && edit.name !== customer.name) {
      next = { ...next, name: edit.name, nameSetByAgent: true };
    }
    if (edit.about !== undefined && edit.about !== (customer.about ?? "")) {
      next = { ...next, about: edit.about };
    }
    if (next === customer) return customer;
    next = { ...next, version: version + 1 };
    const ok = (await desk.kv.atomic().check(entry).set(entry.key, next).commit()).ok;
    return ok ? next : undefined;
  });
}

/**
 * Rule 36: indexes existing tickets by customer (tickets written before the index existed).
 * Idempotent: only missing entries are written, each with a `versionstamp: null` check. Returns
 * how many it wrote.
 */
export async function indexCustomerTickets(kv: Deno.Kv): Promise<number> {
  let written = 0;
  let batch: Ticket[] = [];
  const flush = async () => {
    const pointers = batch.map((t) => keys.customerTicket(t.customerId, t.id));
    // A lost check means another start wrote some entries meanwhile: read again, write the rest.
    written += await retryCommit(async () => {
      const entries = await kv.getMany<string[]>(pointers);
      const op = kv.atomic();
      let missing = 0;
      for (const [i, e] of entries.entries()) {
        if (e.versionstamp !== null) continue;
        op.check(e).set(e.key, batch[i].id);
        missing++;
      }
      if (!missing) return 0;
      return (await op.commit()).ok ? missing : undefined;
    });
    batch = [];
  };
  for await (const { value } of kv.list<Ticket>({ prefix: keys.tickets() }, { batchSize: 100 })) {
    batch.push(value);
    if (batch.length === 10) await flush();
  }
  if (batch.length) await flush();
  return written;
}
