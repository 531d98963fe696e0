/**
 * Rule 56, a thread folds its middle when the page opens, never later: the page's stream and its
 * poller carry the fold it opened with (`fold=`, the last message folded, "-" for none), and a
 * thread drawn again for the open page folds only through it. So messages that arrive while the
 * page is open, even three in one redraw, and those it showed, are never folded away unseen; a
 * page that opens later folds afresh. (The browser side: tests/browser_thread_arrivals_test.ts.)
 */
import assert from "node:assert/strict";
import type { Message } from "../domain/types.ts";
import { foldOf, foldQuery, foldThread, openingFold } from "../views/tickets.tsx";
import { closeBusiness, intakeTicket, type TestDesk, testDesk } from "./helpers.ts";
import { pagePerson, visit } from "./page_visits.ts";

const msg = (id: string, direction: "in" | "out", author = "agent"): Message => ({
  id,
  conversationId: "c1",
  direction,
  author: direction === "in" ? "customer" : author,
  text: id,
  at: 0,
});
const ids = (items: (Message | Message[])[]) =>
  items.map((i) => [i].flat().map((m) => m.id).join("+"));

Deno.test("[views] rule 56: foldThread folds on opening, then only through the page's fold", async (s) => {
  // out0 (a greeting), in1, then in2..in6 with an automatic run s3a+s3b after in3.
  const thread: (Message | Message[])[] = [
    msg("out0", "out"),
    msg("in1", "in"),
    msg("in2", "in"),
    msg("in3", "in"),
    [msg("s3a", "out", "system"), msg("s3b", "out", "system")],
    msg("in4", "in"),
    msg("in5", "in"),
    msg("in6", "in"),
  ];
  const messages = thread.flat();

  await s.step(
    "opening: up to the first customer message, the middle folded, the newest two",
    () => {
      const { head, middle, tail } = foldThread(thread);
      assert.deepEqual(ids(head), ["out0", "in1"]);
      assert.deepEqual(ids(middle), ["in2", "in3", "s3a+s3b", "in4"]);
      assert.deepEqual(ids(tail), ["in5", "in6"]);
      assert.equal(openingFold(messages), "in4");
    },
  );

  await s.step("drawn again with three more: the fold holds what it held", () => {
    const more = [...thread, msg("in7", "in"), msg("in8", "in"), msg("in9", "in")];
    assert.deepEqual(ids(foldThread(more).tail), ["in8", "in9"], "opening now folds in5..in7");
    const { middle, tail } = foldThread(more, "in4");
    assert.deepEqual(ids(middle), ["in2", "in3", "s3a+s3b", "in4"]);
    assert.deepEqual(ids(tail), ["in5", "in6", "in7", "in8", "in9"]);
  });

  await s.step("a fold inside an automatic run, none, or one not in the thread", () => {
    assert.deepEqual(ids(foldThread(thread, "s3a").middle), ["in2", "in3", "s3a+s3b"]);
    assert.deepEqual(ids(foldThread(thread, null).head), ids(thread), "none: all shown");
    assert.deepEqual(ids(foldThread(thread, "gone").head), ids(thread), "unknown: all shown");
    assert.equal(openingFold(messages.slice(0, 5)), null, "a short thread folds nothing");
  });

  await s.step("in an address: '-' is none, nothing is the opening fold, junk is ignored", () => {
    assert.equal(foldQuery(null), "fold=-");
    assert.equal(foldQuery("01A B"), "fold=01A%20B");
    assert.equal(foldOf("-"), null);
    assert.equal(foldOf("01ABC"), "01ABC");
    assert.equal(foldOf(null), undefined);
    assert.equal(foldOf(""), undefined);
    assert.equal(foldOf("x".repeat(65)), undefined);
  });
});

/** The first capture of `re` in `html`, with `&amp;` read back. */
function found(html: string, re: RegExp, what: string): string {
  const m = re.exec(html);
  assert(m, `${what} not found`);
  return m[1].replaceAll("&amp;", "&");
}

/** A thread's HTML split at its fold: what the fold holds and what comes after it. */
function split(html: string): { folded: string; after: string } {
  const start = html.indexOf('<details class="msg-earlier"');
  assert(start >= 0, "a fold");
  const tags = /<details\b|<\/details>/g;
  tags.lastIndex = start;
  let depth = 0;
  for (let m = tags.exec(html); m; m = tags.exec(html)) {
    depth += m[0] === "</details>" ? -1 : 1;
    if (depth === 0) return { folded: html.slice(start, m.index), after: html.slice(m.index) };
  }
  throw new Error("an unclosed fold");
}

async function page(t: TestDesk, who: { token: string; jar: Map<string, string> }, path: string) {
  const res = await visit(t, who, path, { headers: { "hx-request": "true" } });
  return { status: res.status, html: await res.text() };
}

Deno.test("[routes] rule 56: an open page's poll and stream keep its fold", async (s) => {
  const t = await testDesk();
  try {
    await closeBusiness(t);
    const customer = { channel: "whatsapp", from: "+27820005611", name: "Thandi" };
    const ticketId = await intakeTicket(t, customer, [
      "first",
      ...[1, 2, 3, 4, 5].map((i) => `detail ${i}`),
    ]);
    const ana = await pagePerson(t);
    const accepted = await t.call("POST", `/api/tickets/${ticketId}/accept`, { token: ana.token });
    await accepted.body?.cancel();
    const opened = (await visit(t, ana, `/tickets/assigned/${ticketId}`)).text();
    const html = await opened;
    const poll = found(html, /hx-get="([^"]*part=conversation[^"]*)"/, "the poller");
    const events = found(html, /sse-connect="([^"]+)"/, "the stream");
    const fold = new URL(poll, "http://x").searchParams.get("fold")!;

    await s.step("the page names its fold to its poller and its stream", () => {
      assert.match(fold, /^[0-9A-Za-z]+$/, "a message id");
      assert.equal(new URL(events, "http://x").searchParams.get("fold"), fold);
    });

    await s.step("nothing new: the poll answers 204", async () => {
      assert.equal((await page(t, ana, poll)).status, 204);
    });

    await s.step(
      "three arrive: the poll draws them after the fold, which holds what it held",
      async () => {
        const before = found(html, /(\d+) earlier messages/, "the fold's count");
        for (const text of ["burst a", "burst b", "burst c"]) {
          await t.inbound({ ...customer, text });
        }
        const again = await page(t, ana, poll);
        assert.equal(again.status, 200);
        const { after } = split(again.html);
        for (const text of ["detail 4", "detail 5", "burst a", "burst b", "burst c"]) {
          assert(after.includes(text), `${text} after the fold`);
        }
        assert.equal(found(again.html, /(\d+) earlier messages/, "the count"), before);
        assert.equal(
          new URL(found(again.html, /hx-get="([^"]*part=conversation[^"]*)"/, "poller"), "http://x")
            .searchParams.get("fold"),
          fold,
          "the next poll keeps it",
        );
        // Opened now, the page folds afresh: burst a goes into the fold.
        const fresh = await (await visit(t, ana, `/tickets/assigned/${ticketId}`)).text();
        const { folded } = split(fresh);
        assert(folded.includes("burst a"), "a page that opens now folds it");
      },
    );
  } finally {
    await t.close();
  }
});
