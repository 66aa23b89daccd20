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
