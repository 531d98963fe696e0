/** Admin › Agents and Departments: lists, create forms, an agent's edit page. */
import type { Child } from "hono/jsx";
import { MIN_PASSWORD } from "../domain/agents.ts";
import { type Agent, type Department, type Role, ROLES } from "../domain/types.ts";
import {
  Card,
  type Errors,
  Field,
  FieldError,
  FormErrors,
  invalid,
  TextField,
} from "./admin_shell.tsx";
import { Empty } from "./components.tsx";

const ROLE_NAMES: Record<Role, string> = {
  agent: "Agent",
  supervisor: "Supervisor",
  admin: "Admin",
};

export interface AgentDraft {
  name: string;
  email: string;
  role: string;
  departments: string[];
}

export const emptyAgentDraft = (): AgentDraft => ({
  name: "",
  email: "",
  role: "agent",
  departments: [],
});

export function StatusBadge({ agent }: { agent: Agent }) {
  if (!agent.active) return <span class="badge badge-muted">Deactivated</span>;
  return agent.status === "online"
    ? <span class="badge badge-ok">Online</span>
    : <span class="badge">Offline</span>;
}

function departmentNames(ids: string[], departments: Department[]): string {
  const names = ids.map((id) => departments.find((d) => d.id === id)?.name ?? "(deleted)");
  return names.length ? names.join(", ") : "All (no departments)";
}

export function AgentsTable(
  { agents, departments, me }: { agents: Agent[]; departments: Department[]; me: Agent },
) {
  if (!agents.length) return <Empty title="No agents yet" />;
  return (
    <div class="card table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Departments</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <tr>
              <td>
                <a href={`/admin/agents/${a.id}`} class="strong">{a.name}</a>
                {a.id === me.id ? <span class="muted small">(you)</span> : null}
                <div class="muted small wrap-anywhere">{a.email}</div>
              </td>
              <td>{ROLE_NAMES[a.role]}</td>
              <td class="wrap-anywhere">{departmentNames(a.departments, departments)}</td>
              <td>
                <StatusBadge agent={a} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DepartmentChecks(
  { departments, checked, prefix }: {
    departments: Department[];
    checked: string[];
    prefix: string;
  },
) {
  const usable = departments.filter((d) => d.active || checked.includes(d.id));
  if (!usable.length) {
    return <p class="hint">No departments yet: this person serves every ticket.</p>;
  }
  return (
    <div class="inline">
      {usable.map((d) => (
        <label class="check">
          <input
            type="checkbox"
            name="departments"
            value={d.id}
            id={`${prefix}-dept-${d.id}`}
            checked={checked.includes(d.id)}
          />
          {d.name}
          {d.active ? null : <span class="muted small">(inactive)</span>}
        </label>
      ))}
    </div>
  );
}

function RoleSelect({ id, value, error }: { id: string; value: string; error?: string }) {
  // No `key`: hono/jsx would print it as an HTML attribute, and these lists render once.
  // deno-lint-ignore jsx-key
  const options = ROLES.map((r) => <option value={r} selected={r === value}>{ROLE_NAMES[r]}
  </option>);
  return (
    <Field
      id={id}
      label="Role"
      hint="Supervisors also oversee queues; admins also change settings."
      error={error}
    >
      <select id={id} name="role" {...invalid(id, error)}>
        {options}
      </select>
    </Field>
  );
}

/** A password an admin sets for someone; the repeat is compared with it, so has no length rule. */
function PasswordField(
  { id, label, name, error, hint }: {
    id: string;
    label: string;
    name: "password" | "confirm";
    error?: string;
    hint?: Child;
  },
) {
  return (
    <TextField
      id={id}
      label={label}
      hint={hint}
      error={error}
      name={name}
      type="password"
      minlength={name === "password" ? MIN_PASSWORD : undefined}
      maxlength={200}
      required
      autocomplete="new-password"
    />
  );
}

/** Shared fields of the create and edit forms. */
function ProfileFields(
  { draft, errors, departments, prefix }: {
    draft: AgentDraft;
    errors: Errors;
    departments: Department[];
    prefix: string;
  },
) {
  return (
    <>
      <div class="field-row">
        <TextField
          id={`${prefix}-name`}
          label="Name"
          error={errors.name}
          name="name"
          value={draft.name}
          maxlength={80}
          required
          autocomplete="off"
        />
        <TextField
          id={`${prefix}-email`}
          label="E-mail"
          error={errors.email}
          name="email"
          type="email"
          value={draft.email}
          maxlength={200}
          required
          autocomplete="off"
        />
      </div>
      <RoleSelect id={`${prefix}-role`} value={draft.role} error={errors.role} />
      <fieldset class="field plain-fieldset">
        <legend class="label">Departments</legend>
        <DepartmentChecks departments={departments} checked={draft.departments} prefix={prefix} />
        <FieldError id={`${prefix}-departments`} error={errors.departments} />
      </fieldset>
    </>
  );
}

export function NewAgentForm(
  { draft, errors, departments }: { draft: AgentDraft; errors: Errors; departments: Department[] },
) {
  return (
    <Card id="new-agent-title" title="New agent">
      <form method="post" action="/admin/agents" class="card-body stack" id="new-agent">
        <FormErrors errors={errors} />
        <ProfileFields draft={draft} errors={errors} departments={departments} prefix="new" />
        <PasswordField
          id="new-password"
          label="First password"
          name="password"
          error={errors.password}
          hint={<>At least {MIN_PASSWORD} characters. Share it privately.</>}
        />
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Create agent</button>
        </div>
      </form>
    </Card>
  );
}

export function AgentEdit(props: {
  agent: Agent;
  draft: AgentDraft;
  errors: Errors;
  passwordErrors: Errors;
  departments: Department[];
  assigned: number;
  me: Agent;
}) {
  const { agent, draft, errors, passwordErrors, departments, me } = props;
  const self = agent.id === me.id;
  return (
    <div class="grid-2 align-start">
      <Card id="profile-title" title="Profile" aside={<StatusBadge agent={agent} />}>
        <form method="post" action={`/admin/agents/${agent.id}`} class="card-body stack">
          <FormErrors errors={errors} />
          <ProfileFields draft={draft} errors={errors} departments={departments} prefix="edit" />
          <div class="form-actions">
            <button type="submit" class="btn btn-primary">Save changes</button>
            <a class="btn btn-ghost" href="/admin/agents">Back to agents</a>
          </div>
        </form>
      </Card>
      <div class="stack">
        <Card id="password-title" title="Reset password">
          <form
            method="post"
            action={`/admin/agents/${agent.id}/password`}
            class="card-body stack"
          >
            <PasswordField
              id="reset-password"
              label="New password"
              name="password"
              error={passwordErrors.password}
            />
            <PasswordField
              id="reset-confirm"
              label="Repeat it"
              name="confirm"
              error={passwordErrors.confirm}
            />
            <div class="form-actions">
              <button type="submit" class="btn">Set password</button>
            </div>
          </form>
        </Card>
        <Card id="access-title" title="Access">
          <div class="card-body stack">
            {agent.active
              ? (
                <p>
                  Active. Deactivating signs {self ? "you" : agent.name}{" "}
                  out everywhere and blocks sign-in; assigned tickets stay visible to supervisors.
                </p>
              )
              : <p>Deactivated: cannot sign in.</p>}
            <p class="muted small">
              Holds {props.assigned} assigned ticket{props.assigned === 1 ? "" : "s"}.{" "}
              {props.assigned
                ? (
                  <a href={`/supervisor/queues?queue=assigned&agent=${agent.id}`}>
                    See them in the supervisor queues
                  </a>
                )
                : null}
            </p>
            {self
              ? <p class="hint">You cannot deactivate your own account.</p>
              : (
                <form method="post" action={`/admin/agents/${agent.id}/active`}>
                  <input type="hidden" name="active" value={agent.active ? "0" : "1"} />
                  <button type="submit" class={agent.active ? "btn btn-danger" : "btn"}>
                    {agent.active ? "Deactivate" : "Reactivate"}
                  </button>
                </form>
              )}
          </div>
        </Card>
      </div>
    </div>
  );
}

export function DepartmentsPage(props: {
  departments: Department[];
  members: Record<string, number>;
  newName: string;
  errors: Errors;
  /** Which row's rename failed, with its typed name. */
  rename?: { id: string; name: string; error: string } | null;
}) {
  const { departments, errors, rename } = props;
  return (
    <div class="stack">
      <Card
        id="new-dept-title"
        title="New department"
        aside={
          <span class="muted small">
            With departments, agents see unassigned tickets of their departments only.
          </span>
        }
      >
        <form method="post" action="/admin/departments" class="card-body">
          <div class="field-row align-end">
            <TextField
              id="dept-name"
              label="Name"
              error={errors.name}
              name="name"
              value={props.newName}
              maxlength={80}
              required
            />
            <div class="field shrink">
              <button type="submit" class="btn btn-primary">Create department</button>
            </div>
          </div>
        </form>
      </Card>
      {departments.length === 0
        ? (
          <Empty title="No departments">
            <p>Every agent sees every ticket until you create one.</p>
          </Empty>
        )
        : (
          <div class="card table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" class="num">Agents</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {departments.map((d) => {
                  const failed = rename?.id === d.id ? rename : null;
                  const id = `rename-${d.id}`;
                  return (
                    <tr>
                      <td>
                        <form
                          method="post"
                          action={`/admin/departments/${d.id}`}
                          class="inline rename-form"
                        >
                          <label class="sr-only" for={id}>Name of {d.name}</label>
                          <input
                            id={id}
                            name="name"
                            value={failed ? failed.name : d.name}
                            maxlength={80}
                            required
                            {...invalid(id, failed?.error)}
                          />
                          <button type="submit" class="btn btn-sm">Rename</button>
                          <FieldError id={id} error={failed?.error} />
                        </form>
                      </td>
                      <td class="num">{props.members[d.id] ?? 0}</td>
                      <td>
                        {d.active
                          ? <span class="badge badge-ok">Active</span>
                          : <span class="badge badge-muted">Inactive</span>}
                      </td>
                      <td>
                        <form method="post" action={`/admin/departments/${d.id}/active`}>
                          <input type="hidden" name="active" value={d.active ? "0" : "1"} />
                          <button
                            type="submit"
                            class={d.active ? "btn btn-sm btn-danger" : "btn btn-sm"}
                            aria-label={`${d.active ? "Deactivate" : "Reactivate"} ${d.name}`}
                          >
                            {d.active ? "Deactivate" : "Reactivate"}
                          </button>
                        </form>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
    </div>
  );
}
