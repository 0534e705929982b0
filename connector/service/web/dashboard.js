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
  const state = { tenant: "", from: "", to: "", domain: "", charts: {}, polling: null };

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

  function table(host, columns, rows, opts) {
    host.textContent = "";
    const t = el("table");
    const hr = el("tr");
    columns.forEach((c) => hr.append(el("th", c.label || c.name, c.num ? "num" : "")));
    const thead = el("thead");
    thead.append(hr);
    t.append(thead);
    const body = el("tbody");
    rows.forEach((row) => {
      const tr = el("tr");
      columns.forEach((c) => {
        const td = el("td", null, c.num ? "num" : "");
        if (c.render) c.render(td, row); else td.textContent = c.num ? num(row[c.name]) : (row[c.name] === null ? "" : String(row[c.name]));
        tr.append(td);
      });
      body.append(tr);
    });
    t.append(body);
    host.append(t);
    if (opts && opts.total > rows.length) host.append(el("p", "Showing " + rows.length + " of " + num(opts.total) + " rows: use the API or a report for all.", "note"));
    if (!rows.length) host.append(el("p", (opts && opts.empty) || "No rows in this range.", "note"));
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    state.charts[id] = new Chart(document.getElementById(id), config);
  }

  const badgeClass = { blocked_but_attempting: "bad", basic_in_use: "bad", legacy_tls_in_use: "warn", failed_signins_only: "warn", oauth_only: "good", ok: "good", succeeded: "good", failed: "bad", unavailable: "warn", throttled: "warn", stale: "warn", running: "warn", queued: "" };
  const badge = (td, value) => td.append(el("span", value, "badge " + (badgeClass[value] || "")));

  async function loadSummary() {
    const s = await json("/api/v1/summary", range());
    $("#kpi-value").textContent = s.kpi.smtp_accounts_7d === null ? "n/a" : num(s.kpi.smtp_accounts_7d);
    $("#kpi-note").textContent = s.kpi.as_of ? "usage report as of " + s.kpi.as_of : "usage report not loaded: see Sync status";
    const hist = s.kpi_history;
    chart("kpi-chart", { type: "line", data: { labels: hist.map((h) => h.date), datasets: [{ label: "7-day count", data: hist.map((h) => h.smtp_accounts_7d), spanGaps: true, pointRadius: 2 }] },
      options: { plugins: { legend: { display: false } }, scales: { x: { display: false } } } });
    const f = s.flyout;
    const dl = $("#flyout-body");
    dl.textContent = "";
    const item = (k, v) => { dl.append(el("dt", k), el("dd", v)); };
    item("Range", f.from + " to " + f.to);
    item("Messages", num(f.messages));
    item("Senders", num(f.senders));
    item("Messages with TLS data", num(f.messages_with_tls_data));
    ["tls10", "tls11", "tls12", "tls13"].forEach((v) => item(v.replace("tls1", "TLS 1."), f.tls_pct[v + "_pct"] === null ? "n/a" : f.tls_pct[v + "_pct"] + " %"));
    table($("#coverage-table"), [{ name: "section" }, { name: "source" }, { name: "status", render: (td, r) => badge(td, r.status) }, { name: "rows_in_range", num: true }, { name: "data_as_of" }, { name: "reason" }, { name: "fix" }], s.coverage);
  }

  async function loadVolume() {
    const byDomain = await json("/api/v1/data/sending_volume_by_domain", range());
    const days = [...new Set(byDomain.rows.map((r) => r.date))].sort();
    const domains = [...new Set(byDomain.rows.map((r) => r.sender_domain))].sort();
    chart("volume-chart", { type: "bar", data: { labels: days, datasets: domains.map((d) => ({ label: d, data: days.map((day) => { const r = byDomain.rows.find((x) => x.date === day && x.sender_domain === d); return r ? r.messages : 0; }) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
    const totals = await json("/api/v1/data/sending_volume_sender_totals", range());
    table($("#volume-table"), [{ name: "sender_address", label: "Sender" }, { name: "sender_domain", label: "Domain" }, { name: "messages", label: "Messages", num: true }, { name: "active_days", label: "Active days", num: true }], totals.rows, { total: totals.total });
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

  async function loadTls() {
    const tls = await json("/api/v1/data/tls_usage_by_sender", range());
    const top = tls.rows.slice(0, 25);
    const versions = [["tls10_messages", "TLS 1.0"], ["tls11_messages", "TLS 1.1"], ["tls12_messages", "TLS 1.2"], ["tls13_messages", "TLS 1.3"], ["tls_unknown_messages", "unknown"]];
    chart("tls-chart", { type: "bar", data: { labels: top.map((r) => r.sender_address), datasets: versions.map(([k, label]) => ({ label: label, data: top.map((r) => r[k]) })) },
      options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } } });
    table($("#tls-table"), [{ name: "sender_address", label: "Sender" }, { name: "sender_domain", label: "Domain" }, { name: "messages", label: "Messages", num: true }, { name: "tls10_messages", label: "TLS 1.0", num: true }, { name: "tls11_messages", label: "TLS 1.1", num: true }, { name: "tls12_messages", label: "TLS 1.2", num: true }, { name: "tls13_messages", label: "TLS 1.3", num: true }, { name: "tls_unknown_messages", label: "Unknown", num: true }, { name: "auth_protocol", label: "Auth" }], tls.rows, { total: tls.total });
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
    table($("#accounts-table"), [{ name: "account" }, { name: "display_name", label: "Name" }, { name: "status", render: (td, r) => badge(td, r.status) }, { name: "action" }, { name: "auth_protocol", label: "Auth" }, { name: "messages", num: true }, { name: "legacy_tls_messages", label: "Legacy TLS", num: true }, { name: "failed_signins", label: "Failed sign-ins", num: true }, { name: "last_signin_at", label: "Last sign-in" }], rows, { total: acc.total });
  }

  async function loadFindings() {
    const f = await json("/api/v1/data/findings", range());
    table($("#findings-table"), [{ name: "id", num: true }, { name: "severity", render: (td, r) => badge(td, r.severity) }, { name: "kind" }, { name: "account" }, { name: "window_start", label: "From" }, { name: "window_end", label: "To" }, { name: "summary" }, { name: "action" }, { name: "acknowledged_at", label: "Acknowledged" }], f.rows, { total: f.total });
  }

  async function loadStatus() {
    const [tenants, health] = await Promise.all([json("/api/v1/tenants"), json("/api/v1/health")]);
    $("#scheduler").textContent = "scheduler: " + health.scheduler.role + (health.scheduler.detail ? " (" + health.scheduler.detail + ")" : "");
    $("#sync-now").disabled = health.scheduler.role !== "leader";
    const t = tenants.tenants.find((x) => x.name === state.tenant) || { sources: [] };
    const driftText = (s) => (s.drift || []).map((d) => d.kind.replace("_", " ") + " " + d.name + " (" + d.subject + ")").join("; ");
    const rows = t.sources.map((s) => ({ source: s.source, coverage: s.coverage ? s.coverage.status : "", reason: s.coverage ? s.coverage.reason : "", fix: s.coverage ? s.coverage.fix : "", data_as_of: s.coverage ? s.coverage.data_as_of : "", last_run: s.last_run ? s.last_run.status : "never", last_run_at: s.last_run ? s.last_run.ended_at || s.last_run.started_at : "", drift: driftText(s) }));
    table($("#status-table"), [{ name: "source" }, { name: "coverage", render: (td, r) => badge(td, r.coverage) }, { name: "reason" }, { name: "fix" }, { name: "data_as_of", label: "Data as of" }, { name: "last_run", label: "Last run", render: (td, r) => badge(td, r.last_run) }, { name: "last_run_at", label: "At" }, { name: "drift", label: "Schema drift" }], rows);
    $("#sync-msg").textContent = t.next_sync_at ? "next nightly sync " + t.next_sync_at : "";
  }

  async function download(job, name) {
    const r = await api("/api/v1/reports/" + encodeURIComponent(job) + "/artifacts/" + name.split("/").map(encodeURIComponent).join("/"));
    const url = URL.createObjectURL(await r.blob());
    const a = el("a");
    a.href = url;
    a.download = name.split("/").pop();
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function loadJobs() {
    const jobs = (await json("/api/v1/reports", { tenant: state.tenant })).jobs;
    table($("#jobs-table"), [{ name: "requested_at", label: "Requested" }, { name: "from" }, { name: "to" }, { name: "status", render: (td, r) => { badge(td, r.status); if (r.error) td.append(el("div", r.error, "note")); } },
      { name: "artifacts", label: "Downloads", render: (td, r) => r.artifacts.filter((n) => !n.includes("/")).forEach((n) => { const b = el("button", n, "link"); b.type = "button"; b.dataset.job = r.job_id; b.addEventListener("click", () => download(r.job_id, n).catch(showError)); td.append(b, " "); }) }], jobs, { empty: "No report requested yet." });
    const pending = jobs.some((j) => j.status === "queued" || j.status === "running");
    if (pending && !state.polling) state.polling = setTimeout(() => { state.polling = null; loadJobs().catch(showError); }, 1000);
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

  async function refresh() {
    $("#error").textContent = "";
    state.from = $("#from").value; state.to = $("#to").value; state.domain = $("#domain").value; state.tenant = $("#tenant").value;
    $("#subtitle").textContent = state.tenant + ": " + state.from + " to " + state.to + " (UTC)" + (state.domain ? " · " + state.domain : "");
    document.body.dataset.ready = "false";
    const panels = [["summary", loadSummary], ["volume", loadVolume], ["tls", loadTls], ["accounts", loadAccounts], ["findings", loadFindings], ["status", loadStatus], ["reports", loadJobs]];
    const results = await Promise.allSettled([loadDomains(), ...panels.map(([name, load]) => panel(name, load))]);
    results.filter((r) => r.status === "rejected").forEach((r) => showError(r.reason));
    document.body.dataset.ready = "true";
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  async function start() {
    $("#login").classList.add("hidden");
    $("#app").classList.remove("hidden");
    const tenants = (await json("/api/v1/tenants")).tenants;
    const select = $("#tenant");
    select.textContent = "";
    tenants.forEach((t) => select.append(new Option(t.name, t.name)));
    const today = new Date((await json("/api/v1/health")).today + "T00:00:00Z");
    const yesterday = new Date(today.getTime() - 86400000);
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
  $("#open-flyout").addEventListener("click", () => $("#flyout").classList.remove("hidden"));
  $("#close-flyout").addEventListener("click", () => $("#flyout").classList.add("hidden"));
  $("#sync-now").addEventListener("click", async () => {
    try {
      const r = await json("/api/v1/sync", {}, { method: "POST", body: JSON.stringify({ tenants: [state.tenant] }) });
      $("#sync-msg").textContent = "sync " + r.run_id + " started";
    } catch (e) { $("#sync-msg").textContent = String(e.message || e); }
  });
  $("#report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const formats = [...document.querySelectorAll("#report-form input[name=format]:checked")].map((x) => x.value);
    const body = { tenant: state.tenant, from: $("#report-from").value, to: $("#report-to").value, formats: formats, domains: state.domain ? [state.domain] : [] };
    try {
      const job = await json("/api/v1/reports", {}, { method: "POST", body: JSON.stringify(body) });
      $("#report-msg").textContent = "report " + job.job_id + " requested";
      await loadJobs();
    } catch (e) { $("#report-msg").textContent = String(e.message || e); }
  });
  document.body.dataset.ready = "login";
  if (sessionStorage.getItem(KEY)) start().catch(showError);
})();
