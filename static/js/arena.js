// The arena page (README, Arena). A refused prompt or vote comes back as the arena's own
// content with a 4xx status (htmx drops those by default): show it in place, with what was
// typed and why it was refused.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var status = event.detail.xhr.status;
    if (target && target.id === "arena-body" && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
