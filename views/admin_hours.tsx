/** Admin › Business hours: time zone, weekly intervals, closures; rows added by submit buttons. */
import type { Weekday } from "../domain/business_hours.ts";
import { WEEKDAYS } from "../domain/business_hours.ts";
import { fieldName, type HoursDraft, zoneChoices } from "../domain/hours_form.ts";
import { Card, type Errors, Field, FieldError, FormErrors, invalid } from "./admin_shell.tsx";

const DAY_NAMES: Record<Weekday, string> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

export interface HoursFormProps {
  draft: HoursDraft;
  errors: Errors;
  /** The preview sentence (describeOpening) and what it describes. */
  preview: string;
  previewOf: "saved" | "draft";
  zones: string[];
}

export function HoursForm({ draft, errors, preview, previewOf, zones }: HoursFormProps) {
  const zoneList = zoneChoices(zones, draft.timeZone);
  // No `key`: hono/jsx would print it as an HTML attribute, and these lists render once.
  // deno-lint-ignore jsx-key
  const zoneOptions = zoneList.map((z) => <option value={z} />);
  return (
    <form method="post" action="/admin/hours" class="stack" novalidate>
      {/* Enter in a field saves: the first submit button of a form is its default. */}
      <button type="submit" name="op" value="save" class="sr-only" tabindex={-1} aria-hidden="true">
        Save
      </button>
      <FormErrors errors={errors} />
      <p class="preview-line" id="hours-preview" role="status">
        <span class={preview.startsWith("Open") ? "dot dot-online" : "dot"}></span>
        <span>
          <strong>{preview}</strong>{" "}
          <span class="muted small">
            {previewOf === "saved" ? "(saved hours, right now)" : "(these hours, not saved yet)"}
          </span>
        </span>
      </p>

      <section class="card">
        <div class="card-body stack">
          <Field
            id="timeZone"
            label="Time zone"
            hint="Opening hours follow this zone's local clock, across daylight-saving changes."
            error={errors.timeZone}
            class="field zone-field"
          >
            <input
              id="timeZone"
              name="timeZone"
              list="zones"
              value={draft.timeZone}
              autocomplete="off"
              spellcheck={false}
              placeholder="Type to search, e.g. Europe/London"
              {...invalid("timeZone", errors.timeZone)}
            />
            <datalist id="zones">
              {zoneOptions}
            </datalist>
          </Field>
        </div>
      </section>

      <Card
        id="weekly-title"
        title="Weekly hours"
        aside={
          <span class="muted small">
            A day without hours is closed. An end of 00:00 (12:00 AM) means midnight at the end of
            the day.
          </span>
        }
      >
        <div class="card-body hours-days">
          {WEEKDAYS.map((day) => <DayRows key={day} day={day} draft={draft} errors={errors} />)}
        </div>
      </Card>

      <Card
        id="closures-title"
        title="Closures"
        aside={<span class="muted small">Whole local days closed, such as public holidays.</span>}
      >
        <div class="card-body stack">
          {draft.closures.length === 0 ? <p class="muted">No closures.</p> : null}
          {draft.closures.map((row, i) => {
            const id = `closure-${i}`;
            const error = errors[fieldName.closureRow(i)];
            return (
              <div class="closure-row">
                <div class="field">
                  <label for={`${id}-date`} class="small">Date</label>
                  <input
                    id={`${id}-date`}
                    type="date"
                    name={fieldName.closureDate}
                    value={row.date}
                    {...invalid(id, error)}
                  />
                </div>
                <div class="field grow">
                  <label for={`${id}-label`} class="small">Label (optional)</label>
                  <input
                    id={`${id}-label`}
                    name={fieldName.closureLabel}
                    value={row.label}
                    maxlength={80}
                    placeholder="e.g. Christmas Day"
                  />
                </div>
                <button
                  type="submit"
                  name="op"
                  value={`remove:closure:${i}`}
                  class="btn btn-sm btn-ghost"
                  aria-label={`Remove closure ${row.date || i + 1}`}
                >
                  Remove
                </button>
                <FieldError id={id} error={error} />
              </div>
            );
          })}
          <div>
            <button type="submit" name="op" value="add:closure" class="btn btn-sm">
              + Add closure
            </button>
          </div>
        </div>
      </Card>

      <div class="form-actions">
        <button type="submit" name="op" value="save" class="btn btn-primary">Save hours</button>
        <button type="submit" name="op" value="preview" class="btn">Preview</button>
        <a class="btn btn-ghost" href="/admin/hours">Discard changes</a>
      </div>
    </form>
  );
}

function DayRows({ day, draft, errors }: { day: Weekday; draft: HoursDraft; errors: Errors }) {
  const rows = draft.days[day];
  const name = DAY_NAMES[day];
  return (
    <fieldset class="hours-day">
      <legend>{name}</legend>
      <div class="hours-rows">
        {rows.length === 0 ? <p class="muted closed-day">Closed</p> : null}
        {rows.map((row, i) => {
          const id = `${day}-${i}`;
          const error = errors[fieldName.row(day, i)];
          return (
            <div class="hours-row">
              <label class="sr-only" for={`${id}-start`}>{name} interval {i + 1} opens</label>
              <input
                id={`${id}-start`}
                type="time"
                name={fieldName.start(day)}
                value={row.start}
                {...invalid(id, error)}
              />
              <span aria-hidden="true">–</span>
              <label class="sr-only" for={`${id}-end`}>{name} interval {i + 1} closes</label>
              <input
                id={`${id}-end`}
                type="time"
                name={fieldName.end(day)}
                value={row.end}
                {...invalid(id, error)}
              />
              <button
                type="submit"
                name="op"
                value={`remove:${day}:${i}`}
                class="btn btn-sm btn-ghost"
                aria-label={`Remove ${name} ${row.start || "?"}–${row.end || "?"}`}
              >
                Remove
              </button>
              <FieldError id={id} error={error} />
            </div>
          );
        })}
        {errors[day] ? <p class="error" role="alert">{errors[day]}</p> : null}
      </div>
      <button
        type="submit"
        name="op"
        value={`add:${day}`}
        class="btn btn-sm add-hours"
        aria-label={`Add hours on ${name}`}
      >
        + Add hours
      </button>
    </fieldset>
  );
}
