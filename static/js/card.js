// The task card. A card takes a choice only once it has been on screen for the project's
// arming time, and one request at a time: a key pressed twice never answers the next card.
// Its forms never submit natively; they are sent with htmx. A refusal or a failure is said
// next to the buttons, with the card and everything typed in it kept, and can be retried.
(function () {
  "use strict";

  var card = null; // the card on screen
  var armedAt = 0; // performance.now() from which it takes a choice
  var busy = false; // a vote, skip or finish in flight
  var last = null; // the last request sent: {form, submitter}, for "Try again"

  function text(name, status) {
    var texts = document.getElementById("card-texts");
    var value = (texts && texts.getAttribute("data-" + name)) || "";
    return value.replace("{status}", String(status || ""));
  }

  function setUp(swapped) {
    var next = document.getElementById("task-card");
    if (!next || next === card) return;
    card = next;
    busy = false;
    last = null;
    flagged = [];
    var ms = Number(card.getAttribute("data-arming-ms") || 0);
    armedAt = performance.now() + ms;
    var armed = card;
    window.setTimeout(function () {
      if (card === armed) armed.setAttribute("data-armed", "");
    }, ms);
    var earlier = card.querySelector("details.earlier-turns");
    if (earlier && window.matchMedia("(min-width: 701px)").matches) earlier.open = true;
    if (swapped) {
      // The new card starts at its top, and focus moves to its heading.
      var top = card.getBoundingClientRect().top + window.scrollY;
      window.scrollTo(0, Math.max(0, top - 8));
      var heading = card.querySelector("#card-heading");
      if (heading) heading.focus({ preventScroll: true });
    }
    document.dispatchEvent(new CustomEvent("taskcard:ready", { detail: { card: card } }));
  }

  function setBusy(on) {
    busy = on;
    if (!card) return;
    var forms = card.querySelectorAll("[data-card-form]");
    for (var i = 0; i < forms.length; i++) {
      if (on) forms[i].setAttribute("aria-busy", "true");
      else forms[i].removeAttribute("aria-busy");
      var buttons = forms[i].querySelectorAll("button");
      for (var j = 0; j < buttons.length; j++) {
        if (on) buttons[j].setAttribute("aria-disabled", "true");
        else buttons[j].removeAttribute("aria-disabled");
        buttons[j].classList.toggle("sending", on && last !== null && buttons[j] === last.submitter);
      }
    }
    var status = card.querySelector("[data-sending]");
    if (status) status.textContent = on ? text("sending") : "";
  }

  // Show a message in the alert next to the buttons: `content` a node or a text; `retry`
  // adds a button that sends the last request again; `link` = {href, label}.
  function showAlert(content, options) {
    var region = card && card.querySelector("#card-alert");
    if (!region) return;
    var body = content;
    if (typeof content === "string") {
      body = document.createElement("p");
      body.textContent = content;
    }
    region.replaceChildren(body);
    options = options || {};
    if (options.link) {
      var p = document.createElement("p");
      var a = document.createElement("a");
      a.href = options.link.href;
      a.textContent = options.link.label;
      p.appendChild(a);
      region.appendChild(p);
    }
    if (options.retry && last) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "retry";
      button.textContent = text("retry");
      button.addEventListener("click", retry);
      region.appendChild(button);
    }
    region.scrollIntoView({ block: "nearest" });
  }

  function clearAlert() {
    var region = card && card.querySelector("#card-alert");
    if (region) region.replaceChildren();
    unflag();
  }

  // A refusal's problem that names a field (data-invalid, e.g. the rewrite box a required
  // rewrite is asked in) flags it: aria-invalid, described by the problem, and focused.
  var flagged = []; // [{field, describedBy}] to put back when the alert goes
  function flagFields(region) {
    unflag();
    var problems = region.querySelectorAll("[data-invalid][id]");
    for (var i = 0; i < problems.length; i++) {
      var field = card.querySelector("#" + CSS.escape(problems[i].getAttribute("data-invalid")));
      if (!field) continue;
      var describedBy = field.getAttribute("aria-describedby");
      flagged.push({ field: field, describedBy: describedBy });
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", ((describedBy || "") + " " + problems[i].id).trim());
      if (flagged.length === 1) {
        var details = field.closest("details");
        if (details) details.open = true;
        field.focus();
      }
    }
  }

  function unflag() {
    for (var i = 0; i < flagged.length; i++) {
      var entry = flagged[i];
      entry.field.removeAttribute("aria-invalid");
      if (entry.describedBy) entry.field.setAttribute("aria-describedby", entry.describedBy);
      else entry.field.removeAttribute("aria-describedby");
    }
    flagged = [];
  }

  function send(form, submitter) {
    last = { form: form, submitter: submitter };
    clearAlert();
    setBusy(true);
    var values = {};
    if (submitter && submitter.name) values[submitter.name] = submitter.value;
    window.htmx.ajax("POST", form.getAttribute("action"), {
      source: form,
      target: "#task-card",
      swap: "outerHTML",
      values: values,
    });
  }

  function retry() {
    if (busy || !last || !card || !card.contains(last.form)) return;
    send(last.form, last.submitter);
  }

  // Every card form is sent here, and only when the card is armed and nothing is in flight.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!form.hasAttribute || !form.hasAttribute("data-card-form")) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      if (busy || !card || !card.contains(form) || performance.now() < armedAt) return;
      if (!window.htmx) return;
      send(form, event.submitter || null);
    },
    true
  );

  function fromCard(event) {
    var detail = event.detail || {};
    var source = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    return last !== null && source === last.form;
  }

  function parse(xhr) {
    return new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  }

  // A block, a failed quiz or a closed project answers with a card of its own: it replaces
  // the task. Any other refusal keeps the card.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!fromCard(event)) return;
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && parse(xhr).getElementById("task-card")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    if (!fromCard(event)) return;
    var xhr = event.detail.xhr;
    var refusal = parse(xhr).querySelector(".refusal");
    setBusy(false);
    if (refusal) {
      var status = Number(refusal.getAttribute("data-status"));
      showAlert(document.importNode(refusal, true), { retry: status !== 400 });
      flagFields(card.querySelector("#card-alert"));
    } else {
      showAlert(text(xhr.status >= 500 ? "server" : "refused", xhr.status), { retry: true });
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (!fromCard(event)) return;
    setBusy(false);
    showAlert(text("offline"), { retry: true });
  });

  document.addEventListener("htmx:timeout", function (event) {
    if (!fromCard(event)) return;
    setBusy(false);
    showAlert(text("timeout"), { retry: true });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (fromCard(event) && card && card.contains(last.form)) setBusy(false);
  });

  document.addEventListener("htmx:afterSettle", function () {
    setUp(true);
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUp(false);
  });

  window.taskCard = { alert: showAlert, text: text };
})();
