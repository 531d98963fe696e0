/*
 chatdesk alerts.js: rules 32 and 33 in the browser, no framework.

 - Every desk page's live stream (the page's own, or one opened here on pages without one) sends
   `desk` (the counts: title and navigation), `alert` (new work for this agent: an opt-in sound
   and an opt-in desktop notification, chosen per browser under "Alerts") and `notice` (a ticket
   of this agent closed by rule 7, shown until dismissed).
 - Ticket lists are patched row by row (event `patch`, applied by htmx out of band). A patch says
   which list version it applies to; a page that has another one (after a reconnect gap, or an
   Accept answer drawn meanwhile) skips it when it is already current, else fetches the whole
   list the way the 10 s poll does.
 - Row ages ("4 min ago") are kept current here, since live rows are sent once.
 - `signed-out` (the session ended elsewhere: rule 58) closes the stream and goes to sign in.
*/
(() => {
  "use strict";
  const doc = document;
  const STORE = "chatdesk-alerts";
  const settings = (() => {
    try {
      return { sound: false, notify: false, ...JSON.parse(localStorage.getItem(STORE) || "{}") };
    } catch {
      return { sound: false, notify: false };
    }
  })();
  const save = () => localStorage.setItem(STORE, JSON.stringify(settings));
  const canNotify = "Notification" in globalThis;

  // ---- Counts: title and navigation (rule 32) -------------------------------------------------

  const baseTitle = doc.title.replace(/^\(\d+\) /, "");
  const setCount = (el, n) => {
    if (!el) return;
    el.textContent = String(n);
    el.dataset.count = String(n);
    el.hidden = false;
  };
  /** The desk's counts; the Unassigned tab and Quick Accept show the same number. */
  function showCounts({ unassigned, chats }) {
    setCount(doc.getElementById("nav-unassigned"), unassigned);
    setCount(doc.getElementById("nav-chats"), chats);
    doc.title = `(${unassigned + chats}) ${baseTitle}`;
    const tab = doc.getElementById("tab-unassigned");
    if (tab) {
      tab.dataset.count = String(unassigned);
      setCount(tab.querySelector(".count"), unassigned);
    }
    const available = doc.getElementById("quick-n");
    if (available) available.textContent = `${unassigned} available`;
    const custom = doc.getElementById("quick-count");
    if (custom) custom.max = String(Math.min(unassigned, 100));
  }

  // ---- Sound and desktop notifications --------------------------------------------------------

  let audio = null;
  function unlockAudio() {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
    } catch {
      audio = null;
    }
    return audio;
  }
  /** Two short tones: no file to load, nothing to cache. */
  function chime() {
    const ctx = unlockAudio();
    if (!ctx || ctx.state !== "running") return false;
    [[880, 0], [1175, 0.16]].forEach(([freq, at]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const t = ctx.currentTime + at;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.32);
    });
    return true;
  }
  // Browsers start audio only after a gesture on the page: the first click or key unlocks it.
  for (const type of ["pointerdown", "keydown"]) {
    doc.addEventListener(type, () => settings.sound && unlockAudio(), { once: true });
  }

  /** One announcement per tag across this browser's desk tabs, for a minute. */
  function firstToShow(tag) {
    try {
      const now = Date.now();
      const seen = JSON.parse(localStorage.getItem(`${STORE}-seen`) || "{}");
      for (const k of Object.keys(seen)) if (now - seen[k] > 60_000) delete seen[k];
      if (seen[tag]) return false;
      seen[tag] = now;
      localStorage.setItem(`${STORE}-seen`, JSON.stringify(seen));
    } catch { /* storage full or blocked: announce anyway */ }
    return true;
  }

  const TITLES = {
    ticket: "New ticket",
    back: "A ticket is back in Unassigned",
    assigned: "A ticket was assigned to you",
    chat: "New chat waiting",
  };

  function announce(alert) {
    alert.title = TITLES[alert.kind] || "New work";
    alert.tag = alert.href;
    const first = firstToShow(alert.tag);
    const sound = first && settings.sound && chime();
    let notified = false;
    if (first && settings.notify && canNotify && Notification.permission === "granted") {
      const note = new Notification(alert.title, { body: alert.body, tag: alert.tag });
      note.onclick = () => {
        globalThis.focus();
        location.href = alert.href;
      };
      notified = true;
    }
    doc.dispatchEvent(new CustomEvent("chatdesk:alert", { detail: { alert, sound, notified } }));
  }

  // ---- Notices (rule 7 closed one of my tickets) ----------------------------------------------

  function notice(html) {
    const box = doc.getElementById("notices");
    if (box) box.insertAdjacentHTML("beforeend", html);
  }
  doc.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("[data-dismiss]");
    if (button) button.closest(".notice")?.remove();
  });

  // ---- The streams ----------------------------------------------------------------------------

  const attached = new WeakSet();
  function attach(source) {
    if (!source || attached.has(source)) return;
    attached.add(source);
    source.addEventListener("desk", (e) => showCounts(JSON.parse(e.data)));
    source.addEventListener("alert", (e) => announce(JSON.parse(e.data)));
    source.addEventListener("notice", (e) => notice(e.data));
    // The session ended (a password changed elsewhere, a reset, sign-out; rule 58): the stream
    // is closed here, before its end can log an error, and the page goes to sign in again.
    source.addEventListener("signed-out", () => {
      source.close();
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    });
  }
  doc.addEventListener("htmx:sseOpen", (e) => attach(e.detail && e.detail.source));

  /** Rule 33: a list patch applies only to the list version it was made from. */
  const PATCH = /^<!--patch (\S+) (\S+)-->/;
  doc.addEventListener("htmx:sseBeforeMessage", (e) => {
    const msg = e.detail;
    if (!msg || msg.type !== "patch") return;
    const m = PATCH.exec(msg.data);
    const poll = doc.getElementById("list-poll");
    const have = poll && poll.dataset.v;
    if (!m || have === m[1]) return;
    e.preventDefault();
    // Already there (an Accept answer drew it): nothing to do. Else fetch the whole list.
    if (have !== m[2] && poll && globalThis.htmx) {
      htmx.ajax("GET", poll.getAttribute("hx-get"), { target: "#queue-list", swap: "innerHTML" });
    }
  });

  /** After a patch, the 10 s poll asks "changed since this version?" (else it gets the list). */
  doc.addEventListener("htmx:sseMessage", (e) => {
    const msg = e.detail;
    const m = msg && msg.type === "patch" && PATCH.exec(msg.data);
    const poll = doc.getElementById("list-poll");
    if (!m || !poll || !globalThis.htmx) return;
    const next = poll.cloneNode(false);
    next.dataset.v = m[2];
    next.setAttribute("hx-get", poll.getAttribute("hx-get").replace(/([?&]v=)[^&]*/, `$1${m[2]}`));
    poll.replaceWith(next);
    htmx.process(next);
  });

  // ---- Row ages -------------------------------------------------------------------------------

  /** Same words as the server's ago() (views/components.tsx). */
  function ago(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return "just now";
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ago`;
    return `${Math.floor(h / 24)} d ago`;
  }
  function refreshAges() {
    const rows = doc.getElementById("rows");
    // The desk's clock (it may differ from this computer's): the list says when it was drawn.
    const drawn = rows && Number(rows.dataset.now);
    if (!drawn) return;
    if (!rows.dataset.seen) rows.dataset.seen = String(Date.now());
    const now = drawn + (Date.now() - Number(rows.dataset.seen));
    for (const time of rows.querySelectorAll(".row-meta time[datetime]")) {
      const text = ago(now - Date.parse(time.getAttribute("datetime")));
      if (time.textContent !== text) time.textContent = text;
    }
  }
  setInterval(refreshAges, 30_000);
  // A list drawn whole (page, poll, Accept answer) starts its clock now.
  doc.addEventListener("htmx:afterSettle", refreshAges);

  // ---- Settings -------------------------------------------------------------------------------

  function initSettings() {
    const box = doc.getElementById("alert-settings");
    const sound = doc.getElementById("alert-sound");
    const notify = doc.getElementById("alert-notify");
    const note = doc.getElementById("alert-note");
    if (!box || !sound || !notify) return;
    box.hidden = false;
    sound.checked = !!settings.sound;
    notify.checked = !!settings.notify && canNotify && Notification.permission === "granted";
    if (!canNotify) notify.disabled = true;
    sound.addEventListener("change", () => {
      settings.sound = sound.checked;
      save();
      if (sound.checked) chime();
    });
    notify.addEventListener("change", async () => {
      note.textContent = "";
      if (!notify.checked) {
        settings.notify = false;
        save();
        return;
      }
      const answer = Notification.permission === "granted"
        ? "granted"
        : await Notification.requestPermission();
      settings.notify = answer === "granted";
      notify.checked = settings.notify;
      if (!settings.notify) note.textContent = "This browser blocks notifications for the desk.";
      save();
    });
  }

  function start() {
    initSettings();
    refreshAges();
    // Pages without a live list of their own (Admin, Supervisor) get the desk's stream alone.
    if (!doc.querySelector("[sse-connect]") && doc.getElementById("nav-unassigned")) {
      const u = doc.getElementById("nav-unassigned").dataset.count;
      const c = doc.getElementById("nav-chats")?.dataset.count;
      const v = u !== undefined && c !== undefined ? `&v=${u}-${c}` : "";
      attach(new EventSource(`/events?view=desk${v}`));
    }
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start);
  else start();
})();
