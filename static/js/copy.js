// "Copy code": a button with data-copy="ID" copies the text of the element ID and says so
// in the status next to it (data-copied); where the clipboard is not allowed, the text is
// selected for the user to copy (data-copy-failed).
(function () {
  "use strict";

  function say(button, message) {
    var status = button.parentNode.querySelector("[data-copy-status]");
    if (status) status.textContent = message || "";
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var value = source.textContent.trim();
    var failed = function () {
      selectText(source);
      say(button, button.getAttribute("data-copy-failed"));
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () {
        say(button, button.getAttribute("data-copied"));
      }, failed);
    } else {
      failed();
    }
  });
})();
