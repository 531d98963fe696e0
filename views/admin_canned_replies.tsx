/**
 * Admin › Canned replies (rule 34): texts agents insert in the reply box, for all departments or
 * one, with `{{customer.name}}`, `{{agent.name}}` and `{{ticket.id}}` filled on insert.
 */
import { CANNED_BODY_MAX, CANNED_TITLE_MAX, PLACEHOLDERS } from "../domain/canned_replies.ts";
import type { CannedReply, Department } from "../domain/types.ts";
import { Card, type Errors, Field, FormErrors, invalid, TextField } from "./admin_shell.tsx";
import { Empty } from "./components.tsx";

export interface CannedReplyDraft {
  title: string;
  body: string;
  /** A department id; "" for all departments. */
  department: string;
}

export const emptyCannedReplyDraft = (): CannedReplyDraft => ({
  title: "",
  body: "",
  department: "",
});

const KNOWN: readonly string[] = PLACEHOLDERS;

/**
 * The body with its placeholders marked: the ones the desk fills, and unknown ones, which stay
 * as typed for the agent to replace before sending.
 */
export function CannedBody({ body }: { body: string }) {
  const parts = body.split(/(\{\{[^{}]*\}\})/);
  return <div class="template-body">{parts.map(markPlaceholder)}</div>;
}

/** One piece of a body: plain text, or a placeholder marked known or unknown. */
function markPlaceholder(part: string) {
  const name = /^\{\{\s*([^{}]*?)\s*\}\}$/.exec(part)?.[1];
  if (name === undefined) return part;
  return KNOWN.includes(name)
    ? <mark class="param">{part}</mark>
    : <mark class="param param-unknown" title="The agent fills this in">{part}</mark>;
}

const departmentName = (departments: Department[], id: string | null): string =>
  id === null
    ? "All departments"
    : departments.find((d) => d.id === id)?.name ?? "A removed department";

export function CannedRepliesTable(
  { replies, departments }: { replies: CannedReply[]; departments: Department[] },
) {
  if (!replies.length) {
    return (
      <Empty title="No canned replies">
        <p>Agents insert them in the reply box by typing / or picking one from the list.</p>
      </Empty>
    );
  }
  return (
    <div class="card table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">Title</th>
            <th scope="col">Offered to</th>
            <th scope="col">Text</th>
          </tr>
        </thead>
        <tbody>
          {replies.map((r) => (
            <tr>
              <td>
                <a href={`/admin/canned-replies/${r.id}`}>{r.title}</a>
              </td>
              <td>{departmentName(departments, r.department)}</td>
              <td>
                <CannedBody body={r.body} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function CannedReplyForm(props: {
  draft: CannedReplyDraft;
  errors: Errors;
  departments: Department[];
  /** Present when editing. */
  id?: string;
}) {
  const { draft, errors, id } = props;
  const prefix = id ? "edit" : "new";
  // An inactive department stays choosable only for the reply that already has it.
  const offered = props.departments.filter((d) => d.active || d.id === draft.department);
  const options = offered.map((d) => (
    <option value={d.id} selected={d.id === draft.department}>{d.name}</option>
  ));
  return (
    <Card id={`${prefix}-canned-title`} title={id ? "Edit canned reply" : "New canned reply"}>
      <form
        method="post"
        action={id ? `/admin/canned-replies/${id}` : "/admin/canned-replies"}
        class="card-body stack"
      >
        <FormErrors errors={errors} />
        <div class="field-row">
          <TextField
            id={`${prefix}-ctitle`}
            label="Title"
            hint="What agents see in the list, e.g. Shipping times."
            error={errors.title}
            name="title"
            value={draft.title}
            maxlength={CANNED_TITLE_MAX}
            required
            autocomplete="off"
          />
          <Field
            id={`${prefix}-cdept`}
            label="Offered to"
            hint="Agents of that department, or everyone."
            error={errors.department}
          >
            <select
              id={`${prefix}-cdept`}
              name="department"
              {...invalid(`${prefix}-cdept`, errors.department)}
            >
              <option value="" selected={draft.department === ""}>All departments</option>
              {options}
            </select>
          </Field>
        </div>
        <Field
          id={`${prefix}-cbody`}
          label="Text"
          hint={
            <>
              {"{{customer.name}}"}, {"{{agent.name}}"} and {"{{ticket.id}}"}{" "}
              are filled in when an agent inserts the reply. Anything else in{" "}
              {"{{…}}"}, or a value the desk does not have, stays highlighted and must be replaced
              before sending.
            </>
          }
          error={errors.body}
        >
          <textarea
            id={`${prefix}-cbody`}
            name="body"
            rows={5}
            maxlength={CANNED_BODY_MAX}
            required
            {...invalid(`${prefix}-cbody`, errors.body)}
          >
            {draft.body}
          </textarea>
        </Field>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">
            {id ? "Save canned reply" : "Create canned reply"}
          </button>
          {id
            ? <a class="btn btn-ghost" href="/admin/canned-replies">Back to canned replies</a>
            : null}
        </div>
      </form>
    </Card>
  );
}
