/** Admin › Texts & timeouts: the six auto-responder texts with a live preview, and the timeouts. */
import { MAX_TEXT_LENGTH, TEXT_LABELS, TIMEOUT_BOUNDS } from "../domain/settings.ts";
import type { Texts, Timeouts } from "../domain/types.ts";
import { Card, type Errors, Field, FormErrors, invalid, TextField } from "./admin_shell.tsx";

export const TEXT_KEYS = Object.keys(TEXT_LABELS) as (keyof Texts)[];

const TEXT_HINTS: Record<keyof Texts, string> = {
  outOfHours: "Sent when a customer writes while the business is closed.",
  noAgent: "Sent during business hours when no agent of the customer's department is online.",
  prompt: "Follows either notice; the customer answers YES or NO.",
  yesAck: "After YES: the customer types the message for the agents.",
  noGoodbye: "After NO: the conversation ends.",
  endAck: 'After "//end" (or the intake timeout): the ticket waits for an agent.',
};

export const TIMEOUT_LABELS: Record<keyof Timeouts, [string, string]> = {
  intakeMinutes: ["Intake inactivity", "minutes"],
  sessionMinutes: ["Live-chat session and YES/NO timeout", "minutes"],
  pendingMinutes: ["Pending chat becomes a ticket after", "minutes"],
  archiveDays: ["Archive closed tickets after", "days"],
  whatsappWindowHours: ["WhatsApp free-text window", "hours"],
};

/** How the texts read to a customer, in the order a conversation meets them. */
export function TextsPreview({ texts }: { texts: Texts }) {
  const customer = (text: string) => <div class="msg msg-in">{text}</div>;
  const desk = (text: string) => (
    <div class="msg msg-out">
      {text}
      <span class="msg-meta">auto-reply</span>
    </div>
  );
  return (
    <div id="texts-preview" class="texts-preview" aria-live="polite">
      <h3 class="small muted">Out of hours, the customer says yes</h3>
      <div class="conversation">
        {customer("Hi, is anyone there?")}
        {desk(texts.outOfHours)}
        {desk(texts.prompt)}
        {customer("YES")}
        {desk(texts.yesAck)}
        {customer("My order #4411 has not arrived.")}
        {customer("//end")}
        {desk(texts.endAck)}
      </div>
      <h3 class="small muted">Open but nobody online, the customer says no</h3>
      <div class="conversation">
        {customer("Hello?")}
        {desk(texts.noAgent)}
        {desk(texts.prompt)}
        {customer("no")}
        {desk(texts.noGoodbye)}
      </div>
    </div>
  );
}

export function TextsForm(
  { texts, errors, previewed }: { texts: Texts; errors: Errors; previewed: boolean },
) {
  return (
    <Card
      id="texts-title"
      title="Auto-responder texts"
      aside={previewed ? <span class="badge badge-warn">Preview: not saved yet</span> : null}
    >
      <div class="card-body texts-layout">
        <form
          method="post"
          action="/admin/texts"
          class="stack"
          hx-post="/admin/texts/preview"
          hx-trigger="input delay:400ms"
          hx-target="#texts-preview"
          hx-swap="outerHTML"
        >
          <FormErrors errors={errors} />
          {TEXT_KEYS.map((key) => {
            const id = `text-${key}`;
            return (
              <Field id={id} label={TEXT_LABELS[key]} hint={TEXT_HINTS[key]} error={errors[key]}>
                <textarea
                  id={id}
                  name={key}
                  rows={3}
                  maxlength={MAX_TEXT_LENGTH}
                  required
                  {...invalid(id, errors[key])}
                >
                  {texts[key]}
                </textarea>
              </Field>
            );
          })}
          <div class="form-actions">
            <button type="submit" name="op" value="save" class="btn btn-primary">Save texts</button>
            <button type="submit" name="op" value="preview" class="btn">Preview</button>
            <a class="btn btn-ghost" href="/admin/texts">Discard changes</a>
          </div>
        </form>
        <div class="preview-pane">
          <h3>Preview</h3>
          <p class="hint">
            Updates as you type; the Preview button does the same without JavaScript.
          </p>
          <TextsPreview texts={texts} />
        </div>
      </div>
    </Card>
  );
}

export function TimeoutsForm(
  { values, errors }: { values: Record<keyof Timeouts, string>; errors: Errors },
) {
  return (
    <Card id="timeouts-title" title="Timeouts">
      <form method="post" action="/admin/timeouts" class="card-body stack" novalidate>
        <FormErrors errors={errors} />
        <div class="field-row align-end">
          {(Object.keys(TIMEOUT_LABELS) as (keyof Timeouts)[]).map((key) => {
            const [label, unit] = TIMEOUT_LABELS[key];
            const [min, max] = TIMEOUT_BOUNDS[key];
            const id = `timeout-${key}`;
            return (
              <TextField
                id={id}
                label={<>{label} ({unit})</>}
                hint={<>{min} to {max} {unit}.</>}
                error={errors[key]}
                name={key}
                type="number"
                inputmode="numeric"
                min={min}
                max={max}
                step={1}
                value={values[key]}
                required
              />
            );
          })}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Save timeouts</button>
        </div>
      </form>
    </Card>
  );
}
