// Keyboard shortcuts for the task page: a key clicks the button whose data-keys lists it.
// The page's "Single-key shortcuts" setting turns them off; card.js decides whether the
// click counts (the card must be armed and nothing in flight).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    // Enter on a radio button would submit a pairwise form with its first button ("A is
    // better"): an answer nobody chose.
    if (event.key === "Enter" && tag === "INPUT" && target.type !== "text") {
      if (target.form && target.form.hasAttribute("data-no-implicit-submit")) {
        event.preventDefault();
        return;
      }
    }
    if (event.repeat) return;
    var toggle = document.getElementById("shortcuts-toggle");
    if (toggle && !toggle.checked) return;
    if (document.querySelector("dialog[open]")) return;
    if (tag === "TEXTAREA" || (tag === "INPUT" && target.type === "text") || tag === "SELECT") return;
    var key = event.key.toLowerCase();
    if (key === "enter" && (tag === "BUTTON" || tag === "A" || tag === "SUMMARY" || tag === "INPUT")) {
      return;
    }
    var buttons = document.querySelectorAll("#task-card [data-keys]");
    for (var i = 0; i < buttons.length; i++) {
      var keys = buttons[i].getAttribute("data-keys").split(" ");
      if (keys.indexOf(key) !== -1) {
        event.preventDefault();
        buttons[i].click();
        return;
      }
    }
  });
})();
