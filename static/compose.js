/*
 chatdesk compose.js: the reply box's help (tickets and chats with a box to write in), loaded
 by static/desk.js when a box is first used (focused, pressed, a file dragged over it). Progressive enhancement only: without it the canned-reply select with
 Insert works, and the server refuses a reply with an unfilled placeholder whatever happens here
 (rule 34).

 - Ctrl+Enter sends; `/` opens a filtered list of canned replies; Insert adds the chosen one at
   the caret, filled by the server; `{{…}}` left in the text is highlighted, listed, and Send
   stays disabled until it is edited.
 - Rule 45: characters left of the channel's limit and, on SMS, segments, as the agent types
   (the rules of domain/channels.ts `smsSegments`; the server refuses a reply over the limit).
 - Rule 51: a file dropped on the form or an image pasted into the box goes into the file input
   (a DataTransfer), its name and size are shown with a Remove button, and the text is required
   only when no file and no place go with it (without this script the server says so).
*/
(() => {
  "use strict";
  const doc = document;
  const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
  const focused = () => doc.activeElement;

  function unfilled(text) {
    const names = [];
    for (const m of text.matchAll(PLACEHOLDER)) if (!names.includes(m[1])) names.push(m[1]);
    return names;
  }

  const parts = (form) => ({
    box: form.querySelector("[data-compose-text]"),
    backdrop: form.querySelector(".compose-backdrop"),
    note: form.querySelector("[data-unfilled]"),
    send: form.querySelector("[data-send]"),
    select: form.querySelector("[data-canned]"),
    status: form.querySelector(".compose-status"),
    count: form.querySelector("[data-count]"),
    file: form.querySelector("[data-compose-file]"),
    place: form.querySelector("[data-place-form]"),
  });

  // GSM 03.38 (as domain/channels.ts): one septet each; its extension table two.
  const GSM = /[\n\r -@A-Z_a-z£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà]/;
  const GSM_EXT = /[\f^{}\\[~\]|€]/;
  function segments(text) {
    let septets = 0;
    for (const ch of text) {
      if (GSM.test(ch)) septets += 1;
      else if (GSM_EXT.test(ch)) septets += 2;
      else return [text.length <= 70 ? 1 : Math.ceil(text.length / 67), "UCS-2"];
    }
    return [septets <= 160 ? 1 : Math.ceil(septets / 153), "GSM-7"];
  }
  const num = (n) => n.toLocaleString("en-US");
  /** The counter's words (views/reply_box.tsx `countText`); a form posts line breaks as CR LF. */
  function countText(count, value) {
    const text = value.replace(/\r?\n/g, "\r\n");
    const left = Number(count.dataset.limit) - text.length;
    const chars = left >= 0
      ? `${num(left)} characters left`
      : `${num(-left)} characters over the limit`;
    if (count.dataset.count !== "sms") return chars;
    const [n, encoding] = segments(text);
    return `${chars} · ${n} SMS segment${n === 1 ? "" : "s"} (${encoding})`;
  }

  /** The text with its placeholders in <mark>, drawn behind the (transparent) textarea. */
  function highlighted(text) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(PLACEHOLDER)) {
      out.push(text.slice(last, m.index));
      const mark = doc.createElement("mark");
      mark.textContent = m[0];
      out.push(mark);
      last = m.index + m[0].length;
    }
    // A trailing line break needs a character after it to take up its line.
    out.push(text.slice(last) + "\n ");
    return out;
  }

  function unfilledMessage(names) {
    const out = ["Replace "];
    names.forEach((name, i) => {
      if (i > 0) out.push(i === names.length - 1 ? " and " : ", ");
      const mark = doc.createElement("mark");
      mark.className = "placeholder";
      mark.textContent = `{{${name}}}`;
      out.push(mark);
    });
    out.push(` before sending: the desk has no value for ${names.length === 1 ? "it" : "them"}.`);
    return out;
  }

  function refresh(form) {
    const { box, backdrop, note, send, count } = parts(form);
    if (count) count.textContent = countText(count, box.value);
    backdrop.replaceChildren(...highlighted(box.value));
    backdrop.scrollTop = box.scrollTop;
    const names = unfilled(box.value);
    const key = names.join("\n");
    if (note && note.dataset.names !== key) {
      note.dataset.names = key;
      note.hidden = !names.length;
      note.replaceChildren(...(names.length ? unfilledMessage(names) : []));
    }
    if (send) send.disabled = names.length > 0;
  }

  /** Puts the caret on the first placeholder left, so typing replaces it. */
  function selectFirstUnfilled(box, from = 0) {
    const all = [...box.value.matchAll(PLACEHOLDER)];
    const m = all.find((x) => x.index >= from) || all[0];
    box.focus();
    if (m) box.setSelectionRange(m.index, m.index + m[0].length);
  }

  function say(form, text) {
    const { status } = parts(form);
    if (status) status.textContent = text;
  }

  /** Inserts canned reply `id`, filled by the server for this ticket or chat, over `range`. */
  async function insertCanned(form, id, range) {
    const { box, select } = parts(form);
    let answer;
    try {
      const res = await fetch(select.dataset.canned + encodeURIComponent(id), {
        headers: { accept: "application/json" },
        credentials: "same-origin",
      });
      if (!res.ok) throw new Error(String(res.status));
      answer = await res.json();
    } catch {
      say(form, "That canned reply could not be inserted; reload the page and try again.");
      return;
    }
    const [start, end] = range || caret(box);
    let text = answer.text;
    // Inserted after a word with the button: keep the words apart.
    if (!range && start > 0 && !/\s/.test(box.value[start - 1])) text = ` ${text}`;
    box.focus();
    box.setRangeText(text, start, end, "end");
    refresh(form);
    const left = unfilled(text);
    say(
      form,
      left.length
        ? `Inserted. Still to fill: ${left.map((n) => `{{${n}}}`).join(", ")}.`
        : "Inserted, every field filled.",
    );
    if (left.length) selectFirstUnfilled(box, start);
  }

  /** Where the caret was when the box last had focus (the end of the text if it never had). */
  const caret = (box) =>
    box.dataset.caret
      ? box.dataset.caret.split(",").map(Number)
      : [box.value.length, box.value.length];

  // The `/` picker: a listbox over the box, filtered by what follows the slash.
  function slashQuery(box) {
    if (box.selectionStart !== box.selectionEnd) return null;
    const upto = box.value.slice(0, box.selectionStart);
    const m = /(^|\s)\/([^\s/]{0,40})$/.exec(upto);
    return m ? { start: upto.length - m[2].length - 1, query: m[2].toLowerCase() } : null;
  }

  function closePicker(form) {
    const { box } = parts(form);
    const pop = form.querySelector(".canned-pop");
    if (pop) pop.remove();
    box.removeAttribute("aria-activedescendant");
    box.removeAttribute("aria-controls");
    form.picker = null;
  }

  function drawPicker(form) {
    const { box } = parts(form);
    const p = form.picker;
    let pop = form.querySelector(".canned-pop");
    if (!pop) {
      pop = doc.createElement("ul");
      pop.className = "canned-pop";
      pop.id = `${box.id}-pop`;
      pop.setAttribute("role", "listbox");
      pop.setAttribute("aria-label", "Canned replies");
      box.closest(".compose").append(pop);
      box.setAttribute("aria-controls", pop.id);
    }
    pop.replaceChildren();
    if (!p.items.length) {
      const none = doc.createElement("li");
      none.className = "canned-none";
      none.setAttribute("role", "option");
      none.setAttribute("aria-disabled", "true");
      none.textContent = "No canned reply has that in its title.";
      pop.append(none);
      box.removeAttribute("aria-activedescendant");
      return;
    }
    p.items.forEach((option, i) => {
      const li = doc.createElement("li");
      li.id = `${pop.id}-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === p.active));
      li.textContent = option.text;
      li.addEventListener("mousedown", (e) => e.preventDefault());
      li.addEventListener("click", () => choose(form, i));
      pop.append(li);
    });
    box.setAttribute("aria-activedescendant", `${pop.id}-${p.active}`);
  }

  function updatePicker(form) {
    const { box, select } = parts(form);
    if (!select) return;
    const q = slashQuery(box);
    if (!q || (form.dismissed === q.start)) {
      if (form.picker) closePicker(form);
      if (!q) form.dismissed = null;
      return;
    }
    const items = [...select.options].filter((o) => o.value)
      .filter((o) => o.text.toLowerCase().includes(q.query));
    const was = form.picker;
    form.picker = { start: q.start, items, active: 0 };
    drawPicker(form);
    if (!was || was.items.length !== items.length) {
      say(
        form,
        items.length
          ? `${items.length} canned ${
            items.length === 1 ? "reply" : "replies"
          }: arrow keys choose, Enter inserts, Escape closes.`
          : "No canned reply matches.",
      );
    }
  }

  function choose(form, i) {
    const { box } = parts(form);
    const p = form.picker;
    if (!p || !p.items[i]) return;
    const range = [p.start, box.selectionStart];
    closePicker(form);
    insertCanned(form, p.items[i].value, range);
  }

  function pickerKeys(form, e) {
    const p = form.picker;
    if (!p) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!p.items.length) return;
      p.active = (p.active + (e.key === "ArrowDown" ? 1 : -1) + p.items.length) % p.items.length;
      drawPicker(form);
    } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      if (!p.items.length) return;
      e.preventDefault();
      choose(form, p.active);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      form.dismissed = p.start;
      closePicker(form);
    }
  }

  function initCompose(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    const { box, select } = parts(form);
    const wrap = box.closest(".compose");
    const backdrop = doc.createElement("div");
    backdrop.className = "compose-backdrop";
    backdrop.setAttribute("aria-hidden", "true");
    wrap.prepend(backdrop);
    wrap.classList.add("enhanced");
    const status = doc.createElement("p");
    status.className = "compose-status sr-only";
    status.setAttribute("role", "status");
    wrap.after(status);
    const hint = form.querySelector("[data-kbd-hint]");
    if (hint) hint.hidden = false;
    const insert = form.querySelector("[data-insert]");
    if (select && insert) {
      insert.addEventListener("click", (e) => {
        e.preventDefault();
        if (!select.value) {
          say(form, "Choose a canned reply first.");
          select.focus();
          return;
        }
        insertCanned(form, select.value, null);
        select.value = "";
      });
    }
    const keepCaret = () => box.dataset.caret = `${box.selectionStart},${box.selectionEnd}`;
    box.addEventListener("blur", () => {
      keepCaret();
      setTimeout(() => {
        if (focused() !== box) closePicker(form);
      }, 150);
    });
    box.addEventListener("input", () => {
      refresh(form);
      updatePicker(form);
    });
    box.addEventListener("click", () => updatePicker(form));
    box.addEventListener("scroll", () => backdrop.scrollTop = box.scrollTop, { passive: true });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        // Ahead of desk.js's Ctrl+Enter (it skips a key already handled).
        e.preventDefault();
        sendReply(form);
        return;
      }
      pickerKeys(form, e);
    });
    form.addEventListener("submit", (e) => {
      if (e.submitter && e.submitter.hasAttribute("data-insert")) return;
      if (unfilled(box.value).length) {
        e.preventDefault();
        selectFirstUnfilled(box);
      }
    });
    refresh(form);
    initAttach(form);
    // Loaded by the box's first use (static/desk.js): a `/` typed meanwhile opens the list now.
    if (focused() === box) updatePicker(form);
  }

  // ---- Rule 51: one file (picker, drop, paste) and a place --------------------------------------

  const size = (n) =>
    n < 1000
      ? `${n} ${n === 1 ? "byte" : "bytes"}`
      : n < 1e6
      ? `${Math.round(n / 1000)} kB`
      : `${(n / 1e6).toFixed(1)} MB`;

  const placeGiven = (place) =>
    !!place && [...place.querySelectorAll("input[name=latitude], input[name=longitude]")]
      .some((i) => i.value.trim() !== "");

  /** The chosen file's name, size and Remove button; the text is optional with a file or place. */
  function refreshAttach(form) {
    const { box, file, place } = parts(form);
    if (!file) return;
    const chosen = file.files && file.files[0];
    box.required = !chosen && !placeGiven(place);
    const wrap = file.closest("[data-attach]");
    let chip = wrap.querySelector(".attach-chosen");
    if (!chosen) {
      if (chip) chip.remove();
      wrap.classList.remove("has-file");
      return;
    }
    if (!chip) {
      chip = doc.createElement("p");
      chip.className = "attach-chosen";
      const name = doc.createElement("span");
      name.className = "attach-name";
      const bytes = doc.createElement("span");
      bytes.className = "attach-size";
      const remove = doc.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-sm";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => {
        file.value = "";
        refreshAttach(form);
        say(form, "File removed.");
        box.focus();
      });
      chip.append(name, bytes, remove);
      file.closest("[data-attach]").querySelector("label").after(chip);
    }
    chip.querySelector(".attach-name").textContent = chosen.name || "Pasted file";
    chip.querySelector(".attach-size").textContent = size(chosen.size);
    chip.querySelector("button").setAttribute("aria-label", `Remove ${chosen.name || "the file"}`);
    wrap.classList.add("has-file");
  }

  /** Puts `files[0]` into the form's file input, as if picked (rule 51: one file a message). */
  function attach(form, files) {
    const { file } = parts(form);
    if (!file || !files || !files.length) return false;
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    file.files = dt.files;
    refreshAttach(form);
    const f = files[0];
    say(
      form,
      `Attached ${f.name || "a file"} (${size(f.size)})${
        files.length > 1 ? "; only one file goes with a message" : ""
      }.`,
    );
    return true;
  }

  const hasFiles = (e) => !!e.dataTransfer && [...e.dataTransfer.types].includes("Files");

  function initAttach(form) {
    const { box, file, place } = parts(form);
    if (!file) return;
    file.closest("[data-attach]").classList.add("enhanced");
    file.addEventListener("change", () => refreshAttach(form));
    if (place) place.addEventListener("input", () => refreshAttach(form));
    let depth = 0;
    form.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      form.classList.add("dropping");
    });
    form.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    form.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) form.classList.remove("dropping");
    });
    form.addEventListener("drop", (e) => {
      depth = 0;
      form.classList.remove("dropping");
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      attach(form, e.dataTransfer.files);
      box.focus();
    });
    box.addEventListener("paste", (e) => {
      const files = e.clipboardData ? [...e.clipboardData.files] : [];
      if (!files.length) return;
      // A copied picture comes with its name as text too: the file is what was meant.
      e.preventDefault();
      attach(form, files);
    });
    refreshAttach(form);
  }

  /** Ctrl+Enter (⌘+Enter): Send, unless a placeholder is left (the caret goes to it). */
  function sendReply(form) {
    const { box, send: button } = parts(form);
    if (form.picker) closePicker(form);
    if (unfilled(box.value).length) {
      selectFirstUnfilled(box);
      return;
    }
    form.requestSubmit(button || undefined);
  }

  const scan = () => doc.querySelectorAll("form[data-compose]").forEach(initCompose);
  scan();
  // A box drawn later (an htmx swap) is set up too; the box's own drawing is left alone.
  new MutationObserver((records) => {
    if (records.some((r) => !(r.target.closest && r.target.closest("form[data-compose]")))) scan();
  }).observe(doc.body, { childList: true, subtree: true });
})();
