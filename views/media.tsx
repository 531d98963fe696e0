/**
 * Rule 50: the files and places of a message as agents see them, wherever a message is drawn
 * (ticket and chat threads, ended chats, the conversation pane, the supervisor's ticket view).
 * Images inline in a fixed box (width and height set, `object-fit: contain`, so nothing moves
 * when one loads), stickers small, audio and video with the browser's players, every other type
 * (SVG and HTML included) a download link with its name and size; nothing loads until it is
 * shown (`loading="lazy"`, `preload="none"`). A stored file's element carries `hx-preserve`, so
 * a live redraw of the thread keeps it as it is (a voice note playing goes on playing).
 */
import { baseMime, isInlineType } from "../domain/attachments.ts";
import type { Attachment, AttachmentKind, Message, Place } from "../domain/types.ts";

/** The box an image is drawn in (its pixels are unknown: it is fitted inside). */
export const IMAGE_BOX = { width: 240, height: 180 } as const;
export const STICKER_BOX = { width: 96, height: 96 } as const;

/** Where the desk serves a file to a signed-in agent (routes/attachments.ts). */
export const attachmentUrl = (id: string) => `/api/attachments/${encodeURIComponent(id)}`;

/** A size as people read it: "312 bytes", "48 kB", "1.2 MB" (decimal, as rule 51's limits). */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1000) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  if (bytes < 1000 * 1000) return `${Math.round(bytes / 1000)} kB`;
  return `${(bytes / 1000 / 1000).toFixed(1)} MB`;
}

const KIND_LABEL: Record<AttachmentKind, string> = {
  image: "Image",
  audio: "Voice note or audio",
  video: "Video",
  document: "Document",
  sticker: "Sticker",
};

const PLACEHOLDER = /^\[(image|audio|video|document|sticker|location)\](?: (.*))?$/s;

/**
 * The caption to print above a message's media: its text, unless the text only stands in for
 * the media (`[image]`, `[document] invoice.pdf`, `[location] …`: rule 49 keeps those for
 * search and transcripts), which the media itself now shows.
 */
export function captionOf(message: Message): string {
  const m = PLACEHOLDER.exec(message.text);
  if (!m) return message.text;
  const kind = m[1];
  if (kind === "location") return message.location ? "" : message.text;
  return message.attachments?.some((a) => a.kind === kind) ? "" : message.text;
}

/** Whether a message has anything for `MessageMedia` to draw. */
export const hasMedia = (message: Message) => !!(message.attachments?.length || message.location);

/** A message's files and place, under its caption. */
export function MessageMedia({ message }: { message: Message }) {
  if (!hasMedia(message)) return null;
  return (
    <div class="msg-media">
      {(message.attachments ?? []).map((a) => <AttachmentView key={a.id} attachment={a} />)}
      {message.location ? <PlaceView place={message.location} /> : null}
    </div>
  );
}

/** The words for a file: its name, or its kind and type ("Document (application/pdf)"). */
function fileLabel(a: Attachment): string {
  return a.filename ?? `${KIND_LABEL[a.kind]} (${baseMime(a.mime) || "unknown type"})`;
}

/** A download link with the file's name and size (documents, and anything not shown inline). */
function FileLink({ attachment: a, label }: { attachment: Attachment; label?: string }) {
  const size = a.size > 0 ? humanSize(a.size) : "";
  return (
    <a
      class="media-file"
      href={attachmentUrl(a.id)}
      download={a.filename ?? ""}
      data-attachment={a.id}
    >
      <span class="media-file-name">{label ?? fileLabel(a)}</span>
      {size ? <span class="media-file-size">{size}</span> : null}
    </a>
  );
}

/** A file not (yet) in the desk's store: what became of it instead. */
function FileState({ attachment: a }: { attachment: Attachment }) {
  const boxed = a.kind === "image" || a.kind === "video" || a.kind === "sticker";
  const what = a.filename ? `${KIND_LABEL[a.kind]} ${a.filename}` : KIND_LABEL[a.kind];
  const text = a.status === "fetching"
    ? "Fetching file…"
    : a.status === "failed"
    ? "File could not be fetched"
    : `File too large to keep${a.size > 0 ? ` (${humanSize(a.size)})` : ""}`;
  return (
    <div
      class={`media-state media-${a.status}${
        boxed ? (a.kind === "sticker" ? " media-box-sticker" : " media-box") : ""
      }`}
      data-attachment={a.id}
      data-status={a.status}
    >
      <span class="media-kind">{what}</span>
      <span class="media-state-text">{text}</span>
    </div>
  );
}

function AttachmentView({ attachment: a }: { attachment: Attachment }) {
  if (a.status !== "stored") return <FileState attachment={a} />;
  const src = attachmentUrl(a.id);
  const inline = isInlineType(a.mime);
  const base = baseMime(a.mime);
  // Same kind and inline type only: an SVG or HTML "image" is a download, never an <img>.
  if ((a.kind === "image" || a.kind === "sticker") && inline && base.startsWith("image/")) {
    const box = a.kind === "sticker" ? STICKER_BOX : IMAGE_BOX;
    const alt = a.kind === "sticker"
      ? "Sticker"
      : a.filename
      ? `Image ${a.filename}, open full size`
      : "Image, open full size";
    const img = (
      <img
        src={src}
        alt={alt}
        width={box.width}
        height={box.height}
        loading="lazy"
        decoding="async"
      />
    );
    return a.kind === "sticker"
      ? (
        <span class="media-sticker" id={`att-${a.id}`} hx-preserve data-attachment={a.id}>
          {img}
        </span>
      )
      : (
        <a
          class="media-image"
          href={src}
          target="_blank"
          rel="noopener"
          id={`att-${a.id}`}
          hx-preserve
          data-attachment={a.id}
        >
          {img}
        </a>
      );
  }
  if (a.kind === "audio" && inline && base.startsWith("audio/")) {
    return (
      <div class="media-audio" data-attachment={a.id}>
        <audio
          controls
          preload="none"
          src={src}
          id={`att-${a.id}`}
          hx-preserve
          aria-label={a.filename ? `Audio ${a.filename}` : "Voice note or audio"}
        >
        </audio>
        <FileLink attachment={a} label="Download" />
      </div>
    );
  }
  if (a.kind === "video" && inline && base.startsWith("video/")) {
    return (
      <div class="media-video" data-attachment={a.id}>
        <video
          controls
          preload="none"
          src={src}
          width={IMAGE_BOX.width}
          height={IMAGE_BOX.height}
          id={`att-${a.id}`}
          hx-preserve
          aria-label={a.filename ? `Video ${a.filename}` : "Video"}
        >
        </video>
        <FileLink attachment={a} label="Download" />
      </div>
    );
  }
  return <FileLink attachment={a} />;
}

/** A coordinate as written in a link and on the page (at most 6 decimals: ≈ 0.1 m). */
const coordinate = (n: number) => String(Math.round(n * 1e6) / 1e6);

/** Rule 50: OpenStreetMap at the place, zoomed to streets; null for coordinates off the globe. */
export function mapUrl(place: Place): string | null {
  const { latitude: lat, longitude: lon } = place;
  if (
    typeof lat !== "number" || typeof lon !== "number" || !Number.isFinite(lat) ||
    !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180
  ) return null;
  const [a, b] = [coordinate(lat), coordinate(lon)];
  return `https://www.openstreetmap.org/?mlat=${a}&mlon=${b}#map=16/${a}/${b}`;
}

function PlaceView({ place }: { place: Place }) {
  const url = mapUrl(place);
  return (
    <div class="media-place" data-place>
      <span class="media-kind">Place</span>
      {place.name ? <strong class="media-place-name">{place.name}</strong> : null}
      {place.address ? <span class="media-place-address">{place.address}</span> : null}
      {url
        ? (
          <a href={url} target="_blank" rel="noopener noreferrer">
            {coordinate(place.latitude)}, {coordinate(place.longitude)}{" "}
            <span class="media-map">(OpenStreetMap)</span>
          </a>
        )
        : <span>Coordinates not readable</span>}
    </div>
  );
}
