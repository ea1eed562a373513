// Progressive enhancement only: every action works without this file.
"use strict";
(function () {
  // Pages that show work in progress (an erasure request) refresh themselves until it is done.
  var live = document.querySelector("[data-refresh-seconds]");
  if (live) {
    var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 3;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
})();
