/**
 * [routes] Rule 53: transcripts list a message's files by kind, name and size with a desk link
 * and never their bytes, and places by coordinates; in the CSV inside the text cell (the columns of
 * rule 35 stay, `kind` last), in JSON as `attachments` and `location`. Hostile file names are
 * quoted and defused like any cell. Archiving keeps the files readable.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { customerIdFor } from "../domain/ids.ts";
import { keys } from "../domain/keys.ts";
import { archiveClosed, closeTicket } from "../domain/tickets.ts";
import { csvText, type TranscriptRow } from "../domain/transcripts.ts";
import type { Conversation } from "../domain/types.ts";
import { CLOSED_TIME, sentFile, testDesk } from "./helpers.ts";
import { parseCsv } from "./csv.ts";

const PNG = new Uint8Array(3_000);
crypto.getRandomValues(PNG);
PNG.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
/** A name a spreadsheet or a CSV reader could trip on: formula, quotes, commas, a line break. */
const HOSTILE = '=HYPERLINK("http://evil","x"),a;b\r\n@cmd.pdf';

Deno.test("[routes] rule 53: transcripts list files and places, never bytes", async (t) => {
  const d = await testDesk({ at: CLOSED_TIME });
  try {
    const admin = await d.person("admin");
    const setUp = await d.json("PUT", "/api/channels/webchat", {
      token: admin.token,
      body: { enabled: true, allowedOrigins: [] },
    });
    assert.equal(setUp.status, 200);
    // Out of hours: a visitor's first message, YES, and then a photo join a ticket.
    const visitor = (await d.json<{ visitorId: string; token: string }>(
      "POST",
      "/webchat/api/visitors",
    )).body;
    const say = (text: string, clientId: string) =>
      d.json("POST", "/webchat/api/messages", { token: visitor.token, body: { text, clientId } });
    assert.equal((await say("my parcel", "t1")).status, 201);
    assert.equal((await say("YES", "t2")).status, 201);
    const form = new FormData();
    form.set("file", new File([PNG], "parcel, front.png", { type: "image/png" }));
    form.set("clientId", "f1");
    form.set("text", "It came like this");
    const upload = await d.app.request("/webchat/api/messages", {
      method: "POST",
      headers: { authorization: `Bearer ${visitor.token}` },
      body: form,
    });
    assert.equal(upload.status, 201);
    const photo = (await upload.json()).message.attachments[0].id as string;

    // A file with a hostile name and a place, as an agent's message might carry them.
    const customerId = await customerIdFor("webchat", visitor.visitorId);
    const conversation = (await d.kv.get<Conversation>(keys.conversation(customerId))).value!;
    assert.ok(conversation.ticketId, "the chat became a ticket");
    const sent = await sentFile(
      d,
      { conversationId: conversation.id, customerId },
      new File([PNG.slice(0, 500)], "x.pdf", { type: "application/pdf" }),
      {
        location: {
          latitude: -33.9249,
          longitude: 18.4241,
          name: "Depot, Gate 2",
          address: "=1+1",
        },
      },
      HOSTILE,
    );
    const id = sent.attachments![0].id;

    const supervisor = await d.person("supervisor");
    const day = new Date(d.clock.now()).toISOString().slice(0, 10);
    const download = async (format: string) => {
      const res = await d.call("GET", `/api/transcripts?from=${day}&to=${day}&format=${format}`, {
        token: supervisor.token,
      });
      assert.equal(res.status, 200);
      return await res.text();
    };
    const link = (of: string) => `http://127.0.0.1:8000/api/attachments/${of}`;

    await t.step("CSV: the columns stay; the text cell lists the file and the place", async () => {
      const text = await download("csv");
      const rows = parseCsv(text);
      assert.equal(rows[0].length, 10);
      assert.equal(rows[0].at(-1), "kind");
      assert.ok(rows.every((r) => r.length === 10), "every row has every column");
      const cells = rows.slice(1).map((r) => r[7]);
      assert.ok(
        cells.includes(`It came like this\n[image: parcel, front.png, 3000 bytes] ${link(photo)}`),
        cells.join(" | "),
      );
      // The hostile name comes back whole from the quoted cell; the cell cannot start a formula.
      assert.ok(
        cells.includes(
          `[document: ${HOSTILE}, 500 bytes] ${link(id)}\n` +
            "[location: -33.9249, 18.4241] Depot, Gate 2, =1+1",
        ),
        cells.join(" | "),
      );
      assert.ok(!text.includes('"=HYPERLINK'), "no cell starts with the formula");
    });

    await t.step("JSON: attachments with kind, name, size and link; the place", async () => {
      const rows = JSON.parse(await download("json")) as TranscriptRow[];
      const withPhoto = rows.find((r) => r.attachments?.[0].link === link(photo))!;
      assert.equal(withPhoto.text, "It came like this");
      assert.deepEqual(withPhoto.attachments, [{
        kind: "image",
        filename: "parcel, front.png",
        mime: "image/png",
        size: 3000,
        status: "stored",
        link: link(photo),
      }]);
      const placed = rows.find((r) => r.location)!;
      assert.equal(placed.attachments![0].filename, HOSTILE);
      assert.deepEqual(placed.location, {
        latitude: -33.9249,
        longitude: 18.4241,
        name: "Depot, Gate 2",
        address: "=1+1",
      });
      const plain = rows.find((r) => r.text === "my parcel")!;
      assert.ok(!("attachments" in plain) && !("location" in plain));
    });

    await t.step("no bytes of any file, in any encoding, in either format", async () => {
      for (const format of ["csv", "json"]) {
        const text = await download(format);
        const b64 = Buffer.from(PNG.slice(8, 64)).toString("base64").slice(4, 40);
        assert.ok(!text.includes(b64), `${format} carries base64 of the file`);
        assert.ok(!text.includes(Buffer.from(PNG.slice(8, 40)).toString("hex")));
        assert.ok(!text.includes(new TextDecoder().decode(PNG.slice(8, 40))));
        assert.ok(text.length < 4_000, `${format} is ${text.length} characters`);
      }
    });

    await t.step("the link opens the file for the supervisor", async () => {
      const res = await d.call("GET", `/api/attachments/${photo}`, { token: supervisor.token });
      assert.equal(res.status, 200);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha256(PNG));
    });

    await t.step("an archived ticket's files stay readable and listed", async () => {
      await closeTicket(d.desk, supervisor.agent, conversation.ticketId!);
      assert.equal(await archiveClosed(d.desk, 0), 1);
      const ticket = await d.json<{ status: string }>(
        "GET",
        `/api/tickets/${conversation.ticketId}`,
        {
          token: supervisor.token,
        },
      );
      assert.equal(ticket.body.status, "archived");
      for (const file of [photo, id]) {
        const res = await d.call("GET", `/api/attachments/${file}`, { token: supervisor.token });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
      const visitorsOwn = await d.call("GET", `/webchat/api/attachments/${photo}`, {
        token: visitor.token,
      });
      assert.equal(visitorsOwn.status, 200);
      await visitorsOwn.body?.cancel();
      const rows = JSON.parse(await download("json")) as TranscriptRow[];
      assert.equal(rows.filter((r) => r.attachments).length, 2);
    });
  } finally {
    await d.close();
  }
});

Deno.test("[domain] rule 53: the CSV text of files and places", async (t) => {
  const row = (extra: Partial<TranscriptRow>): TranscriptRow => ({
    ticketId: "T",
    customer: "c",
    from: "f",
    channel: "whatsapp",
    direction: "in",
    author: "customer",
    authorName: "customer",
    text: "[audio]",
    at: "2026-11-25T10:00:00.000Z",
    kind: "message",
    ...extra,
  });
  await t.step("a file that was never kept says why, a nameless one says so", () => {
    assert.equal(
      csvText(row({
        attachments: [{
          kind: "audio",
          filename: null,
          mime: "audio/ogg",
          size: 20_000_000,
          status: "too_large",
          link: "/api/attachments/A",
        }],
      })),
      "[audio]\n[audio: no name, 20000000 bytes, too large] /api/attachments/A",
    );
  });
  await t.step("a place without a name is its coordinates alone", () => {
    assert.equal(
      csvText(row({ text: "[location]", location: { latitude: 1.5, longitude: -2 } })),
      "[location]\n[location: 1.5, -2]",
    );
  });
});
