/*
 chatdesk desk.js: keyboard help for the Agent Desk (Tickets and Chats). Progressive enhancement
 only: every page works without it. The reply box's own help is static/compose.js, loaded only
 on pages that have one.

 - Lists: j / k move between rows, a accepts the focused row (or the open ticket), and focus
   stays on the list when it is redrawn (an Accept, a live update): on the same row, or the one
   that took its place.
 - Ctrl+Enter in a form's text box sends it (compose.js handles the reply box itself); r jumps to
   the reply box.
 - Threads read from the start (rule 56): the page opens with the customer's first message, the
   newest ones and the reply box in the window, and keeps the reply box there as messages arrive;
   auto-reply groups and earlier messages the agent opened stay open.
 - ? lists the shortcuts.
 - The reply box's own help (static/compose.js) loads when the box is first used: focused,
   pressed, or a file dragged over it. Until then its Ctrl+Enter is the form's, its keyboard hint
   shows, and a file dropped or an image pasted goes into its file input, which compose.js then
   shows. So a ticket page weighs its HTML, htmx and this file until someone writes (rule 33).
*/
(() => {
  "use strict";
  const doc = document;

  const isTyping = (el) =>
    !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const shown = (el) => !!el && el.getClientRects().length > 0;
  const focused = () => doc.activeElement;
  const rowOf = (el) => (el && el.closest ? el.closest("li.row") : null);

  // ---- Lists: rows, j / k / a, focus kept across redraws -------------------------------------

  const rowsIn = (root) => [...(root || doc).querySelectorAll(".rows > li.row")].filter(shown);
  const rowKey = (row) => row.dataset.ticket || row.dataset.chat || "";

  function focusRow(row, kind) {
    if (!row) return false;
    const button = row.querySelector(".row-actions button");
    const target = (kind === "button" && button) || row.querySelector(".row-title a") || button;
    if (!target) return false;
    target.focus();
    target.scrollIntoView({ block: "nearest" });
    return true;
  }

  function moveRow(step) {
    const rows = rowsIn(doc);
    if (!rows.length) return;
    let i = rows.indexOf(rowOf(focused()));
    if (i < 0) {
      const selected = rows.findIndex((r) => r.getAttribute("aria-current") === "true");
      i = selected >= 0 ? selected : step > 0 ? 0 : rows.length - 1;
    } else {
      i = Math.max(0, Math.min(rows.length - 1, i + step));
    }
    focusRow(rows[i], "link");
  }

  function accept() {
    const row = rowOf(focused());
    const button = row
      ? row.querySelector(".row-actions button")
      : doc.querySelector("[data-accept]");
    if (!button || !shown(button)) return false;
    button.click();
    return true;
  }

  /** The row that had focus: where focus goes back when its list is redrawn under it. */
  let lastRow = null;
  doc.addEventListener("focusin", (e) => {
    const row = rowOf(e.target);
    if (!row) {
      lastRow = null;
      return;
    }
    const list = row.parentElement && row.parentElement.closest("[id]");
    lastRow = {
      key: rowKey(row),
      index: rowsIn(list).indexOf(row),
      list: list ? list.id : null,
      kind: e.target.matches("button") ? "button" : "link",
    };
  });
  doc.addEventListener("focusout", (e) => {
    // Focus left for nowhere while the element is still there: the agent moved away on purpose.
    if (e.relatedTarget) return;
    const gone = e.target;
    setTimeout(() => {
      if (gone.isConnected && (!focused() || focused() === doc.body)) lastRow = null;
    }, 0);
  });

  function restoreRowFocus() {
    if (!lastRow || (focused() && focused() !== doc.body)) return;
    const list = lastRow.list ? doc.getElementById(lastRow.list) : doc;
    const rows = rowsIn(list);
    if (!rows.length) return;
    const same = rows.find((r) => rowKey(r) === lastRow.key);
    focusRow(same || rows[Math.min(lastRow.index, rows.length - 1)], lastRow.kind);
  }

  /**
   * Ctrl+Enter (⌘+Enter) in a form's text box: what its first button does (Add note). The reply
   * box takes its own Ctrl+Enter first (compose.js), so it is never sent with a placeholder left.
   */
  function submitFrom(box) {
    const form = box.form;
    const button = form.querySelector("[data-send]") ||
      form.querySelector("button[type=submit], button:not([type])");
    form.requestSubmit(button || undefined);
  }

  // ---- Threads: read from the start, reply box in view (rule 56) ------------------------------

  /**
   * The thread is part of the page: bring the reply box (or, read-only, the newest message) to
   * the bottom of the window, never scrolling the customer's first message out at the top.
   */
  function bringThreadIntoView() {
    const thread = doc.querySelector("[data-thread]");
    if (!thread || location.hash) return;
    const first = thread.querySelector('[data-ends~="first"]');
    const box = doc.querySelector("[data-compose-text]");
    const end = (shown(box) && box.closest("form")) ||
      thread.querySelector('[data-ends~="newest"]') || thread;
    const want = end.getBoundingClientRect().bottom - innerHeight + 12;
    const limit = first ? first.getBoundingClientRect().top - 8 : want;
    const by = Math.min(want, limit);
    if (by > 0) scrollBy(0, by);
  }

  /** Whether the reply box is in the window now: a redrawn thread keeps it there. */
  let replyInView = false;
  function noteReplyInView() {
    const box = doc.querySelector("[data-compose-text]");
    if (!shown(box)) return;
    const rect = box.closest("form").getBoundingClientRect();
    replyInView = rect.top >= 0 && rect.bottom <= innerHeight;
  }
  addEventListener("scroll", noteReplyInView, { passive: true });

  function keepReplyInView() {
    const box = doc.querySelector("[data-compose-text]");
    if (!replyInView || !shown(box)) return;
    const bottom = box.closest("form").getBoundingClientRect().bottom;
    if (bottom > innerHeight) scrollBy(0, bottom - innerHeight + 12);
  }

  /** Auto-reply groups the agent opened stay open when the thread is drawn again. */
  const openGroups = new Set();
  doc.addEventListener("toggle", (e) => {
    const group = e.target;
    if (!group.matches || !group.matches("details[data-group]")) return;
    if (group.open) openGroups.add(group.dataset.group);
    else openGroups.delete(group.dataset.group);
  }, true);

  function scan() {
    for (const g of doc.querySelectorAll("details[data-group]")) {
      if (openGroups.has(g.dataset.group) && !g.open) g.open = true;
    }
    keepReplyInView();
    restoreRowFocus();
  }

  // ---- Shortcuts --------------------------------------------------------------------------------

  const SHORTCUTS = [
    ["j / k", "Next / previous ticket or chat in a list"],
    ["Enter", "Open the focused one"],
    ["a", "Accept the focused ticket or chat (or the open ticket)"],
    ["r", "Go to the reply box"],
    ["/", "In the reply box: pick a canned reply"],
    ["Ctrl+Enter", "Send the reply, or add the note"],
    ["?", "This list"],
  ];

  function showHelp() {
    let dialog = doc.getElementById("shortcuts");
    if (!dialog) {
      dialog = doc.createElement("dialog");
      dialog.id = "shortcuts";
      dialog.className = "shortcuts";
      dialog.setAttribute("aria-labelledby", "shortcuts-h");
      const h = doc.createElement("h2");
      h.id = "shortcuts-h";
      h.textContent = "Keyboard shortcuts";
      const list = doc.createElement("dl");
      for (const [keys, what] of SHORTCUTS) {
        const dt = doc.createElement("dt");
        const kbd = doc.createElement("kbd");
        kbd.textContent = keys;
        dt.append(kbd);
        const dd = doc.createElement("dd");
        dd.textContent = what;
        list.append(dt, dd);
      }
      const form = doc.createElement("form");
      form.method = "dialog";
      const close = doc.createElement("button");
      close.className = "btn btn-sm";
      close.textContent = "Close";
      form.append(close);
      dialog.append(h, list, form);
      doc.body.append(dialog);
    }
    dialog.showModal();
  }

  // ---- The reply box's help (compose.js), loaded at the box's first use ----------------------

  let composing = null;
  const loadCompose = (form) =>
    composing = composing || new Promise((resolve) => {
      const script = doc.createElement("script");
      script.src = form.dataset.composeSrc;
      script.onload = script.onerror = resolve;
      doc.head.append(script);
    });
  for (const type of ["focusin", "pointerdown", "touchstart", "dragover", "drop", "paste"]) {
    doc.addEventListener(type, (e) => {
      const form = e.target.closest && e.target.closest("form[data-compose-src]");
      if (!form) return;
      const loaded = loadCompose(form);
      const data = e.dataTransfer || e.clipboardData;
      if (form.dataset.ready || !data) return;
      // Before compose.js runs, a file over the box is taken into its input, never opened.
      e.preventDefault();
      const input = form.querySelector("[data-compose-file]");
      if (!data.files.length || !input) return;
      const picked = new DataTransfer();
      picked.items.add(data.files[0]);
      input.files = picked.files;
      loaded.then(() => input.dispatchEvent(new Event("change", { bubbles: true })));
    }, true);
  }
  /** Before compose.js: its keyboard hint (Ctrl+Enter is below) and the file picker's button. */
  const readyCompose = () => {
    doc.querySelectorAll("[data-kbd-hint]").forEach((hint) => hint.hidden = false);
    doc.querySelectorAll("[data-attach]").forEach((attach) => attach.classList.add("enhanced"));
  };

  doc.addEventListener("keydown", (e) => {
    if (e.defaultPrevented) return;
    const target = e.target;
    if (
      e.key === "Enter" && (e.ctrlKey || e.metaKey) && target.tagName === "TEXTAREA" && target.form
    ) {
      e.preventDefault();
      submitFrom(target);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(target)) return;
    if (doc.querySelector("dialog[open]")) return;
    if (e.key === "j" || e.key === "k") {
      e.preventDefault();
      moveRow(e.key === "j" ? 1 : -1);
    } else if (e.key === "a") {
      if (accept()) e.preventDefault();
    } else if (e.key === "r") {
      const box = doc.querySelector("[data-compose-text]");
      if (shown(box)) {
        e.preventDefault();
        box.focus();
      }
    } else if (e.key === "?") {
      e.preventDefault();
      showHelp();
    }
  });

  scan();
  readyCompose();
  // Once the page is whole (compose.js draws under the reply box when the document is ready).
  const settle = () => {
    if (scrollY === 0) bringThreadIntoView();
    noteReplyInView();
  };
  if (doc.readyState === "complete") settle();
  else addEventListener("load", settle, { once: true });
  // Redraws (htmx swaps, live updates) rescan; the reply box's own drawing does not.
  new MutationObserver((records) => {
    if (records.some((r) => !(r.target.closest && r.target.closest("form[data-compose]")))) {
      scan();
      readyCompose();
    }
  }).observe(doc.body, { childList: true, subtree: true });
})();
