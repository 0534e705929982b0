"use strict";
// smtpauth dashboard: every value from the API goes into the page through textContent, never as markup.
(function () {
  const KEY = "smtpauth-token";
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const num = (v) => (v === null || v === undefined ? "" : Number(v).toLocaleString("en-US"));
  // an ISO instant as "2026-11-30 15:51 UTC" (dates stay as they are)
  const when = (v) => (typeof v === "string" && v.length > 10 && v[10] === "T" ? v.slice(0, 16).replace("T", " ") + " UTC" : v === null || v === undefined ? "" : String(v));
  const pct = (v) => (v === null || v === undefined ? "" : Number(v).toFixed(1) + " %");
  const state = { tenant: "", from: "", to: "", domain: "", today: "", charts: {}, polling: null, tenants: [], syncPoll: null };
  const PAGE = 100; // rows per page of a table longer than 200 rows

  // human column headers (machine names stay in the API, CSV and Parquet)
  const LABELS = {
    sender_address: "Sender", sender_domain: "Domain", messages: "Messages", active_days: "Active days",
    account: "Account", display_name: "Name", status: "Status", action: "Next step", auth_protocol: "Auth",
    legacy_tls_messages: "Legacy TLS messages", failed_signins: "Failed sign-ins", basic_signins: "Basic sign-ins",
    last_signin_at: "Last sign-in", smtp_auth_enabled: "SMTP AUTH setting", posture_snapshot_date: "Setting as of",
    last_active_date: "Last used", id: "ID", severity: "Severity", kind: "Kind", window_start: "From",
    window_end: "To", summary: "Summary", acknowledged_at: "Acknowledged", section: "Section", source: "Source",
    rows_in_range: "Rows in range", data_as_of: "Data as of", reason: "Reason", fix: "Fix",
    next_step: "Next step", client_ips: "Client IPs", last_seen: "Last seen",
  };
  const label = (name) => LABELS[name] || name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

  class ApiError extends Error {}

  async function api(path, params, options) {
    const url = new URL(path, window.location.origin);
    Object.entries(params || {}).forEach(([k, v]) => { if (v) url.searchParams.append(k, v); });
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
    if (options && options.body) headers["Content-Type"] = "application/json";
    const r = await fetch(url, Object.assign({ headers: headers, cache: "no-store" }, options || {}));
    if (r.status === 401) { signOut("The token was refused: sign in again."); throw new ApiError("unauthorized"); }
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const body = await r.json(); if (body.detail && body.detail.error) msg = body.detail.error; } catch (e) { /* not JSON */ }
      throw new ApiError(msg);
    }
    return r;
  }
  const json = async (path, params, options) => (await api(path, params, options)).json();
  const range = (extra) => Object.assign({ tenant: state.tenant, from: state.from, to: state.to, domain: state.domain }, extra || {});
  const showError = (e) => { if (!(e instanceof ApiError && e.message === "unauthorized")) $("#error").textContent = String(e.message || e); };

  // ---- exports: CSV (machine names) and XLSX (human headers), cells that look like formulas neutralized ----
  const neutral = (v) => (typeof v === "string" && /^[=+\-@\t\r]/.test(v) ? "'" + v : v);
  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
  function toCsv(columns, rows) {
    const cell = (v) => {
      const s = v === null || v === undefined ? "" : String(neutral(v));
      return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    return [columns.map((c) => c.name).join(",")].concat(rows.map((r) => columns.map((c) => cell(c.value(r))).join(","))).join("\r\n") + "\r\n";
  }
  const CRC = (() => { const t = []; for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t.push(c >>> 0); } return t; })();
  function crc32(bytes) { let c = 0xffffffff; for (let i = 0; i < bytes.length; i++) c = CRC[(c ^ bytes[i]) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }
  function zip(files) { // stored (uncompressed) ZIP: enough for a spreadsheet of one table
    const enc = new TextEncoder();
    const parts = [], central = [];
    let offset = 0;
    const u16 = (v) => [v & 0xff, (v >>> 8) & 0xff];
    const u32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    files.forEach(([name, text]) => {
      const data = enc.encode(text), nm = enc.encode(name), crc = crc32(data);
      const common = [...u16(20), ...u16(0x0800), ...u16(0), ...u16(0), ...u16(0x21), ...u32(crc), ...u32(data.length), ...u32(data.length), ...u16(nm.length), ...u16(0)];
      const local = new Uint8Array([...u32(0x04034b50), ...common]);
      parts.push(local, nm, data);
      central.push(new Uint8Array([...u32(0x02014b50), ...u16(20), ...common, ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset)]), nm);
      offset += local.length + nm.length + data.length;
    });
    const size = central.reduce((n, p) => n + p.length, 0);
    const end = new Uint8Array([...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(files.length), ...u16(files.length), ...u32(size), ...u32(offset), ...u16(0)]);
    return new Blob([...parts, ...central, end], { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
  }
  function toXlsx(title, columns, rows) {
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
    const ref = (i) => { let s = ""; i += 1; while (i > 0) { const m = (i - 1) % 26; s = String.fromCharCode(65 + m) + s; i = Math.floor((i - 1) / 26); } return s; };
    const cell = (v, c, r) => {
      const at = ref(c) + r;
      if (v === null || v === undefined || v === "") return "";
      if (typeof v === "number" && isFinite(v)) return '<c r="' + at + '"><v>' + v + "</v></c>";
      return '<c r="' + at + '" t="inlineStr"><is><t xml:space="preserve">' + esc(neutral(typeof v === "boolean" ? (v ? "yes" : "no") : v)) + "</t></is></c>";
    };
    const head = '<row r="1">' + columns.map((c, i) => cell(c.label || label(c.name), i, 1)).join("") + "</row>";
    const body = rows.map((r, n) => '<row r="' + (n + 2) + '">' + columns.map((c, i) => cell(c.value(r), i, n + 2)).join("") + "</row>").join("");
    const sheet = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>' + head + body + "</sheetData></worksheet>";
    const name = esc(title.replace(/[\\/?*[\]:]/g, " ").slice(0, 31));
    return zip([
      ["[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'],
      ["_rels/.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'],
      ["xl/workbook.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="' + name + '" sheetId="1" r:id="rId1"/></sheets></workbook>'],
      ["xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'],
      ["xl/worksheets/sheet1.xml", sheet],
    ]);
  }

  // ---- tables: human headers, sort arrows (numbers descending first), a filter box, CSV/XLSX export of what is
  // shown (filtered and sorted), pages of 100 rows past 200, wide tables scroll inside their card ----
  function table(host, columns, rows, opts) {
    opts = opts || {};
    const cols = columns.map((c) => Object.assign({ label: label(c.name), value: (r) => r[c.name] }, c));
    const keep = host._grid || {};
    const g = { key: keep.key !== undefined ? keep.key : (opts.sortKey || null), dir: keep.dir || opts.sortDir || 1, filter: keep.filter || "", page: 0, rows: rows, cols: cols };
    if (g.key && !cols.some((c) => c.name === g.key)) g.key = null;
    host._grid = g;
    host.textContent = "";
    const name = opts.name || host.id.replace(/-table$/, "");
    const bar = el("div", null, "grid-bar");
    const filter = el("input");
    filter.type = "search";
    filter.className = "grid-filter";
    filter.placeholder = "Filter rows";
    filter.setAttribute("aria-label", "Filter " + (opts.title || name));
    filter.value = g.filter;
    const count = el("span", "", "note grid-count");
    const csv = el("button", "CSV", "grid-export");
    csv.type = "button";
    csv.dataset.format = "csv";
    csv.title = "Download the rows shown (filtered and sorted) as CSV";
    const xlsx = el("button", "XLSX", "grid-export");
    xlsx.type = "button";
    xlsx.dataset.format = "xlsx";
    xlsx.title = "Download the rows shown (filtered and sorted) as an Excel workbook";
    bar.append(filter, count, csv, xlsx);
    const scroll = el("div", null, "table-scroll");
    const t = el("table");
    const thead = el("thead");
    const hr = el("tr");
    cols.forEach((c) => {
      const th = el("th", null, c.num ? "num" : "");
      const b = el("button", c.label, "sort");
      b.type = "button";
      b.dataset.col = c.name;
      b.append(el("span", "", "arrow"));
      b.addEventListener("click", () => {
        if (g.key === c.name) g.dir = -g.dir; else { g.key = c.name; g.dir = c.num ? -1 : 1; }
        g.page = 0;
        draw();
      });
      th.append(b);
      hr.append(th);
    });
    thead.append(hr);
    const tbody = el("tbody");
    t.append(thead, tbody);
    scroll.append(t);
    const pager = el("div", null, "grid-pager hidden");
    const prev = el("button", "‹ Previous");
    prev.type = "button";
    const where = el("span", "", "note");
    const next = el("button", "Next ›");
    next.type = "button";
    pager.append(prev, where, next);
    host.append(bar, scroll, pager);
    if (opts.total > rows.length) host.append(el("p", "Showing " + num(rows.length) + " of " + num(opts.total) + " rows: use the API or a report for all.", "note"));
    const empty = el("p", "", "note");
    host.append(empty);
    const text = (c, r) => { const v = c.value(r); return v === null || v === undefined ? "" : String(v); };
    function view() {
      let out = g.rows;
      if (g.filter) {
        const f = g.filter.toLowerCase();
        out = out.filter((r) => cols.some((c) => text(c, r).toLowerCase().includes(f)));
      }
      if (g.key) {
        const c = cols.find((x) => x.name === g.key);
        const sv = c.sort || c.value;
        out = out.slice().sort((a, b) => {
          const x = sv(a), y = sv(b);
          if (x === y) return 0;
          if (x === null || x === undefined || x === "") return 1;
          if (y === null || y === undefined || y === "") return -1;
          return (x < y ? -1 : 1) * g.dir;
        });
      }
      return out;
    }
    function draw() {
      const all = view();
      hr.querySelectorAll("th").forEach((th, i) => {
        const on = cols[i].name === g.key;
        th.setAttribute("aria-sort", on ? (g.dir > 0 ? "ascending" : "descending") : "none");
        th.querySelector(".arrow").textContent = on ? (g.dir > 0 ? " ▲" : " ▼") : "";
      });
      const paged = all.length > 200;
      const pages = paged ? Math.ceil(all.length / PAGE) : 1;
      g.page = Math.min(g.page, pages - 1);
      const shown = paged ? all.slice(g.page * PAGE, (g.page + 1) * PAGE) : all;
      const frag = document.createDocumentFragment();
      shown.forEach((row) => {
        const tr = el("tr");
        cols.forEach((c) => {
          const td = el("td", null, (c.num ? "num" : "") + (c.wrap ? " wrap" : ""));
          if (c.render) c.render(td, row); else td.textContent = c.num ? num(c.value(row)) : text(c, row);
          if (c.title) { const tip = c.title(row); if (tip) td.title = tip; }
          tr.append(td);
        });
        frag.append(tr);
      });
      tbody.textContent = "";
      tbody.append(frag);
      const rowsWord = (n) => num(n) + (n === 1 ? " row" : " rows");
      count.textContent = all.length === g.rows.length ? rowsWord(all.length) : num(all.length) + " of " + rowsWord(g.rows.length);
      pager.classList.toggle("hidden", !paged);
      where.textContent = paged ? "Rows " + num(g.page * PAGE + 1) + "–" + num(g.page * PAGE + shown.length) + " of " + num(all.length) : "";
      prev.disabled = g.page === 0;
      next.disabled = g.page >= pages - 1;
      empty.textContent = g.rows.length ? (all.length ? "" : "No row matches the filter.") : (opts.empty || "No rows in this range.");
    }
    filter.addEventListener("input", () => { g.filter = filter.value; g.page = 0; draw(); });
    prev.addEventListener("click", () => { g.page -= 1; draw(); });
    next.addEventListener("click", () => { g.page += 1; draw(); });
    const stem = () => [name, state.tenant, state.from, state.to].filter(Boolean).join("_");
    csv.addEventListener("click", () => save(new Blob([toCsv(cols.filter((c) => !c.noExport), view())], { type: "text/csv;charset=utf-8" }), stem() + ".csv"));
    xlsx.addEventListener("click", () => save(toXlsx(opts.title || name, cols.filter((c) => !c.noExport), view()), stem() + ".xlsx"));
    draw();
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    state.charts[id] = new Chart(document.getElementById(id), config);
  }

  const badgeClass = { blocked_but_attempting: "bad", blocked_now: "bad", basic_in_use: "bad", legacy_tls_in_use: "warn", failed_signins_only: "warn", oauth_only: "good", ok: "good", succeeded: "good", failed: "bad", unavailable: "warn", throttled: "warn", stale: "warn", running: "warn", queued: "", high: "bad", medium: "warn", low: "" };
  const badge = (td, value) => td.append(el("span", value, "badge " + (badgeClass[value] || "")));

  // ---- caveats: banners above the pivots for what changes the conclusions ----
  const banners = { concealed: null, today: null, failed: null };
  function drawBanners() {
    const host = $("#banners");
    host.textContent = "";
    Object.entries(banners).forEach(([kind, text]) => {
      if (!text) return;
      const p = el("p", text, "banner " + kind);
      p.dataset.banner = kind;
      p.setAttribute("role", "status");
      host.append(p);
    });
  }
  function tenantBanners() {
    const t = state.tenants.find((x) => x.name === state.tenant);
    banners.concealed = t && t.concealed_names
      ? "User names are concealed in this tenant's usage reports (as of " + (t.concealed_names_as_of || "?") + "): usage-report accounts cannot be joined to sign-ins or message trace, so the widget counts accounts that no table can name. To see them, turn off 'Display concealed user, group, and site names in all reports' (Microsoft 365 admin center > Settings > Org settings > Reports)."
      : null;
    const failed = t ? t.sources.filter((s) => s.last_run && s.last_run.status === "failed") : [];
    const asOf = (s) => ((s.coverage && s.coverage.data_as_of) || "").slice(0, 16).replace("T", " ");
    const byError = {};
    failed.forEach((s) => { const why = s.last_run.error_message || s.last_run.error_class || "failed"; (byError[why] = byError[why] || []).push(s); });
    banners.failed = failed.length
      ? Object.entries(byError).map(([why, list]) => {
        const days = list.map(asOf).filter(Boolean).sort();
        const data = days.length ? "data as of " + (days[0] === days[days.length - 1] ? days[0] : days[0] + " to " + days[days.length - 1]) + " UTC" : "no data yet";
        return "Last run of " + list.map((s) => s.source).join(", ") + " failed: " + why + ". The older data is still valid and shown (" + data + ").";
      }).join(" ")
      : null;
    banners.today = state.to && state.today && state.to >= state.today
      ? "The range includes today (" + state.today + ", UTC), which is not over: its numbers are partial, not a drop."
      : null;
    drawBanners();
  }

  async function loadSummary() {
    const s = await json("/api/v1/summary", range());
    $("#kpi-value").textContent = s.kpi.smtp_accounts_7d === null ? "n/a" : num(s.kpi.smtp_accounts_7d);
    $("#kpi-note").textContent = s.kpi.as_of ? "usage report as of " + s.kpi.as_of : "usage report not loaded: see Sync status";
    const hist = s.kpi_history.filter((h) => h.smtp_accounts_7d !== null);
    chart("kpi-chart", { type: "line", data: { labels: hist.map((h) => h.date), datasets: [{ label: "7-day count", data: hist.map((h) => h.smtp_accounts_7d), pointRadius: 2, tension: 0.2 }] },
      options: { plugins: { legend: { display: false } }, scales: { x: { ticks: { maxTicksLimit: 3, maxRotation: 0, font: { size: 10 } } }, y: { beginAtZero: true, ticks: { maxTicksLimit: 3, font: { size: 10 } } } } } });
    $("#kpi-history-note").textContent = hist.length ? hist.length + " day(s) of history, " + hist[0].date + " to " + hist[hist.length - 1].date : "no history in this range yet";
    const f = s.flyout;
    const dl = $("#flyout-body");
    dl.textContent = "";
    const item = (k, v) => { dl.append(el("dt", k), el("dd", v)); };
    item("Range", f.from + " to " + f.to);
    item("Messages", num(f.messages));
    item("Senders", num(f.senders));
    item("Messages with TLS data", num(f.messages_with_tls_data));
    ["tls10", "tls11", "tls12", "tls13"].forEach((v) => item(v.replace("tls1", "TLS 1."), f.tls_pct[v + "_pct"] === null ? "n/a" : pct(f.tls_pct[v + "_pct"]) + " (" + num(f.tls[v + "_messages"]) + ")"));
    table($("#coverage-table"), [{ name: "section" }, { name: "source" }, { name: "status", render: (td, r) => badge(td, r.status) }, { name: "rows_in_range", num: true }, { name: "data_as_of", value: (r) => when(r.data_as_of) }, { name: "reason", wrap: true }, { name: "fix", wrap: true }], s.coverage, { title: "Coverage" });
  }

  async function loadVolume() {
    const byDomain = await json("/api/v1/data/sending_volume_by_domain", range());
    const days = [...new Set(byDomain.rows.map((r) => r.date))].sort();
    const domains = [...new Set(byDomain.rows.map((r) => r.sender_domain))].sort();
    chart("volume-chart", { type: "bar", data: { labels: days, datasets: domains.map((d) => ({ label: d, data: days.map((day) => { const r = byDomain.rows.find((x) => x.date === day && x.sender_domain === d); return r ? r.messages : 0; }) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "messages" } } } } });
    const totals = await json("/api/v1/data/sending_volume_sender_totals", range());
    table($("#volume-table"), [{ name: "sender_address" }, { name: "sender_domain" }, { name: "messages", num: true }, { name: "active_days", num: true }], totals.rows, { total: totals.total, title: "Sending volume", sortKey: "messages", sortDir: -1 });
  }

  async function loadDomains() {
    const all = await json("/api/v1/data/sending_volume_sender_totals", { tenant: state.tenant, from: state.from, to: state.to });
    const select = $("#domain");
    const keep = select.value;
    select.textContent = "";
    select.append(new Option("All domains", ""));
    [...new Set(all.rows.map((r) => r.sender_domain))].sort().forEach((d) => select.append(new Option(d, d)));
    select.value = keep;
  }

  // TLS usage answers "who still uses TLS 1.0/1.1": legacy share first, then volume
  const legacyCount = (r) => (r.tls10_messages || 0) + (r.tls11_messages || 0);
  const known = (r) => (r.messages || 0) - (r.tls_unknown_messages || 0);
  const legacyShare = (r) => (known(r) > 0 ? (100 * legacyCount(r)) / known(r) : null);
  const byLegacy = (a, b) => (legacyShare(b) || 0) - (legacyShare(a) || 0) || legacyCount(b) - legacyCount(a) || b.messages - a.messages;
  let tlsRows = [];
  function drawTls() {
    const only = $("#tls-legacy-only").checked;
    const rows = tlsRows.filter((r) => !only || legacyCount(r) > 0).slice().sort(byLegacy);
    const legacySenders = tlsRows.filter((r) => legacyCount(r) > 0).length;
    $("#tls-answer").textContent = tlsRows.length
      ? legacySenders + " of " + tlsRows.length + " senders still use TLS 1.0/1.1 in this range" + (legacySenders ? ": they are listed first, by their share of legacy messages." : ".")
      : "";
    const top = rows.slice(0, 25);
    const versions = [["tls10", "TLS 1.0", "#c0392b"], ["tls11", "TLS 1.1", "#e67e22"], ["tls12", "TLS 1.2", "#2e86c1"], ["tls13", "TLS 1.3", "#1e8449"]];
    chart("tls-chart", { type: "bar", data: { labels: top.map((r) => r.sender_address), datasets: versions.map(([k, name, color]) => ({ label: name, backgroundColor: color, data: top.map((r) => r[k + "_pct"] || 0), counts: top.map((r) => r[k + "_messages"]) })) },
      options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, max: 100, ticks: { callback: (v) => v + " %" } }, y: { stacked: true, ticks: { autoSkip: false, font: { size: 11 }, callback: function (v) { const s = String(this.getLabelForValue(v)); return window.innerWidth < 600 && s.length > 22 ? s.slice(0, 21) + "…" : s; } } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + pct(ctx.raw) + " (" + num(ctx.dataset.counts[ctx.dataIndex]) + " messages)" } } } } });
    $("#tls-chart").parentElement.style.height = Math.max(160, 40 + top.length * 22) + "px";
    const share = (k) => ({ name: k + "_pct", label: k.replace("tls1", "TLS 1."), num: true, render: (td, r) => { td.textContent = pct(r[k + "_pct"]); }, title: (r) => num(r[k + "_messages"]) + " messages", sort: (r) => r[k + "_pct"] });
    table($("#tls-table"), [
      { name: "sender_address" },
      { name: "legacy_share", label: "Legacy TLS", num: true, value: (r) => legacyShare(r), render: (td, r) => { td.textContent = pct(legacyShare(r)); }, title: (r) => num(legacyCount(r)) + " of " + num(known(r)) + " messages over TLS 1.0/1.1" },
      { name: "messages", num: true },
      share("tls10"), share("tls11"), share("tls12"), share("tls13"),
      { name: "tls_unknown_messages", label: "Unknown TLS", num: true },
      { name: "auth_protocol" },
      { name: "sender_domain" },
    ], rows, { title: "TLS usage", empty: only ? "No sender used TLS 1.0/1.1 in this range." : "No rows in this range." });
  }
  async function loadTls() {
    const tls = await json("/api/v1/data/tls_usage_by_sender", range());
    tlsRows = tls.rows;
    $("#tls-table")._grid = undefined; // a new range starts with the legacy-first order
    drawTls();
    if (tls.total > tls.rows.length) $("#tls-table").append(el("p", "Showing " + num(tls.rows.length) + " of " + num(tls.total) + " senders: use the API or a report for all.", "note"));
  }

  let readinessRows = [];
  function drawReadiness() {
    const status = $("#readiness-status").value;
    const rows = readinessRows.filter((r) => (status ? r.status === status : !["enabled_but_unused", "oauth_only", "no_activity_in_range"].includes(r.status)));
    table($("#readiness-table"), [
      { name: "account" },
      { name: "status", render: (td, r) => badge(td, r.status) },
      { name: "next_step", wrap: true },
      { name: "messages", num: true },
      { name: "legacy_tls_messages", num: true },
      { name: "last_active_date", label: "Last used" },
      { name: "smtp_auth_enabled", label: "SMTP AUTH setting", value: (r) => (r.smtp_auth_enabled === null ? "" : r.smtp_auth_enabled ? "on" : "off") + (r.smtp_auth_snapshot_date ? " (as of " + r.smtp_auth_snapshot_date + ")" : "") },
      { name: "client_ips" },
    ], rows, { title: "Readiness", empty: "No account with this status." });
  }
  async function loadReadiness() {
    const r = await json("/api/v1/readiness", { tenant: state.tenant });
    readinessRows = r.rows;
    const counts = {};
    r.rows.forEach((x) => { counts[x.status] = (counts[x.status] || 0) + 1; });
    const select = $("#readiness-status");
    const keep = select.value;
    select.textContent = "";
    select.append(new Option("Needs action", ""));
    r.statuses.filter((s) => counts[s]).forEach((s) => select.append(new Option(s + " (" + num(counts[s]) + ")", s)));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
    const days = Math.round((new Date(r.basic_off_by_default) - new Date(r.today)) / 86400000);
    const quiet = ["enabled_but_unused", "oauth_only", "no_activity_in_range"];
    const action = r.rows.filter((x) => !quiet.includes(x.status)).length;
    $("#readiness-summary").textContent = num(action) + " of " + num(r.rows.length) + " accounts need action before Basic SMTP AUTH is switched off by default (end of December 2026, " + days + " days left), over the last " + r.days + " days.";
    chart("burndown-chart", { type: "line", data: { labels: r.burndown.map((b) => b.date), datasets: [{ label: "Accounts using Basic SMTP AUTH", data: r.burndown.map((b) => b.basic_accounts), pointRadius: 1, borderColor: "#c0392b", backgroundColor: "#c0392b" }] },
      options: { scales: { x: { ticks: { autoSkip: true, autoSkipPadding: 16, maxRotation: 0 } }, y: { beginAtZero: true, title: { display: true, text: "accounts" } } } } });
    drawReadiness();
  }

  async function loadAccounts() {
    const acc = await json("/api/v1/data/accounts", range());
    const select = $("#account-status");
    const keep = select.value;
    select.textContent = "";
    select.append(new Option("All statuses", ""));
    [...new Set(acc.rows.map((r) => r.status))].sort().forEach((s) => select.append(new Option(s, s)));
    select.value = keep;
    const rows = acc.rows.filter((r) => !select.value || r.status === select.value);
    table($("#accounts-table"), [{ name: "account" }, { name: "display_name" }, { name: "status", render: (td, r) => badge(td, r.status) }, { name: "action", wrap: true }, { name: "auth_protocol" }, { name: "messages", num: true }, { name: "legacy_tls_messages", num: true }, { name: "failed_signins", num: true }, { name: "last_signin_at", value: (r) => when(r.last_signin_at) },
      { name: "smtp_auth_enabled", value: (r) => (r.smtp_auth_enabled === null ? "" : r.smtp_auth_enabled ? "on" : "off") }, { name: "posture_snapshot_date" }], rows, { total: acc.total, title: "Accounts" });
  }

  async function loadFindings() {
    const f = await json("/api/v1/data/findings", range());
    table($("#findings-table"), [{ name: "id", num: true }, { name: "severity", render: (td, r) => badge(td, r.severity) }, { name: "kind" }, { name: "account" }, { name: "window_start", value: (r) => when(r.window_start) }, { name: "window_end", value: (r) => when(r.window_end) }, { name: "summary", wrap: true }, { name: "action", wrap: true }, { name: "acknowledged_at", value: (r) => when(r.acknowledged_at) }], f.rows, { total: f.total, title: "Findings" });
  }

  async function loadStatus() {
    const [tenants, health] = await Promise.all([json("/api/v1/tenants"), json("/api/v1/health")]);
    state.tenants = tenants.tenants;
    tenantBanners();
    showScheduler(health);
    const t = tenants.tenants.find((x) => x.name === state.tenant) || { sources: [] };
    const driftText = (s) => (s.drift || []).map((d) => d.kind.replace("_", " ") + " " + d.name + " (" + d.subject + ")").join("; ");
    const rows = t.sources.map((s) => ({ source: s.source, coverage: s.coverage ? s.coverage.status : "", reason: s.coverage ? s.coverage.reason : "", fix: s.coverage ? s.coverage.fix : "", data_as_of: s.coverage ? s.coverage.data_as_of : "", last_run: s.last_run ? s.last_run.status : "never", last_run_at: s.last_run ? s.last_run.ended_at || s.last_run.started_at : "", drift: driftText(s) }));
    table($("#status-table"), [{ name: "source" }, { name: "coverage", render: (td, r) => badge(td, r.coverage) }, { name: "reason", wrap: true }, { name: "fix", wrap: true }, { name: "data_as_of", value: (r) => when(r.data_as_of) }, { name: "last_run", label: "Last run", render: (td, r) => badge(td, r.last_run) }, { name: "last_run_at", label: "At", value: (r) => when(r.last_run_at) }, { name: "drift", label: "Schema drift" }], rows, { title: "Sync status" });
    $("#next-sync").textContent = t.next_sync_at ? "next nightly sync " + t.next_sync_at.slice(0, 16).replace("T", " ") + " UTC" : "";
  }

  async function loadJobs() {
    const jobs = (await json("/api/v1/reports", { tenant: state.tenant })).jobs;
    table($("#jobs-table"), [{ name: "requested_at", label: "Requested", value: (r) => when(r.requested_at) }, { name: "from" }, { name: "to" }, { name: "status", render: (td, r) => { badge(td, r.status); if (r.error) td.append(el("div", r.error, "note")); } },
      { name: "formats", value: (r) => (r.parameters.formats || []).join(", ") }, { name: "recipients", label: "E-mailed to", value: (r) => (r.parameters.recipients || []).join(", ") },
      { name: "artifacts", label: "Downloads", noExport: true, value: (r) => r.artifacts.join(" "), render: (td, r) => { td.className = "wrap downloads"; r.artifacts.forEach((n) => { const b = el("button", n, "link"); b.type = "button"; b.dataset.job = r.job_id; b.addEventListener("click", () => download(r.job_id, n).catch(showError)); td.append(b, " "); }); } }], jobs, { empty: "No report requested yet.", title: "Requested reports", sortKey: "requested_at", sortDir: -1 });
    const pending = jobs.some((j) => j.status === "queued" || j.status === "running");
    if (pending && !state.polling) state.polling = setTimeout(() => { state.polling = null; loadJobs().catch(showError); }, 1000);
  }

  async function download(job, name) {
    const r = await api("/api/v1/reports/" + encodeURIComponent(job) + "/artifacts/" + name.split("/").map(encodeURIComponent).join("/"));
    save(await r.blob(), name.split("/").pop());
  }

  // one panel: its own loading state and its own error; a slow or failing panel never blanks the others
  async function panel(name, load) {
    const host = document.querySelector('[data-panel="' + name + '"]');
    const status = host.querySelector(".panel-state");
    host.dataset.state = "loading";
    host.setAttribute("aria-busy", "true");
    status.textContent = "Loading…";
    try {
      await load();
      host.dataset.state = "ready";
      status.textContent = "";
    } catch (e) {
      if (e instanceof ApiError && e.message === "unauthorized") throw e;
      host.dataset.state = "error";
      status.textContent = "Could not load this panel: " + String(e.message || e) + " (Apply retries).";
    } finally {
      host.removeAttribute("aria-busy");
    }
  }

  // the panels on screen (the widget and the open pivot) load first; the others once those have painted
  async function refresh() {
    $("#error").textContent = "";
    state.from = $("#from").value; state.to = $("#to").value; state.domain = $("#domain").value; state.tenant = $("#tenant").value;
    $("#subtitle").textContent = state.tenant + ": " + state.from + " to " + state.to + " (UTC)" + (state.domain ? " · " + state.domain : "");
    tenantBanners();
    document.body.dataset.ready = "false";
    const panels = [["summary", loadSummary], ["volume", loadVolume], ["tls", loadTls], ["readiness", loadReadiness], ["accounts", loadAccounts], ["findings", loadFindings], ["status", loadStatus], ["reports", loadJobs]];
    const open = document.querySelector("section.pivot.active");
    const visible = (name) => name === "summary" || (open && open.dataset.panel === name);
    const run = (list) => list.map(([name, load]) => panel(name, load));
    const first = await Promise.allSettled(run(panels.filter(([name]) => visible(name))));
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))); // let the first panels paint
    const rest = await Promise.allSettled([loadDomains(), ...run(panels.filter(([name]) => !visible(name)))]);
    first.concat(rest).filter((r) => r.status === "rejected").forEach((r) => showError(r.reason));
    document.body.dataset.ready = "true";
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function showScheduler(health) {
    $("#scheduler").textContent = "scheduler: " + health.scheduler.role + (health.scheduler.detail ? " (" + health.scheduler.detail + ")" : "");
    $("#sync-now").disabled = health.scheduler.role !== "leader";
  }

  async function start() {
    $("#login").classList.add("hidden");
    $("#app").classList.remove("hidden");
    // the panels need the tenant and the range (the tenant list and the service's today); health is not waited for
    const health = json("/api/v1/health");
    health.then(showScheduler, () => { /* the status panel reports it */ });
    const tenants = await json("/api/v1/tenants");
    state.tenants = tenants.tenants;
    const select = $("#tenant");
    select.textContent = "";
    tenants.tenants.forEach((t) => select.append(new Option(t.name, t.name)));
    state.today = tenants.today;
    // the default range ends yesterday: today is not over, and a partial day reads as a drop
    const yesterday = new Date(new Date(tenants.today + "T00:00:00Z").getTime() - 86400000);
    $("#to").value = $("#report-to").value = isoDay(yesterday);
    $("#from").value = $("#report-from").value = isoDay(new Date(yesterday.getTime() - 29 * 86400000));
    await refresh();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    $("#app").classList.add("hidden");
    $("#login").classList.remove("hidden");
    $("#login-error").textContent = message || "";
  }

  // "Sync this tenant now": started, then polled until every source of the run has finished, then its outcome
  async function pollSync(runId, tenant, started) {
    const [runs, health] = await Promise.all([json("/api/v1/sync-runs", { tenant: tenant, run_id: runId, limit: "100" }), json("/api/v1/health")]);
    const running = (health.scheduler.syncing || []).includes(tenant) || runs.runs.some((r) => r.status === "running");
    const msg = $("#sync-msg");
    if (running || (!runs.runs.length && Date.now() - started < 120000)) {
      msg.dataset.outcome = "running";
      msg.textContent = "sync " + runId + " running: " + runs.runs.filter((r) => r.status !== "running").length + " source(s) done…";
      state.syncPoll = setTimeout(() => pollSync(runId, tenant, started).catch((e) => { state.syncPoll = null; msg.textContent = String(e.message || e); }), 1500);
      return;
    }
    state.syncPoll = null;
    const failed = runs.runs.filter((r) => r.status === "failed");
    if (!runs.runs.length) {
      msg.dataset.outcome = "failed";
      msg.textContent = "sync " + runId + " recorded no run: see the service log";
    } else if (failed.length) {
      msg.dataset.outcome = "failed";
      const why = [...new Set(failed.map((r) => r.error_message || r.error_class || "failed"))].join("; ");
      msg.textContent = "sync " + runId + " failed for " + failed.length + " of " + runs.runs.length + " sources: " + why + ". The data shown is the older data; see Sync status.";
    } else {
      msg.dataset.outcome = "succeeded";
      msg.textContent = "sync " + runId + " succeeded (" + runs.runs.length + " sources)";
    }
    await refresh();
  }

  document.querySelectorAll("nav.pivots button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("nav.pivots button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
    document.querySelectorAll("section.pivot").forEach((s) => s.classList.toggle("active", s.id === "pivot-" + b.dataset.pivot));
    Object.values(state.charts).forEach((c) => c.resize());
  }));
  document.querySelectorAll(".views").forEach((bar) => bar.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
    const pivot = bar.closest("section");
    bar.querySelectorAll("button").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    pivot.querySelector(".view-chart").classList.toggle("hidden", b.dataset.view !== "chart");
    pivot.querySelector(".view-table").classList.toggle("hidden", b.dataset.view !== "table");
    Object.values(state.charts).forEach((c) => c.resize());
  })));
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("#token").value.trim());
    $("#token").value = "";
    start().catch(showError);
  });
  $("#logout").addEventListener("click", () => signOut(""));
  $("#apply").addEventListener("click", () => refresh());
  $("#domain").addEventListener("change", () => refresh());
  $("#tenant").addEventListener("change", () => refresh());
  $("#account-status").addEventListener("change", () => panel("accounts", loadAccounts).catch(showError));
  $("#readiness-status").addEventListener("change", () => drawReadiness());
  $("#tls-legacy-only").addEventListener("change", () => drawTls());
  const openFlyout = () => { $("#flyout").classList.remove("hidden"); $("#close-flyout").focus(); };
  $("#open-flyout").addEventListener("click", openFlyout);
  $("#kpi-value").addEventListener("click", openFlyout);
  $("#close-flyout").addEventListener("click", () => $("#flyout").classList.add("hidden"));
  $("#sync-now").addEventListener("click", async () => {
    const msg = $("#sync-msg");
    try {
      const tenant = state.tenant;
      const r = await json("/api/v1/sync", {}, { method: "POST", body: JSON.stringify({ tenants: [tenant] }) });
      msg.dataset.outcome = "running";
      msg.textContent = "sync " + r.run_id + " started…";
      if (state.syncPoll) clearTimeout(state.syncPoll);
      const started = Date.now();
      state.syncPoll = setTimeout(() => pollSync(r.run_id, tenant, started).catch((e) => { state.syncPoll = null; msg.textContent = String(e.message || e); }), 1000);
    } catch (e) { msg.dataset.outcome = "failed"; msg.textContent = String(e.message || e); }
  });
  $("#report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const formats = [...document.querySelectorAll("#report-form input[name=format]:checked")].map((x) => x.value);
    const recipients = $("#report-recipients").value.split(/[\s,;]+/).filter(Boolean);
    const body = { tenant: state.tenant, from: $("#report-from").value, to: $("#report-to").value, formats: formats, domains: state.domain ? [state.domain] : [], recipients: recipients };
    try {
      const job = await json("/api/v1/reports", {}, { method: "POST", body: JSON.stringify(body) });
      $("#report-msg").textContent = "report " + job.job_id + " requested";
      await loadJobs();
    } catch (e) { $("#report-msg").textContent = String(e.message || e); }
  });
  document.body.dataset.ready = "login";
  if (sessionStorage.getItem(KEY)) start().catch(showError);
})();
