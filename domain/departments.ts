/** Departments: groups of agents; tickets may belong to one (rule 13). */
import { Conflict, NotFound } from "./errors.ts";
import { newId } from "./ids.ts";
import { keys, NO_DEPARTMENT } from "./keys.ts";
import type { Agent, Department } from "./types.ts";
import { asBody, str } from "./validate.ts";
import type { Clock } from "./clock.ts";

export async function listDepartments(kv: Deno.Kv): Promise<Department[]> {
  const out: Department[] = [];
  for await (const entry of kv.list<Department>({ prefix: keys.departments() })) {
    out.push(entry.value);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function getDepartment(kv: Deno.Kv, id: string): Promise<Department> {
  const entry = await kv.get<Department>(keys.department(id));
  if (!entry.value) throw new NotFound("Department");
  return entry.value;
}

export async function createDepartment(
  kv: Deno.Kv,
  clock: Clock,
  input: unknown,
): Promise<Department> {
  const body = asBody(input);
  const name = str(body, "name", { max: 80, line: true }).trim();
  await assertUniqueName(kv, name);
  const department: Department = { id: newId(clock.now()), name, active: true };
  await kv.set(keys.department(department.id), department);
  return department;
}

export async function updateDepartment(
  kv: Deno.Kv,
  id: string,
  input: unknown,
): Promise<Department> {
  const body = asBody(input);
  const entry = await kv.get<Department>(keys.department(id));
  if (!entry.value) throw new NotFound("Department");
  const next = { ...entry.value };
  const name = str(body, "name", { max: 80, optional: true, line: true });
  if (name !== undefined && name.trim() !== next.name) {
    await assertUniqueName(kv, name.trim());
    next.name = name.trim();
  }
  if (typeof body.active === "boolean") next.active = body.active;
  const result = await kv.atomic().check(entry).set(keys.department(id), next).commit();
  if (!result.ok) {
    throw new Conflict("edit_conflict", "The department changed meanwhile; try again.");
  }
  return next;
}

/** Deleting only deactivates: tickets and agents may still point at it. */
export function deactivateDepartment(kv: Deno.Kv, id: string): Promise<Department> {
  return updateDepartment(kv, id, { active: false });
}

async function assertUniqueName(kv: Deno.Kv, name: string) {
  const existing = await listDepartments(kv);
  if (existing.some((d) => d.name.toLowerCase() === name.toLowerCase())) {
    throw new Conflict("department_exists", `A department named "${name}" exists already.`);
  }
}

const departmentKeys = (departments: Department[]): string[] => [
  ...departments.map((d) => d.id),
  NO_DEPARTMENT,
];

/** Every department key of the Unassigned index, "no department" included (staff see all). */
export async function allDepartmentKeys(kv: Deno.Kv): Promise<string[]> {
  return departmentKeys(await listDepartments(kv));
}

/**
 * Rule 13: the Unassigned index prefixes an agent may see. Supervisors, admins, and everyone
 * when no department is configured see all; an agent sees its departments and "no department".
 */
export async function visibleDepartments(kv: Deno.Kv, agent: Agent): Promise<string[]> {
  return visibleOf(agent, await listDepartments(kv));
}

/** `visibleDepartments` from the departments as read (sorted by name, as listDepartments gives). */
export function visibleOf(agent: Pick<Agent, "role" | "departments">, departments: Department[]) {
  const configured = departments.some((d) => d.active);
  if (agent.role !== "agent" || !configured) return departmentKeys(departments);
  return [...agent.departments.filter((id) => departments.some((d) => d.id === id)), NO_DEPARTMENT];
}
