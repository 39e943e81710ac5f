// The webhook gateway's operator console: plain JavaScript, no dependencies, no build step.
// Every URL is relative to this script, so the console works under any mount path. The DOM is
// built with createElement and textContent only (never innerHTML), so no stored value can
// become markup.
"use strict";

(function () {
  const base = new URL(".", document.currentScript.src);
  const main = document.getElementById("main");
  const message = document.getElementById("message");
  const updated = document.getElementById("updated");
  let csrfToken = "";
  let timer = 0;
  let routesCache = [];
  let chartRoute = "";

  // ---- helpers ----

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") n.textContent = v;
      else if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const n = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") n.textContent = v;
      else n.setAttribute(k, v);
    }
    for (const c of children) n.append(c);
    return n;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  // A time in UTC, with the local time on hover.
  function time(iso) {
    if (!iso || iso.startsWith("0001-")) return el("span", { text: "—" });
    const d = new Date(iso);
    const utc = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    return el("time", { datetime: d.toISOString(), title: "Local time: " + d.toLocaleString() }, utc);
  }

  function utcText(iso) {
    return iso ? new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "now";
  }

  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  // Status words always come with an icon and text, never colour alone.
  function statusBadge(status) {
    const m = {
      delivered: ["✓", "delivered", "status-ok"],
      pending: ["…", "pending", "status-wait"],
      dead: ["✗", "dead letter", "status-bad"],
    }[status] || ["?", status || "unknown", ""];
    return el("span", { class: m[2] }, el("span", { "aria-hidden": "true", text: m[0] + " " }), m[1]);
  }

  const reasons = {
    max_attempts: "Attempts exhausted (max_attempts)",
    max_age: "Too old (max_age)",
    dead_letter_on: "Application answered a dead_letter_on status",
    schema: "Schema quarantine: the body failed the route's schema",
    undecodable: "Stored event could not be decoded",
  };

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
    if (isError) message.setAttribute("role", "alert"); else message.setAttribute("role", "status");
  }

  async function api(path, opts) {
    opts = opts || {};
    const method = opts.method || "GET";
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET") {
      // The token goes in the body: Caddy's access log records headers, never bodies.
      if (!csrfToken) await fetchToken();
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(Object.assign({}, opts.body || {}, { csrf_token: csrfToken }));
    }
    let resp = await fetch(new URL("api/" + path, base), init);
    if (resp.status === 403 && method !== "GET" && !opts.retried) {
      const p = await resp.clone().json().catch(() => ({}));
      if (p.code === "csrf_token") { // the gateway restarted: take a new token, once
        await fetchToken();
        return api(path, Object.assign({}, opts, { retried: true }));
      }
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error((data.title || resp.statusText || "error") + (data.detail ? ": " + data.detail : ""));
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  async function fetchToken() {
    const r = await fetch(new URL("api/csrf", base), { credentials: "same-origin", cache: "no-store" });
    csrfToken = (await r.json()).token || "";
  }

  const dialog = document.getElementById("confirm");
  function confirmDialog(text, okLabel) {
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }

  function tableWrap(label, table) {
    table.classList.add("cards");
    labelCells(table);
    return el("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" }, table);
  }

  // labelCells gives each body cell its column's name, which a narrow screen shows beside the
  // value (the rows become cards there).
  function labelCells(table) {
    const head = table.tHead ? [...table.tHead.rows[0].cells].map((c) => c.textContent) : [];
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        [...row.cells].forEach((c, i) => { if (head[i]) c.dataset.label = head[i]; });
      }
    }
  }

  function heading(text) {
    const h = el("h2", { tabindex: "-1", id: "page-title" }, text);
    return h;
  }

  function show(...nodes) {
    main.replaceChildren(...nodes);
    const h = document.getElementById("page-title");
    if (h) h.focus();
  }

  // Parses a time typed by the operator: RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" taken as UTC.
  function parseUTC(s) {
    s = (s || "").trim();
    if (!s) return "";
    let t = s.replace(" ", "T");
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(t)) t += ":00";
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(t)) t += "Z";
    const d = new Date(t);
    if (isNaN(d)) throw new Error("cannot read the time \"" + s + "\": write it as 2026-01-02 15:04 (UTC)");
    return d.toISOString();
  }

  function utcInput(iso) {
    if (!iso) return "";
    return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, "");
  }

  async function routes() {
    const o = await api("overview");
    routesCache = o.routes;
    return o.routes;
  }

  function routeSelect(id, current, list, onchange) {
    const s = el("select", { id, name: "route", onchange });
    for (const r of list) s.append(el("option", { value: r.name, selected: r.name === current }, r.name + " (" + r.mode + ")"));
    return s;
  }

  function noRoutes() {
    return el("div", { class: "empty" },
      el("p", {}, "No webhook_gateway route runs in this process."),
      el("p", {}, "Add a webhook_gateway route to the Caddyfile of this Caddy and reload it (caddy reload); it then appears here."));
  }

  // ---- overview ----

  // overview draws the page the first time and, on a refresh, replaces only the rows and the
  // chart, putting the keyboard focus back where it was.
  async function overview() {
    const o = await api("overview");
    routesCache = o.routes;
    updated.replaceChildren("Updated ", time(o.now), " · refreshes every 5 s");
    if (o.routes.length === 0) return show(heading("Overview"), noRoutes());
    const rows = o.routes.map(routeRow(o));
    const existing = document.getElementById("routes-table");
    if (existing) {
      const f = document.activeElement;
      const tr = f && f.closest && f.closest("tr[data-route]");
      const key = tr ? [tr.dataset.route, f.getAttribute("href")] : null;
      existing.tBodies[0].replaceChildren(...rows);
      labelCells(existing);
      document.getElementById("chart-box").replaceChildren(chart(o));
      if (key) {
        const again = existing.querySelector("tr[data-route=\"" + CSS.escape(key[0]) + "\"] a[href=\"" + CSS.escape(key[1] || "") + "\"]");
        if (again) again.focus();
      }
      return;
    }
    const thead = el("thead", {}, el("tr", {},
      ["Route", "Mode", "Vendor"].map((t) => el("th", { scope: "col" }, t)),
      ["Pending", "In flight", "Dead letters"].map((t) => el("th", { scope: "col", class: "num" }, t)),
      ["Accepted", "Delivered", "Failed"].map((t) => el("th", { scope: "col", class: "num" }, t, el("br"), el("span", { class: "muted" }, " 1 min / 1 h"))),
      el("th", { scope: "col" }, "Delivery"), el("th", { scope: "col" }, "Quota use")));
    const table = el("table", { id: "routes-table" }, el("caption", { class: "muted" }, "One row per route of this process. The 1 min and 1 h counts are this process's, since the route started in it."), thead, el("tbody", {}, rows));
    const pick = el("select", { id: "chart-route", onchange: (e) => { chartRoute = e.target.value; overview().catch(fail); } },
      el("option", { value: "" }, "all routes"), o.routes.map((r) => el("option", { value: r.name }, r.name)));
    pick.value = chartRoute;
    show(heading("Overview"), tableWrap("Routes", table),
      el("section", { class: "chart", "aria-labelledby": "chart-h" },
        el("h3", { id: "chart-h" }, "Accepted, delivered and failed per minute, last hour"),
        el("div", { class: "actions" }, el("label", { for: "chart-route" }, "Chart for"), pick),
        el("div", { id: "chart-box" }, chart(o))));
  }

  function routeRow(o) {
    return (r) => {
      const a = r.activity;
      let delivery;
      if (r.error) delivery = el("span", { class: "status-bad" }, "✗ store error: " + r.error);
      else if (r.mode === "gate") delivery = el("span", {}, "— gate mode: passes requests on");
      else if (r.outage && r.pending > 0) {
        delivery = el("span", { class: "status-bad" }, "‖ paused " + duration(Date.parse(o.now) - Date.parse(r.outage.since)) +
          ": application unreachable since ", time(r.outage.since), "; next try " + (r.outage.resume_in_ms > 0 ? "in " + duration(r.outage.resume_in_ms) : "now"));
      } else if (r.outage) {
        delivery = el("span", { class: "status-bad" }, "✗ application unreachable at the last attempt (since ", time(r.outage.since), "); nothing pending");
      } else delivery = el("span", { class: "status-ok" }, "✓ delivering");
      let quota = "—";
      if (r.quota_max) {
        const pct = Math.min(100, (100 * r.quota_used) / r.quota_max);
        quota = el("span", {}, el("progress", { max: "100", value: pct.toFixed(1), "aria-label": "quota use of " + r.name }),
          " " + bytes(r.quota_used) + " of " + bytes(r.quota_max) + " (" + pct.toFixed(pct < 10 ? 1 : 0) + "%)");
      }
      return el("tr", { "data-route": r.name },
        el("th", { scope: "row" }, el("a", { href: "#/events/" + encodeURIComponent(r.name) }, r.name)),
        el("td", {}, r.mode), el("td", {}, r.vendor || "—"),
        el("td", { class: "num" }, String(r.pending)), el("td", { class: "num" }, String(r.in_flight)),
        el("td", { class: "num" }, r.dead > 0 ? el("a", { href: "#/dead/" + encodeURIComponent(r.name) }, "✗ " + r.dead) : "0"),
        el("td", { class: "num" }, a.last_minute[0] + " / " + a.last_hour[0]),
        el("td", { class: "num" }, a.last_minute[1] + " / " + a.last_hour[1]),
        el("td", { class: "num" }, a.last_minute[2] + " / " + a.last_hour[2]),
        el("td", {}, delivery), el("td", { class: "quota" }, quota));
    };
  }

  function chart(o) {
    if (chartRoute && !o.routes.some((r) => r.name === chartRoute)) chartRoute = "";
    const series = [[], [], []];
    for (let i = 0; i < 60; i++) {
      for (let k = 0; k < 3; k++) {
        let v = 0;
        for (const r of o.routes) if (!chartRoute || r.name === chartRoute) v += r.activity.per_minute[i][k];
        series[k].push(v);
      }
    }
    const W = 720, H = 180, L = 40, B = 24, T = 10, R = 10;
    const maxV = Math.max(1, ...series.flat());
    const x = (i) => L + (i * (W - L - R)) / 59;
    const y = (v) => T + (H - T - B) * (1 - v / maxV);
    const names = ["accepted", "delivered", "failed"];
    const totals = series.map((s) => s.reduce((a, b) => a + b, 0));
    const since = o.routes[0].activity.since;
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": "chart-title", id: "chart" },
      svg("title", { id: "chart-title", text: "Per minute over the last hour (" + (chartRoute || "all routes") + "): accepted " + totals[0] + ", delivered " + totals[1] + ", failed " + totals[2] + " in total" }),
      svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
      svg("text", { x: 4, y: T + 10, text: String(maxV) }),
      svg("text", { x: 4, y: H - B, text: "0" }),
      svg("text", { x: L, y: H - 6, text: "−60 min" }),
      svg("text", { x: W - R - 30, y: H - 6, text: "now" }));
    series.forEach((s, k) => {
      g.append(svg("polyline", { class: names[k], points: s.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" ") }));
    });
    const legend = el("div", { class: "legend", id: "chart-legend" }, names.map((n, k) => el("span", {},
      svg("svg", { viewBox: "0 0 28 10", "aria-hidden": "true" }, svg("line", { class: n, x1: 0, y1: 5, x2: 28, y2: 5 })),
      " " + n + ": " + totals[k] + " in the hour")));
    return el("div", {}, el("p", { class: "muted" }, "From ", time(since), " to now (" + (chartRoute || "all routes") + "), from counters the gateway keeps in memory."),
      legend, g);
  }

  // ---- events ----

  async function eventsPage(route, params) {
    const list = routesCache.length ? routesCache : await routes();
    const title = heading("Events");
    if (list.length === 0) return show(title, noRoutes());
    if (!route || !list.some((r) => r.name === route)) route = list[0].name;
    const info = list.find((r) => r.name === route);
    const f = {
      since: el("input", { id: "f-since", name: "since", placeholder: "2026-01-02 15:04", value: utcInput(params.get("since")), size: "20" }),
      until: el("input", { id: "f-until", name: "until", placeholder: "(now)", value: utcInput(params.get("until")), size: "20" }),
      q: el("input", { id: "f-q", name: "q", placeholder: "key, vendor id or event id", value: params.get("q") || "", size: "28" }),
      status: el("select", { id: "f-status", name: "status" },
        ["", "pending", "delivered", "dead"].map((s) => el("option", { value: s, selected: (params.get("status") || "") === s }, s || "any"))),
    };
    const go = (extra) => {
      const p = new URLSearchParams();
      try {
        const since = parseUTC(f.since.value), until = parseUTC(f.until.value);
        if (since) p.set("since", since);
        if (until) p.set("until", until);
      } catch (e) { return fail(e); }
      if (f.q.value.trim()) p.set("q", f.q.value.trim());
      if (f.status.value) p.set("status", f.status.value);
      Object.entries(extra || {}).forEach(([k, v]) => p.set(k, v));
      location.hash = "#/events/" + encodeURIComponent(routeSel.value) + (p.toString() ? "?" + p : "");
    };
    const quick = (mins) => () => {
      const now = new Date();
      f.since.value = utcInput(new Date(now - mins * 60000).toISOString());
      f.until.value = "";
      go();
    };
    const routeSel = routeSelect("f-route", route, list, () => go());
    const form = el("form", { class: "filters", role: "search", "aria-label": "Search events", onsubmit: (e) => { e.preventDefault(); go(); } },
      el("div", {}, el("label", { for: "f-route" }, "Route"), routeSel),
      el("div", {}, el("label", { for: "f-since" }, "Since (UTC)"), f.since),
      el("div", {}, el("label", { for: "f-until" }, "Until (UTC, exclusive)"), f.until),
      el("div", {}, el("label", { for: "f-q" }, "Idempotency key or vendor id"), f.q),
      el("div", {}, el("label", { for: "f-status" }, "Status"), f.status),
      el("div", {}, el("button", { type: "submit", class: "primary", id: "f-search" }, "Search")));
    const quickBar = el("div", { class: "actions" }, el("span", { class: "muted" }, "Quick range:"),
      el("button", { type: "button", onclick: quick(15) }, "last 15 min"),
      el("button", { type: "button", onclick: quick(60) }, "last hour"),
      el("button", { type: "button", onclick: quick(1440) }, "last 24 h"));
    const bulk = el("button", { type: "button", id: "bulk-replay", class: "danger", onclick: () => bulkReplay(route, params) }, "Replay this range…");
    const results = el("div", { id: "results" }, el("p", {}, "Searching…"));
    show(title, el("p", { class: "muted" }, "The route's event history (forward mode): events are kept until delivered and older than the dedup window and retain."),
      form, quickBar, results, el("div", { class: "actions" }, bulk,
        el("span", { class: "muted" }, "Sends every event of the Since/Until range and status again (Since is required); you confirm the count first.")));
    if (info.mode !== "forward") {
      results.replaceChildren(el("div", { class: "empty" }, el("p", {}, "Route " + route + " is in gate mode: it passes requests on and keeps no event history."),
        el("p", {}, "Look at the application's or reverse_proxy's logs, or choose a forward-mode route above.")));
      bulk.disabled = true;
      return;
    }
    await loadEvents(route, params, results, null);
  }

  async function loadEvents(route, params, results, cursor) {
    const p = new URLSearchParams(params);
    if (cursor) p.set("cursor", cursor);
    const page = await api("routes/" + encodeURIComponent(route) + "/events?" + p);
    let tbody = results.querySelector("tbody");
    if (!cursor) {
      results.replaceChildren();
      if (page.events.length === 0 && !page.next_cursor) {
        results.append(el("div", { class: "empty", id: "events-empty" },
          el("p", {}, "No event matches."),
          el("p", {}, "Widen the time range, clear the key and status, or check the route: delivered events are kept only for max(dedup window, retain).")));
        return;
      }
      tbody = el("tbody");
      results.append(tableWrap("Events", el("table", { id: "events-table" }, el("thead", {}, el("tr", {},
        ["Received", "Event id", "Idempotency key", "Type", "Status"].map((t) => el("th", { scope: "col" }, t)),
        el("th", { scope: "col", class: "num" }, "Attempts"), el("th", { scope: "col", class: "num" }, "Last status"))), tbody)));
    }
    for (const e of page.events) {
      tbody.append(el("tr", { "data-id": e.id },
        el("td", {}, time(e.received_at)),
        el("td", { class: "mono" }, el("a", { href: "#/event/" + encodeURIComponent(route) + "/" + encodeURIComponent(e.id) }, e.id)),
        el("td", { class: "key" }, e.key || "—"), el("td", {}, e.type || "—"), el("td", {}, statusBadge(e.status)),
        el("td", { class: "num" }, e.attempts ? String(e.attempts) : "—"), el("td", { class: "num" }, e.last_status ? String(e.last_status) : "—")));
    }
    labelCells(results.querySelector("table"));
    const old = results.querySelector(".more");
    if (old) old.remove();
    if (page.next_cursor) {
      const more = el("div", { class: "actions more" },
        el("button", { type: "button", id: "load-more", onclick: () => loadEvents(route, params, results, page.next_cursor).catch(fail) }, "Load more"),
        page.scanned !== undefined ? el("span", { class: "muted" }, "searched " + page.scanned + " more events so far") : null);
      results.append(more);
    }
  }

  async function bulkReplay(route, params) {
    const since = params.get("since");
    if (!since) return say("Set Since (and Until) and press Search first: a range replay needs a start.", true);
    const p = new URLSearchParams();
    p.set("since", since);
    if (params.get("until")) p.set("until", params.get("until"));
    if (params.get("status")) p.set("status", params.get("status"));
    const c = await api("routes/" + encodeURIComponent(route) + "/events/count?" + p);
    if (c.count === 0) return say("No event of route " + route + " falls in that range: nothing to replay.");
    const what = (c.complete ? "" : "at least ") + c.count + " event" + (c.count === 1 ? "" : "s");
    const status = params.get("status");
    const text = "This will send " + what + " of route " + route + " to the application again (received from " +
      utcText(since) + " to " + utcText(params.get("until")) + (status ? ", status " + status : "") +
      "), marked X-Webhook-Replay: true." + (params.get("q") ? " The key filter does not apply to a range replay." : "") +
      (status === "pending" || status === "delivered" ? "" : " Dead letters among them stay listed under Dead letters.");
    if (!(await confirmDialog(text, "Send " + what))) return;
    const body = { since };
    if (params.get("until")) body.until = params.get("until");
    if (params.get("status")) body.status = params.get("status");
    const r = await api("routes/" + encodeURIComponent(route) + "/replay", { method: "POST", body });
    say("Replayed " + r.replayed + " event" + (r.replayed === 1 ? "" : "s") + " of route " + route + ": they are queued for delivery.");
  }

  // ---- one event ----

  async function eventPage(route, id) {
    const e = await api("routes/" + encodeURIComponent(route) + "/events/" + encodeURIComponent(id));
    const outcome = e.delivered_at ? el("span", { class: "status-ok" }, "✓ delivered at ", time(e.delivered_at))
      : e.status === "dead" ? el("span", { class: "status-bad" }, "✗ dead letter: ", el("a", { href: "#/dead/" + encodeURIComponent(route) + "/" + encodeURIComponent(e.id) }, "open it"))
        : statusBadge(e.status);
    const replay = el("button", { type: "button", class: "primary", id: "replay-event", onclick: async () => {
      if (!(await confirmDialog("Send event " + e.id + " of route " + route + " to the application again?", "Replay"))) return;
      await api("routes/" + encodeURIComponent(route) + "/events/" + encodeURIComponent(e.id) + "/replay", { method: "POST" });
      say("Event " + e.id + " is queued for delivery again.");
    } }, "Replay this event");
    const attempts = e.attempt_log || [];
    const attemptsNode = attempts.length === 0
      ? el("p", { class: "empty", id: "no-attempts" }, "No attempts recorded yet. Pending events are attempted by the route's workers; the Overview shows whether delivery is paused.")
      : tableWrap("Attempts", el("table", { id: "attempts-table" }, el("thead", {}, el("tr", {},
        ["At", "Attempt", "Status", "Error", "Latency"].map((t) => el("th", { scope: "col" }, t)))),
        el("tbody", {}, attempts.map((a) => el("tr", {}, el("td", {}, time(a.at)), el("td", {}, a.n + (a.replay ? " (replay)" : "")),
          el("td", {}, a.status ? (a.status < 300 ? "✓ " : "✗ ") + a.status : "✗ no answer"), el("td", {}, a.error || "—"),
          el("td", {}, (a.latency_ms || 0).toFixed(1) + " ms"))))));
    const headers = Object.entries(e.headers || {});
    show(heading("Event " + e.id),
      el("p", {}, el("a", { href: "#/events/" + encodeURIComponent(route) }, "← events of " + route)),
      el("dl", { class: "fields", id: "event-fields" },
        el("dt", {}, "Route"), el("dd", {}, route),
        el("dt", {}, "Vendor"), el("dd", {}, e.vendor || "—"),
        el("dt", {}, "Type"), el("dd", {}, e.type || "—"),
        el("dt", {}, "Idempotency key"), el("dd", { class: "mono" }, e.key || "—"),
        el("dt", {}, "Received"), el("dd", {}, time(e.received_at)),
        el("dt", {}, "Status"), el("dd", {}, statusBadge(e.status)),
        el("dt", {}, "Outcome"), el("dd", { id: "outcome" }, outcome)),
      el("div", { class: "actions" }, replay),
      el("h3", {}, "Attempts"), attemptsNode,
      el("h3", {}, "Forwarded headers"),
      headers.length === 0 ? el("p", { class: "empty" }, "No vendor headers were forwarded with this event.")
        : tableWrap("Forwarded headers", el("table", { id: "headers-table" }, el("tbody", {}, headers.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", { class: "mono" }, v.join(", "))))))),
      el("h3", {}, "Body" + (e.content_type ? " (" + e.content_type + ")" : "")),
      el("pre", { id: "event-body", tabindex: "0", "aria-label": "Event body" }, pretty(e.body)));
  }

  function pretty(body) {
    if (body === undefined || body === null) return "(empty body)";
    return typeof body === "string" ? body : JSON.stringify(body, null, 2);
  }

  // ---- dead letters ----

  async function deadPage(route) {
    const list = routesCache.length ? routesCache : await routes();
    const title = heading("Dead letters");
    if (list.length === 0) return show(title, noRoutes());
    if (!route || !list.some((r) => r.name === route)) route = (list.find((r) => r.dead > 0) || list[0]).name;
    const info = list.find((r) => r.name === route);
    const sel = routeSelect("d-route", route, list, (e) => { location.hash = "#/dead/" + encodeURIComponent(e.target.value); });
    const incl = el("input", { type: "checkbox", id: "d-quarantined" });
    const all = el("button", { type: "button", class: "danger", id: "replay-all", onclick: () => replayAll(route, incl.checked) }, "Replay all…");
    const results = el("div", { id: "dead-results" }, el("p", {}, "Loading…"));
    show(title, el("div", { class: "actions" }, el("label", { for: "d-route" }, "Route"), sel),
      results,
      el("div", { class: "actions" }, all, incl, el("label", { for: "d-quarantined" }, "also schema-quarantined ones")));
    await loadDead(route, results, null, all);
  }

  async function loadDead(route, results, cursor, allButton) {
    const page = await api("routes/" + encodeURIComponent(route) + "/dead_letters" + (cursor ? "?cursor=" + encodeURIComponent(cursor) : ""));
    let tbody = results.querySelector("tbody");
    if (!cursor) {
      results.replaceChildren();
      if (page.dead_letters.length === 0) {
        if (allButton) allButton.disabled = true;
        results.append(el("div", { class: "empty", id: "dead-empty" },
          el("p", {}, "No dead letters on route " + route + "."),
          el("p", {}, "Nothing waits for you here. Events that exhaust their attempts, grow too old, get a dead_letter_on status or fail the schema (quarantine) land here; check the Overview for pending events.")));
        return;
      }
      tbody = el("tbody");
      results.append(tableWrap("Dead letters", el("table", { id: "dead-table" }, el("thead", {}, el("tr", {},
        ["Dead since", "Event id", "Reason"].map((t) => el("th", { scope: "col" }, t)),
        el("th", { scope: "col", class: "num" }, "Attempts"), el("th", { scope: "col", class: "num" }, "Last status"),
        el("th", { scope: "col" }, "Last error"), el("th", { scope: "col" }, "Actions"))), tbody)));
    }
    for (const d of page.dead_letters) {
      const row = el("tr", { "data-id": d.id },
        el("td", {}, time(d.dead_at)),
        el("td", { class: "mono" }, d.id),
        el("td", {}, reasons[d.reason] || d.reason),
        el("td", { class: "num" }, String(d.attempts)),
        el("td", { class: "num" }, d.last_status ? String(d.last_status) : "no answer"),
        el("td", {}, d.last_error || "—"),
        el("td", {}, el("div", { class: "actions" },
          el("a", { href: "#/dead/" + encodeURIComponent(route) + "/" + encodeURIComponent(d.id), "aria-label": "Inspect dead letter " + d.id }, "Inspect"),
          el("button", { type: "button", class: "replay", "aria-label": "Replay dead letter " + d.id, onclick: () => replayDead(route, d.id).then(() => row.remove()).catch(fail) }, "Replay"),
          el("button", { type: "button", class: "danger delete", "aria-label": "Delete dead letter " + d.id, onclick: () => deleteDead(route, d.id).then((ok) => ok && row.remove()).catch(fail) }, "Delete"))));
      tbody.append(row);
    }
    labelCells(results.querySelector("table"));
    const old = results.querySelector(".more");
    if (old) old.remove();
    if (page.next_cursor) {
      results.append(el("div", { class: "actions more" }, el("button", { type: "button", onclick: () => loadDead(route, results, page.next_cursor).catch(fail) }, "Load more")));
    }
  }

  async function replayDead(route, id) {
    await api("routes/" + encodeURIComponent(route) + "/dead_letters/" + encodeURIComponent(id) + "/replay", { method: "POST" });
    say("Dead letter " + id + " is queued for delivery again.");
  }

  async function deleteDead(route, id) {
    if (!(await confirmDialog("Delete dead letter " + id + " of route " + route + " for good? The application will never receive it.", "Delete"))) return false;
    await api("routes/" + encodeURIComponent(route) + "/dead_letters/" + encodeURIComponent(id), { method: "DELETE" });
    say("Dead letter " + id + " deleted.");
    return true;
  }

  async function replayAll(route, includeQuarantined) {
    const info = (await routes()).find((r) => r.name === route);
    const n = info ? info.dead : 0;
    const text = "This will send up to " + n + " dead letter" + (n === 1 ? "" : "s") + " of route " + route + " to the application again, oldest first, paced at the route's rate" +
      (includeQuarantined ? " (schema-quarantined ones included)." : " (schema-quarantined ones stay, unless you tick the box).");
    if (!(await confirmDialog(text, "Replay up to " + n))) return;
    const r = await api("routes/" + encodeURIComponent(route) + "/dead_letters/replay_all", { method: "POST", body: { include_quarantined: includeQuarantined } });
    say("Replayed " + r.replayed + " dead letter" + (r.replayed === 1 ? "" : "s") + (r.skipped ? ", left " + r.skipped + " quarantined" : "") + (r.more ? "; more are left: press Replay all again." : "."));
    render();
  }

  async function deadLetterPage(route, id) {
    const d = await api("routes/" + encodeURIComponent(route) + "/dead_letters/" + encodeURIComponent(id));
    const back = "#/dead/" + encodeURIComponent(route);
    show(heading("Dead letter " + d.id),
      el("p", {}, el("a", { href: back }, "← dead letters of " + route)),
      el("dl", { class: "fields", id: "dead-fields" },
        el("dt", {}, "Route"), el("dd", {}, route),
        el("dt", {}, "Reason"), el("dd", {}, "✗ " + (reasons[d.reason] || d.reason)),
        el("dt", {}, "Attempts"), el("dd", {}, String(d.attempts)),
        el("dt", {}, "Last status"), el("dd", {}, d.last_status ? String(d.last_status) : "no answer"),
        el("dt", {}, "Last error"), el("dd", {}, d.last_error || "—"),
        el("dt", {}, "Vendor"), el("dd", {}, d.vendor || "—"),
        el("dt", {}, "Type"), el("dd", {}, d.type || "—"),
        el("dt", {}, "Idempotency key"), el("dd", { class: "mono" }, d.key || "—"),
        el("dt", {}, "Received"), el("dd", {}, time(d.received_at)),
        el("dt", {}, "Dead since"), el("dd", {}, time(d.dead_at))),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", id: "replay-dead", onclick: () => replayDead(route, d.id).then(() => navigate(back)).catch(fail) }, "Replay"),
        el("button", { type: "button", class: "danger", id: "delete-dead", onclick: () => deleteDead(route, d.id).then((ok) => { if (ok) navigate(back); }).catch(fail) }, "Delete"),
        // A quarantined event was never queued, so it has no entry in the history.
        d.reason === "schema" ? null : el("a", { href: "#/event/" + encodeURIComponent(route) + "/" + encodeURIComponent(d.id) }, "Open the event in the history")),
      el("h3", {}, "Body" + (d.content_type ? " (" + d.content_type + ")" : "")),
      el("pre", { id: "dead-body", tabindex: "0", "aria-label": "Dead letter body" }, pretty(d.body)));
  }

  // ---- routing ----

  function fail(e) {
    say(e && e.message ? e.message : String(e), true);
  }

  async function render() {
    clearInterval(timer);
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(query || "");
    const section = parts[0] || "";
    for (const [id, s] of [["nav-overview", ""], ["nav-events", "events"], ["nav-dead", "dead"]]) {
      const a = document.getElementById(id);
      const on = section === s || (s === "events" && section === "event");
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (section !== "") updated.textContent = "";
    try {
      if (section === "") {
        await overview();
        timer = setInterval(() => { if (!document.hidden) overview().catch(fail); }, 5000);
      } else if (section === "events") await eventsPage(parts[1], params);
      else if (section === "event") await eventPage(parts[1], parts[2]);
      else if (section === "dead" && parts[2]) await deadLetterPage(parts[1], parts[2]);
      else if (section === "dead") await deadPage(parts[1]);
      else show(heading("Not found"), el("p", {}, "No such page. ", el("a", { href: "#/" }, "Go to the overview.")));
    } catch (e) {
      fail(e);
      if (e.status === 404) show(heading("Not found"), el("p", { class: "empty" }, e.message + ". ", el("a", { href: "#/" }, "Go to the overview.")));
    }
  }

  // A navigation that an action made keeps the action's message; any other clears it.
  let keepMessage = false;
  function navigate(hash) {
    keepMessage = true;
    location.hash = hash;
  }
  // The skip link moves the focus to the content; following its #main would be a route here.
  document.getElementById("skip").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => {
    if (!keepMessage) say("");
    keepMessage = false;
    render();
  });
  render();
})();
