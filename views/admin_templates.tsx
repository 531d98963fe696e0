/** Admin › Templates: approved WhatsApp message templates with {{1}}-style parameters (rule 18). */
import { parameterCount } from "../domain/templates.ts";
import type { Template } from "../domain/types.ts";
import { Card, type Errors, Field, FormErrors, invalid, TextField } from "./admin_shell.tsx";
import { Empty } from "./components.tsx";

export interface TemplateDraft {
  name: string;
  body: string;
  language: string;
}

export const emptyTemplateDraft = (): TemplateDraft => ({ name: "", body: "", language: "en" });

/** The body with its parameters marked, so admins see what agents will fill in. */
export function TemplateBody({ body }: { body: string }) {
  const parts = body.split(/(\{\{\d+\}\})/);
  // No `key`: hono/jsx would print it as an HTML attribute, and these lists render once.
  // deno-lint-ignore jsx-key
  const marked = parts.map((p) => /^\{\{\d+\}\}$/.test(p) ? <mark class="param">{p}</mark> : p);
  return (
    <div class="template-body">
      {marked}
    </div>
  );
}

export function TemplatesTable({ templates }: { templates: Template[] }) {
  if (!templates.length) {
    return (
      <Empty title="No templates">
        <p>Agents need one to write to a WhatsApp customer after the 24-hour window.</p>
      </Empty>
    );
  }
  return (
    <div class="card table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Language</th>
            <th scope="col">Body</th>
            <th scope="col" class="num">Parameters</th>
          </tr>
        </thead>
        <tbody>
          {templates.map((t) => (
            <tr>
              <td>
                <a href={`/admin/templates/${t.id}`}>{t.name}</a>
              </td>
              <td>{t.language}</td>
              <td>
                <TemplateBody body={t.body} />
              </td>
              <td class="num">{parameterCount(t.body)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TemplateForm(props: {
  draft: TemplateDraft;
  errors: Errors;
  /** Present when editing. */
  id?: string;
}) {
  const { draft, errors, id } = props;
  const prefix = id ? "edit" : "new";
  return (
    <Card id={`${prefix}-template-title`} title={id ? "Edit template" : "New template"}>
      <form
        method="post"
        action={id ? `/admin/templates/${id}` : "/admin/templates"}
        class="card-body stack"
      >
        <FormErrors errors={errors} />
        <div class="field-row">
          <TextField
            id={`${prefix}-tname`}
            label="Name"
            hint="As approved by WhatsApp: lowercase letters, digits and _."
            error={errors.name}
            name="name"
            value={draft.name}
            maxlength={80}
            required
            pattern="[a-z0-9_]+"
            autocomplete="off"
            placeholder="order_update"
          />
          <TextField
            id={`${prefix}-tlang`}
            label="Language"
            error={errors.language}
            name="language"
            value={draft.language}
            maxlength={10}
            required
            autocomplete="off"
            placeholder="en or en_US"
          />
        </div>
        <Field
          id={`${prefix}-tbody`}
          label="Body"
          hint={<>Mark what the agent fills in as {"{{1}}"}, {"{{2}}"}… numbered without gaps.</>}
          error={errors.body}
        >
          <textarea
            id={`${prefix}-tbody`}
            name="body"
            rows={4}
            maxlength={1024}
            required
            {...invalid(`${prefix}-tbody`, errors.body)}
          >
            {draft.body}
          </textarea>
        </Field>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">
            {id ? "Save template" : "Create template"}
          </button>
          {id ? <a class="btn btn-ghost" href="/admin/templates">Back to templates</a> : null}
        </div>
      </form>
    </Card>
  );
}
