// printwatch's one script: keeps the fleet page live. The server sends an event when a
// reading, an alert or a collector of the user's sites changes something; this fetches
// the same page again (no more often than every two seconds) and swaps in its #board.
// Without it (or without JavaScript) the page is the same, only not live.
"use strict";
(function () {
  var board = document.getElementById("board");
  if (!board || !window.EventSource || !window.fetch) return;
  var say = function (text) {
    var live = document.getElementById("live");
    if (live) live.textContent = text;
  };
  var timer = null, busy = false, last = 0, stopped = false;
  function refresh() {
    timer = null;
    if (busy) { schedule(); return; }
    busy = true;
    last = Date.now();
    fetch(location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401) {
          stopped = true;
          throw new Error("signed out");
        }
        if (!r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("board");
        if (fresh) {
          board.replaceWith(document.importNode(fresh, true));
          board = document.getElementById("board");
        }
        say("live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function (e) {
        say(stopped ? "signed out: reload the page to sign in again" : "live updates paused (" + e.message + ")");
        if (stopped) source.close();
      })
      .finally(function () { busy = false; });
  }
  function schedule() {
    if (timer || stopped) return;
    timer = setTimeout(refresh, Math.max(300, 2000 - (Date.now() - last)));
  }
  var source = new EventSource("/events");
  source.addEventListener("fleet", schedule);
  source.onopen = function () { say("live"); };
  source.onerror = function () { if (!stopped) say("reconnecting…"); };
})();
