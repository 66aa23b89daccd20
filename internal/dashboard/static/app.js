// Apogee's dashboard: the little that needs JavaScript. Pages work
// without it, except that a build log then shows only what was stored
// when the page was made.
"use strict";

// Build log search: lines that do not hold the query (any case) are
// hidden, and the number of matches is said. A failed build's log opens
// at its first error line.
document.querySelectorAll(".log.build").forEach(function (log) {
  var input = document.getElementById("log-search");
  var count = document.getElementById("log-matches");
  if (input) {
    input.hidden = false;
    var search = {
      q: "",
      filter: function (line) {
        var hit = !this.q || line.textContent.toLowerCase().indexOf(this.q) >= 0;
        line.hidden = !hit;
        return hit;
      },
    };
    input.addEventListener("input", function () {
      search.q = input.value.trim().toLowerCase();
      var n = 0;
      log.querySelectorAll(".line").forEach(function (line) {
        if (search.filter(line)) n++;
      });
      count.textContent = search.q ? n + (n === 1 ? " line" : " lines") : "";
    });
    log.logSearch = search;
  }
  var first = log.dataset.firstError && document.getElementById("first-error");
  if (first) {
    log.scrollTop = Math.max(0, first.offsetTop - log.offsetTop - 48);
  }
});

// Live build log: lines arrive over Server-Sent Events and are appended
// with the HTML the server made of them (escaped text, terminal colours
// as spans), coloured by stream. When the build ends the page
// reloads once to show the final status, duration and URL.
document.querySelectorAll("[data-log-src]").forEach(function (log) {
  var es = new EventSource(log.dataset.logSrc);
  var search = log.logSearch;
  var follow = true;
  log.addEventListener("scroll", function () {
    follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  });
  log.scrollTop = log.scrollHeight;
  es.addEventListener("line", function (e) {
    var l = JSON.parse(e.data);
    if (log.querySelector('[data-seq="' + l.seq + '"]')) return;
    var div = document.createElement("div");
    div.className = "line " + l.stream;
    div.dataset.seq = l.seq;
    var time = document.createElement("time");
    time.dateTime = l.time;
    time.textContent = String(l.time).substring(11, 19);
    var text = document.createElement("span");
    text.className = "text";
    // l.html is the server's rendering of the line: its text escaped,
    // terminal colours as spans (internal/ansi).
    text.innerHTML = l.html;
    div.appendChild(time);
    div.appendChild(text);
    log.appendChild(div);
    if (search) search.filter(div);
    if (follow) log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("end", function (e) {
    es.close();
    var status = JSON.parse(e.data).status;
    var badge = document.getElementById("status");
    if (badge && status) {
      badge.className = "badge " + status;
      badge.textContent = status.charAt(0).toUpperCase() + status.slice(1);
    }
    var live = document.getElementById("live");
    if (live) live.remove();
    setTimeout(function () { location.reload(); }, 600);
  });
});

// An app's runtime log (the app page): the lines after those the page
// shows arrive over Server-Sent Events with the page's filter, each as
// text (never HTML): the time, the instance, the line.
document.querySelectorAll("[data-runtime-src]").forEach(function (log) {
  var es = new EventSource(log.dataset.runtimeSrc);
  var follow = true;
  var empty = document.getElementById("log-empty");
  log.addEventListener("scroll", function () {
    follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  });
  log.scrollTop = log.scrollHeight;
  es.addEventListener("line", function (e) {
    var l = JSON.parse(e.data);
    if (log.querySelector('[data-seq="' + l.seq + '"]')) return;
    var div = document.createElement("div");
    div.className = "line " + l.stream;
    div.dataset.seq = l.seq;
    var t = document.createElement("time");
    t.dateTime = l.time;
    t.textContent = new Date(l.time).toISOString().slice(11, 19);
    var inst = document.createElement("span");
    inst.className = "inst";
    inst.textContent = l.instance || "";
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = l.text;
    div.appendChild(t);
    div.appendChild(inst);
    div.appendChild(text);
    log.appendChild(div);
    if (empty) { empty.remove(); empty = null; }
    while (log.children.length > 5000) log.firstElementChild.remove();
    if (follow) log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("end", function () {
    es.close();
    var live = document.getElementById("live");
    if (live) live.remove();
  });
});

// An app's instances (the app page): the server sends the app's status
// every few seconds; the table follows (state, health, resource use).
document.querySelectorAll("[data-status-src]").forEach(function (card) {
  var body = document.getElementById("instance-rows");
  var none = document.getElementById("no-instances");
  var es = new EventSource(card.dataset.statusSrc);
  function cell(label, text, cls) {
    var td = document.createElement("td");
    td.dataset.label = label;
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }
  function note(td, text) {
    if (!text) return;
    var d = document.createElement("div");
    d.className = "small muted";
    d.textContent = text;
    td.appendChild(d);
  }
  es.addEventListener("status", function (e) {
    var st = JSON.parse(e.data);
    var rows = st.rows || [];
    var trs = rows.map(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.instance = r.id;
      tr.appendChild(cell("Instance", r.id, "mono"));
      var state = cell("State", "");
      var badge = document.createElement("span");
      badge.className = "badge " + r.state;
      badge.textContent = r.state;
      state.appendChild(badge);
      if (r.healthy) {
        var tag = document.createElement("span");
        tag.className = "tag ok";
        tag.textContent = "healthy";
        state.appendChild(document.createTextNode(" "));
        state.appendChild(tag);
      }
      note(state, r.reason);
      tr.appendChild(state);
      tr.appendChild(cell("Release", r.Version));
      tr.appendChild(cell("Uptime", r.Uptime));
      tr.appendChild(cell("Memory", r.Memory));
      tr.appendChild(cell("CPU", r.CPU));
      var restarts = cell("Restarts", String(r.restarts));
      note(restarts, r.last_exit);
      tr.appendChild(restarts);
      tr.appendChild(cell("Requests", String(r.in_flight)));
      return tr;
    });
    body.replaceChildren.apply(body, trs);
    if (none) none.hidden = rows.length > 0;
  });
  es.addEventListener("end", function () { es.close(); }); // signed out
});

// Forms that change something important ask first.
document.querySelectorAll("form[data-confirm]").forEach(function (f) {
  f.addEventListener("submit", function (e) {
    if (!confirm(f.dataset.confirm)) e.preventDefault();
  });
});

// New project: the Git fields matter only for a Git project, the file
// only for a ZIP upload.
(function () {
  var kinds = document.querySelectorAll('input[name="kind"]');
  var groups = document.querySelectorAll("[data-kind]");
  if (!kinds.length || !groups.length) return;
  function sync() {
    var kind = (document.querySelector('input[name="kind"]:checked') || {}).value;
    groups.forEach(function (g) { g.hidden = g.dataset.kind !== kind; });
    document.getElementById("git_url").required = kind === "git";
    document.getElementById("zip").required = kind === "zip";
  }
  kinds.forEach(function (r) { r.addEventListener("change", sync); });
  sync();
})();

// Live notifications (GET /events, Server-Sent Events of the signed-in
// user's projects): a deployment that becomes ready, fails or is
// canceled shows up as a toast on any page, and the status badges the
// page shows of it follow. Toasts are text (never HTML) in a polite live
// region, so screen readers announce them.
(function () {
  var src = document.body.dataset.events;
  if (!src || !window.EventSource) return;
  var region = document.createElement("div");
  region.className = "toasts";
  region.id = "toasts";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  document.body.appendChild(region);
  var says = {
    "deployment.ready": ["ready", "Ready", "is ready"],
    "deployment.error": ["error", "Error", "failed"],
    "deployment.canceled": ["canceled", "Canceled", "was canceled"],
    "deployment.building": ["building", "Building", "is building"]
  };

  function setBadge(badge, status, word) {
    badge.className = "badge " + status;
    badge.textContent = word;
  }

  function prodTag() {
    var tag = document.createElement("span");
    tag.className = "tag prod";
    tag.textContent = "Production";
    return tag;
  }

  // refresh makes what the page shows of the deployment true again: its
  // badges; once it is ready, its URL; once it is production, the
  // Production tag moves to it (rows, its own page, the project's card).
  function refresh(n, s) {
    var d = n.deployment, id = d.id;
    var rows = document.querySelectorAll('tr[data-deployment="' + id + '"]');
    rows.forEach(function (tr) {
      var b = tr.querySelector(".badge");
      if (b) setBadge(b, s[0], s[1]);
      if (n.type !== "deployment.building") tr.querySelectorAll("[data-started]").forEach(stopClock);
      var cell = tr.querySelector("td.dep");
      if (n.type === "deployment.ready" && d.url && cell && !cell.querySelector("a.url")) {
        var div = document.createElement("div");
        div.className = "small";
        var a = document.createElement("a");
        a.className = "url";
        a.href = d.url;
        a.textContent = d.url;
        div.appendChild(a);
        var tag = cell.querySelector(".tag");
        cell.insertBefore(div, tag ? tag.nextSibling : cell.querySelector("a").nextSibling);
      }
    });
    if (n.type === "deployment.ready" && d.production && rows.length) {
      document.querySelectorAll("tr.production").forEach(function (tr) {
        tr.classList.remove("production");
        tr.querySelectorAll(".tag.prod").forEach(function (t) { t.remove(); });
      });
      rows.forEach(function (tr) {
        tr.classList.add("production");
        var cell = tr.querySelector("td.dep");
        var old = cell && cell.querySelector(".tag");
        if (old) old.remove();
        if (cell) cell.insertBefore(prodTag(), cell.querySelector("a").nextSibling);
      });
    }
    document.querySelectorAll('[data-project="' + n.project + '"] .last').forEach(function (last) {
      var b = last.querySelector(".badge");
      if (b) setBadge(b, s[0], s[1]);
      var what = last.querySelector("[data-target]");
      if (what) what.textContent = d.production ? "Production" : d.target === "preview" ? "Preview" : "Not in production";
    });
    var status = document.getElementById("status"); // a deployment's own page
    if (status && location.pathname === "/deployments/" + id) {
      setBadge(status, s[0], s[1]);
      if (d.production && !status.parentNode.querySelector(".tag.prod")) {
        status.parentNode.appendChild(document.createTextNode(" "));
        status.parentNode.appendChild(prodTag());
      }
      if (n.type !== "deployment.building") document.querySelectorAll("[data-started]").forEach(stopClock);
    }
  }

  function toast(n, s) {
    var d = n.deployment;
    var t = document.createElement("div");
    t.className = "toast " + s[0];
    var badge = document.createElement("span");
    setBadge(badge, s[0], s[1]);
    var msg = document.createElement("div");
    msg.className = "msg";
    msg.appendChild(document.createTextNode(n.project + ": deployment "));
    var link = document.createElement("a");
    link.href = "/deployments/" + encodeURIComponent(d.id);
    link.textContent = d.id;
    msg.appendChild(link);
    msg.appendChild(document.createTextNode(" " + s[2] + (d.production ? " (production)" : "") + "."));
    if (n.type === "deployment.ready" && d.url) {
      msg.appendChild(document.createTextNode(" "));
      var visit = document.createElement("a");
      visit.href = d.url;
      visit.textContent = "Visit";
      msg.appendChild(visit);
    } else if (d.error && n.type === "deployment.error") {
      var why = document.createElement("div");
      why.className = "small error-text";
      why.textContent = d.error;
      msg.appendChild(why);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { t.remove(); });
    t.appendChild(badge);
    t.appendChild(msg);
    t.appendChild(close);
    region.appendChild(t);
    while (region.children.length > 4) region.firstElementChild.remove();
    // Successes fade after a while; failures stay until dismissed.
    if (n.type !== "deployment.error") setTimeout(function () { t.remove(); }, 15000);
  }

  // An app's crash or failed deploy: the notification's own text, a link
  // to the app's page, and it stays until dismissed.
  var appSays = {
    "app.crashed": ["error", "Crashed"],
    "app.deploy_failed": ["error", "Deploy failed"]
  };
  function appToast(n, s) {
    var t = document.createElement("div");
    t.className = "toast " + s[0];
    t.dataset.type = n.type;
    var badge = document.createElement("span");
    setBadge(badge, s[0], s[1]);
    var msg = document.createElement("div");
    msg.className = "msg";
    msg.appendChild(document.createTextNode(n.text + " "));
    var link = document.createElement("a");
    link.href = "/projects/" + encodeURIComponent(n.project) + "/app";
    link.textContent = "Open the app";
    msg.appendChild(link);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { t.remove(); });
    t.appendChild(badge);
    t.appendChild(msg);
    t.appendChild(close);
    region.appendChild(t);
    while (region.children.length > 4) region.firstElementChild.remove();
  }

  var es = new EventSource(src);
  // The page says when it listens (tests wait for it before acting).
  es.addEventListener("open", function () { document.body.dataset.live = "1"; });
  es.addEventListener("deployment", function (e) {
    var n = JSON.parse(e.data);
    if (appSays[n.type]) {
      appToast(n, appSays[n.type]);
      return;
    }
    var s = says[n.type];
    if (!s || !n.deployment) return;
    refresh(n, s);
    if (n.type !== "deployment.building") toast(n, s);
  });
  es.addEventListener("end", function () { es.close(); }); // signed out
})();
// A ZIP larger than the server takes is refused before it is sent.
document.querySelectorAll('input[type="file"][data-max]').forEach(function (input) {
  function check() {
    var max = Number(input.dataset.max), f = input.files && input.files[0];
    if (f && max && f.size > max) {
      input.setCustomValidity("This file is " + Math.ceil(f.size / 1048576) + " MiB; the limit is " +
        Math.floor(max / 1048576) + " MiB. Leave node_modules and build output out of the ZIP.");
    } else {
      input.setCustomValidity("");
    }
  }
  input.addEventListener("change", function () { check(); input.reportValidity(); });
  check();
});

// A page answered to a form's POST (a new token) puts its own address in
// the location bar, so a reload does not send the form again.
document.querySelectorAll("[data-replace-url]").forEach(function (el) {
  history.replaceState(null, "", el.dataset.replaceUrl);
});

// Copy buttons copy the text of the element they name, and say so.
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.addEventListener("click", function () {
    var el = document.getElementById(b.dataset.copy);
    if (!el) return;
    var label = b.textContent;
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      b.textContent = "Copied";
    }, function () {
      // No clipboard (an http:// page other than localhost): select the
      // text for the person to copy.
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.textContent = "Press Ctrl+C to copy";
    });
    setTimeout(function () { b.textContent = label; }, 2000);
  });
});

// A select marked data-autosubmit sends its form when it changes (the
// Logs tab's deployment picker); without JavaScript a button does.
document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
  s.addEventListener("change", function () { s.form.submit(); });
});

// A build's duration counts while it builds: elements with data-started
// (an RFC 3339 time) show the time since, each second, until the build
// ends (the notification stops them).
function shortDuration(ms) {
  var s = Math.max(0, Math.floor(ms / 1000));
  if (s < 1) return "<1s";
  var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  s = s % 60;
  return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
}
function stopClock(el) { delete el.dataset.started; }
(function () {
  var clocks = document.querySelectorAll("[data-started]");
  if (!clocks.length) return;
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-started]").forEach(function (el) {
      el.textContent = shortDuration(now - Date.parse(el.dataset.started));
    });
  }
  tick();
  setInterval(tick, 1000);
})();

// A project's request log follows live (requestlog.go): new records come
// as "request" events and go on top; the button pauses and resumes.
document.querySelectorAll("[data-requests-src]").forEach(function (tbody) {
  if (!window.EventSource) return;
  var live = document.getElementById("live"), btn = document.getElementById("follow");
  var empty = document.getElementById("requests-empty");
  var most = parseInt(tbody.dataset.max, 10) || 200, src = tbody.dataset.requestsSrc, es = null;
  function cell(cls, text) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text || "";
    return td;
  }
  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  function row(r) {
    var tr = document.createElement("tr");
    tr.dataset.id = r.id;
    tr.className = "new";
    var t = cell("nowrap"), time = document.createElement("time");
    time.dateTime = r.iso;
    time.textContent = r.time;
    t.appendChild(time);
    tr.appendChild(t);
    var st = cell("");
    st.appendChild(span("status-code " + r.class, String(r.status)));
    tr.appendChild(st);
    var rq = cell("req");
    rq.appendChild(span("method", r.method));
    rq.appendChild(document.createTextNode(" "));
    rq.appendChild(span("path", r.path));
    tr.appendChild(rq);
    tr.appendChild(cell("right nowrap", r.bytes));
    tr.appendChild(cell("right nowrap", r.duration));
    ["cache", "referrer", "device", "country"].forEach(function (k) { tr.appendChild(cell("hide-narrow", r[k])); });
    return tr;
  }
  function start() {
    es = new EventSource(src);
    es.addEventListener("request", function (e) {
      var r = JSON.parse(e.data);
      src = src.replace(/([?&]after=)\d+/, "$1" + r.id); // a resumed follow starts here
      if (tbody.querySelector('tr[data-id="' + r.id + '"]')) return;
      tbody.insertBefore(row(r), tbody.firstChild);
      while (tbody.rows.length > most) tbody.deleteRow(-1);
      if (empty) empty.hidden = true;
    });
    es.addEventListener("end", stop); // signed out
    live.hidden = false;
    btn.textContent = "Pause";
  }
  function stop() {
    if (es) es.close();
    es = null;
    live.hidden = true;
    btn.textContent = "Follow live";
  }
  btn.hidden = false;
  btn.addEventListener("click", function () { if (es) { stop(); } else { start(); } });
  start();
});
