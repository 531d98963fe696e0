/**
 * `/account`: who is signed in, and a form to change one's own password (rule 58): the current
 * password, the new one twice. Any staff member has it; the header's account menu links here.
 */
import type { Agent } from "../domain/types.ts";
import { MIN_PASSWORD } from "../domain/agents.ts";
import { type Errors, TextField } from "./admin_shell.tsx";
import type { Flash } from "./components.tsx";
import { Layout, type NavCounts } from "./layout.tsx";

const ROLE_NAMES: Record<Agent["role"], string> = {
  agent: "Agent",
  supervisor: "Supervisor",
  admin: "Admin",
};

export function AccountPage(
  props: { agent: Agent; counts: NavCounts; flash?: Flash | null; errors?: Errors },
) {
  const { agent } = props;
  const errors = props.errors ?? {};
  return (
    <Layout title="Your account" agent={agent} counts={props.counts} flash={props.flash}>
      <div class="page-head">
        <h1>Your account</h1>
      </div>
      <div class="stack account">
        <section class="card" aria-labelledby="me-h">
          <div class="card-head">
            <h2 id="me-h">Signed in as</h2>
          </div>
          <dl class="card-body facts">
            <dt>Name</dt>
            <dd>{agent.name}</dd>
            <dt>E-mail</dt>
            <dd>{agent.email}</dd>
            <dt>Role</dt>
            <dd>{ROLE_NAMES[agent.role]}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="password-h">
          <div class="card-head">
            <h2 id="password-h">Change your password</h2>
          </div>
          <form method="post" action="/account/password" class="card-body stack">
            {errors.form ? <p class="error" role="alert">{errors.form}</p> : null}
            {/* For password managers: whose password this is. */}
            <input
              type="text"
              name="username"
              value={agent.email}
              autocomplete="username"
              hidden
              readonly
            />
            <TextField
              id="current-password"
              label="Current password"
              error={errors.currentPassword}
              type="password"
              name="currentPassword"
              autocomplete="current-password"
              required
            />
            <TextField
              id="new-password"
              label="New password"
              hint={`At least ${MIN_PASSWORD} characters.`}
              error={errors.newPassword}
              type="password"
              name="newPassword"
              autocomplete="new-password"
              minlength={MIN_PASSWORD}
              required
            />
            <TextField
              id="confirm-password"
              label="New password again"
              error={errors.confirmPassword}
              type="password"
              name="confirmPassword"
              autocomplete="new-password"
              minlength={MIN_PASSWORD}
              required
            />
            <p class="hint">
              You stay signed in here; every other browser or app signed in as you is signed out.
            </p>
            <div class="form-actions">
              <button type="submit" class="btn btn-primary">Change password</button>
            </div>
          </form>
        </section>
      </div>
    </Layout>
  );
}
