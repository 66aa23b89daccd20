// Apogee's dashboard: the little that needs JavaScript. Pages work
// without it, except that a build log then shows only what was stored
// when the page was made.
"use strict";

// Live build log: lines arrive over Server-Sent Events and are appended
// as text (never HTML), coloured by stream. When the build ends the page
// reloads once to show the final status, duration and URL.
document.querySelectorAll("[data-log-src]").forEach(function (log) {
  var es = new EventSource(log.dataset.logSrc);
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
    div.textContent = l.text;
    log.appendChild(div);
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

// Forms that change something important ask first.
document.querySelectorAll("form[data-confirm]").forEach(function (f) {
  f.addEventListener("submit", function (e) {
    if (!confirm(f.dataset.confirm)) e.preventDefault();
  });
});

// New project: the Git fields matter only for a Git project.
(function () {
  var git = document.getElementById("kind-git");
  var fields = document.querySelector(".git-fields");
  if (!git || !fields) return;
  function sync() {
    fields.hidden = !git.checked;
    document.getElementById("git_url").required = git.checked;
  }
  document.querySelectorAll('input[name="kind"]').forEach(function (r) { r.addEventListener("change", sync); });
  sync();
})();
