// Keeps the lease on the task while its card is on screen, with or without input (reading
// is work): it is renewed every third of the lease (at most a minute apart), when the page
// comes back into view and as it goes out of view, so it lapses only once the page has been
// hidden that long (closed: within a minute of that, as a closing page sends nothing).
// The time left is shown only under two minutes.
(function () {
  "use strict";

  var lease = null; // {card, url, ms, deadline, pending, over, retryAt}
  var leaving = false; // the page is being closed or left: pagehide comes before "hidden"

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function start() {
    var card = document.getElementById("task-card");
    if (!card || (lease && lease.card === card)) return;
    var url = card.getAttribute("data-renew-url");
    if (!url) {
      lease = null;
      return;
    }
    var ms = Number(card.getAttribute("data-lease-seconds")) * 1000;
    lease = {
      card: card,
      url: url,
      ms: ms,
      deadline: Date.now() + Number(card.getAttribute("data-expires-in")) * 1000,
      pending: false,
      over: false,
      retryAt: 0,
    };
    tick();
  }

  function period() {
    return Math.min(Math.max(lease.ms / 3, 2000), 60000);
  }

  function ended(current, message, link) {
    current.over = true;
    if (current !== lease) return;
    showTimeLeft(); // hides it: no time left shown beside "ran out"
    window.taskCard.alert(message, { link: link });
  }

  function renew(hiding) {
    if (!lease || lease.pending || lease.over || leaving) return;
    var current = lease;
    var sentAt = Date.now();
    current.pending = true;
    fetch(current.url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: hiding,
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true", Accept: "application/json" },
    }).then(
      function (response) {
        current.pending = false;
        if (current !== lease) return;
        var signIn = response.headers.get("HX-Redirect");
        if (signIn) {
          ended(current, window.taskCard.text("signed-out"), {
            href: signIn,
            label: window.taskCard.text("sign-in"),
          });
        } else if (response.ok) {
          current.deadline = sentAt + current.ms;
        } else if (response.status >= 400 && response.status < 500) {
          var next = {
            href: current.card.getAttribute("data-task-url"),
            label: window.taskCard.text("next"),
          };
          if (response.status === 410) {
            ended(current, window.taskCard.text("lapsed"), next);
          } else {
            // Blocked, the project paused, not one's own: the server says which.
            response.json().then(
              function (body) {
                ended(current, body.detail || window.taskCard.text("lapsed"), next);
              },
              function () {
                ended(current, window.taskCard.text("lapsed"), next);
              }
            );
          }
        } else {
          current.retryAt = Date.now() + 5000;
        }
      },
      function () {
        current.pending = false;
        current.retryAt = Date.now() + 5000;
      }
    );
  }

  function showTimeLeft() {
    var timer = lease.card.querySelector("[data-lease-timer]");
    if (!timer) return;
    var left = Math.max(0, lease.deadline - Date.now());
    timer.hidden = lease.over || left >= 120000;
    var seconds = Math.ceil(left / 1000);
    var shown = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    timer.querySelector("[data-lease-left]").textContent = shown;
  }

  function tick() {
    if (!lease || !lease.card.isConnected) return;
    showTimeLeft();
    var due = lease.deadline - Date.now() <= lease.ms - period();
    if (document.visibilityState === "visible" && due && Date.now() >= lease.retryAt) {
      renew(false);
    }
  }

  window.setInterval(tick, 1000);
  window.addEventListener("pagehide", function () {
    leaving = true;
  });
  window.addEventListener("pageshow", function () {
    leaving = false;
  });
  document.addEventListener("visibilitychange", function () {
    renew(document.visibilityState !== "visible");
  });
  document.addEventListener("taskcard:ready", start);
  document.addEventListener("DOMContentLoaded", start);
})();
