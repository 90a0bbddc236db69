// The ranking task: the annotator orders the responses A, B, C... best first, by pressing
// their letters in order (keys.js clicks the chip whose data-keys is the letter), by clicking
// or by dragging them. Backspace takes back the last; with ties allowed, "=" ties the next
// one placed with the last, and each placed row has a "tied with the one above" switch.
// A placed response is a button too: focused, Alt+Up / Alt+Down move it one place up or down
// (it leaves any tie) and Up / Down go to the one above or below; each move is announced.
// The answer is kept in the form's place lists (rank-A, rank-B...: equal places are ties),
// the same fields the page posts without scripts, so the server reads one form.
(function () {
  "use strict";

  function setUp(card) {
    var ranker = card && card.querySelector("[data-ranker]");
    if (!ranker || ranker.hasAttribute("data-ready")) return;
    ranker.setAttribute("data-ready", "");
    var form = card.querySelector("#task-form");
    var list = ranker.querySelector("[data-ranking-list]");
    var tray = ranker.querySelector("[data-ranking-tray]");
    var status = ranker.querySelector("[data-ranking-status]");
    var tieButton = ranker.querySelector("[data-rank-tie]");
    var submit = card.querySelector("[data-rank-submit]");
    var allowTie = ranker.hasAttribute("data-allow-tie");
    var moveHelp = ranker.querySelector("#rank-move-help");
    var selects = {};
    var chips = {};
    var labels = [];
    card.querySelectorAll("[data-rank-select]").forEach(function (select) {
      var label = select.getAttribute("data-rank-select");
      selects[label] = select;
      labels.push(label);
    });
    tray.querySelectorAll("[data-rank-chip]").forEach(function (chip) {
      chips[chip.getAttribute("data-rank-chip")] = chip;
    });
    // The ranking: labels in order, and for each whether it is tied with the one before.
    var order = [];
    var tied = [];
    var tieNext = false;

    function text(name, values) {
      var value = ranker.getAttribute("data-text-" + name) || "";
      Object.keys(values || {}).forEach(function (key) {
        value = value.replace("{" + key + "}", values[key]);
      });
      return value;
    }

    // A response's letter inside a sentence, isolated (FSI ... PDI): on a right-to-left page
    // "B، ثم A" keeps its order instead of the Latin letters and commas running together.
    function iso(label) {
      return "\u2068" + label + "\u2069";
    }

    function groups() {
      var result = [];
      order.forEach(function (label, index) {
        if (index > 0 && tied[index]) result[result.length - 1].push(label);
        else result.push([label]);
      });
      return result;
    }

    // Start from the places the form holds (a refused answer shown again keeps them).
    var byPlace = {};
    labels.forEach(function (label) {
      var place = Number(selects[label].value);
      if (place) (byPlace[place] = byPlace[place] || []).push(label);
    });
    Object.keys(byPlace)
      .map(Number)
      .sort(function (a, b) { return a - b; })
      .forEach(function (place) {
        byPlace[place].forEach(function (label, index) {
          order.push(label);
          tied.push(index > 0 && allowTie);
        });
      });

    function render(announce) {
      var grouped = groups();
      // The form: each label's place is its group's number.
      labels.forEach(function (label) { selects[label].value = ""; });
      grouped.forEach(function (group, index) {
        group.forEach(function (label) { selects[label].value = String(index + 1); });
      });
      list.replaceChildren();
      var place = 0;
      order.forEach(function (label, index) {
        if (!(index > 0 && tied[index])) place += 1;
        var row = document.createElement("li");
        row.className = "ranking-row" + (index > 0 && tied[index] ? " tied" : "");
        row.setAttribute("data-rank-row", label);
        var number = document.createElement("span");
        number.className = "ranking-place";
        number.textContent = place + (index > 0 && tied[index] ? " =" : "");
        number.setAttribute("aria-hidden", "true");
        var chip = document.createElement("button");
        chip.type = "button";
        chip.className = "rank-chip placed";
        chip.setAttribute("data-drag", label);
        chip.setAttribute("data-rank-move", label);
        chip.setAttribute("aria-label", text("row", { label: label, place: place }));
        chip.setAttribute("aria-describedby", "rank-move-help");
        chip.textContent = label;
        var snippet = document.createElement("span");
        snippet.className = "ranking-snippet";
        snippet.setAttribute("data-drag", label);
        snippet.dir = "auto";
        snippet.textContent = chips[label].getAttribute("data-snippet") || "";
        row.append(number, chip, snippet);
        if (allowTie && index > 0) {
          var tie = document.createElement("button");
          tie.type = "button";
          tie.className = "secondary rank-row-tie";
          tie.setAttribute("aria-pressed", tied[index] ? "true" : "false");
          tie.setAttribute("data-rank-row-tie", String(index));
          tie.setAttribute("title", text("tie-row"));
          var hidden = document.createElement("span");
          hidden.className = "visually-hidden";
          hidden.textContent = text("tie-row") + " (" + label + ")";
          tie.append("=", hidden);
          row.appendChild(tie);
        }
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "secondary rank-row-remove";
        remove.setAttribute("data-rank-remove", label);
        remove.setAttribute("aria-label", text("remove", { label: label }));
        remove.textContent = "×";
        row.appendChild(remove);
        list.appendChild(row);
      });
      labels.forEach(function (label) {
        var placed = order.indexOf(label) !== -1;
        chips[label].hidden = placed;
        if (placed) chips[label].removeAttribute("data-keys");
        else chips[label].setAttribute("data-keys", label.toLowerCase());
      });
      var complete = order.length === labels.length;
      if (submit) submit.disabled = !complete;
      if (tieButton) {
        tieButton.setAttribute("aria-pressed", tieNext ? "true" : "false");
        tieButton.disabled = order.length === 0 || complete;
      }
      ranker.classList.toggle("complete", complete);
      ranker.querySelector(".ranking-tray-label").hidden = complete;
      if (moveHelp) moveHelp.hidden = order.length < 2;
      if (announce !== false) status.textContent = describe(grouped, complete);
    }

    function describe(grouped, complete) {
      if (!order.length) return text("empty");
      var comma = text("comma") || ", ";
      var words = grouped.map(function (group) {
        return group.map(iso).join(" " + text("tied") + " ");
      });
      var said = text("order", { order: words.join(comma + text("then") + " ") });
      var left = labels.filter(function (label) { return order.indexOf(label) === -1; });
      if (complete) return said + " " + text("done");
      said += " " + text("left", { labels: left.map(iso).join(comma) });
      if (tieNext) said += " " + text("tie-next", { label: iso(order[order.length - 1]) });
      return said;
    }

    function place(label, at, tie) {
      if (order.indexOf(label) !== -1) return;
      at = at === undefined ? order.length : at;
      order.splice(at, 0, label);
      tied.splice(at, 0, Boolean(tie) && at > 0);
      // Put between two tied ones, it parts them: the one after starts a place of its own.
      if (at < order.length - 1 && !tie) tied[at + 1] = false;
    }

    function unplace(label) {
      var index = order.indexOf(label);
      if (index === -1) return;
      order.splice(index, 1);
      var wasTied = tied.splice(index, 1)[0];
      // Taking out the first of a tie leaves the next one first of that place.
      if (!wasTied && index < tied.length) tied[index] = false;
      if (tied.length) tied[0] = false;
    }

    function focusNext() {
      var next = tray.querySelector("[data-rank-chip]:not([hidden])");
      if (next) next.focus();
      else if (submit) submit.focus();
    }

    ranker.addEventListener("click", function (event) {
      if (suppressClick) {
        suppressClick = false;
        event.preventDefault();
        return;
      }
      var target = event.target.closest("button");
      if (!target || !ranker.contains(target)) return;
      var hadFocus = document.activeElement === target;
      if (target.hasAttribute("data-rank-chip")) {
        place(target.getAttribute("data-rank-chip"), undefined, tieNext);
        tieNext = false;
        render();
        if (hadFocus) focusNext();
      } else if (target.hasAttribute("data-rank-undo")) {
        if (tieNext) tieNext = false;
        else if (order.length) unplace(order[order.length - 1]);
        render();
      } else if (target.hasAttribute("data-rank-tie")) {
        tieNext = !tieNext && order.length > 0 && order.length < labels.length;
        render();
      } else if (target.hasAttribute("data-rank-clear")) {
        order = [];
        tied = [];
        tieNext = false;
        render();
      } else if (target.hasAttribute("data-rank-row-tie")) {
        var index = Number(target.getAttribute("data-rank-row-tie"));
        tied[index] = !tied[index];
        render();
        var again = list.querySelector('[data-rank-row-tie="' + index + '"]');
        if (again) again.focus();
      } else if (target.hasAttribute("data-rank-remove")) {
        unplace(target.getAttribute("data-rank-remove"));
        render();
        focusNext();
      }
    });

    // The number of the place a placed response has (ties share one).
    function placeOf(label) {
      var grouped = groups();
      for (var i = 0; i < grouped.length; i++) {
        if (grouped[i].indexOf(label) !== -1) return i + 1;
      }
      return 0;
    }

    // Moving a placed response with the keyboard: one row up or down, as a place of its own.
    function move(label, step) {
      var from = order.indexOf(label);
      var to = from + step;
      if (to < 0 || to >= order.length) {
        render(false);
        status.textContent = text(step < 0 ? "first" : "last", { label: iso(label) });
      } else {
        unplace(label);
        place(label, to, false);
        render(false);
        status.textContent =
          text("moved", { label: iso(label), place: placeOf(label), count: groups().length }) +
          " " + describe(groups(), order.length === labels.length);
      }
      var again = list.querySelector('[data-rank-move="' + label + '"]');
      if (again) again.focus();
    }

    list.addEventListener("keydown", function (event) {
      var chip = event.target.closest("[data-rank-move]");
      if (!chip || event.ctrlKey || event.metaKey || event.shiftKey) return;
      // A placed response does nothing when pressed: Enter there submits, as everywhere else
      // on the card (a ranking not yet complete is not sent, and the status says why).
      if (event.key === "Enter" && !event.altKey && form) {
        event.preventDefault();
        if (submit) form.requestSubmit(submit);
        return;
      }
      if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
      event.preventDefault();
      var label = chip.getAttribute("data-rank-move");
      var step = event.key === "ArrowUp" ? -1 : 1;
      if (event.altKey) {
        move(label, step);
        return;
      }
      var next = order[order.indexOf(label) + step];
      if (next) list.querySelector('[data-rank-move="' + next + '"]').focus();
    });

    // Dragging with a mouse, a pen or a finger: pointer events, so it works on phones too.
    // A drop on a placed row goes before it (upper half) or after it (lower half); on the
    // list below its rows, last; on the tray, out of the ranking.
    var drag = null;
    var suppressClick = false;

    ranker.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      var handle = event.target.closest("[data-drag], [data-rank-chip]");
      if (!handle || !ranker.contains(handle)) return;
      var label = handle.getAttribute("data-drag") || handle.getAttribute("data-rank-chip");
      drag = { label: label, x: event.clientX, y: event.clientY, ghost: null, pointer: event.pointerId };
    });

    document.addEventListener("pointermove", function (event) {
      if (!drag || event.pointerId !== drag.pointer) return;
      if (!drag.ghost) {
        if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 6) return;
        drag.ghost = document.createElement("span");
        drag.ghost.className = "rank-chip rank-ghost";
        drag.ghost.textContent = drag.label;
        drag.ghost.setAttribute("aria-hidden", "true");
        document.body.appendChild(drag.ghost);
        ranker.classList.add("dragging");
      }
      event.preventDefault();
      drag.ghost.style.setProperty("left", event.clientX + "px");
      drag.ghost.style.setProperty("top", event.clientY + "px");
      marker(dropAt(event.clientX, event.clientY));
    });

    function dropAt(x, y) {
      var under = document.elementFromPoint(x, y);
      if (!under) return null;
      if (tray.contains(under) || under === tray) return { out: true };
      var row = under.closest("[data-rank-row]");
      if (row && list.contains(row)) {
        var rows = Array.prototype.slice.call(list.children);
        var index = rows.indexOf(row);
        var box = row.getBoundingClientRect();
        return { at: y < box.top + box.height / 2 ? index : index + 1, row: row };
      }
      if (list.contains(under) || under === list || under.closest("[data-ranker]") === ranker) {
        return { at: order.length };
      }
      return null;
    }

    function marker(drop) {
      list.querySelectorAll(".drop-before, .drop-after").forEach(function (row) {
        row.classList.remove("drop-before", "drop-after");
      });
      list.classList.toggle("drop-end", Boolean(drop && !drop.out && !drop.row));
      if (drop && drop.row) {
        var rows = Array.prototype.slice.call(list.children);
        drop.row.classList.add(drop.at === rows.indexOf(drop.row) ? "drop-before" : "drop-after");
      }
    }

    document.addEventListener("pointerup", function (event) {
      if (!drag || event.pointerId !== drag.pointer) return;
      var dragged = drag;
      drag = null;
      if (!dragged.ghost) return; // a click: the click handler places it
      dragged.ghost.remove();
      ranker.classList.remove("dragging");
      suppressClick = true;
      window.setTimeout(function () { suppressClick = false; }, 0);
      var drop = dropAt(event.clientX, event.clientY);
      marker(null);
      if (!drop) return;
      var from = order.indexOf(dragged.label);
      if (drop.out) {
        unplace(dragged.label);
      } else {
        var at = drop.at;
        if (from !== -1) {
          unplace(dragged.label);
          if (from < at) at -= 1;
        }
        place(dragged.label, at, false);
      }
      tieNext = false;
      render();
    });

    document.addEventListener("pointercancel", function () {
      if (drag && drag.ghost) drag.ghost.remove();
      drag = null;
      ranker.classList.remove("dragging");
      marker(null);
    });

    if (form) {
      // A submit before every response is placed is not sent (on the window, so it comes
      // before card.js sends the form).
      window.addEventListener(
        "submit",
        function (event) {
          if (event.target === form && card.isConnected && order.length !== labels.length) {
            event.preventDefault();
            event.stopImmediatePropagation();
            status.textContent = describe(groups(), false);
          }
        },
        true
      );
    }

    card.classList.add("ranking-ready");
    ranker.hidden = false;
    render(false);
    status.textContent = describe(groups(), order.length === labels.length);
  }

  document.addEventListener("taskcard:ready", function (event) {
    setUp(event.detail && event.detail.card);
  });
  document.addEventListener("DOMContentLoaded", function () {
    setUp(document.getElementById("task-card"));
  });
})();
