/// The console's script (`/console/console.js`): plain JavaScript, no library. It builds every
/// element with `createElement` and every value with `textContent` (never HTML from data), keeps
/// the token in `sessionStorage` only and sends it as `Authorization: Bearer` to the admin API.
enum ConsoleScript {
    static let js = #"""
"use strict";
(() => {
  const TOKEN_KEY = "okra-bridge.admin-token";
  const FILTERS = ["since", "until", "record", "customer", "account", "id", "type", "product", "outcome", "env", "code", "state", "deadletter"];
  const $ = (id) => document.getElementById(id);
  let scopes = [];
  let cursor = null;
  let lastQuery = null;
  let lastFilters = {};
  let eventRequest = 0;
  let parkedRequest = 0;
  let opener = null;
  let starting = false;
  let replayTarget = null;
  let replayReturn = null;
  let parkedAction = null;
  let statusTimer = null;

  // An element with attributes and children; strings become text nodes, never HTML.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function say(id, text) { $(id).textContent = text || ""; }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  // One call to the admin API with the session's token.
  async function api(path, options = {}) {
    const headers = { "Authorization": "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || "") };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET", headers, cache: "no-store", credentials: "omit", redirect: "error",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    let answer = null;
    try { answer = await response.json(); } catch (_) { answer = null; }
    if (!response.ok) {
      const error = answer && answer.error ? answer.error : { code: String(response.status), message: response.statusText };
      if (response.status === 401) signOut("The token was refused: sign in again.");
      throw new ApiError(response.status, error.code, error.message);
    }
    return answer;
  }

  function grants(scope) {
    if (scopes.includes("operate")) return true;
    if (scope === "read") return scopes.includes("read") || scopes.includes("read-pii");
    return scopes.includes(scope);
  }

  // Buttons whose action the token's scopes do not allow: disabled, with the scope they need.
  function applyScopes() {
    for (const button of document.querySelectorAll("[data-needs]")) {
      const needed = button.getAttribute("data-needs");
      const allowed = grants(needed);
      button.disabled = !allowed;
      let note = button.nextElementSibling && button.nextElementSibling.classList.contains("needs") ? button.nextElementSibling : null;
      if (!allowed && !note) {
        note = el("span", { class: "needs", id: button.id + "-needs" }, "needs the " + needed + " scope");
        button.after(note);
        button.setAttribute("aria-describedby", note.id);
      } else if (allowed && note) {
        note.remove();
        button.removeAttribute("aria-describedby");
      }
    }
  }

  // ---- signing in and out ----
  async function signIn(event) {
    event.preventDefault();
    const input = $("token");
    const value = input.value.trim();
    input.value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    await start();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    scopes = [];
    if (statusTimer) clearInterval(statusTimer);
    statusTimer = null;
    // Nothing the previous token could read stays in the page.
    for (const id of ["status-list", "event-body", "replay-plan"]) clear($(id));
    for (const id of ["results", "parked-list"]) clear($(id).tBodies[0]);
    cursor = null;
    lastQuery = null;
    eventRequest += 1;
    parkedRequest += 1;
    $("app").hidden = true;
    $("sign-in").hidden = false;
    $("sign-out").hidden = true;
    say("who", "");
    say("sign-in-error", message || "");
    $("token").focus();
  }

  async function start() {
    if (starting) return;
    starting = true;
    try { await startSession(); } finally { starting = false; }
  }

  async function startSession() {
    say("sign-in-error", "");
    let token;
    try {
      token = await api("/admin/token");
    } catch (error) {
      if (error.status === 401) return;
      if (error.status === 404) {
        // The operations API is off: say why, and nothing more to show.
        showApp();
        say("who", "");
        showOff(error.message);
        return;
      }
      sessionStorage.removeItem(TOKEN_KEY);
      say("sign-in-error", "Cannot reach the admin API: " + error.message);
      return;
    }
    scopes = token.scopes || [];
    showApp();
    say("who", "Signed in as " + token.name + " (" + scopes.join(", ") + ")");
    applyScopes();
    if (!grants("read")) {
      showOff("This token's scopes (" + scopes.join(", ") + ") do not read the event log: that needs the read scope.");
      return;
    }
    try {
      await api("/admin/status");
    } catch (error) {
      // Direct mode: the API says why (with the event log off, status is served and the search says why).
      if (error.status === 404) { showOff(error.message); return; }
    }
    refreshStatus();
    if (statusTimer) clearInterval(statusTimer);
    statusTimer = setInterval(refreshStatus, 10000);
    showTab("search");
    fillFormFromFragment();
    await search(false);
    // Only if the operator has not moved on meanwhile (typing a filter while the first page loads).
    if (!document.activeElement || document.activeElement === document.body) $("search-title").focus();
  }

  // Before a token is typed: whether the operations API is on at all (404 says why it is off).
  async function probe() {
    try {
      const response = await fetch("/admin/token", { cache: "no-store", credentials: "omit", redirect: "error" });
      if (response.status === 404) {
        const answer = await response.json();
        $("sign-in-form").hidden = true;
        say("sign-in-error", answer.error ? answer.error.message : "The operations API is off.");
        return;
      }
    } catch (_) { /* the sign-in says so when it fails */ }
    $("token").focus();
  }

  function showApp() {
    $("off").hidden = true;
    for (const id of ["tab-search", "tab-parked"]) $(id).disabled = false;
    $("status").hidden = false;
    $("sign-in").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
  }

  function showOff(message) {
    const off = $("off");
    off.hidden = false;
    off.textContent = message;
    for (const id of ["search", "event", "replay", "parked", "status"]) $(id).hidden = true;
    for (const id of ["tab-search", "tab-parked"]) $(id).disabled = true;
  }

  // ---- health ----
  function bytes(count) {
    if (count === undefined || count === null) return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = count, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit === 0 ? String(value) : value.toFixed(1)) + " " + units[unit];
  }

  function age(seconds) {
    if (!seconds) return "none waiting";
    if (seconds < 120) return Math.round(seconds) + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  async function refreshStatus() {
    try {
      const status = await api("/admin/status");
      const list = $("status-list");
      clear(list);
      const fact = (name, value, css) => list.append(el("div", {}, el("dt", {}, name), el("dd", { class: css }, value)));
      fact("Ready", status.ready ? "ready" : "not ready: " + status.problems.join("; "), status.ready ? "ok" : "error");
      fact("Kafka", status.kafka.state + (status.kafka.kind ? " (" + status.kafka.kind + ")" : "") + (status.kafka.reason ? ": " + status.kafka.reason : ""),
           status.kafka.state === "failing" ? "error" : "ok");
      fact("Outbox", status.outbox ? status.outbox.depth + " pending" : "unknown (the store could not be read)", status.outbox ? undefined : "error");
      if (status.outbox) fact("Oldest pending", age(status.outbox.oldest_age_seconds));
      fact("Parked", String(status.parked), status.parked > 0 ? "error" : undefined);
      fact("Store", bytes(status.store.bytes) + " (log " + bytes(status.store.event_log_bytes) + ")");
      if (status.volume) fact("Data volume", bytes(status.volume.used_bytes) + " used, " + bytes(status.volume.free_bytes) + " free" + (status.volume.full ? " (full)" : ""),
                              status.volume.full ? "error" : undefined);
      say("status-error", "");
    } catch (error) {
      say("status-error", "Health: " + error.message);
    }
  }

  // ---- search ----
  function formFilters() {
    const form = $("search-form");
    const values = {};
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) values[name] = value;
    }
    return values;
  }

  // The filters as the API takes them: times in RFC 3339 (UTC), dead letters as a boolean.
  function apiFilter(values) {
    const filter = {};
    for (const [name, value] of Object.entries(values)) {
      if (name === "since" || name === "until") {
        const time = new Date(value);
        if (isNaN(time.getTime())) throw new Error(name + ": not a date and time");
        filter[name] = time.toISOString();
      }
      else if (name === "deadletter") filter[name] = value === "true";
      else filter[name] = value;
    }
    return filter;
  }

  // The fragment keeps times in UTC (a shared link means the same moment everywhere); the
  // inputs show them in the browser's time zone.
  function fillFormFromFragment() {
    const hash = location.hash.startsWith("#search?") ? location.hash.slice(8) : "";
    const params = new URLSearchParams(hash);
    const form = $("search-form");
    for (const name of FILTERS) {
      let value = params.get(name) || "";
      if (value && (name === "since" || name === "until")) value = localInput(value);
      form.elements[name].value = value;
    }
  }

  function localInput(iso) {
    const time = new Date(iso);
    if (isNaN(time.getTime())) return "";
    const pad = (number) => String(number).padStart(2, "0");
    return time.getFullYear() + "-" + pad(time.getMonth() + 1) + "-" + pad(time.getDate()) + "T" + pad(time.getHours()) + ":" +
      pad(time.getMinutes()) + ":" + pad(time.getSeconds());
  }

  function recordStates(entry) {
    const states = new Set(entry.records.map((record) => record.state));
    for (const replay of entry.replays) for (const record of replay.records) states.add(record.state);
    return [...states];
  }

  function stateText(states) {
    return el("span", { class: states.includes("parked") ? "state-parked" : states.includes("pending") ? "state-pending" : "state-published" },
              states.length ? states.join(", ") : "-");
  }

  // A new search from the form, or the next page of the last one (its own filters and cursor).
  async function search(more) {
    const body = $("results").tBodies[0];
    let query;
    if (more) {
      if (!lastQuery || !cursor) return;
      query = new URLSearchParams(lastQuery);
      query.set("cursor", cursor);
      $("more").disabled = true;
    } else {
      let filter;
      try { filter = apiFilter(formFilters()); } catch (error) { say("search-error", error.message); return; }
      query = new URLSearchParams(Object.entries(filter).map(([name, value]) => [name, String(value)]));
      query.set("limit", "50");
      lastQuery = query.toString();
      lastFilters = filter;
      cursor = null;
      $("more").hidden = true;
      clear(body);
      say("results-caption", "Searching…");
    }
    try {
      const page = await api("/admin/events?" + query.toString());
      for (const entry of page.events) body.append(resultRow(entry));
      cursor = page.next_cursor;
      $("more").hidden = !cursor;
      say("results-caption", body.rows.length ? "Newest first: " + body.rows.length + " shown" + (cursor ? ", more older." : ".") : "Nothing matches.");
      say("search-error", "");
    } catch (error) {
      say("search-error", error.message);
      if (!more) say("results-caption", "");
    }
    $("more").disabled = false;
    if (more && $("more").hidden) $("results-caption").focus();
  }

  function resultRow(entry) {
    const open = el("button", { type: "button", class: "link", onclick: (event) => openEvent(String(entry.entry), entry.id, event.currentTarget) },
                    entry.recordedtime.replace("T", " ").replace("Z", " UTC"));
    return el("tr", {},
      el("td", { "data-label": "Received" }, open),
      el("td", { "data-label": "Type" }, entry.deadletter ? "dead letter (" + (entry.reason || "?") + ")" : (entry.type || "-")),
      el("td", { "data-label": "Record" }, entry.okrarecord || "-"),
      el("td", { "data-label": "Customer" }, entry.okracustomer || "-"),
      el("td", { "data-label": "State" }, stateText(recordStates(entry))),
      el("td", { "data-label": "Records" }, String(entry.records.length)),
      el("td", { "data-label": "Replays" }, String(entry.replays.length)));
  }

  function onSearch(event) {
    event.preventDefault();
    let filter;
    try { filter = apiFilter(formFilters()); } catch (error) { say("search-error", error.message); return; }
    const params = new URLSearchParams(Object.entries(filter).map(([name, value]) => [name, String(value)]));
    const hash = "#search?" + params.toString();
    if (location.hash !== hash) history.replaceState(null, "", hash);
    search(false);
  }

  // ---- one event ----
  async function openEvent(key, id, from) {
    const request = ++eventRequest;
    opener = from || null;
    const body = $("event-body");
    clear(body);
    $("replay-event").onclick = null;
    $("replay-event").disabled = true;
    $("search").hidden = true;
    $("event").hidden = false;
    say("event-title", "Event " + (id || "entry " + key));
    try {
      const answer = await api("/admin/events/" + encodeURIComponent(key));
      if (request !== eventRequest) return;
      const entry = answer.events[0];
      body.append(eventView(entry));
      // A dead letter without an id is replayed by its entry number.
      $("replay-event").onclick = () => dryRun({ ids: [entry.id || String(entry.entry)] }, $("replay-event"));
      $("replay-event").disabled = !grants("operate");
    } catch (error) {
      if (request !== eventRequest) return;
      body.append(el("p", { class: "error", role: "alert" }, error.message));
    }
    $("event-title").focus();
  }

  function eventView(entry) {
    const view = el("div", {});
    const envelope = entry.envelope || {};
    const id = entry.id || "";
    if (id) {
      const copy = el("button", { type: "button", id: "copy-id", onclick: async () => {
        try { await navigator.clipboard.writeText(id); say("copy-result", "Copied."); } catch (_) { say("copy-result", "Select the id to copy it."); }
      } }, "Copy the id");
      view.append(el("p", {}, el("code", { id: "event-id" }, id), " ", copy, " ", el("span", { id: "copy-result", role: "status" })));
    }
    if (entry.redacted) view.append(el("p", { class: "needs", id: "redacted" }, "Personal data is masked: reading it in clear needs the read-pii scope."));
    const facts = el("dl", { class: "facts" });
    const fact = (name, value) => { if (value !== undefined && value !== null && value !== "") facts.append(el("div", {}, el("dt", {}, name), el("dd", {}, String(value)))); };
    fact("Received", entry.recordedtime);
    fact("Type", entry.type);
    fact("Time", entry.time);
    fact("Environment", entry.okraenv);
    fact("Record", entry.okrarecord);
    fact("Customer", entry.okracustomer);
    fact("Account", entry.okraaccount);
    fact("Bank", entry.okrabank);
    fact("Code", entry.okracode);
    fact("Shape", entry.okrashape);
    fact("Dead letter", entry.deadletter ? "yes: " + (entry.reason || "") : undefined);
    fact("Duplicates", String(entry.duplicates));
    fact("Trace", envelope.traceparent);
    view.append(facts);

    view.append(el("h3", {}, "Records"));
    view.append(recordsTable(entry.records));
    if (entry.replays.length) {
      view.append(el("h3", {}, "Replays"));
      for (const replay of entry.replays) {
        view.append(el("p", {}, "Replayed " + replay.replayedtime));
        view.append(recordsTable(replay.records));
      }
    }
    const payload = envelope.data !== undefined ? JSON.stringify(envelope.data, null, 2) : (entry.body !== undefined ? entry.body : null);
    const details = el("details", { id: "payload" }, el("summary", {}, entry.redacted ? "Payload (masked)" : "Payload"));
    details.append(payload === null ? el("p", {}, "Withheld: " + (entry.body_bytes || 0) + " bytes; reading it needs the read-pii scope.") : el("pre", {}, payload));
    view.append(details);

    const origin = location.origin;
    const key = id || String(entry.entry);
    view.append(el("h3", {}, "The same through the API"));
    view.append(el("pre", { id: "cli" },
      "curl -s -H \"Authorization: Bearer $OKRA_BRIDGE_ADMIN_TOKEN\" " + origin + "/admin/events/" + encodeURIComponent(key) + "\n" +
      "okra-bridge events show " + key + " --admin " + origin + "   # reads OKRA_BRIDGE_ADMIN_TOKEN, or --admin-token-file FILE"));
    return view;
  }

  function recordsTable(records) {
    const body = el("tbody", {});
    for (const record of records) {
      body.append(el("tr", {},
        el("td", { "data-label": "Topic" }, record.topic === null ? "(dropped)" : record.topic),
        el("td", { "data-label": "Key" }, record.key === null ? "-" : record.key),
        el("td", { "data-label": "Route" }, record.route === null ? "defaults" : record.route),
        el("td", { "data-label": "State", class: "state-" + record.state }, record.state + (record.error ? ": " + record.error : ""))));
    }
    return el("table", { class: "rows records" },
      el("thead", {}, el("tr", {}, ["Topic", "Key", "Route", "State"].map((name) => el("th", { scope: "col" }, name)))), body);
  }

  // ---- replay ----
  async function dryRun(target, from) {
    // A filter without an end gets the dry run's time as its end, so executing it replays what
    // was counted, not what arrived since.
    if (target.filter && !target.filter.until) target = { filter: Object.assign({}, target.filter, { until: new Date().toISOString() }) };
    replayTarget = target;
    replayReturn = from;
    const plan = $("replay-plan");
    clear(plan);
    say("replay-error", "");
    $("replay").hidden = false;
    $("replay-execute").hidden = true;
    say("replay-title", "Replay: dry run");
    try {
      const answer = await api("/admin/replay", { method: "POST", body: Object.assign({}, target, { execute: false }) });
      plan.append(planView(answer));
      $("replay-execute").hidden = answer.records === 0;
      $("replay-execute").textContent = "Execute: publish " + answer.records + " records";
    } catch (error) {
      say("replay-error", error.message);
    }
    $("replay-title").focus();
  }

  function planView(plan) {
    const view = el("div", {});
    view.append(el("p", { id: "replay-counts" }, (plan.executed ? "Published: " : "Would publish: ") + plan.events + " events, " + plan.records + " records, under the current routes." +
      (plan.recovered ? " " + plan.recovered + " dead letters are events now." : "") + (plan.refused ? " " + plan.refused + " refused (another environment)." : "") +
      (plan.truncated ? " More matched than one replay takes (--max-replay)." : "")));
    const body = el("tbody", {});
    for (const [topic, count] of Object.entries(plan.topics)) body.append(el("tr", {}, el("td", { "data-label": "Topic" }, topic), el("td", { "data-label": "Records" }, String(count))));
    view.append(el("table", { class: "rows" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Topic"), el("th", { scope: "col" }, "Records"))), body));
    return view;
  }

  async function executeReplay() {
    if (!replayTarget) return;
    $("replay-execute").hidden = true;
    try {
      const answer = await api("/admin/replay", { method: "POST", body: Object.assign({}, replayTarget, { execute: true }) });
      const plan = $("replay-plan");
      clear(plan);
      say("replay-title", "Replay: done");
      plan.append(planView(answer));
    } catch (error) {
      say("replay-error", error.message);
    }
    replayTarget = null;
    $("replay-cancel").textContent = "Close";
    $("replay-title").focus();
  }

  function closeReplay() {
    $("replay").hidden = true;
    $("replay-cancel").textContent = "Cancel";
    replayTarget = null;
    if (replayReturn) replayReturn.focus();
  }

  // ---- parked records ----
  // Only the latest load draws the list (a second click while one is under way drew the rows
  // twice); the table is aria-busy until it has.
  async function loadParked() {
    const request = ++parkedRequest;
    const table = $("parked-list");
    const body = table.tBodies[0];
    clear(body);
    table.setAttribute("aria-busy", "true");
    try {
      const answer = await api("/admin/parked?limit=1000");
      if (request !== parkedRequest) return;
      for (const record of answer.parked) {
        body.append(el("tr", {},
          el("td", { "data-label": "Select" }, el("input", { type: "checkbox", value: String(record.id), "aria-label": "Select parked record " + record.id })),
          el("td", { "data-label": "Parked" }, record.parkedtime),
          el("td", { "data-label": "Topic" }, record.topic),
          el("td", { "data-label": "Event" }, record.event_id || "-"),
          el("td", { "data-label": "Error" }, record.reason + ": " + record.error)));
      }
      if (!answer.parked.length) body.append(el("tr", {}, el("td", { colspan: "5" }, "No parked records.")));
      say("parked-more", answer.parked.length >= 1000 ? "The oldest 1000 are shown; redrive or discard them to see the rest." : "");
      say("parked-error", "");
    } catch (error) {
      if (request !== parkedRequest) return;
      say("parked-error", error.message);
    } finally {
      if (request === parkedRequest) table.setAttribute("aria-busy", "false");
    }
  }

  function askParked(kind, all) {
    const ids = [...$("parked-list").querySelectorAll("input[type=checkbox]:checked")].map((box) => Number(box.value));
    if (!all && !ids.length) { say("parked-error", "Select the records first."); return; }
    parkedAction = { kind, selection: all ? { all: true } : { ids }, from: document.activeElement };
    say("parked-question", (kind === "redrive" ? "Redrive " : "Discard ") + (all ? "every parked record" : ids.length + " record" + (ids.length === 1 ? "" : "s")) +
        (kind === "redrive" ? "? They go back to the end of the outbox." : "? They will never be published."));
    $("parked-confirm").hidden = false;
    $("parked-yes").focus();
  }

  async function confirmParked() {
    const action = parkedAction;
    parkedAction = null;
    $("parked-confirm").hidden = true;
    if (!action) return;
    $("parked-result").focus();
    try {
      const answer = await api("/admin/parked/" + action.kind, { method: "POST", body: action.selection });
      say("parked-result", action.kind === "redrive" ? answer.redriven + " redriven." : answer.discarded + " discarded.");
    } catch (error) {
      say("parked-error", error.message);
    }
    await loadParked();
    refreshStatus();
  }

  // ---- views ----
  function showTab(name) {
    $("tab-search").setAttribute("aria-pressed", String(name === "search"));
    $("tab-parked").setAttribute("aria-pressed", String(name === "parked"));
    $("search").hidden = name !== "search";
    $("event").hidden = true;
    $("replay").hidden = true;
    $("parked").hidden = name !== "parked";
    if (name === "parked") loadParked();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut(""));
    $("search-form").addEventListener("submit", onSearch);
    $("more").addEventListener("click", () => search(true));
    $("back").addEventListener("click", () => {
      eventRequest += 1;
      $("event").hidden = true;
      $("replay").hidden = true;
      $("search").hidden = false;
      if (opener && opener.isConnected) opener.focus(); else $("search-title").focus();
    });
    $("replay-search").addEventListener("click", () => {
      // The filters of the search shown, not what the form holds now.
      const filter = Object.assign({}, lastFilters);
      if (!Object.keys(filter).length) { say("search-error", "A replay names at least one filter."); return; }
      dryRun({ filter }, $("replay-search"));
    });
    $("replay-execute").addEventListener("click", executeReplay);
    $("replay-cancel").addEventListener("click", closeReplay);
    $("tab-search").addEventListener("click", () => showTab("search"));
    $("tab-parked").addEventListener("click", () => showTab("parked"));
    $("redrive-selected").addEventListener("click", () => askParked("redrive", false));
    $("discard-selected").addEventListener("click", () => askParked("discard", false));
    $("redrive-all").addEventListener("click", () => askParked("redrive", true));
    $("parked-yes").addEventListener("click", confirmParked);
    $("discard-all").addEventListener("click", () => askParked("discard", true));
    $("parked-no").addEventListener("click", () => {
      const from = parkedAction && parkedAction.from;
      parkedAction = null;
      $("parked-confirm").hidden = true;
      if (from) from.focus();
    });
    window.addEventListener("hashchange", () => { if (!$("app").hidden) { fillFormFromFragment(); search(false); } });
    if (sessionStorage.getItem(TOKEN_KEY)) start(); else probe();
  });
})();
"""#
}
