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
    if (type === "float") return Number(v).toFixed(2);
    if (type === "bool") return v ? "yes" : "no";
    return String(v);
  };

  // header and KPI cards: every value goes in through textContent, never as markup
  $("#title").textContent = "SMTP AUTH clients report: " + data.meta.tenant;
  $("#subtitle").textContent = data.meta.from + " to " + data.meta.to + " (UTC) · generated " + data.meta.generated_at;
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

  // generic sortable, filterable table
  function renderTable(host, table, rows, opts) {
    host.textContent = "";
    const cols = table.columns;
    const state = { key: opts && opts.sortKey !== undefined ? opts.sortKey : -1, dir: -1, filter: "" };
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
      const th = el("th", null, c.type === "int" || c.type === "float" ? "num" : "");
      const b = el("button", c.name);
      b.type = "button";
      b.addEventListener("click", () => { state.dir = state.key === i ? -state.dir : -1; state.key = i; draw(); });
      th.append(b);
      hr.append(th);
    });
    thead.append(hr);
    const tbody = el("tbody");
    t.append(thead, tbody);
    host.append(bar, t);
    if (table.total > rows.length) {
      host.append(el("p", "Showing " + rows.length + " of " + table.total + " rows; every row is in " + table.name + ".csv, the XLSX and the Parquet files.", "note"));
    }
    if (!rows.length) host.append(el("p", "No rows: " + (table.empty_reason || ""), "note empty"));
    search.addEventListener("input", () => { state.filter = search.value.toLowerCase(); draw(); });
    function draw() {
      let view = rows;
      if (state.filter) view = view.filter((r) => r.some((v) => v !== null && String(v).toLowerCase().includes(state.filter)));
      if (state.key >= 0) {
        const i = state.key;
        view = view.slice().sort((a, b) => {
          const x = a[i], y = b[i];
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * -state.dir;
        });
      }
      const frag = document.createDocumentFragment();
      for (const r of view) {
        const tr = el("tr");
        r.forEach((v, i) => tr.append(el("td", fmt(v, cols[i].type), cols[i].type === "int" || cols[i].type === "float" ? "num" : "")));
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

  // TLS usage: stacked bars of the largest senders, details table of every sender
  const tls = T.tls_usage_by_sender;
  let tlsChart = null;
  function drawTlsChart() {
    if (!canChart || tlsChart) return;
    const top = tls.rows.slice(0, 25);
    const keys = [["TLS 1.0", 3], ["TLS 1.1", 4], ["TLS 1.2", 5], ["TLS 1.3", 6], ["unknown", 7]];
    tlsChart = new Chart($("#tls-chart"), { type: "bar", data: { labels: top.map((r) => r[0]),
      datasets: keys.map(([label, i], j) => ({ label, data: top.map((r) => r[i] || 0), backgroundColor: palette[j] })) },
      options: { indexAxis: "y", animation: false, maintainAspectRatio: false, scales: { x: { stacked: true, title: { display: true, text: "messages" } }, y: { stacked: true } } } });
  }
  // a chart drawn while its section is hidden has no size: draw or resize it when the section shows
  onShow = () => {
    if ($("#pivot-tls").classList.contains("active")) drawTlsChart();
    [volumeChart, tlsChart].forEach((c) => { if (c) c.resize(); });
  };
  renderTable($("#tls-table"), tls, tls.rows);
  $("#tls-source").textContent = data.summary.sections.tls_usage.source_note;
  renderTable($("#auth-table"), T.auth_protocol_by_sender, T.auth_protocol_by_sender.rows);
  renderTable($("#accounts-table"), T.accounts, T.accounts.rows);
  $("#findings-source").textContent = data.summary.sections.findings.source_note;
  renderTable($("#findings-table"), T.findings, T.findings.rows);
  renderTable($("#kpi-table"), T.kpi_history, T.kpi_history.rows);
  renderTable($("#coverage-table"), T.coverage, T.coverage.rows);
  if (!canChart) document.querySelectorAll(".chart-box").forEach((b) => b.replaceChildren(el("p", "Charts could not be drawn in this browser; use the details table.", "note")));
  document.body.dataset.ready = "true";
})();
