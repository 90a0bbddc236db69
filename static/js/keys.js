// Keyboard shortcuts for the task page: a key clicks the button whose data-keys lists it.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "TEXTAREA" || (tag === "INPUT" && target.type === "text") || tag === "SELECT") return;
    var key = event.key.toLowerCase();
    if (key === "enter" && tag === "BUTTON") return;
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
