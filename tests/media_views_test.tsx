/**
 * Rules 50 and 51 as drawn: every kind and status of a file, hostile names and captions escaped,
 * SVG and HTML never inline, the place's map link, the reply box's file input and place fields,
 * and rule 50's page weight: a ticket page with 10 images stays ≤ 30 KB compressed in total.
 */
import assert from "node:assert/strict";
import { keys } from "../domain/keys.ts";
import type { Attachment, AttachmentKind, AttachmentStatus, Message } from "../domain/types.ts";
import { ATTACHMENT_KINDS } from "../domain/types.ts";
import { captionOf, humanSize, mapUrl } from "../views/media.tsx";
import { acceptOf, ChatReplyBox, sendableText } from "../views/reply_box.tsx";
import { MessageBubble } from "../views/tickets.tsx";
import { customerOf } from "./helpers.ts";
import { metaBody, metaMessage, postMeta, SHEENA, whatsappDesk } from "./provider_webhooks.ts";
import { closeBusiness, leaveMessage } from "./helpers.ts";

const id = (n: number) => `01JMEDIA${String(n).padStart(18, "0")}`;
let n = 0;
const file = (over: Partial<Attachment>): Attachment => ({
  id: id(++n),
  kind: "image",
  mime: "image/png",
  size: 1234,
  status: "stored",
  ...over,
});
const message = (over: Partial<Message>): Message => ({
  id: `M${++n}`,
  conversationId: "C1",
  direction: "in",
  author: "customer",
  text: "",
  at: Date.UTC(2026, 10, 25, 10),
  ...over,
});
const bubble = (m: Message) => String(<MessageBubble message={m} names={new Map()} />);
/** The tags of one kind in `html`. */
const tags = (html: string, tag: string) => html.match(new RegExp(`<${tag}\\b[^>]*>`, "g")) ?? [];

Deno.test("[views] rule 50: every kind and status of a file", async (t) => {
  const MIME: Record<AttachmentKind, string> = {
    image: "image/jpeg",
    sticker: "image/webp",
    audio: "audio/ogg; codecs=opus",
    video: "video/mp4",
    document: "application/pdf",
  };
  await t.step("a stored file: image, sticker, audio, video inline; a document a link", () => {
    for (const kind of ATTACHMENT_KINDS) {
      const a = file({ kind, mime: MIME[kind], size: 1_234_567, filename: `f.${kind}` });
      const html = bubble(message({ text: `[${kind}]`, attachments: [a] }));
      assert.ok(!html.includes(`[${kind}]`), `${kind}: the placeholder is not printed`);
      const src = `/api/attachments/${a.id}`;
      if (kind === "image" || kind === "sticker") {
        const [img] = tags(html, "img");
        assert.ok(img, kind);
        assert.match(img, new RegExp(`src="${src}"`));
        assert.match(img, /loading="lazy"/);
        assert.match(img, /decoding="async"/);
        assert.match(img, /alt="[^"]+"/);
        const size = kind === "sticker" ? ["96", "96"] : ["240", "180"];
        assert.match(img, new RegExp(`width="${size[0]}" height="${size[1]}"`));
      } else if (kind === "audio" || kind === "video") {
        const [player] = tags(html, kind);
        assert.ok(player, kind);
        assert.match(player, /controls/);
        assert.match(player, /preload="none"/);
        assert.match(player, new RegExp(`src="${src}"`));
        if (kind === "video") assert.match(player, /width="240" height="180"/);
        assert.match(html, /Download/);
      } else {
        assert.equal(tags(html, "img").length, 0);
        assert.match(html, new RegExp(`<a class="media-file" href="${src}" download="f.document"`));
        assert.match(html, /f\.document/);
        assert.match(html, /1\.2 MB/);
      }
      // A stored file keeps its element through a live redraw of the thread.
      if (kind !== "document") assert.match(html, new RegExp(`id="att-${a.id}" hx-preserve`));
    }
  });
  await t.step("fetching, failed and too large say so, with the size when known", () => {
    const says: Record<Exclude<AttachmentStatus, "stored">, RegExp> = {
      fetching: /Fetching file…/,
      failed: /File could not be fetched/,
      too_large: /File too large to keep \(17\.0 MB\)/,
    };
    for (const kind of ATTACHMENT_KINDS) {
      for (const [status, text] of Object.entries(says)) {
        const a = file({ kind, mime: MIME[kind], status: status as AttachmentStatus, size: 17e6 });
        const html = bubble(message({ text: `[${kind}]`, attachments: [a] }));
        assert.match(html, text, `${kind} ${status}`);
        assert.match(html, new RegExp(`data-status="${status}"`));
        assert.ok(!html.includes("/api/attachments/"), `${kind} ${status}: nothing to load`);
        assert.ok(!html.includes("hx-preserve"), "a file not stored is redrawn when it changes");
      }
    }
  });
  await t.step("sizes as people read them", () => {
    assert.equal(humanSize(1), "1 byte");
    assert.equal(humanSize(999), "999 bytes");
    assert.equal(humanSize(48_200), "48 kB");
    assert.equal(humanSize(1_234_567), "1.2 MB");
    assert.equal(humanSize(17_000_000), "17.0 MB");
  });
});

Deno.test("[views] rule 50: hostile names and captions are text; SVG and HTML never inline", async (t) => {
  const hostile = `<img src=x onerror=alert(1)>"'&`;
  await t.step("a caption, a file name, a place's name and address are escaped", () => {
    const html = bubble(message({
      text: `${hostile} caption`,
      attachments: [file({ kind: "document", mime: "application/pdf", filename: hostile })],
      location: { latitude: 1, longitude: 2, name: hostile, address: hostile },
    }));
    assert.ok(!html.includes("<img src=x"), "no markup from customer text");
    assert.ok(!html.includes("onerror=alert(1)>"));
    assert.equal(html.split("&lt;img src=x onerror=alert(1)&gt;").length - 1, 5);
    assert.match(html, /download="&lt;img src=x onerror=alert\(1\)&gt;&quot;&#39;&amp;"/);
  });
  await t.step("an SVG or HTML 'image' is a download link, never an <img>", () => {
    for (const mime of ["image/svg+xml", "text/html", "image/heic", "application/xhtml+xml"]) {
      for (const kind of ["image", "sticker", "document"] as const) {
        const a = file({ kind, mime, filename: "x.svg" });
        const html = bubble(message({ text: "[image]", attachments: [a] }));
        assert.equal(tags(html, "img").length, 0, `${kind} ${mime}`);
        assert.match(html, /class="media-file"/, `${kind} ${mime}`);
      }
    }
    const audioAsHtml = file({ kind: "audio", mime: "text/html" });
    assert.equal(tags(bubble(message({ attachments: [audioAsHtml] })), "audio").length, 0);
  });
  await t.step("the placeholder stands in only when its file or place is there", () => {
    const img = file({});
    assert.equal(captionOf(message({ text: "[image]", attachments: [img] })), "");
    assert.equal(captionOf(message({ text: "[image]" })), "[image]");
    assert.equal(captionOf(message({ text: "[audio]", attachments: [img] })), "[audio]");
    const pdf = file({ kind: "document", mime: "application/pdf", filename: "a.pdf" });
    assert.equal(captionOf(message({ text: "[document] a.pdf", attachments: [pdf] })), "");
    assert.equal(captionOf(message({ text: "Look [image]", attachments: [img] })), "Look [image]");
    const place = { latitude: 1, longitude: 2 };
    assert.equal(captionOf(message({ text: "[location] 1,2", location: place })), "");
    assert.equal(captionOf(message({ text: "[location] 1,2" })), "[location] 1,2");
  });
});

Deno.test("[views] rule 50: a place is its coordinates with an OpenStreetMap link", async (t) => {
  await t.step("name, address, coordinates, and a link that opens apart", () => {
    const html = bubble(message({
      text: "[location] Depot",
      location: { latitude: -33.9249, longitude: 18.4241, name: "Depot", address: "1 Dock Rd" },
    }));
    assert.match(
      html,
      /<a href="https:\/\/www\.openstreetmap\.org\/\?mlat=-33\.9249&amp;mlon=18\.4241#map=16\/-33\.9249\/18\.4241" target="_blank" rel="noopener noreferrer">/,
    );
    assert.match(html, /-33\.9249, 18\.4241/);
    assert.match(html, /Depot<\/strong>/);
    assert.match(html, /1 Dock Rd/);
    assert.ok(!html.includes("[location]"));
  });
  await t.step("coordinates off the globe or not numbers get no link", () => {
    assert.equal(mapUrl({ latitude: 91, longitude: 0 }), null);
    assert.equal(mapUrl({ latitude: 0, longitude: -181 }), null);
    assert.equal(mapUrl({ latitude: NaN, longitude: 0 }), null);
    assert.equal(mapUrl({ latitude: "1" as unknown as number, longitude: 0 }), null);
    assert.equal(
      mapUrl({ latitude: 51.1234567891, longitude: -0.1 }),
      "https://www.openstreetmap.org/?mlat=51.123457&mlon=-0.1#map=16/51.123457/-0.1",
    );
  });
});

Deno.test("[views] rule 51: the reply box takes one file, and a place on WhatsApp", async (t) => {
  const box = (channel: "whatsapp" | "sms" | "webchat") =>
    String(
      <ChatReplyBox
        chatId="C1"
        windowOpen
        canned={[]}
        draft=""
        channel={channel}
      />,
    );
  await t.step("a multipart form that works without JavaScript, the text optional", () => {
    const html = box("sms");
    assert.match(
      html,
      /<form method="post" action="\/chats\/C1\/messages" enctype="multipart\/form-data"/,
    );
    assert.match(html, /<input type="file" id="chat-text-file" name="file"/);
    assert.match(html, /<label for="chat-text-file"/);
    assert.ok(!/<textarea[^>]*required/.test(html), "an empty caption may go with a file");
  });
  await t.step("accept follows the route's types (WhatsApp takes any document)", () => {
    assert.equal(acceptOf("twilio"), "image/jpeg,image/png,image/gif,application/pdf");
    assert.equal(acceptOf("webchat"), "image/jpeg,image/png,image/gif,image/webp,application/pdf");
    assert.equal(acceptOf("meta"), undefined);
    assert.match(box("sms"), /accept="image\/jpeg,image\/png,image\/gif,application\/pdf"/);
    assert.ok(!/<input type="file"[^>]*accept=/.test(box("whatsapp")));
    assert.match(
      sendableText("meta"),
      /images \(JPEG, PNG\) up to 5 MB, audio and video up to 16 MB/,
    );
    assert.match(sendableText("twilio"), /PDF up to 5 MB/);
  });
  await t.step("Share a place on WhatsApp only, collapsed", () => {
    const html = box("whatsapp");
    assert.match(html, /<details class="compose-place" data-place-form="true">/);
    assert.ok(!html.includes('<details class="compose-place" data-place-form open'));
    for (const name of ["latitude", "longitude", "place_name", "place_address"]) {
      assert.match(html, new RegExp(`name="${name}"`));
      assert.ok(!box("sms").includes(`name="${name}"`));
    }
  });
});

Deno.test("[routes] rule 50: a ticket page with 10 images weighs ≤ 30 KB brotli with its statics and loads no media", async () => {
  const t = await whatsappDesk();
  await closeBusiness(t);
  const { token } = await t.person("agent");
  const ticketId = await leaveMessage(t, SHEENA, ["The parcel came broken, photos follow"]);
  assert.equal((await t.call("POST", `/api/tickets/${ticketId}/accept`, { token })).status, 200);
  const reply = { text: "Please send photos of the box and the label." };
  assert.equal(
    (await t.call("POST", `/api/tickets/${ticketId}/reply`, { token, body: reply })).status,
    201,
  );
  const images = Array.from({ length: 10 }, (_, i) =>
    metaMessage(SHEENA.slice(1), "", {
      type: "image",
      image: { id: `90${i}`, mime_type: "image/jpeg", caption: `Photo ${i + 1} of the box` },
    }));
  assert.equal((await postMeta(t, metaBody({ messages: images }))).status, 200);
  // As the fetcher leaves them once their bytes are kept (the page never loads them itself).
  const { inbound } = await customerOf(t, "whatsapp", SHEENA);
  const withFiles = inbound.filter((m) => m.attachments?.length);
  assert.equal(withFiles.length, 10);
  for (const m of withFiles) {
    await t.kv.set(keys.message(m.conversationId, m.id), {
      ...m,
      attachments: m.attachments!.map((a) => ({ ...a, status: "stored", size: 412_345 })),
    });
  }
  const get = (path: string, encoding: string) =>
    t.app.request(path, {
      headers: {
        cookie: `chatdesk_session=${token}`,
        accept: "text/html",
        "accept-encoding": encoding,
      },
    });
  const page = `/tickets/assigned/${ticketId}`;
  const html = await (await get(page, "identity")).text();
  assert.equal(tags(html, "img").filter((i) => i.includes("/api/attachments/")).length, 10);
  // Media loads only when shown: lazy images, players that fetch nothing before play.
  assert.ok(tags(html, "img").every((i) => !i.includes("/api/") || i.includes('loading="lazy"')));
  assert.ok(
    [...tags(html, "audio"), ...tags(html, "video")].every((p) => /preload="none"/.test(p)),
  );
  const files = [...html.matchAll(/<(?:script|link)\b[^>]*(?:src|href)="(\/static\/[^"]+)"/g)]
    .map((m) => m[1].replaceAll("&amp;", "&"));
  const sizes: [string, number][] = [];
  for (const path of [page, ...new Set(files)]) {
    const res = await get(path, "br, gzip");
    assert.equal(res.headers.get("content-encoding"), "br", path);
    sizes.push([path.replace(/\?.*/, ""), (await res.arrayBuffer()).byteLength]);
  }
  const total = sizes.reduce((s, [, b]) => s + b, 0);
  // The page and everything its tags load (a first visit: the statics are then cached
  // `immutable`), 10 images being 10 tags and no bytes; the reply box's help is not among them
  // (static/desk.js loads it at the box's first use).
  assert.ok(!files.some((f) => f.includes("compose.js")), "compose.js loads with the page");
  assert.ok(total <= 30_000, `the ticket page weighs ${total} B brotli with what it loads`);
  console.log(
    `ticket page with 10 images: ${sizes.map(([p, b]) => `${p} ${b} B`).join(", ")}; ` +
      `${total} B brotli in total, no media bytes until shown`,
  );
  await t.close();
});
