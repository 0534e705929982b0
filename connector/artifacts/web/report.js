"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const fmt = (v, type) => {
    if (v === null || v === undefined) return "";
    if (type === "int") return Number(v).toLocaleString("en-US");
    if (type === "float") return Number(v).toFixed(1) + " %"; // the report's float columns are percentages
    if (type === "bool") return v ? "yes" : "no";
    if (type === "datetime") return String(v).slice(0, 16).replace("T", " ");
    return String(v);
  };

  // header and KPI cards: every value goes in through textContent, never as markup
  $("#title").textContent = "SMTP AUTH clients report: " + data.meta.tenant;
  $("#subtitle").textContent = data.meta.from + " to " + data.meta.to + " (UTC) · generated " + data.meta.generated_at;
  // caveats that change conclusions, above everything else
  const banners = $("#banners");
  const banner = (kind, text) => { const p = el("p", text, "banner " + kind); p.dataset.banner = kind; banners.append(p); };
  if (data.summary.concealed_smtp_accounts) {
    banner("concealed", data.summary.concealed_smtp_accounts + " accounts with SMTP AUTH usage have concealed names in the usage report: they are counted by the widget but cannot be joined to sign-ins or message trace, so no table names them. Turn off 'Display concealed user, group, and site names in all reports' (Microsoft 365 admin center > Settings > Org settings > Reports) to see them.");
  }
  const generatedDay = String(data.meta.generated_at || "").slice(0, 10);
  if (generatedDay && data.meta.to >= generatedDay) {
    banner("today", "The range includes " + generatedDay + " (UTC), the day the report was made: that day is partial, its numbers are not a drop.");
  }
  const cards = $("#cards");
  const card = (label, value, note) => {
    const c = el("div", null, "card");
    c.append(el("div", value === null ? "n/a" : value, "value"), el("div", label, "label"));
    if (note) c.append(el("div", note, "note"));
    cards.append(c);
  };
  const k = data.summary.kpi;
  card("Accounts that used SMTP AUTH in the last 7 days", k.smtp_accounts_7d === null ? null : fmt(k.smtp_accounts_7d, "int"),
       k.as_of ? "usage report as of " + k.as_of : "usage report not loaded: see Coverage");
  const f = data.summary.flyout;
  card("Messages, " + f.from + " to " + f.to, fmt(f.messages, "int"), f.senders + " senders");
  const legacy = f.tls.tls10_messages + f.tls.tls11_messages;
  card("Legacy TLS (1.0/1.1) messages, last 7 days", f.messages_with_tls_data ? fmt(legacy, "int") : null,
       f.messages_with_tls_data ? "of " + fmt(f.messages_with_tls_data, "int") + " with TLS data" : "no TLS data: see Coverage");

  // generic sortable, filterable table: human headers, sort arrows (numbers descending first), wide tables scroll
  // inside their section; opts.cells[i](td, row) draws a cell, opts.sortValue[i](row) sorts a computed column
  function renderTable(host, table, rows, opts) {
    opts = opts || {};
    host.textContent = "";
    const cols = table.columns;
    const isNum = (c) => c.type === "int" || c.type === "float";
    const state = { key: opts.sortKey !== undefined ? opts.sortKey : -1, dir: opts.sortDir || 1, filter: "" };
    const bar = el("div", null, "toolbar");
    const search = el("input");
    search.type = "search";
    search.placeholder = "Filter rows";
    search.setAttribute("aria-label", "Filter " + table.title);
    const count = el("span", "", "note");
    bar.append(search, count);
    const t = el("table");
    const thead = el("thead");
    const hr = el("tr");
    cols.forEach((c, i) => {
      const th = el("th", null, isNum(c) ? "num" : "");
      const b = el("button", c.label || c.name);
      b.type = "button";
      b.dataset.col = c.name;
      b.append(el("span", "", "arrow"));
      b.addEventListener("click", () => { if (state.key === i) state.dir = -state.dir; else { state.key = i; state.dir = isNum(c) ? -1 : 1; } draw(); });
      th.append(b);
      hr.append(th);
    });
    thead.append(hr);
    const tbody = el("tbody");
    t.append(thead, tbody);
    const scroll = el("div", null, "table-scroll");
    scroll.append(t);
    host.append(bar, scroll);
    if ((opts.total || table.total) > rows.length && !opts.filtered) {
      host.append(el("p", "Showing " + rows.length + " of " + (opts.total || table.total) + " rows; every row is in " + table.name + ".csv, the XLSX and the Parquet files.", "note"));
    }
    if (!rows.length) host.append(el("p", "No rows: " + (opts.empty || table.empty_reason || ""), "note empty"));
    search.addEventListener("input", () => { state.filter = search.value.toLowerCase(); draw(); });
    function draw() {
      let view = rows;
      if (state.filter) view = view.filter((r) => r.some((v) => v !== null && String(v).toLowerCase().includes(state.filter)));
      if (state.key >= 0) {
        const i = state.key;
        const key = (opts.sortValue && opts.sortValue[i]) || ((r) => r[i]);
        view = view.slice().sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * state.dir;
        });
      }
      hr.querySelectorAll("th").forEach((th, i) => {
        const on = i === state.key;
        th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
        th.querySelector(".arrow").textContent = on ? (state.dir > 0 ? " ▲" : " ▼") : "";
      });
      const frag = document.createDocumentFragment();
      for (const r of view) {
        const tr = el("tr");
        r.forEach((v, i) => {
          const td = el("td", null, isNum(cols[i]) ? "num" : "");
          if (opts.cells && opts.cells[i]) opts.cells[i](td, r); else td.textContent = fmt(v, cols[i].type);
          tr.append(td);
        });
        frag.append(tr);
      }
      tbody.textContent = "";
      tbody.append(frag);
      count.textContent = view.length + " rows";
    }
    draw();
  }

  // pivots and views
  let onShow = () => {};
  document.querySelectorAll("nav.pivots button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("nav.pivots button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
    document.querySelectorAll("section.pivot").forEach((s) => s.classList.toggle("active", s.id === "pivot-" + b.dataset.pivot));
    onShow();
  }));
  document.querySelectorAll(".views").forEach((group) => {
    group.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
      group.querySelectorAll("button").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      const pivot = group.closest("section");
      pivot.querySelector(".view-chart").classList.toggle("hidden", b.dataset.view !== "chart");
      pivot.querySelector(".view-table").classList.toggle("hidden", b.dataset.view !== "table");
      onShow();
    }));
  });

  const T = data.tables;
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const canChart = typeof Chart !== "undefined";

  // Sending volume: messages per day by sender domain, domain selector, details table per sender
  const days = [];
  for (let d = new Date(data.meta.from + "T00:00:00Z"); d <= new Date(data.meta.to + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1)) days.push(d.toISOString().slice(0, 10));
  const byDomain = T.sending_volume_by_domain;
  const domains = Array.from(new Set(byDomain.rows.map((r) => r[1] === null ? "(no domain)" : r[1]))).sort();
  const select = $("#domain");
  select.append(new Option("All domains", ""));
  domains.forEach((d) => select.append(new Option(d, d)));
  let volumeChart = null;
  function drawVolume() {
    const chosen = select.value;
    const shown = chosen ? [chosen] : domains;
    const sets = shown.map((dom, i) => {
      const perDay = new Map();
      byDomain.rows.forEach((r) => { if ((r[1] === null ? "(no domain)" : r[1]) === dom) perDay.set(r[0], r[2]); });
      return { label: dom, data: days.map((d) => perDay.get(d) || 0), borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length] };
    });
    if (canChart) {
      if (volumeChart) volumeChart.destroy();
      volumeChart = new Chart($("#volume-chart"), { type: "bar", data: { labels: days, datasets: sets },
        options: { animation: false, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "messages" } } } } });
    }
    const totals = T.sending_volume_sender_totals;
    renderTable($("#volume-table"), totals, chosen ? totals.rows.filter((r) => r[1] === chosen) : totals.rows, { sortKey: -1 });
  }
  select.addEventListener("change", drawVolume);
  drawVolume();
  $("#volume-source").textContent = data.summary.sections.sending_volume.source_note;

  // TLS usage answers "who still uses TLS 1.0/1.1": legacy share first (then volume), a legacy-only toggle,
  // percentages per version with the counts on hover
  const tls = T.tls_usage_by_sender;
  const legacyCount = (r) => (r[3] || 0) + (r[4] || 0);
  const knownTls = (r) => (r[2] || 0) - (r[7] || 0);
  const legacyShare = (r) => (knownTls(r) > 0 ? (100 * legacyCount(r)) / knownTls(r) : null);
  const byLegacy = (a, b) => (legacyShare(b) || 0) - (legacyShare(a) || 0) || legacyCount(b) - legacyCount(a) || b[2] - a[2];
  const legacySenders = tls.rows.filter((r) => legacyCount(r) > 0).length;
  $("#tls-answer").textContent = tls.rows.length
    ? legacySenders + " of " + tls.rows.length + " senders used TLS 1.0/1.1 in this range" + (legacySenders ? ": listed first, by their share of legacy messages." : ".")
    : "";
  let tlsChart = null;
  function tlsView() { return tls.rows.filter((r) => !$("#tls-legacy-only").checked || legacyCount(r) > 0).slice().sort(byLegacy); }
  function drawTlsChart() {
    if (!canChart) return;
    if (tlsChart) tlsChart.destroy();
    const top = tlsView().slice(0, 25);
    const keys = [["TLS 1.0", 8, 3, "#c0392b"], ["TLS 1.1", 9, 4, "#e67e22"], ["TLS 1.2", 10, 5, "#2e86c1"], ["TLS 1.3", 11, 6, "#1e8449"]];
    $("#tls-chart").parentElement.style.height = Math.max(160, 40 + top.length * 22) + "px";
    tlsChart = new Chart($("#tls-chart"), { type: "bar", data: { labels: top.map((r) => r[0]),
      datasets: keys.map(([label, p, n, color]) => ({ label, data: top.map((r) => r[p] || 0), counts: top.map((r) => r[n]), backgroundColor: color })) },
      options: { indexAxis: "y", animation: false, maintainAspectRatio: false,
        scales: { x: { stacked: true, max: 100, ticks: { callback: (v) => v + " %" }, title: { display: true, text: "share of the sender's messages" } }, y: { stacked: true, ticks: { autoSkip: false } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + Number(ctx.raw).toFixed(1) + " % (" + fmt(ctx.dataset.counts[ctx.dataIndex], "int") + " messages)" } } } } });
  }
  const pctCell = (p, n) => (td, r) => { td.textContent = fmt(r[p], "float"); td.title = fmt(r[n], "int") + " messages"; };
  const tlsTable = { name: tls.name, title: tls.title, total: tls.total, empty_reason: tls.empty_reason,
    columns: [tls.columns[0], { name: "legacy_share", label: "Legacy TLS", type: "float" }, ...tls.columns.slice(1)] };
  function drawTlsTable() {
    const rows = tlsView().map((r) => [r[0], legacyShare(r), ...r.slice(1)]);
    renderTable($("#tls-table"), tlsTable, rows, { total: tls.total, filtered: $("#tls-legacy-only").checked,
      empty: $("#tls-legacy-only").checked ? "no sender used TLS 1.0/1.1 in this range" : undefined,
      cells: { 1: (td, r) => { td.textContent = fmt(r[1], "float"); td.title = fmt(legacyCount(r.slice(0, 1).concat(r.slice(2))), "int") + " of " + fmt(knownTls(r.slice(0, 1).concat(r.slice(2))), "int") + " messages over TLS 1.0/1.1"; },
        9: pctCell(9, 4), 10: pctCell(10, 5), 11: pctCell(11, 6), 12: pctCell(12, 7) } });
  }
  $("#tls-legacy-only").addEventListener("change", () => { drawTlsTable(); if (tlsChart) drawTlsChart(); });
  // a chart drawn while its section is hidden has no size: draw or resize it when the section shows
  onShow = () => {
    if ($("#pivot-tls").classList.contains("active") && !tlsChart) drawTlsChart();
    if ($("#pivot-readiness").classList.contains("active") && !burnChart) drawBurndown();
    [volumeChart, tlsChart, burnChart].forEach((c) => { if (c) c.resize(); });
  };
  drawTlsTable();
  $("#tls-source").textContent = data.summary.sections.tls_usage.source_note;
  // Readiness: per account its status and next step over the range, the burndown of Basic SMTP AUTH accounts
  const R = data.readiness || { columns: [], statuses: [], rows: [], total: 0 };
  const B = data.burndown || { rows: [] };
  const quiet = ["enabled_but_unused", "oauth_only", "no_activity_in_range"];
  const rcounts = {};
  R.rows.forEach((r) => { rcounts[r[1]] = (rcounts[r[1]] || 0) + 1; });
  const rselect = $("#readiness-status");
  rselect.append(new Option("Needs action", ""));
  R.statuses.filter((s) => rcounts[s]).forEach((s) => rselect.append(new Option(s + " (" + rcounts[s] + ")", s)));
  const action = R.rows.filter((r) => !quiet.includes(r[1])).length;
  $("#readiness-summary").textContent = action + " of " + R.total + " accounts need action before Basic SMTP AUTH is switched off by default (end of December 2026).";
  // shown in the order a person acts on: who, status, what to do, then the evidence
  const ORDER = ["account", "status", "next_step", "messages", "legacy_tls_messages", "last_active_date", "smtp_auth_enabled", "smtp_auth_snapshot_date", "client_ips", "last_seen", "basic_signins", "failed_signins", "auth_protocol"];
  const RLABEL = { account: "Account", status: "Status", auth_protocol: "Auth", last_seen: "Last sign-in (UTC)", messages: "Messages", basic_signins: "Basic sign-ins", failed_signins: "Failed sign-ins", legacy_tls_messages: "Legacy TLS messages", client_ips: "Client IPs", smtp_auth_enabled: "SMTP AUTH on", next_step: "Next step", smtp_auth_snapshot_date: "SMTP AUTH setting as of", last_active_date: "Last used" };
  const RTYPE = { messages: "int", basic_signins: "int", failed_signins: "int", legacy_tls_messages: "int", smtp_auth_enabled: "bool", last_seen: "datetime" };
  const order = ORDER.map((c) => R.columns.indexOf(c)).filter((i) => i >= 0);
  const readinessTable = { name: "readiness", title: "Readiness", total: R.total,
    columns: order.map((i) => ({ name: R.columns[i], label: RLABEL[R.columns[i]] || R.columns[i], type: RTYPE[R.columns[i]] || "text" })) };
  const nextCol = order.indexOf(R.columns.indexOf("next_step"));
  function drawReadiness() {
    const chosen = rselect.value;
    const rows = R.rows.filter((r) => (chosen ? r[1] === chosen : !quiet.includes(r[1]))).map((r) => order.map((i) => r[i]));
    const wrap = {};
    wrap[nextCol] = (td, r) => { td.textContent = r[nextCol] || ""; td.className = "wrap"; };
    renderTable($("#readiness-table"), readinessTable, rows, { total: R.total, filtered: true, empty: "no account with this status", cells: wrap });
  }
  rselect.addEventListener("change", drawReadiness);
  drawReadiness();
  let burnChart = null;
  function drawBurndown() {
    if (!canChart || !B.rows.length) return;
    burnChart = new Chart($("#burndown-chart"), { type: "line", data: { labels: B.rows.map((b) => b[0]),
      datasets: [{ label: "Accounts using Basic SMTP AUTH", data: B.rows.map((b) => b[2]), borderColor: "#c0392b", backgroundColor: "#c0392b", pointRadius: 2 }] },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 16 } }, y: { beginAtZero: true, title: { display: true, text: "accounts" } } } } });
  }
  renderTable($("#auth-table"), T.auth_protocol_by_sender, T.auth_protocol_by_sender.rows);
  renderTable($("#accounts-table"), T.accounts, T.accounts.rows);
  $("#findings-source").textContent = data.summary.sections.findings.source_note;
  renderTable($("#findings-table"), T.findings, T.findings.rows);
  renderTable($("#kpi-table"), T.kpi_history, T.kpi_history.rows);
  renderTable($("#coverage-table"), T.coverage, T.coverage.rows);
  if (!canChart) document.querySelectorAll(".chart-box").forEach((b) => b.replaceChildren(el("p", "Charts could not be drawn in this browser; use the details table.", "note")));
  document.body.dataset.ready = "true";
})();
