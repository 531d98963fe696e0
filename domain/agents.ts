/** Agents, supervisors and admins: who they are, their departments and their status. */
import type { Clock } from "./clock.ts";
import { Conflict, Invalid, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys } from "./keys.ts";
import { retryCommit } from "./kv_util.ts";
import { HOUR } from "./clock.ts";
import { hashPassword, hashToken } from "./passwords.ts";
import { type Agent, type AgentStatus, ROLES, type Session } from "./types.ts";
import { asBody, EMAIL, oneOf, str, strList } from "./validate.ts";

/**
 * The stored agent. `sessionEpoch` grows with every password reset, role change and
 * (de)activation; a session made under an older epoch is void (`authenticate`), so one commit
 * ends every session of the agent and nothing revives them.
 */
export type AgentRecord = Agent & { sessionEpoch?: number };

export const sessionEpochOf = (agent: AgentRecord): number => agent.sessionEpoch ?? 0;

export type PublicAgent = Omit<Agent, "passwordHash">;

export function publicAgent(agent: AgentRecord): PublicAgent {
  const { passwordHash: _, sessionEpoch: _epoch, ...rest } = agent;
  return rest;
}

export async function getAgent(kv: Deno.Kv, id: string): Promise<AgentRecord> {
  const entry = await kv.get<AgentRecord>(keys.agent(id));
  if (!entry.value) throw new NotFound("Agent");
  return entry.value;
}

export async function listAgents(kv: Deno.Kv): Promise<Agent[]> {
  const out: Agent[] = [];
  for await (const entry of kv.list<Agent>({ prefix: keys.agents() })) out.push(entry.value);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function checkDepartments(kv: Deno.Kv, ids: string[]) {
  const entries = await kv.getMany(ids.slice(0, 10).map((id) => keys.department(id)));
  if (ids.length > 10) {
    throw new Invalid("invalid_field", "An agent belongs to at most 10 departments.");
  }
  const missing = ids.filter((_, i) => !entries[i].value);
  if (missing.length) {
    throw new Invalid("unknown_department", `Unknown department: ${missing.join(", ")}.`, {
      departments: "Unknown department.",
    });
  }
}

export const MIN_PASSWORD = 8;

/** Creates an agent; the e-mail is unique (checked in the same commit). */
export async function createAgent(kv: Deno.Kv, clock: Clock, input: unknown): Promise<Agent> {
  const body = asBody(input);
  const name = str(body, "name", { max: 80, line: true }).trim();
  const email = str(body, "email", { max: 200 }).trim().toLowerCase();
  if (!EMAIL.test(email)) {
    throw new Invalid("invalid_field", '"email" must be an e-mail address.', {
      email: "Not an e-mail address.",
    });
  }
  const password = str(body, "password", { min: MIN_PASSWORD, max: 200 });
  const role = body.role === undefined ? "agent" : oneOf(body, "role", ROLES);
  const departments = strList(body, "departments") ?? [];
  await checkDepartments(kv, departments);
  const agent: Agent = {
    id: newId(clock.now()),
    name,
    email,
    role,
    departments,
    status: "offline",
    active: true,
    passwordHash: await hashPassword(password),
    createdAt: clock.now(),
  };
  const result = await kv.atomic()
    .check({ key: keys.agentByEmail(email), versionstamp: null })
    .set(keys.agent(agent.id), agent)
    .set(keys.agentByEmail(email), agent.id)
    .commit();
  if (!result.ok) {
    throw new Conflict("email_taken", `An agent with e-mail ${email} exists already.`);
  }
  return agent;
}

/**
 * Edits name, e-mail, role, departments, active, or resets the password. A password reset, a role
 * change and a (de)activation end every session of the agent in the same commit (open `/events`
 * streams included: the commit wakes them). `keepSession`: the caller's own token; when agents
 * change their own password, that one session stays (re-bound to the new epoch) and all others end.
 */
export async function updateAgent(
  kv: Deno.Kv,
  id: string,
  input: unknown,
  opts: { keepSession?: string } = {},
): Promise<Agent> {
  const body = asBody(input);
  const entry = await kv.get<AgentRecord>(keys.agent(id));
  if (!entry.value) throw new NotFound("Agent");
  const before = entry.value;
  const next: AgentRecord = { ...before };
  const name = str(body, "name", { max: 80, optional: true, line: true });
  if (name !== undefined) next.name = name.trim();
  const email = str(body, "email", { max: 200, optional: true })?.trim().toLowerCase();
  if (email !== undefined && !EMAIL.test(email)) {
    throw new Invalid("invalid_field", '"email" must be an e-mail address.', {
      email: "Not an e-mail address.",
    });
  }
  if (body.role !== undefined) next.role = oneOf(body, "role", ROLES);
  const departments = strList(body, "departments");
  if (departments) {
    await checkDepartments(kv, departments);
    next.departments = departments;
  }
  if (body.active !== undefined) {
    if (typeof body.active !== "boolean") {
      throw new Invalid("invalid_field", '"active" must be true or false.');
    }
    next.active = body.active;
    if (!next.active) next.status = "offline";
  }
  const password = str(body, "password", { min: MIN_PASSWORD, max: 200, optional: true });
  if (password !== undefined) next.passwordHash = await hashPassword(password);
  const op = kv.atomic().check(entry);
  if (email !== undefined && email !== before.email) {
    next.email = email;
    op.check({ key: keys.agentByEmail(email), versionstamp: null })
      .delete(keys.agentByEmail(before.email))
      .set(keys.agentByEmail(email), id);
  }
  const credentialsChanged = next.role !== before.role || next.active !== before.active;
  if (password !== undefined || credentialsChanged) {
    next.sessionEpoch = sessionEpochOf(before) + 1;
    // Open /events streams re-read their session on this key's waves: they end now, not later.
    op.sum(keys.ticketsChanged(), 1n);
    if (opts.keepSession && !credentialsChanged) {
      const key = keys.session(await hashToken(opts.keepSession));
      const own = await kv.get<Session>(key);
      if (own.value?.agentId === id && (own.value.epoch ?? 0) === sessionEpochOf(before)) {
        const session: Session = { ...own.value, epoch: next.sessionEpoch };
        op.check(own).set(key, session, { expireIn: SESSION_GC });
      }
    }
  }
  op.set(keys.agent(id), next);
  if (next.status === "online") op.set(keys.agentOnline(id), next.departments);
  else op.delete(keys.agentOnline(id));
  const result = await op.commit();
  if (!result.ok) {
    throw new Conflict("edit_conflict", "E-mail taken, or the agent changed meanwhile.");
  }
  return next;
}

/** How long KV keeps a re-bound session (garbage collection only; `expiresAt` decides). */
const SESSION_GC = 12 * HOUR;

/** Rule 23: status only decides live-chat routing (rule 4). */
export async function setStatus(kv: Deno.Kv, id: string, status: AgentStatus): Promise<Agent> {
  return await retryCommit(async () => {
    const entry = await kv.get<Agent>(keys.agent(id));
    if (!entry.value) throw new NotFound("Agent");
    const next = { ...entry.value, status };
    const op = kv.atomic().check(entry).set(keys.agent(id), next);
    if (status === "online") op.set(keys.agentOnline(id), next.departments);
    else op.delete(keys.agentOnline(id));
    return (await op.commit()).ok ? next : undefined;
  });
}

/** The departments of every agent online now (rule 4 asks it of each new conversation). */
export async function onlineAgents(kv: Deno.Kv): Promise<string[][]> {
  const out: string[][] = [];
  for await (const entry of kv.list<string[]>({ prefix: keys.agentsOnline() })) {
    out.push(entry.value);
  }
  return out;
}

/** Rule 4: is an agent who serves this department online? (no department: any online agent) */
export function agentAvailable(online: string[][], department: string | null): boolean {
  return online.some((departments) => department === null || departments.includes(department));
}

export async function findAgentByEmail(
  kv: Deno.Kv,
  email: string,
): Promise<AgentRecord | null> {
  const id = await kv.get<string>(keys.agentByEmail(email.trim().toLowerCase()));
  if (!id.value) return null;
  return (await kv.get<AgentRecord>(keys.agent(id.value))).value;
}
