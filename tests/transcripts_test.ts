import assert from "node:assert/strict";
import { setStatus } from "../domain/agents.ts";
import { DAY, HOUR, MINUTE } from "../domain/clock.ts";
import { addChatNote, addTicketNote } from "../domain/notes.ts";
import { runDueSweeps } from "../domain/sweeps.ts";
import { archiveClosed, closeTicket } from "../domain/tickets.ts";
import {
  csvCell,
  csvLine,
  parseTranscriptQuery,
  transcriptChunks,
  type TranscriptRow,
  transcriptRows,
} from "../domain/transcripts.ts";
import { closeBusiness, leaveMessage, OPEN_TIME, testDesk } from "./helpers.ts";
import { parseCsv } from "./csv.ts";

const HEADER = [
  "ticketId",
  "customer",
  "from",
  "channel",
  "direction",
  "author",
  "authorName",
  "text",
  "at",
  "kind",
];

Deno.test("[domain] transcripts: CSV cells", async (t) => {
  await t.step("plain text is left alone", () => {
    assert.equal(csvCell("hello there"), "hello there");
  });
  await t.step("commas, quotes and line breaks are quoted, quotes doubled (RFC 4180)", () => {
    assert.equal(csvCell("a,b"), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell("line 1\nline 2"), '"line 1\nline 2"');
    assert.equal(csvCell("cr\r\nlf"), '"cr\r\nlf"');
  });
  await t.step("cells a spreadsheet would run as a formula get a leading apostrophe", () => {
    assert.equal(csvCell("=SUM(A1:A9)"), "'=SUM(A1:A9)");
    assert.equal(csvCell("+27820000001"), "'+27820000001");
    assert.equal(csvCell("-1"), "'-1");
    assert.equal(csvCell("@cmd"), "'@cmd");
    assert.equal(csvCell('=HYPERLINK("x","y")'), `"'=HYPERLINK(""x"",""y"")"`);
    assert.equal(csvCell("a = b"), "a = b");
  });
  await t.step("a row ends with CRLF", () => {
    assert.equal(csvLine(["a", "b,c"]), 'a,"b,c"\r\n');
  });
});

Deno.test("[domain] transcripts: the range", async (t) => {
  await t.step("a date means its whole day in the business time zone", () => {
    const { range } = parseTranscriptQuery({ from: "2026-11-25", to: "2026-11-25" }, "UTC");
    assert.equal(range.from, Date.parse("2026-11-25T00:00:00Z"));
    assert.equal(range.to, Date.parse("2026-11-26T00:00:00Z") - 1);
    const kolkata = parseTranscriptQuery(
      { from: "2026-11-25", to: "2026-11-25" },
      "Asia/Kolkata",
    ).range;
    assert.equal(kolkata.from, Date.parse("2026-11-24T18:30:00Z"));
  });
  await t.step(
    "a datetime with Z or an offset is exact; without one it is a local wall time",
    () => {
      const exact = parseTranscriptQuery(
        { from: "2026-11-25T10:00:00Z", to: "2026-11-25T12:00:00+02:00" },
        "America/New_York",
      ).range;
      assert.equal(exact.from, Date.parse("2026-11-25T10:00:00Z"));
      assert.equal(exact.to, Date.parse("2026-11-25T10:00:00Z"));
      const wall = parseTranscriptQuery(
        { from: "2026-11-25T09:00", to: "2026-11-25T17:00" },
        "America/New_York",
      ).range;
      assert.equal(wall.from, Date.parse("2026-11-25T14:00:00Z"));
    },
  );
  await t.step("format defaults to csv; json is accepted", () => {
    assert.equal(
      parseTranscriptQuery({ from: "2026-01-01", to: "2026-01-02" }, "UTC").format,
      "csv",
    );
    assert.equal(
      parseTranscriptQuery({ from: "2026-01-01", to: "2026-01-02", format: "JSON" }, "UTC").format,
      "json",
    );
  });
  await t.step("missing, invalid and reversed ends are refused with a message per field", () => {
    const refusal = (params: Record<string, string | undefined>) => {
      try {
        parseTranscriptQuery(params, "UTC");
      } catch (error) {
        return (error as { fields: Record<string, string> }).fields;
      }
      assert.fail(`accepted ${JSON.stringify(params)}`);
    };
    assert.ok(refusal({ to: "2026-01-01" }).from);
    assert.ok(refusal({ from: "2026-02-30", to: "2026-03-01" }).from);
    assert.ok(refusal({ from: "yesterday", to: "2026-03-01" }).from);
    assert.ok(refusal({ from: "2026-03-01", to: "2026-03-01T25:00Z" }).to);
    assert.ok(refusal({ from: "2026-03-02", to: "2026-03-01" }).to);
    assert.ok(refusal({ from: "2026-03-01", to: "2026-03-02", format: "xml" }).format);
  });
});

Deno.test("[routes] GET /api/transcripts", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const agent = await desk.person("agent", { name: "Ana Agent" });

  // Day 1 (2026-11-25): two tickets; the first gets an agent reply that starts a chat.
  const first = await leaveMessage(desk, "+27820000001", [
    '=HYPERLINK("http://evil")',
    'Hi, "quoted", with commas',
    "two\nlines",
  ], { name: "Thandi, Nkosi" });
  desk.clock.advance(HOUR);
  const second = await leaveMessage(desk, "+27820000002", ["day one"], { name: "Marcus" });
  await desk.json("POST", `/api/tickets/${first}/accept`, { token: agent.token });
  const reply = await desk.json("POST", `/api/tickets/${first}/reply`, {
    token: agent.token,
    body: { text: "-5 is the answer, @you" },
  });
  assert.equal(reply.status, 201);
  // Day 2: a third ticket, and a message merged into the second (created on day 1).
  desk.clock.advance(DAY);
  const third = await leaveMessage(desk, "+27820000003", ["day two"], { name: "Lena" });
  await leaveMessage(desk, "+27820000002", ["follow-up on day two"], { name: "Marcus" });
  // The first ticket closes and is archived (rule 10): it must still be downloadable.
  await closeTicket(desk.desk, agent.agent, first);
  // Archiving as if 90 days had passed (sessions would expire if the clock moved that far).
  assert.equal(await archiveClosed(desk.desk, 0), 1);
  // Sessions last 12 hours on the desk clock: sign people in now, a day after the first messages.
  const supervisor = await desk.person("supervisor");
  const admin = await desk.person("admin");
  const lateAgent = await desk.person("agent");
  const stored = await desk.json<{ status: string }>("GET", `/api/tickets/${first}`, {
    token: supervisor.token,
  });
  assert.equal(stored.body.status, "archived");

  const csv = (query: string, token = supervisor.token) =>
    desk.call("GET", `/api/transcripts?${query}`, { token });

  await t.step("CSV: a header row, then one row per message, streamed", async () => {
    const res = await csv("from=2026-11-25&to=2026-11-25");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.match(
      res.headers.get("content-disposition")!,
      /^attachment; filename="chatdesk-transcripts-2026-11-25_2026-11-25\.csv"$/,
    );
    assert.ok(res.body instanceof ReadableStream, "the body is a stream");
    const rows = parseCsv(await res.text());
    assert.deepEqual(rows[0], HEADER);
    const body = rows.slice(1);
    assert.ok(body.every((r) => r.length === HEADER.length), "every row has every column");
    // First ticket: hello-ish first text, 2 auto replies, YES, ack, 2 extras, //end, ack, reply.
    const ofFirst = body.filter((r) => r[0] === first);
    assert.equal(ofFirst.length, 10);
    const ofSecond = body.filter((r) => r[0] === second);
    assert.equal(ofSecond.length, 7, "day two's merged messages are out of range");
    assert.ok(!body.some((r) => r[0] === third));
  });

  await t.step("CSV escaping survives a round trip and defuses formulas", async () => {
    const rows = parseCsv(await (await csv("from=2026-11-25&to=2026-11-25")).text());
    const texts = rows.filter((r) => r[0] === first).map((r) => r[7]);
    assert.ok(texts.includes(`'=HYPERLINK("http://evil")`));
    assert.ok(texts.includes('Hi, "quoted", with commas'));
    assert.ok(texts.includes("two\nlines"));
    assert.ok(texts.includes("'-5 is the answer, @you"));
    const row = rows.find((r) => r[0] === first)!;
    assert.equal(row[1], "Thandi, Nkosi");
    assert.equal(row[2], "'+27820000001", "a + at the start of a phone number is defused too");
    assert.equal(row[3], "whatsapp");
    const agentRow = rows.find((r) => r[5] === agent.agent.id)!;
    assert.equal(agentRow[4], "out");
    assert.equal(agentRow[6], "Ana Agent");
    assert.ok(rows.slice(1).every((r) => r[9] === "message"), "these tickets have no notes");
  });

  await t.step("JSON: one array of objects with ISO times", async () => {
    const res = await csv("from=2026-11-25&to=2026-11-26&format=json");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.ok(res.body instanceof ReadableStream);
    const rows = await res.json() as TranscriptRow[];
    assert.equal(rows.filter((r) => r.ticketId === first).length, 10);
    assert.equal(rows.filter((r) => r.ticketId === second).length, 14);
    assert.equal(rows.filter((r) => r.ticketId === third).length, 7);
    for (const row of rows) {
      assert.deepEqual(Object.keys(row), HEADER);
      assert.match(row.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    const firstRow = rows[0];
    assert.equal(firstRow.customer, "Thandi, Nkosi");
    assert.equal(firstRow.from, "+27820000001", "JSON keeps values as they are");
    assert.equal(firstRow.text, '=HYPERLINK("http://evil")');
    assert.equal(firstRow.author, "customer");
    assert.equal(firstRow.direction, "in");
  });

  await t.step("only messages inside the range, to the millisecond", async () => {
    const day2 = OPEN_TIME + DAY + HOUR;
    const from = new Date(day2).toISOString();
    const rows = await (await csv(`from=${from}&to=2026-11-26T23:59:59Z&format=json`))
      .json() as TranscriptRow[];
    assert.deepEqual([...new Set(rows.map((r) => r.ticketId))].sort(), [second, third].sort());
    assert.ok(rows.every((r) => Date.parse(r.at) >= day2));
    const empty = await (await csv("from=2027-01-01&to=2027-01-31&format=json")).json();
    assert.deepEqual(empty, []);
    const emptyCsv = parseCsv(await (await csv("from=2027-01-01&to=2027-01-31")).text());
    assert.deepEqual(emptyCsv, [HEADER]);
  });

  await t.step("archived tickets are included", async () => {
    const rows = await (await csv("from=2026-11-01&to=2026-11-30&format=json"))
      .json() as TranscriptRow[];
    assert.ok(rows.some((r) => r.ticketId === first));
  });

  await t.step("bad ranges are refused with 400 and a field message", async () => {
    for (
      const query of [
        "to=2026-11-25",
        "from=2026-11-25",
        "from=2026-13-01&to=2026-12-01",
        "from=nope&to=2026-12-01",
        "from=2026-11-26&to=2026-11-25",
        "from=2026-11-25&to=2026-11-26&format=xlsx",
      ]
    ) {
      const res = await desk.json<{ error: { code: string; fields: Record<string, string> } }>(
        "GET",
        `/api/transcripts?${query}`,
        { token: supervisor.token },
      );
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, "invalid_query");
      assert.ok(Object.keys(res.body.error.fields).length, query);
    }
  });

  await t.step("supervisors and admins may download; agents get 403, strangers 401", async () => {
    assert.equal((await csv("from=2026-11-25&to=2026-11-25", admin.token)).status, 200);
    const refused = await csv("from=2026-11-25&to=2026-11-25", lateAgent.token);
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).error.code, "forbidden");
    assert.equal(
      (await desk.call("GET", "/api/transcripts?from=2026-11-25&to=2026-11-25")).status,
      401,
    );
  });

  await desk.close();
});

Deno.test("[domain] transcripts: rows are produced as the reader asks", async (t) => {
  const desk = await testDesk();
  await closeBusiness(desk);
  const texts = Array.from({ length: 60 }, (_, i) => `message ${i}`);
  for (let i = 0; i < 5; i++) await leaveMessage(desk, `+2782000010${i}`, texts);
  const range = { from: OPEN_TIME - DAY, to: OPEN_TIME + DAY };

  await t.step("the CSV arrives in several chunks, header first", async () => {
    const chunks: string[] = [];
    for await (const chunk of transcriptChunks(transcriptRows(desk.kv, range), "csv", 50)) {
      chunks.push(chunk);
    }
    assert.ok(chunks.length > 5, `${chunks.length} chunks`);
    assert.ok(chunks[0].startsWith(HEADER.join(",") + "\r\n"));
    assert.equal(parseCsv(chunks.join("")).length, 1 + 5 * 66);
  });

  await t.step("a reader that stops early leaves the rest unread", async () => {
    let produced = 0;
    async function* counted() {
      for await (const row of transcriptRows(desk.kv, range, { batchSize: 10 })) {
        produced++;
        yield row;
      }
    }
    const chunks = transcriptChunks(counted(), "json", 20);
    await chunks.next();
    await chunks.return(undefined);
    assert.ok(produced <= 21, `produced ${produced} rows for one chunk`);
  });

  await desk.close();
});

Deno.test("[routes] rule 35: transcripts carry notes as rows of kind note", async (t) => {
  const desk = await testDesk();
  const agent = await desk.person("agent", { name: "Ana Agent" });
  const supervisor = await desk.person("supervisor", { name: "Sue Supervisor" });
  // A pending chat gets a note, times out into a ticket (rule 5), and the ticket gets one too.
  await setStatus(desk.kv, agent.agent.id, "online");
  const chat = await desk.inbound({ channel: "whatsapp", from: "+27820000901", text: "hi?" });
  assert.equal(chat.conversation.state, "pending");
  const chatId = (await desk.json<{ chats: { id: string }[] }>("GET", "/api/chats", {
    token: agent.token,
  })).body.chats[0].id;
  desk.clock.advance(MINUTE);
  await addChatNote(desk.desk, agent.agent, chatId, { text: "Chat note, before the ticket" });
  desk.clock.advance(5 * MINUTE);
  await runDueSweeps(desk.desk);
  const ticketId = (await desk.json<{ openTicketId: string }>(
    "GET",
    `/api/customers/${chat.customerId}`,
    { token: supervisor.token },
  )).body.openTicketId;
  desk.clock.advance(MINUTE);
  const ticketNoteAt = desk.clock.now();
  await addTicketNote(desk.desk, supervisor.agent, ticketId, { text: "=Ticket note" });
  // The customer is still leaving its message (rule 1): a message after the ticket's note.
  desk.clock.advance(MINUTE);
  await desk.inbound({ channel: "whatsapp", from: "+27820000901", text: "one more thing" });
  const day = new Date(desk.clock.now()).toISOString().slice(0, 10);
  const download = (format: string) =>
    desk.call("GET", `/api/transcripts?from=${day}&to=${day}&format=${format}`, {
      token: supervisor.token,
    });

  await t.step("the CSV header ends with kind; notes are rows of kind note", async () => {
    const rows = parseCsv(await (await download("csv")).text());
    assert.equal(rows[0].at(-1), "kind");
    const body = rows.slice(1);
    assert.ok(body.every((r) => r.length === HEADER.length && r[0] === ticketId));
    const notes = body.filter((r) => r[9] === "note");
    assert.deepEqual(notes.map((r) => r[7]), [
      "Chat note, before the ticket",
      "'=Ticket note",
    ]);
    assert.deepEqual(notes.map((r) => r[6]), ["Ana Agent", "Sue Supervisor"]);
    assert.ok(notes.every((r) => r[4] === "internal"));
    assert.ok(body.filter((r) => r[9] !== "note").every((r) => r[9] === "message"));
  });

  await t.step("rows are in time order, notes among the messages", async () => {
    const rows = await (await download("json")).json() as TranscriptRow[];
    assert.deepEqual(rows.map((r) => [r.kind, r.text]), [
      ["message", "hi?"],
      ["note", "Chat note, before the ticket"],
      ["message", rows[2].text],
      ["message", rows[3].text],
      ["note", "=Ticket note"],
      ["message", "one more thing"],
    ]);
    assert.ok(rows[2].direction === "out" && rows[3].direction === "out", "rule 5's notices");
    const times = rows.map((r) => Date.parse(r.at));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    for (const row of rows) assert.deepEqual(Object.keys(row), HEADER);
  });

  await t.step("notes outside the range are left out", async () => {
    const before = new Date(ticketNoteAt - 1).toISOString();
    const rows = await (await desk.call(
      "GET",
      `/api/transcripts?from=${day}&to=${before}&format=json`,
      { token: supervisor.token },
    )).json() as TranscriptRow[];
    assert.ok(!rows.some((r) => r.text === "=Ticket note" || r.text === "one more thing"));
    assert.ok(rows.some((r) => r.text === "Chat note, before the ticket"));
  });

  await desk.close();
});
