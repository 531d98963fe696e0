/*
 chatdesk desk.js: keyboard help for the Agent Desk (Tickets and Chats). Progressive enhancement
 only: every page works without it. The reply box's own help is static/compose.js, loaded only
 on pages that have one.

 - Lists: j / k move between rows, a accepts the focused row (or the open ticket), and focus
   stays on the list when it is redrawn (an Accept, a live update): on the same row, or the one
   that took its place.
 - Ctrl+Enter in a form's text box sends it (compose.js handles the reply box itself); r jumps to
   the reply box.
 - Threads open at the newest message and stay there as messages arrive; auto-reply groups the
   agent opened stay open. On a narrow screen the reply box is brought into reach.
 - ? lists the shortcuts.
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

  // ---- Threads: open at the newest message, follow new ones -----------------------------------

  function initThread(log) {
    if (log.dataset.ready) {
      if (log.dataset.pinned !== "0") log.scrollTop = log.scrollHeight;
      return;
    }
    log.dataset.ready = "1";
    log.dataset.pinned = "1";
    log.scrollTop = log.scrollHeight;
    log.addEventListener("scroll", () => {
      log.dataset.pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 48 ? "1" : "0";
    }, { passive: true });
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
    doc.querySelectorAll("[data-thread]").forEach(initThread);
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
  // On a narrow screen the list is hidden and the reply box sits under the thread: bring it up.
  const box = doc.querySelector("[data-compose-text]");
  if (box && !location.hash && innerWidth < 900 && scrollY === 0) {
    const rect = box.getBoundingClientRect();
    if (rect.bottom > innerHeight) scrollBy(0, rect.bottom - innerHeight + 16);
  }
  // Redraws (htmx swaps, live updates) rescan; the reply box's own drawing does not.
  new MutationObserver((records) => {
    if (records.some((r) => !(r.target.closest && r.target.closest("form[data-compose]")))) scan();
  }).observe(doc.body, { childList: true, subtree: true });
})();
