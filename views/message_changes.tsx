/**
 * Rule 46: what a WhatsApp customer did to its message after sending it: deleted it (staff still
 * read the text) or edited it (its earlier texts, the first first, open under "Edited").
 */
import type { Message } from "../domain/types.ts";
import { LocalTime } from "./local_time.tsx";

export function CustomerChanges({ message, timeZone }: { message: Message; timeZone: string }) {
  if (message.deletedAt === undefined && message.editedAt === undefined) return null;
  return (
    <span class="msg-changes">
      {message.deletedAt !== undefined
        ? (
          <span class="badge badge-muted" data-deleted>
            Deleted by the customer <LocalTime at={message.deletedAt} timeZone={timeZone} />
          </span>
        )
        : null}
      {message.editedAt !== undefined
        ? (
          <details class="msg-edits" data-edited>
            <summary>
              Edited <LocalTime at={message.editedAt} timeZone={timeZone} />
            </summary>
            <ol>
              {(message.edits ?? []).map((e) => (
                <li>
                  <LocalTime at={e.at} timeZone={timeZone} /> {e.text}
                </li>
              ))}
            </ol>
          </details>
        )
        : null}
    </span>
  );
}
