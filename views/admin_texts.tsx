/** Admin › Texts & timeouts: the six auto-responder texts with a live preview, and the timeouts. */
import { MAX_TEXT_LENGTH, TEXT_LABELS, TIMEOUT_BOUNDS } from "../domain/settings.ts";
import type { Texts, Timeouts } from "../domain/types.ts";
import { type Errors, FieldError, FormErrors, invalid } from "./admin_shell.tsx";

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
    <section class="card" aria-labelledby="texts-title">
      <div class="card-head">
        <h2 id="texts-title">Auto-responder texts</h2>
        {previewed ? <span class="badge badge-warn">Preview: not saved yet</span> : null}
      </div>
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
              <div class="field">
                <label for={id}>{TEXT_LABELS[key]}</label>
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
                <p class="hint">{TEXT_HINTS[key]}</p>
                <FieldError id={id} error={errors[key]} />
              </div>
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
    </section>
  );
}

export function TimeoutsForm(
  { values, errors }: { values: Record<keyof Timeouts, string>; errors: Errors },
) {
  return (
    <section class="card" aria-labelledby="timeouts-title">
      <div class="card-head">
        <h2 id="timeouts-title">Timeouts</h2>
      </div>
      <form method="post" action="/admin/timeouts" class="card-body stack" novalidate>
        <FormErrors errors={errors} />
        <div class="field-row align-end">
          {(Object.keys(TIMEOUT_LABELS) as (keyof Timeouts)[]).map((key) => {
            const [label, unit] = TIMEOUT_LABELS[key];
            const [min, max] = TIMEOUT_BOUNDS[key];
            const id = `timeout-${key}`;
            return (
              <div class="field">
                <label for={id}>{label} ({unit})</label>
                <input
                  id={id}
                  name={key}
                  type="number"
                  inputmode="numeric"
                  min={min}
                  max={max}
                  step={1}
                  value={values[key]}
                  required
                  {...invalid(id, errors[key])}
                />
                <p class="hint">{min} to {max} {unit}.</p>
                <FieldError id={id} error={errors[key]} />
              </div>
            );
          })}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary">Save timeouts</button>
        </div>
      </form>
    </section>
  );
}
