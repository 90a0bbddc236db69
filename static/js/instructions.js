// The Instructions button of a task card: the project's instructions in a modal dialog,
// loaded once per page from their own page (which the link opens when scripts are off).
// While the dialog is open, no key reaches the card's shortcuts.
(function () {
  "use strict";
  if (window.prefpanelInstructions) return; // the card partial may bring this file twice
  window.prefpanelInstructions = true;
  var loaded = {}; // instructions page address -> the instructions' HTML

  function fill(dialog, html) {
    var body = dialog.querySelector("[data-instructions-body]");
    body.innerHTML = html;
    dialog.querySelector("[data-instructions-failed]").hidden = true;
  }

  function load(dialog, url) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var instructions = page.querySelector("[data-instructions]");
        if (!instructions) throw new Error("no instructions on the page");
        loaded[url] = instructions.innerHTML;
        fill(dialog, loaded[url]);
      })
      .catch(function () {
        dialog.querySelector("[data-instructions-body]").textContent = "";
        dialog.querySelector("[data-instructions-failed]").hidden = false;
      });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-instructions-open]");
    if (!link) return;
    var dialog = document.getElementById(link.getAttribute("aria-controls"));
    if (!dialog || typeof dialog.showModal !== "function") return; // the link opens a page
    event.preventDefault();
    var url = link.getAttribute("href");
    if (loaded[url] !== undefined) {
      fill(dialog, loaded[url]);
    } else {
      load(dialog, url);
    }
    if (!dialog.open) dialog.showModal();
  });

  // Keys typed while the dialog is open are not votes on the card behind it: they go no
  // further than the window (Escape, Tab and Enter still do what they do in a dialog).
  window.addEventListener(
    "keydown",
    function (event) {
      if (document.querySelector("dialog.instructions-dialog[open]")) event.stopPropagation();
    },
    true
  );

  // A click on the backdrop (outside the dialog's box) closes it too.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.tagName === "DIALOG" && target.classList.contains("instructions-dialog")) {
      target.close();
    }
  });
})();
