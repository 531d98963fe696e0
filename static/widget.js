// chatdesk web chat (SPEC rule 30): one <script src=".../webchat/widget.js" defer> draws a chat
// button and panel on any site. Hand-written, no framework, no build step. The desk fills in the
// settings string below when it serves this file. All customer and desk text goes in as text
// nodes (never HTML). `data-mode="page"` on the script tag renders the panel as the whole page;
// `data-mode="preview"` (Admin › Integrations) draws it open with the tag's data-title,
// data-greeting and data-color, stores nothing and never calls the desk.
(() => {
  "use strict";
  const S = "__CHATDESK_SETTINGS__";
  const doc = document;
  const script = doc.currentScript || doc.querySelector('script[src*="/webchat/widget.js"]');
  if (!script || typeof S !== "object" || doc.querySelector("chatdesk-chat")) return;
  const page = script.dataset.mode === "page";
  const preview = script.dataset.mode === "preview";
  const C = preview ? { ...script.dataset, enabled: true } : S;
  if (!C.enabled && !page) return;
  const api = script.src.replace(/\/widget\.js(\?.*)?$/, "") + "/api";
  const KEY = "chatdesk-webchat:" + api;

  // ---- storage: the visitor token and unsent messages survive reloads and navigation
  const mem = {};
  const get = (area, k) => {
    try {
      if (preview) throw 0;
      return globalThis[area].getItem(k);
    } catch {
      return mem[area + k] ?? null;
    }
  };
  const put = (area, k, v) => {
    try {
      if (preview) throw 0;
      globalThis[area].setItem(k, v);
    } catch {
      mem[area + k] = v;
    }
  };
  let saved;
  try {
    saved = JSON.parse(get("localStorage", KEY)) || {};
  } catch {
    saved = {};
  }
  saved.outbox = Array.isArray(saved.outbox) ? saved.outbox : [];
  // Files wait in memory only (storage takes text): a reload drops an unsent one.
  const save = () =>
    put(
      "localStorage",
      KEY,
      JSON.stringify({ ...saved, outbox: saved.outbox.filter((i) => !i.file) }),
    );

  // ---- drawing: text nodes and attributes only, never markup
  const h = (tag, attrs, ...kids) => {
    const el = doc.createElement(tag);
    for (const k in attrs || {}) {
      if (attrs[k] !== false && attrs[k] != null) {
        el.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
      }
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  };
  const hex = /^#[0-9a-f]{6}$/i.test(C.color) ? C.color : "#1f6feb";
  const lum = (c) => {
    const v = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16) / 255)
      .map((x) => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  };
  // Text on the accent colour: white or near-black, whichever contrasts more.
  const ink = 1.05 / (lum(hex) + 0.05) >= (lum(hex) + 0.05) / 0.0556 ? "#fff" : "#111";
  const css = `
:host{all:initial;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328}
*{box-sizing:border-box;font:inherit}
[hidden]{display:none!important}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:2px solid #111;outline-offset:2px;box-shadow:0 0 0 4px #fff}
button{cursor:pointer;border:0;border-radius:8px;background:${hex};color:${ink};padding:8px 14px;font-weight:600}
.go{position:fixed;right:16px;bottom:16px;z-index:2147483000;display:flex;align-items:center;gap:8px;border-radius:24px;padding:12px 18px;box-shadow:0 4px 14px #0003;max-width:calc(100vw - 32px)}
.go svg{flex:none}
.go span:first-of-type{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.n{background:#fff;color:#111;border-radius:10px;padding:0 7px;font-size:13px}
.p{position:fixed;right:16px;bottom:84px;z-index:2147483001;display:flex;flex-direction:column;width:min(380px,calc(100vw - 32px));height:min(580px,calc(100vh - 104px));background:#fff;border-radius:12px;box-shadow:0 8px 30px #0004;overflow:hidden}
.hd{display:flex;align-items:center;gap:8px;background:${hex};color:${ink};padding:12px 14px}
h1,h2{margin:0;flex:1;font-size:17px;font-weight:700;overflow-wrap:anywhere}
.x{background:transparent;color:inherit;font-size:22px;line-height:1;padding:4px 10px}
.log{flex:1;overflow-y:auto;overflow-x:hidden;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fa}
.m{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #d0d7de;align-self:flex-start}
.me{align-self:flex-end;background:${hex};color:${ink};border-color:${hex}}
.m small{display:block;font-size:12px;margin-top:2px}
.w{display:block;font-size:12px;font-weight:700;margin-bottom:2px}
.a{background:transparent;border-style:dashed;color:#57606a;font-size:14px}
.v{align-self:center;margin:0;font-size:13px;color:#57606a;text-align:center}
.q{display:flex;gap:8px;padding:8px 10px 0;justify-content:center}
.q button{flex:1;max-width:140px}
.me.wait{opacity:.75}
.bad{background:#fff;color:#a40e26;border-color:#a40e26}
.st{margin:0;padding:0 12px;font-size:13px;color:#57606a}
.st:not(:empty){padding:6px 12px}
form{display:flex;gap:8px;padding:10px;border-top:1px solid #d0d7de;align-items:flex-end}
.m img{display:block;max-width:100%;max-height:240px;border-radius:8px;margin:4px 0}
.m img:not([src]){width:160px;height:120px;background:#8883}
.m a{color:inherit}
.k{background:0;color:#57606a;padding:8px 4px}
textarea{flex:1;min-width:0;resize:none;border:1px solid #8c959f;border-radius:8px;padding:8px;max-height:120px;color:#1f2328;background:#fff}
@media (max-width:480px){.p{inset:0;width:auto;height:auto;border-radius:0}}
@media (prefers-reduced-motion:no-preference){.p{animation:up .18s ease-out}}
@keyframes up{from{opacity:0;transform:translateY(12px)}}
:host([data-page]){display:block;position:fixed;inset:0;background:#eaeef2}
:host([data-page]) .p{position:relative;inset:auto;margin:0 auto;width:100%;max-width:640px;height:100%;border-radius:0;animation:none}
`;
  const host = page ? doc.getElementById("chatdesk-webchat") || doc.body.appendChild(h("div")) : h(
    "chatdesk-chat",
  );
  if (page) host.setAttribute("data-page", "");
  const root = host.attachShadow({ mode: "open" });
  try {
    // Constructed sheets pass a host page's strict style-src; <style> is the fallback.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(h("style", {}, css));
  }
  const title = C.title || "Chat";
  const badge = h("span", { class: "n", hidden: true });
  // Icons: 16-unit paths drawn in the text colour.
  const svg = (d, a) => {
    const NS = "http://www.w3.org/2000/svg";
    const el = doc.createElementNS(NS, "svg");
    const path = doc.createElementNS(NS, "path");
    const all = { viewBox: "0 0 16 16", width: 18, height: 18, "aria-hidden": "true", ...a };
    for (const k in all) el.setAttribute(k, all[k]);
    path.setAttribute("d", d);
    el.append(path);
    return el;
  };
  const icon = svg(
    "M2 2h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H7l-4 3v-3H2a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z",
    { fill: "currentColor" },
  );
  const go = page ? null : h(
    "button",
    { type: "button", class: "go", "aria-expanded": "false", "aria-controls": "p" },
    icon,
    h("span", {}, title),
    badge,
  );
  const close = page
    ? null
    : h("button", { type: "button", class: "x", "aria-label": "Close chat" }, "×");
  const log = h("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Messages",
    tabindex: "0",
  });
  if (C.greeting) {
    log.append(h("p", { class: "m" }, h("span", { class: "sr" }, "Support: "), C.greeting));
  }
  const status = h("p", { class: "st", role: "status" });
  const input = h("textarea", {
    id: "in",
    rows: "2",
    maxlength: "4096",
    enterkeyhint: "send",
    autocomplete: "off",
    placeholder: "Write a message…",
  });
  // Rule 52: images and PDFs, picked, pasted or dropped; the typed text goes as the caption.
  const pick = h("input", {
    type: "file",
    accept: "image/jpeg,image/png,image/gif,image/webp,application/pdf",
    hidden: true,
  });
  const attach = h(
    "button",
    { type: "button", class: "k", "aria-label": "Send a file" },
    svg("M11 5v5.5a3 3 0 0 1-6 0V4a2 2 0 0 1 4 0v6a1 1 0 0 1-2 0V5", {
      fill: "none",
      stroke: "currentColor",
      "stroke-width": 1.5,
      "stroke-linecap": "round",
      width: 20,
      height: 20,
    }),
  );
  const form = h(
    "form",
    {},
    h("label", { for: "in", class: "sr" }, "Message"),
    pick,
    attach,
    input,
    h("button", { type: "submit" }, "Send"),
  );
  // Rule 55: the YES/NO question's answers as buttons (typing the word works too).
  const answer = h("div", { class: "q", role: "group", "aria-label": "Your answer", hidden: true });
  const panel = h(
    "section",
    {
      id: "p",
      class: "p",
      role: page ? "region" : "dialog",
      "aria-labelledby": "t",
      hidden: !page,
    },
    // Not <header>: on a site with its own, a second banner landmark would confuse screen readers.
    h("div", { class: "hd" }, h(page ? "h1" : "h2", { id: "t" }, title), close),
    log,
    answer,
    status,
    form,
  );
  if (go) root.append(go);
  root.append(panel);
  if (!page) doc.body.append(host);
  const unavailableText = "The chat is unavailable right now.";
  if (!C.enabled) {
    status.textContent = unavailableText;
    input.disabled = true;
  }

  // ---- the thread
  const shown = new Map(); // message id → element
  let cursor = null; // newest message id received from the desk
  let newest = ""; // newest message id shown (the visitor's own included): notices go after it
  let lastOut = ""; // newest desk message id (receipts point here)
  const sent = { delivered: "", read: "" }; // receipts the desk has taken
  let unread = 0;
  let open = page;
  const near = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const when = (at) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  // Rule 55: the visitor's own messages unnamed (read aloud as "You"), the agent's and the desk's
  // automatic replies named, each with its own look.
  const bubble = (me, text, meta, who, auto) =>
    h(
      "div",
      { class: me ? "m me" : auto ? "m a" : "m" },
      me ? h("span", { class: "sr" }, who + ": ") : h("span", { class: "w" }, who),
      text,
      h("small", {}, meta),
    );
  // Notices (an agent joined, the chat ended) sit between messages, placed by `id` like them.
  const notice = (text, id) => {
    const el = h("p", { class: "v" }, text);
    el.dataset.id = id;
    place(el, id);
    return el;
  };
  const place = (el, id) => {
    // Ids are time-ordered; a message that arrives late still lands in its place.
    // Unsent messages stay last.
    let at = log.lastElementChild;
    while (at && ((at.classList.contains("wait") && !at.dataset.id) || at.dataset.id > id)) {
      at = at.previousElementSibling;
    }
    at ? at.after(el) : log.prepend(el);
  };
  // Rule 52: a thread's files. An image element cannot send the bearer token, so the bytes come
  // by fetch() and show from blob: URLs; images load when scrolled into view, others on a click.
  const blob = async (url) => {
    try {
      const r = await fetch(url, { headers: { authorization: "Bearer " + saved.token } });
      return r.ok ? URL.createObjectURL(await r.blob()) : null;
    } catch {
      return null;
    }
  };
  const load = async (img) => {
    const u = await blob(img.dataset.u);
    u ? (img.src = u) : img.replaceWith("(image unavailable)");
  };
  const io = globalThis.IntersectionObserver &&
    new IntersectionObserver(
      (es) => es.forEach((e) => e.isIntersecting && (io.unobserve(e.target), load(e.target))),
      { root: log },
    );
  const size = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : Math.ceil(n / 1e3) + " kB";
  const file = (a) => {
    const url = api + "/attachments/" + a.id;
    const name = a.filename || a.kind;
    if (a.status != "stored") return h("span", {}, name + " (not available yet)");
    if (/^image\/(jpeg|png|gif|webp)/.test(a.mime)) {
      const img = h("img", { alt: name, "data-u": url });
      io ? io.observe(img) : load(img);
      return img;
    }
    const link = h("a", { href: "#" }, `${name} (${size(a.size)})`);
    link.onclick = async (e) => {
      if (link.download) return;
      e.preventDefault();
      const u = await blob(url);
      if (!u) return say("The file could not be opened.");
      link.href = u;
      link.download = name;
      link.click();
    };
    return link;
  };
  const drawFiles = (el, m) => {
    const files = m.attachments || [];
    const p = m.location;
    if (!files.length && !p) return;
    el.querySelector(".fs")?.remove();
    const text = el.childNodes[1];
    text.after(h(
      "div",
      { class: "fs" },
      ...files.map(file),
      p && h(
        "a",
        {
          href: `https://www.openstreetmap.org/?mlat=${+p.latitude}&mlon=${+p.longitude}`,
          target: "_blank",
          rel: "noopener",
        },
        "Map: " +
          [p.name, p.address, +p.latitude, +p.longitude].filter((x) => x != null).join(", "),
      ),
    ));
    // `[image]` is the file's stand-in text for search and transcripts: the file shows instead.
    text.textContent = /^\[\w+\]$/.test(m.text) ? "" : m.text;
  };
  const receive = (messages) => {
    const stick = near();
    let fresh = 0;
    for (const m of messages) {
      if (!m || !m.id || shown.has(m.id)) continue;
      const mine = m.direction === "in";
      let el = mine &&
        [...log.querySelectorAll(".wait")].find((p) => !p.dataset.id && p.dataset.text === m.text);
      if (el) {
        el.classList.remove("wait", "bad");
        el.lastChild.textContent = when(Date.parse(m.at));
      } else {
        const auto = m.author === "system";
        el = bubble(
          mine,
          m.text,
          when(Date.parse(m.at)),
          mine ? "You" : auto ? "Automatic reply" : m.authorName || "Support",
          auto,
        );
        place(el, m.id);
      }
      drawFiles(el, m);
      el.dataset.id = m.id;
      if (m.id > newest) newest = m.id;
      shown.set(m.id, el);
      if (m.quickReplies && m.id >= askedId) {
        asks = m.quickReplies;
        askedId = m.id;
      }
      if (!cursor || m.id > cursor) cursor = m.id;
      if (!mine && m.id > lastOut) {
        lastOut = m.id;
        fresh++;
      }
    }
    drawAnswers();
    if (stick) log.scrollTop = log.scrollHeight;
    if (fresh && !(open && doc.visibilityState === "visible")) {
      unread += fresh;
      badge.textContent = unread;
      badge.hidden = false;
      if (go) go.setAttribute("aria-label", `${title}, ${unread} new`);
    }
    receipts();
  };

  // ---- what the chat is doing (rule 55): waiting, an agent joined, the chat ended
  let chat = null;
  let asks = []; // the newest question's answers, and its id
  let askedId = "";
  const told = new Set();
  const drawAnswers = () => {
    answer.hidden = !(chat && chat.state === "awaiting_reply" && asks.length) || input.disabled;
    if (answer.hidden) return;
    const labels = asks.join("\n");
    if (answer.dataset.labels === labels) return;
    answer.dataset.labels = labels;
    answer.replaceChildren(...asks.map((a) => h("button", { type: "button" }, a)));
  };
  const tell = (key, text, id) => {
    if (told.has(key)) return;
    told.add(key);
    notice(text, id);
  };
  const follow = (next) => {
    if (!next) return;
    const was = chat;
    chat = next;
    drawAnswers();
    if (next.state === "pending") {
      tell("p" + next.id, "Waiting for an agent…", newest + "0");
    }
    if (next.state === "live" && next.agent) {
      tell("j" + next.id + next.agent, next.agent + " joined the chat", next.sinceId);
    }
    // An ended live chat (on a first load: the thread's last chat, so its end is the thread's).
    if (
      next.state === "ended" && next.agent &&
      (!was || was.id !== next.id || was.state !== next.state)
    ) {
      tell("e" + next.id, "The chat has ended", newest + "0");
    }
  };

  // ---- talking to the desk
  const call = (method, path, body) =>
    fetch(api + path, {
      method,
      headers: Object.assign(
        body instanceof FormData ? {} : { "content-type": "application/json" },
        saved.token ? { authorization: "Bearer " + saved.token } : {},
      ),
      body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
    });
  const say = (text) => (status.textContent = text);
  const problem = async (r) => {
    try {
      return (await r.json()).error.message;
    } catch {
      return "The chat is unavailable right now.";
    }
  };
  // The token is gone (revoked, or 30 days unused): its thread goes too; a new one starts.
  const forget = () => {
    saved.token = saved.visitorId = null;
    save();
    stream && stream.close();
    stream = null;
    for (const el of [...shown.values(), ...log.querySelectorAll(".v")]) el.remove();
    shown.clear();
    told.clear();
    chat = null;
    newest = "";
    asks = [];
    askedId = "";
    cursor = null;
    lastOut = sent.read = sent.delivered = "";
  };

  // ---- rule 59: a desk that refuses this site, or cannot be reached, says so (never silence)
  const desk = new URL(api).origin;
  let refused = false;
  let warned = false;
  const unavailable = (later) => {
    say(unavailableText + (later ? " Your messages will be sent when it is back." : ""));
    saved.outbox.forEach((i) => mark(i, "Not sent: the chat is unavailable", !later));
    if (later) return;
    refused = input.disabled = answer.hidden = true;
    polling(false);
    stream && stream.close();
  };
  /** Whether the desk takes this site's chats: a plain GET that any site may read. */
  const check = async () => {
    let a;
    try {
      a = await (await fetch(api + "/availability")).json();
    } catch {
      if (!warned) console.warn(`chatdesk: the desk at ${desk} cannot be reached.`);
      warned = true;
      unavailable(true);
      return false;
    }
    if (a.available) return true;
    // The site owner's fix, in the browser console: which origin to add, or what to turn on.
    console.error("chatdesk: " + a.fix);
    unavailable(false);
    return false;
  };

  const rid = () =>
    [...crypto.getRandomValues(new Uint8Array(12))].map((b) => (b + 256).toString(16).slice(1))
      .join("");
  const pending = (item) => {
    const el = bubble(true, item.file ? item.file.name : item.text, "Sending…", "You");
    el.classList.add("wait");
    el.dataset.text = item.text;
    el.dataset.client = item.clientId;
    log.append(el);
    log.scrollTop = log.scrollHeight;
  };
  const mark = (item, text, bad) => {
    const el = log.querySelector(`[data-client="${item.clientId}"]`);
    if (el && !el.dataset.id) {
      el.lastChild.textContent = text;
      if (bad) el.classList.replace("wait", "bad");
    }
  };

  let flushing = false;
  let again = 1000;
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (saved.outbox.length) {
        const item = saved.outbox[0];
        if (!saved.token) {
          const r = await call("POST", "/visitors");
          if (r.status === 403) {
            if (await check()) setTimeout(flush, again);
            return;
          }
          if (!r.ok) {
            const text = await problem(r);
            saved.outbox.forEach((i) => mark(i, "Not sent: " + text, true));
            say(text);
            if (r.status >= 500 || r.status === 429) throw 0;
            return;
          }
          Object.assign(saved, await r.json());
          save();
          connect();
        }
        let body = { text: item.text, clientId: item.clientId };
        if (item.file) {
          body = new FormData();
          body.set("file", item.file);
          body.set("clientId", item.clientId);
          body.set("text", item.text);
        }
        const r = await call("POST", "/messages", body);
        if (r.status === 401) {
          forget();
          continue;
        }
        if (r.status === 403) {
          if (await check()) setTimeout(flush, again);
          return;
        }
        // A file past the hour's count is not sent (waiting would hold back every text after it).
        if ((r.status === 429 && !item.file) || r.status >= 500) {
          mark(item, "Waiting to send…");
          say(await problem(r));
          throw 0;
        }
        saved.outbox.shift();
        save();
        if (!r.ok) {
          mark(item, "Not sent: " + await problem(r), true);
          continue;
        }
        const { message } = await r.json();
        const el = log.querySelector(`[data-client="${item.clientId}"]`);
        if (el && !shown.has(message.id) && !el.dataset.id) {
          el.dataset.id = message.id;
          if (message.id > newest) newest = message.id;
          el.classList.remove("wait");
          el.lastChild.textContent = when(Date.parse(message.at));
          drawFiles(el, message);
          shown.set(message.id, el);
        } else if (el && el.dataset.id !== message.id) el.remove();
        again = 1000;
        say("");
      }
    } catch (e) {
      // A failed fetch is offline, a desk that refuses this site (CORS), or a desk that is down.
      const off = !navigator.onLine;
      const gone = e !== 0 && !off && !(await check());
      if (refused) return;
      if (off) say("You are offline. Your messages will be sent when you are back.");
      if (!gone) saved.outbox.forEach((i) => mark(i, "Waiting to send…"));
      setTimeout(flush, again);
      again = Math.min(again * 2, 15000);
    } finally {
      flushing = false;
    }
  };

  // New desk messages: a stream (server-sent events) while it is up, polling every 4 s when not.
  let stream = null;
  let pulling = false;
  let poller = null;
  let wait = 1000;
  let retry = null;
  const pull = async () => {
    if (pulling || !saved.token) return;
    pulling = true;
    try {
      for (let more = true; more;) {
        const r = await call("GET", "/messages" + (cursor ? "?after=" + cursor : ""));
        if (r.status === 401) return forget();
        if (!r.ok) return;
        const page = await r.json();
        receive(page.messages);
        more = page.messages.length >= 100;
        if (!more) follow(page.chat);
      }
    } catch {
      // Offline, or refused (rule 59): the next tick tries again unless the desk said no.
      if (navigator.onLine) await check();
    } finally {
      pulling = false;
    }
  };
  const polling = (on) => {
    if (on && !poller && !refused) poller = setInterval(pull, 4000);
    if (!on && poller) poller = clearInterval(poller);
  };
  const connect = async () => {
    clearTimeout(retry);
    if (!saved.token || stream || refused) return;
    try {
      const r = await call("POST", "/stream-ticket");
      if (r.status === 401) return forget();
      if (!r.ok) throw 0;
      const { ticket } = await r.json();
      if (stream || !saved.token) return;
      const es = new EventSource(
        `${api}/events?ticket=${encodeURIComponent(ticket)}` +
          (cursor ? "&lastEventId=" + cursor : ""),
      );
      stream = es;
      es.onopen = () => {
        wait = 1000;
        polling(false);
        if (C.enabled) say("");
      };
      es.onmessage = (e) => {
        try {
          receive([JSON.parse(e.data)]);
        } catch {
          // Not a message: ignore it.
        }
      };
      es.addEventListener("chat", (e) => follow(JSON.parse(e.data)));
      es.onerror = () => {
        // Tickets are one use: reconnect with a fresh one (and the newest id we have).
        es.close();
        if (stream === es) stream = null;
        down();
      };
    } catch {
      down();
    }
  };
  const down = () => {
    polling(true);
    clearTimeout(retry);
    retry = setTimeout(connect, wait);
    wait = Math.min(wait * 2, 30000);
  };

  // Receipts: delivered when received, read when shown in an open panel on a visible page.
  let sending = false;
  const receipts = async () => {
    if (sending || !lastOut || !saved.token) return;
    const state = open && doc.visibilityState === "visible" ? "read" : "delivered";
    const upTo = lastOut;
    if (sent.read >= upTo || (state === "delivered" && sent.delivered >= upTo)) return;
    sending = true;
    let ok = false;
    try {
      ok = (await call("POST", "/receipts", { upTo, state })).ok;
    } catch {
      // Offline: the next message or the panel opening sends it again.
    }
    sending = false;
    if (ok) {
      sent[state] = upTo;
      receipts(); // newer messages, or the panel opened, while this one was on its way
    }
  };

  // ---- opening, closing, keyboard
  let probed = false;
  const show = (on, focus) => {
    open = on || page;
    panel.hidden = !open;
    if (go) go.setAttribute("aria-expanded", String(open));
    put("sessionStorage", KEY, open ? "1" : "");
    if (open && !saved.token && !probed && C.enabled && !preview) {
      probed = true;
      check();
    }
    if (open) {
      unread = 0;
      badge.hidden = true;
      if (go) go.removeAttribute("aria-label");
      log.scrollTop = log.scrollHeight;
      if (focus) input.focus();
      receipts();
    }
  };
  if (go) go.onclick = () => show(!open, true);
  if (close) {
    close.onclick = () => {
      show(false);
      go.focus();
    };
  }
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && open && !page) {
      show(false);
      go.focus();
    }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  const send = (text, file) => {
    if (!(file || text.trim()) || input.disabled) return false;
    const item = {
      clientId: rid(),
      text: file ? text.trim() || (/^image\//.test(file.type) ? "[image]" : "[document]") : text,
      file,
    };
    saved.outbox.push(item);
    save();
    pending(item);
    flush();
    return true;
  };
  form.onsubmit = (e) => {
    e.preventDefault();
    if (send(input.value)) input.value = "";
  };
  const sendFile = (f) => f && !preview && send(input.value, f) && (input.value = "");
  attach.onclick = () => pick.click();
  pick.onchange = () => {
    sendFile(pick.files[0]);
    pick.value = "";
  };
  input.onpaste = (e) => {
    const f = e.clipboardData.files[0];
    if (f) {
      e.preventDefault();
      sendFile(f);
    }
  };
  panel.ondragover = (e) => e.preventDefault();
  panel.ondrop = (e) => {
    e.preventDefault();
    sendFile(e.dataTransfer.files[0]);
  };
  answer.onclick = (e) => {
    const b = e.target.closest("button");
    if (b && send(b.textContent)) answer.hidden = true;
  };
  doc.addEventListener("visibilitychange", receipts);
  addEventListener("online", () => {
    say("");
    flush();
    pull();
    connect();
  });
  addEventListener(
    "offline",
    () => say("You are offline. Your messages will be sent when you are back."),
  );

  // A preview has no visitor: it never gets a token, so nothing above ever calls the desk.
  if (preview) {
    attach.hidden = true;
    form.onsubmit = (e) => {
      e.preventDefault();
      say("This is a preview: messages are not sent.");
    };
    return show(true);
  }

  // ---- start: the thread so far, then the stream; unsent messages from before go out again
  if (get("sessionStorage", KEY) === "1") show(true);
  saved.outbox.forEach(pending);
  (async () => {
    await pull();
    connect();
    flush();
  })();
})();
