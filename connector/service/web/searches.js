"use strict";
// Request report files waiting for an admin: list them and upload each downloaded file back (multipart, streamed
// by the server to disk). Kept apart from dashboard.js; it hooks in through #searches-panel and the #tenant select.
(function () {
  const KEY = "smtpauth-token";
  const panel = document.getElementById("searches-panel");
  if (!panel) return;
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  // the outcome of the last upload, shown above the list (the list is drawn again after an upload)
  let last = null;
  const tenant = () => (document.getElementById("tenant") || {}).value || "";
  const auth = () => ({ Authorization: "Bearer " + sessionStorage.getItem(KEY) });
  const message = async (r) => {
    try { const b = await r.json(); return (b.detail && b.detail.error) || b.summary || r.statusText; } catch (e) { return r.status + " " + r.statusText; }
  };

  async function upload(file, search, status) {
    status.textContent = "uploading " + file.name + " …";
    const form = new FormData();
    form.append("file", file, file.name);
    const url = new URL("/api/v1/uploads/smtp-cs-report", window.location.origin);
    url.searchParams.set("tenant", tenant());
    if (search) url.searchParams.set("search", search);
    const r = await fetch(url, { method: "POST", headers: auth(), body: form, cache: "no-store" });
    status.textContent = await message(r);
    status.className = "note upload-result " + (r.ok ? "ok" : "empty");
    if (r.ok) {
      last = status.textContent;
      await load();
    }
  }

  function uploader(search) {
    const box = el("span", null, "uploader");
    const input = el("input");
    input.type = "file";
    input.accept = ".csv,text/csv";
    input.setAttribute("aria-label", search ? "Report file of search " + search : "Report file");
    const button = el("button", "Upload", "link");
    button.type = "button";
    const status = el("span", "", "note upload-result");
    button.addEventListener("click", () => {
      if (!input.files.length) { status.textContent = "choose the file you downloaded first"; return; }
      upload(input.files[0], search, status).catch((e) => { status.textContent = String(e.message || e); });
    });
    box.append(input, button, status);
    return box;
  }

  async function load() {
    if (!sessionStorage.getItem(KEY) || !tenant()) return;
    const url = new URL("/api/v1/searches", window.location.origin);
    url.searchParams.set("tenant", tenant());
    const r = await fetch(url, { headers: auth(), cache: "no-store" });
    if (!r.ok) return;
    const searches = (await r.json()).searches;
    panel.textContent = "";
    panel.append(el("h3", "Request report files waiting for an admin download"));
    if (last) panel.append(el("p", last, "note last-upload upload-result ok"));
    panel.append(el("p", "Exchange serves these files only to a signed-in admin: download each one, then upload it here " +
      "(or drop it in the inbox/ folder, or run smtpauth import). A file uploaded twice changes nothing.", "note"));
    if (!searches.length) {
      panel.append(el("p", "No search is waiting.", "note"));
    } else {
      const t = el("table");
      const head = el("tr");
      ["Report", "Range (UTC)", "Senders", "Where to get it", "Upload"].forEach((h) => head.append(el("th", h)));
      const thead = el("thead");
      thead.append(head);
      t.append(thead);
      const body = el("tbody");
      searches.forEach((s) => {
        const tr = el("tr");
        tr.dataset.search = s.job_id;
        tr.append(el("td", s.title || s.job_id), el("td", s.start.slice(0, 16) + " – " + s.end.slice(0, 16)), el("td", s.senders, "num"), el("td", s.where, "wrap"));
        const cell = el("td");
        cell.append(uploader(s.job_id));
        tr.append(cell);
        body.append(tr);
      });
      t.append(body);
      panel.append(t);
    }
    const other = el("p", "Another report file (matched to its search by its name or rows): ", "note");
    other.append(uploader(null));
    panel.append(other);
  }

  document.addEventListener("change", (ev) => { if (ev.target && ev.target.id === "tenant") load().catch(() => {}); });
  document.addEventListener("click", (ev) => {
    const b = ev.target && ev.target.closest && ev.target.closest("nav.pivots button[data-pivot=reports], #apply");
    if (b) load().catch(() => {});
  });
  window.addEventListener("load", () => { setTimeout(() => load().catch(() => {}), 0); });
})();
