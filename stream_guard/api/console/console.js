/* Stream Guard agent console.
 *
 * Talks only to this server's /api/v1 with the agent's bearer token (kept in sessionStorage:
 * this tab only). Every text that comes from the server goes into the page with textContent,
 * never as HTML, so a user id or a reason containing markup shows as text. Every failed call
 * is shown in the error banner; nothing fails silently.
 */
(function () {
  "use strict";

  var API = "/api/v1";
  var TOKEN_KEY = "stream-guard-token";
  var QUEUE_EVERY = 5000;   // ms between two queue refreshes
  var RENEW_BEFORE = 60;    // s: renew a claim this long before it runs out, if the agent is active

  var state = {
    token: null, me: null, offset: 0, queue: [], view: null, scriptLang: null,
    lastActivity: Date.now(), timers: [], renewing: false,
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "class") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(node, yes) { node.hidden = !yes; }

  // -- messages ------------------------------------------------------------------------------
  function showError(message) {
    $("error-text").textContent = message;
    show($("error"), true);
  }
  function clearError() { show($("error"), false); $("error-text").textContent = ""; }
  function info(message) {
    var s = $("status");
    s.textContent = message;
    show(s, !!message);
  }

  // -- time ----------------------------------------------------------------------------------
  function serverNow() { return Date.now() + state.offset; }
  function syncClock(iso) { if (iso) state.offset = Date.parse(iso) - Date.now(); }
  function fmtTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }
  function fmtSpan(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + "h " + two(m) + "m " : m + "m ") + two(r) + "s";
  }
  function slaText(deadlineIso) {
    var left = (Date.parse(deadlineIso) - serverNow()) / 1000;
    return { breached: left < 0, text: left < 0 ? "OVERDUE by " + fmtSpan(left) : "due in " + fmtSpan(left) };
  }

  // -- the server ----------------------------------------------------------------------------
  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }

  function call(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + state.token, "Accept": "application/json" },
                 cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var code = data && data.code ? data.code : "http-" + res.status;
          var message = data && data.message ? data.message : (text || res.statusText || "request failed");
          throw new ApiError(res.status, code, message);
        }
        return data;
      });
    }, function () {
      throw new ApiError(0, "network", "Cannot reach the Stream Guard server. Check the connection; the console keeps trying.");
    });
  }

  // A failure of a call made while signed in: shown, and a refused token signs out.
  function failed(what) {
    return function (err) {
      if (err && err.status === 401) {
        signOut("Your token is no longer accepted (" + err.code + "). Sign in again.");
        return;
      }
      var text = err && err.message ? err.message : String(err);
      showError(what + ": " + text + (err && err.code ? " [" + err.code + "]" : ""));
    };
  }

  function taskPath(taskId) { return API + "/tasks/" + encodeURIComponent(taskId); }

  // -- sign in and out -----------------------------------------------------------------------
  function signIn(token) {
    state.token = token;
    $("signin-error").textContent = "";
    $("signin-button").disabled = true;
    return call("GET", API + "/me").then(function (me) {
      sessionStorage.setItem(TOKEN_KEY, token);
      state.me = me;
      syncClock(me.now);
      $("token").value = "";
      enterDesk();
    }, function (err) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      var why = err.status === 401 ? "That token was not accepted. Check it and try again."
        : err.message + (err.code ? " [" + err.code + "]" : "");
      $("signin-error").textContent = why;
      $("token").focus();
    }).then(function () { $("signin-button").disabled = false; });
  }

  function signOut(message) {
    state.timers.forEach(clearInterval);
    state.timers = [];
    state.token = null; state.me = null; state.view = null; state.queue = [];
    sessionStorage.removeItem(TOKEN_KEY);
    show($("desk"), false); show($("who"), false); show($("task-panel"), false); show($("signin"), true);
    clearError(); info("");
    $("signin-error").textContent = message || "";
    $("token").focus();
  }

  function enterDesk() {
    var me = state.me;
    $("who-text").textContent = "Signed in as " + me.subject + " (" + me.role + ")";
    show($("who"), true); show($("signin"), false); show($("desk"), true);
    var mayWork = me.permissions.indexOf("tasks:work") >= 0;
    $("claim").disabled = !mayWork;
    $("claim").title = mayWork ? "" : "Your role (" + me.role + ") reads the queue but does not work it";
    renderLangs();
    refreshQueue();
    state.timers.push(setInterval(refreshQueue, QUEUE_EVERY));
    state.timers.push(setInterval(tick, 1000));
    $("claim").focus();
  }

  function renderLangs() {
    var box = $("langs");
    Array.prototype.slice.call(box.querySelectorAll("label")).forEach(function (l) { box.removeChild(l); });
    var mine = state.me.languages.length && state.me.languages.indexOf("*") < 0 ? state.me.languages : state.me.queue_languages;
    mine.forEach(function (lang) {
      var input = el("input", { type: "checkbox", value: lang, name: "lang" });
      input.checked = true;
      box.appendChild(el("label", null, input, " " + lang));
    });
  }

  function chosenLangs() {
    return Array.prototype.slice.call($("langs").querySelectorAll("input:checked")).map(function (i) { return i.value; });
  }

  // -- the queue -----------------------------------------------------------------------------
  function refreshQueue() {
    if (!state.token) return Promise.resolve();
    return call("GET", API + "/tasks?limit=200").then(function (q) {
      syncClock(q.now);
      state.queue = q.tasks;
      renderCounts(q.counts);
      renderQueue();
      $("queue-updated").textContent = "Updated " + new Date().toLocaleTimeString();
    }, failed("Could not load the queue"));
  }

  function renderCounts(c) {
    var p = $("counts");
    clear(p);
    var ready = Object.keys(c.ready).map(function (k) { return k + " " + c.ready[k]; }).join(", ");
    p.appendChild(document.createTextNode("Open " + c.open + " · waiting: " + ready + " · claimed " + c.leased +
      " · to call again " + c.delayed + " · "));
    p.appendChild(el("span", { "class": c.breached ? "breached" : "", text: "past SLA " + c.breached }));
    p.appendChild(document.createTextNode(" · escalated " + c.escalated));
  }

  function renderQueue() {
    var body = $("queue-rows");
    clear(body);
    show($("queue-empty"), state.queue.length === 0);
    state.queue.forEach(function (t) {
      var open = el("button", { type: "button", "class": "open", text: t.task_id, "data-task": t.task_id,
                                "aria-label": "Open task " + t.task_id });
      open.addEventListener("click", function () { openTask(t.task_id); });
      var sla = slaText(t.deadline);
      var row = el("tr", { "data-task": t.task_id, "data-deadline": t.deadline },
        el("td", null, open),
        el("td", null, el("span", { "class": "badge p-" + t.priority, text: t.priority })),
        el("td", { text: t.lang + (t.locale && t.locale !== t.lang ? " (" + t.locale + ")" : "") }),
        el("td", { text: {ready: "waiting", leased: "claimed", delayed: "call again " + fmtTime(t.at)}[t.state] || t.state }),
        el("td", { text: t.owner || "" }),
        el("td", { "class": "sla-cell", text: sla.text }));
      if (sla.breached) row.classList.add("breached");
      if (state.view && state.view.task.task_id === t.task_id) row.classList.add("current");
      body.appendChild(row);
    });
  }

  function tick() {
    Array.prototype.slice.call($("queue-rows").querySelectorAll("tr")).forEach(function (row) {
      var sla = slaText(row.getAttribute("data-deadline"));
      row.querySelector(".sla-cell").textContent = sla.text;
      row.classList.toggle("breached", sla.breached);
    });
    if (state.view) { renderSla(); renderLease(); maybeRenew(); }
  }

  function claimNext() {
    var langs = chosenLangs();
    if (!langs.length) { showError("Choose at least one language to claim in."); return; }
    clearError();
    $("claim").disabled = true;
    call("POST", API + "/tasks/claim", { languages: langs }).then(function (view) {
      if (view === null) {
        info("Nothing is waiting in " + langs.join(", ") + ". The queue refreshes every few seconds.");
        return;
      }
      info("");
      showView(view, true);
      refreshQueue();
    }, failed("Could not claim a task")).then(function () { $("claim").disabled = false; });
  }

  // -- a task --------------------------------------------------------------------------------
  function openTask(taskId) {
    clearError();
    return call("GET", taskPath(taskId)).then(function (view) { showView(view, true); }, failed("Could not open " + taskId));
  }

  function reloadTask() {
    if (!state.view) return Promise.resolve();
    return call("GET", taskPath(state.view.task.task_id)).then(function (view) { showView(view, false); },
                                                              failed("Could not reload the task"));
  }

  function showView(view, focus) {
    var same = state.view && state.view.task.task_id === view.task.task_id;
    syncClock(view.now);
    state.view = view;
    if (!same) {
      state.scriptLang = view.script.language;
      $("note").value = "";
      $("resolve-result").textContent = "";
      $("resolve-result").className = "result";
      Array.prototype.slice.call(document.querySelectorAll("input[name=outcome]")).forEach(function (r) { r.checked = false; });
    }
    var t = view.task;
    $("task-title").textContent = "Task " + t.task_id;
    $("task-meta").textContent = "User " + t.user_id + " · priority " + t.priority + " · language " + t.lang +
      (t.locale ? " (locale " + t.locale + ")" : "") + " · state " + t.state +
      (t.outcome ? " · outcome " + t.outcome.replace(/_/g, " ") + (t.escalated ? " (escalated)" : "") : "") +
      " · reason: " + (t.reason || "—");
    renderSla(); renderLease(); renderButtons();
    renderFreezes(view.freezes);
    renderScript(view.script, view.script_languages);
    renderProfile(t.decisions);
    renderDecisions(t.decisions);
    renderAlerts(view.alerts);
    renderHistory(t.log);
    show($("task-panel"), true);
    renderQueue();
    if (focus) $("task-title").focus();
  }

  function renderSla() {
    var t = state.view.task, p = $("task-sla");
    if (t.state === "closed") {
      p.textContent = "Closed " + fmtTime(t.closed_at) + (state.view.sla.breached ? " — after its SLA deadline" : " — within its SLA");
      p.className = "sla" + (state.view.sla.breached ? " breached" : "");
      return;
    }
    var sla = slaText(t.deadline);
    p.textContent = "SLA deadline " + fmtTime(t.deadline) + ": " + sla.text;
    p.className = "sla" + (sla.breached ? " breached" : "");
  }

  function leaseLeft() {
    var t = state.view.task;
    return t.lease_until ? (Date.parse(t.lease_until) - serverNow()) / 1000 : null;
  }

  function mine() {
    var t = state.view.task;
    return t.state === "claimed" && t.owner === state.me.subject && leaseLeft() > 0;
  }

  function renderLease() {
    var t = state.view.task, p = $("task-lease"), left = leaseLeft();
    p.className = "lease";
    if (t.state !== "claimed") { p.textContent = t.state === "closed" ? "" : "Not claimed: claim the next task from the queue to work on one."; return; }
    if (t.owner !== state.me.subject) { p.textContent = "Claimed by " + t.owner + " until " + fmtTime(t.lease_until) + "."; return; }
    if (left <= 0) {
      p.textContent = "Your claim ran out: the task went back to the queue and another agent may take it.";
      p.className = "lease warning";
    } else {
      p.textContent = "Claimed by you: " + fmtSpan(left) + " left (kept while you work here).";
      if (left < RENEW_BEFORE) p.className = "lease warning";
    }
    renderButtons();
  }

  function renderButtons() {
    var yours = mine();
    $("renew").disabled = !yours; $("release").disabled = !yours; $("resolve").disabled = !yours;
    $("resolve-hint").textContent = yours ? "" : (state.view.task.state === "closed" ? "This task is closed."
      : "Only the agent holding the claim can record the outcome.");
  }

  function maybeRenew() {
    if (!mine() || state.renewing) return;
    var left = leaseLeft();
    var active = Date.now() - state.lastActivity < state.me.lease_seconds * 1000;
    if (left < RENEW_BEFORE && active) renew(false);
  }

  function renew(byHand) {
    state.renewing = true;
    return call("POST", taskPath(state.view.task.task_id) + "/renew").then(function (task) {
      state.view.task = task;
      if (byHand) info("Claim kept until " + fmtTime(task.lease_until) + ".");
      renderLease();
    }, failed("Could not keep the claim")).then(function () { state.renewing = false; });
  }

  function release() {
    var id = state.view.task.task_id;
    return call("POST", taskPath(id) + "/release").then(function () {
      info("Task " + id + " is back in the queue.");
      return reloadTask().then(refreshQueue);
    }, failed("Could not release the task"));
  }

  function renderFreezes(f) {
    var p = $("freeze-summary"), list = $("freeze-list");
    clear(p); clear(list);
    [["Withdrawals", f.withdrawals_frozen], ["Sign-in", f.login_frozen]].forEach(function (pair, i) {
      if (i) p.appendChild(document.createTextNode(" · "));
      p.appendChild(el("span", { "class": pair[1] ? "frozen" : "allowed", text: pair[0] + ": " + (pair[1] ? "FROZEN" : "allowed") }));
    });
    if (!f.freezes.length) list.appendChild(el("li", { "class": "empty", text: "No active freeze." }));
    f.freezes.forEach(function (z) {
      list.appendChild(el("li", null,
        el("strong", { text: z.scope }), " — " + z.reason + " · since " + fmtTime(z.created_at) + " · " +
        (z.expires_at ? "until " + fmtTime(z.expires_at) : "until lifted") + " · by " + z.by +
        (z.task_id ? " · task " + z.task_id : "")));
    });
  }

  function renderScript(script, langs) {
    var box = $("script-langs");
    clear(box);
    langs.forEach(function (lang) {
      var b = el("button", { type: "button", "data-lang": lang, text: lang, "aria-pressed": String(lang === script.language) });
      b.addEventListener("click", function () { switchScript(lang); });
      box.appendChild(b);
    });
    $("script-title").textContent = script.title;
    $("script-title").setAttribute("lang", script.language);
    var steps = $("script-steps");
    clear(steps);
    steps.setAttribute("lang", script.language);
    script.steps.forEach(function (s) { steps.appendChild(el("li", { text: s })); });
  }

  function switchScript(lang) {
    var id = state.view.task.task_id;
    call("GET", taskPath(id) + "/script?lang=" + encodeURIComponent(lang)).then(function (script) {
      if (!state.view || state.view.task.task_id !== id) return;
      state.scriptLang = lang;
      state.view.script = script;
      renderScript(script, state.view.script_languages);
    }, failed("Could not load the script in " + lang));
  }

  function dl(obj) {
    var list = el("dl");
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k];
      list.appendChild(el("dt", { text: k }));
      list.appendChild(el("dd", { text: v !== null && typeof v === "object" ? JSON.stringify(v) : String(v) }));
    });
    return list;
  }

  function fmtKrw(n) { return Number(n).toLocaleString() + " KRW"; }

  // Who the user is, as the detector knew him just before the newest decision that says
  // (rules keyed by an IP or an address decide without the user's profile).
  function renderProfile(decisions) {
    var list = $("user-profile"), at = $("user-profile-at");
    clear(list);
    var d = null;
    decisions.forEach(function (x) { if (x.profile) d = x; });
    if (!d) {
      list.appendChild(el("li", { "class": "empty", text: "Not known: the task's decisions came from rules keyed by an IP or an address, or from the user's first event." }));
      at.textContent = "";
      return;
    }
    var p = d.profile, lines = [];
    lines.push("Account " + p.account_age_days + " days old" + (p.locale ? " · locale " + p.locale : ""));
    if (p.last_login) {
      lines.push("Last sign-in " + fmtTime(p.last_login.at) + (p.last_login.country ? " from " + p.last_login.country : "") +
                 (p.last_login.device ? " on " + p.last_login.device : ""));
    } else {
      lines.push("No successful sign-in seen");
    }
    var countries = p.countries || [];
    lines.push("Signed in from " + (countries.length ? countries.join(", ") + " (newest first)" : "no known country"));
    lines.push(p.devices_known + " known device(s) · " + p.ips_known + " known IP(s) · 2FA " + (p.mfa_enabled ? "on" : "OFF") +
               (p.failed_login_streak ? " · " + p.failed_login_streak + " failed sign-in(s) in a row" : ""));
    if (p.last_security_change) {
      lines.push("Last security change: " + p.last_security_change.kind.replace(/_/g, " ") + " " + fmtTime(p.last_security_change.at));
    }
    var w = p.withdrawals || {}, dep = p.deposits || {};
    lines.push("Withdrawals: " + (w.count ? w.count + ", largest " + fmtKrw(w.max_krw) + ", last " + fmtTime(w.last_at) : "none"));
    lines.push("Deposits: " + (dep.count ? dep.count + ", largest " + fmtKrw(dep.max_krw) + ", last " + fmtTime(dep.last_at) : "none"));
    lines.forEach(function (line) { list.appendChild(el("li", { text: line })); });
    at.textContent = "As known just before the event of " + fmtTime(d.ts) + " (" + d.rule_id + ").";
  }

  function renderDecisions(decisions) {
    var box = $("decisions");
    clear(box);
    decisions.forEach(function (d) {
      var card = el("div", { "class": "decision" },
        el("h4", null, el("span", { "class": "badge p-" + (d.severity || "low"), text: d.severity || "?" }),
           " " + (d.title || d.rule_id) + " ", el("code", { text: d.rule_id })),
        el("p", { text: d.reason || "" }),
        el("p", { "class": "help", text: "event " + (d.event_type || "") + " " + (d.event_id || "") + " at " + fmtTime(d.ts) +
                                   " · decision " + d.decision_id + (d.risk !== null && d.risk !== undefined ? " · risk " + d.risk : "") }));
      if (d.evidence && Object.keys(d.evidence).length) { card.appendChild(el("h5", { text: "Evidence" })); card.appendChild(dl(d.evidence)); }
      if (d.context && Object.keys(d.context).length) { card.appendChild(el("h5", { text: "Event details" })); card.appendChild(dl(d.context)); }
      box.appendChild(card);
    });
  }

  function renderAlerts(alerts) {
    var list = $("alerts");
    clear(list);
    if (!alerts.length) list.appendChild(el("li", { "class": "empty", text: "None." }));
    alerts.forEach(function (a) {
      list.appendChild(el("li", null, el("strong", { text: a.title, lang: a.language }),
        " · " + fmtTime(a.created_at) + " · " + a.language + " · " + (a.template || a.topic || a.kind)));
    });
  }

  function renderHistory(log) {
    var list = $("history");
    clear(list);
    log.forEach(function (e) {
      var extra = Object.keys(e).filter(function (k) { return k !== "at" && k !== "event" && e[k] !== null && e[k] !== ""; })
        .map(function (k) { return k + "=" + (typeof e[k] === "object" ? JSON.stringify(e[k]) : e[k]); }).join(" ");
      list.appendChild(el("li", null, el("strong", { text: e.event }), " " + fmtTime(e.at) + (extra ? " · " + extra : "")));
    });
  }

  function resolve(ev) {
    ev.preventDefault();
    var picked = document.querySelector("input[name=outcome]:checked");
    if (!picked) { showError("Choose the outcome of the call first."); return; }
    var id = state.view.task.task_id, outcome = picked.value;
    clearError();
    $("resolve").disabled = true;
    call("POST", taskPath(id) + "/resolve", { outcome: outcome, note: $("note").value }).then(function (out) {
      var r = out.resolution, text = "Recorded: " + r.outcome.replace(/_/g, " ") + ".";
      if (r.retry_at) text += " Call again after " + fmtTime(r.retry_at) + " (attempt " + r.attempts + ").";
      if (r.escalated) text += " Escalated.";
      if (r.freezes_changed.length) text += " Freezes " + (r.outcome === "confirmed_legitimate" ? "lifted" : "kept") + ": " + r.freezes_changed.join(", ") + ".";
      $("resolve-result").textContent = text;
      $("resolve-result").className = "result ok";
      renderFreezes(out.freezes);
      return reloadTask().then(refreshQueue);
    }, failed("Could not record the outcome")).then(renderButtons);
  }

  // -- wiring --------------------------------------------------------------------------------
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var token = $("token").value.trim();
      if (token) signIn(token);
    });
    $("sign-out").addEventListener("click", function () { signOut("Signed out."); });
    $("error-close").addEventListener("click", clearError);
    $("claim").addEventListener("click", claimNext);
    $("refresh").addEventListener("click", function () { refreshQueue(); reloadTask(); });
    $("task-close").addEventListener("click", function () { state.view = null; show($("task-panel"), false); renderQueue(); $("claim").focus(); });
    $("renew").addEventListener("click", function () { renew(true); });
    $("release").addEventListener("click", release);
    $("resolve-form").addEventListener("submit", resolve);
    ["keydown", "pointerdown", "input"].forEach(function (type) {
      document.addEventListener(type, function () { state.lastActivity = Date.now(); }, true);
    });
    document.addEventListener("keydown", function (ev) {
      if (!state.me || typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "n" && !$("claim").disabled) { ev.preventDefault(); claimNext(); }
      if (ev.key === "r") { ev.preventDefault(); refreshQueue(); reloadTask(); }
    });
    var saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved); else $("token").focus();
  });
})();
