// Admin › Integrations › Web chat: the preview frame follows the title, greeting and colour as
// they are typed, before saving (SPEC rule 30). Without this script the frame shows the values
// the page was rendered with.
(() => {
  "use strict";
  const frame = document.getElementById("webchat-preview");
  const form = frame && document.getElementById(frame.dataset.form);
  if (!form) return;
  const FIELDS = ["title", "greeting", "color"];
  const target = () => {
    const url = new URL(frame.getAttribute("src"), location.href);
    for (const name of FIELDS) {
      const field = form.elements.namedItem(name);
      if (field) url.searchParams.set(name, field.value);
    }
    return url.href;
  };
  let shown = new URL(frame.getAttribute("src"), location.href).href;
  const update = () => {
    const next = target();
    if (next === shown) return;
    shown = next;
    try {
      // Replacing the frame's page adds no entry to the tab's history (a new src would).
      frame.contentWindow.location.replace(next);
    } catch {
      frame.src = next;
    }
  };
  let timer = 0;
  const soon = (e) => {
    if (!FIELDS.includes(e.target.name)) return;
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  };
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  // A reload may have kept typed values in the fields: show them at once.
  update();
})();
