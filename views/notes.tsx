/**
 * Internal notes (rule 35) on a ticket or a chat: staff only, append-only, never delivered, and
 * drawn apart from the messages. The section is one fragment: the page shows it and an htmx
 * note post gets it back in place (the reply being typed stays as it is). Inside it, the notes
 * themselves are the live fragment "notes": a note someone else adds replaces the list and its
 * count, never the form (a note being typed stays too).
 */
import type { Child } from "hono/jsx";
import { NOTE_MAX } from "../domain/notes.ts";
import type { Note } from "../domain/types.ts";
import { LocalTime } from "./local_time.tsx";

/** What the list of notes shows (the live fragment renders from this alone). */
export interface NoteListProps {
  notes: Note[];
  /** Agent id → name. */
  names: Map<string, string>;
  me: string;
  timeZone: string;
}

export interface NotesProps extends NoteListProps {
  /** Where the note form posts; null when this agent may not add one here. */
  action: string | null;
  /** Why no note can be added (closed ticket, ended chat), shown instead of the form. */
  closedText?: string;
  /** Heading level of the section inside its page. */
  level: 2 | 3;
  /** A refused note keeps its text, with the reason. */
  draft?: string;
  error?: string | null;
  /** Said once after a note was added in place (htmx). */
  added?: boolean;
}

/** A section heading at the level its page needs (one h1 per page, no skipped levels). */
export function Heading(
  { level, id, class: cls, children }: {
    level: 2 | 3 | 4;
    id?: string;
    class?: string;
    children: Child;
  },
) {
  if (level === 2) return <h2 id={id} class={cls}>{children}</h2>;
  if (level === 3) return <h3 id={id} class={cls}>{children}</h3>;
  return <h4 id={id} class={cls}>{children}</h4>;
}

function NoteList({ notes, names, me, timeZone }: NoteListProps) {
  if (!notes.length) return <p class="muted small">No notes yet.</p>;
  return (
    <ol class="note-list">
      {notes.map((n) => (
        <li class="note" data-note={n.id}>
          <p class="note-text">{n.text}</p>
          <p class="note-meta">
            {n.author === me ? "You" : names.get(n.author) ?? "Staff"} ·{" "}
            <LocalTime at={n.at} timeZone={timeZone} />
          </p>
        </li>
      ))}
    </ol>
  );
}

/** The count beside the heading; `oob` when it comes with the live list. */
function NotesCount({ count, oob }: { count: number; oob?: boolean }) {
  return <span class="count" id="notes-count" hx-swap-oob={oob ? "true" : undefined}>{count}</span>;
}

/**
 * The live fragment "notes": the list, swapped into the section's `#note-items`, and its count
 * out of band. The whole list each time (notes are few), so a repeat or the author's own htmx
 * answer arriving first can never show a note twice.
 */
export function NotesLive(props: NoteListProps) {
  return (
    <>
      <NoteList {...props} />
      <NotesCount count={props.notes.length} oob />
      <NotesStatus {...props} oob />
    </>
  );
}

/**
 * What a screen reader hears when a colleague's note arrives live: who wrote it and its start.
 * Empty on the page as drawn and for one's own notes (the form says "Note added").
 */
function NotesStatus({ notes, names, me, oob }: NoteListProps & { oob?: boolean }) {
  const latest = notes.at(-1);
  const said = latest && oob && latest.author !== me
    ? `New note from ${names.get(latest.author) ?? "staff"}: ${
      latest.text.length > 140 ? `${latest.text.slice(0, 139)}…` : latest.text
    }`
    : "";
  return (
    <p class="sr-only" id="notes-status" role="status" hx-swap-oob={oob ? "true" : undefined}>
      {said}
    </p>
  );
}

export function NotesSection(props: NotesProps) {
  const { action } = props;
  return (
    <section class="notes" id="notes" aria-labelledby="notes-h">
      <Heading level={props.level} id="notes-h">
        Internal notes <NotesCount count={props.notes.length} />
      </Heading>
      <p class="hint">Staff only: never sent to the customer.</p>
      <div class="note-items" id="note-items" sse-swap="notes">
        <NoteList {...props} />
      </div>
      {props.added ? <p class="sr-only" role="status">Note added.</p> : null}
      <NotesStatus {...props} />
      {action
        ? (
          <form
            method="post"
            action={action}
            class="note-form stack"
            hx-post={action}
            hx-target="#notes"
            hx-swap="outerHTML"
            hx-disabled-elt="find button"
          >
            <div class="field">
              <label for="note-text">Add a note</label>
              <textarea
                id="note-text"
                name="note"
                rows={2}
                required
                maxlength={NOTE_MAX}
                placeholder="Only staff see this"
                aria-invalid={props.error ? "true" : undefined}
                autofocus={props.added || !!props.error}
                aria-describedby={props.error ? "note-error" : undefined}
              >
                {props.draft ?? ""}
              </textarea>
              {props.error ? <p class="error" id="note-error" role="alert">{props.error}</p> : null}
            </div>
            <div class="form-actions">
              <button type="submit" class="btn btn-sm">Add note</button>
            </div>
          </form>
        )
        : props.closedText
        ? <p class="muted small">{props.closedText}</p>
        : null}
    </section>
  );
}
