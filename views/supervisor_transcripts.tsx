/** Supervisor › Transcripts: pick a date range and a format; the download streams. */
import { Card, type Errors, FieldError, FormErrors, TextField } from "./admin_shell.tsx";

export interface TranscriptDraft {
  from: string;
  to: string;
  format: string;
}

export function TranscriptsForm(
  { draft, errors, timeZone }: { draft: TranscriptDraft; errors: Errors; timeZone: string },
) {
  const apiExample = `/api/transcripts?from=${draft.from || "2026-11-01"}&to=${
    draft.to || "2026-11-30"
  }&format=csv`;
  return (
    <div class="grid-2 align-start">
      <Card id="download-h" title="Download messages">
        <form
          method="get"
          action="/supervisor/transcripts/download"
          class="card-body stack"
          novalidate
        >
          <FormErrors errors={errors} />
          <div class="field-row">
            <TextField
              id="t-from"
              label="From"
              error={errors.from}
              type="date"
              name="from"
              value={draft.from}
              required
            />
            <TextField
              id="t-to"
              label="To (inclusive)"
              error={errors.to}
              type="date"
              name="to"
              value={draft.to}
              required
            />
          </div>
          <fieldset class="field plain-fieldset">
            <legend class="label">Format</legend>
            <div class="inline">
              <label class="check">
                <input type="radio" name="format" value="csv" checked={draft.format !== "json"} />
                CSV (spreadsheets)
              </label>
              <label class="check">
                <input type="radio" name="format" value="json" checked={draft.format === "json"} />
                JSON
              </label>
            </div>
            <FieldError id="t-format" error={errors.format} />
          </fieldset>
          <div class="form-actions">
            <button type="submit" class="btn btn-primary">Download</button>
          </div>
        </form>
      </Card>
      <Card id="about-h" title="What is in it">
        <div class="card-body stack">
          <p>
            One row per message sent or received in the range, and per internal note, of every
            ticket, archived ones included: ticket id, customer, address, channel, direction,
            author, text, time (ISO 8601, UTC) and kind (message or note).
          </p>
          <p>
            Files are listed by kind, name and size with a link to open them in the desk (never
            their contents): in the CSV on their own lines of the text cell, in JSON as{" "}
            <code>attachments</code>. Shared places are given as coordinates.
          </p>
          <p class="muted small">
            Dates are whole days in the business time zone ({timeZone}). The file is written as it
            downloads, so large ranges start at once. In spreadsheets, cells starting with = + - @
            get a leading ' so they never run as formulas.
          </p>
          <p class="muted small">
            For scripts: <code class="wrap-anywhere">GET {apiExample}</code>{" "}
            with a supervisor's bearer token.
          </p>
        </div>
      </Card>
    </div>
  );
}
