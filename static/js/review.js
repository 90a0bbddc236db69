// Keyboard decisions on the console's review page: a key clicks the button of the review
// card whose data-keys lists it (1-4 decide, n goes to the next task). Keys typed in the
// note, or any other field, are text, never a decision.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") return;
    if (target && target.isContentEditable) return;
    var card = document.getElementById("review-card");
    if (!card || !card.hasAttribute("data-ready") || card.getAttribute("aria-busy") === "true") {
      return;
    }
    var key = event.key.toLowerCase();
    var controls = card.querySelectorAll("[data-keys]");
    for (var i = 0; i < controls.length; i++) {
      if (controls[i].getAttribute("data-keys").split(" ").indexOf(key) !== -1) {
        event.preventDefault();
        controls[i].click();
        return;
      }
    }
  });
  // A card takes keys once htmx has wired it (its form then posts by htmx, not natively).
  document.addEventListener("htmx:load", function () {
    var card = document.getElementById("review-card");
    if (card) card.setAttribute("data-ready", "");
  });
  // One decision per card: the card is busy from the request until htmx swaps in the next.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var card = document.getElementById("review-card");
    if (card && card.contains(event.target)) card.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function () {
    var card = document.getElementById("review-card");
    if (card) card.removeAttribute("aria-busy");
  });
  // A new card takes the focus (its heading), so the keys act on it; the labels loading
  // into a card must not move the focus (the researcher may be typing a note).
  document.addEventListener("htmx:afterSwap", function (event) {
    var swapped = event.detail && event.detail.target;
    if (!swapped || swapped.id !== "review-card") return;
    var heading = document.querySelector("#review-card .review-heading, #review-card .review-empty");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  });
})();
