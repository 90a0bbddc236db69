// Span marking on the task page: select text in a response with the mouse, or focus a
// response and move a caret with the arrow keys (Shift extends the selection, Home/End go
// to the start/end), then pick a label (a button, or its key through keys.js). Marks are
// listed, highlighted and removable; the hidden "spans" field holds them as JSON.
// Offsets are posted in Unicode code points, as the server counts them: the browser's
// string indices are UTF-16 units, so an emoji is two here and one there.
(function () {
  "use strict";

  // UTF-16 index -> code points before it.
  function codePoints(text, index) {
    return Array.from(text.slice(0, index)).length;
  }
  // Code points -> UTF-16 index.
  function units(text, points) {
    return Array.from(text).slice(0, points).join("").length;
  }
  // A UTF-16 index moved off the second half of a surrogate pair.
  function snap(text, index) {
    var code = text.charCodeAt(index);
    return code >= 0xdc00 && code <= 0xdfff && index > 0 ? index - 1 : index;
  }

  function setUp(card) {
    var tools = card && card.querySelector("[data-spans]");
    if (!tools || tools.hasAttribute("data-ready")) return;
    tools.setAttribute("data-ready", "");
    var field = tools.querySelector("[data-span-field]");
    var list = tools.querySelector("[data-span-list]");
    var status = tools.querySelector("[data-span-status]");
    var note = tools.querySelector("[data-span-note]");
    var empty = tools.querySelector("[data-span-empty]");
    var targets = {};
    card.querySelectorAll("[data-span-target]").forEach(function (element) {
      targets[element.getAttribute("data-span-target")] = {
        element: element,
        text: element.textContent,
        caret: 0,
        anchor: 0,
      };
    });
    var spans = [];
    try {
      spans = JSON.parse(field.value || "[]") || [];
    } catch (error) {
      spans = [];
    }
    var selection = null; // {response, start, end} in UTF-16 units

    // A page message with its values filled in. The quoted response text is isolated (FSI ...
    // PDI): English inside an Arabic sentence, or Arabic inside an English one, keeps its own
    // order instead of being scrambled with the words around it.
    function text(name, values) {
      var value = tools.getAttribute("data-text-" + name) || "";
      Object.keys(values || {}).forEach(function (key) {
        var filled = key === "text" ? "\u2068" + values[key] + "\u2069" : values[key];
        value = value.split("{" + key + "}").join(filled);
      });
      return value;
    }

    function responseName(name) {
      var heading = targets[name] && document.getElementById(targets[name].element.getAttribute("aria-labelledby"));
      return heading ? heading.textContent.trim() : name;
    }

    function labelName(key) {
      var button = tools.querySelector('[data-span-label="' + key + '"]');
      return button ? button.firstChild.textContent.trim() : key;
    }

    // Each label's own look (span-label-0 ... 5, in the order of the buttons): a background
    // and an underline style of its own, so labels differ by more than colour.
    var labelKeys = Array.prototype.map.call(tools.querySelectorAll("[data-span-label]"), function (button) {
      return button.getAttribute("data-span-label");
    });
    function labelClass(key) {
      return "span-label-" + (Math.max(labelKeys.indexOf(key), 0) % 6);
    }

    // Where the keyboard's caret is, in a response focused by the keyboard: a bar between
    // two characters (it adds no text), so arrows without Shift show where a mark would start.
    function caretShown(target) {
      return document.activeElement === target.element && target.keyboard;
    }

    function caretBar() {
      var bar = document.createElement("span");
      bar.className = "span-caret";
      bar.setAttribute("aria-hidden", "true");
      return bar;
    }

    // Each target's text cut at every mark boundary, marked parts in <mark>: the text
    // itself (textContent) never changes, so offsets stay those of the response.
    function paint() {
      Object.keys(targets).forEach(function (name) {
        var target = targets[name];
        var caret = caretShown(target) ? target.caret : -1;
        var cuts = [0, target.text.length];
        if (caret !== -1) cuts.push(caret);
        var own = spans.filter(function (span) { return span.response === name; });
        own.forEach(function (span) {
          cuts.push(units(target.text, span.start), units(target.text, span.end));
        });
        if (selection && selection.response === name) cuts.push(selection.start, selection.end);
        cuts = cuts.filter(function (v, i, all) { return all.indexOf(v) === i; }).sort(function (a, b) { return a - b; });
        var fragment = document.createDocumentFragment();
        for (var i = 0; i + 1 < cuts.length; i++) {
          var from = cuts[i], to = cuts[i + 1];
          if (from === caret) fragment.appendChild(caretBar());
          var piece = target.text.slice(from, to);
          var covering = own.filter(function (span) {
            return units(target.text, span.start) <= from && to <= units(target.text, span.end);
          });
          var labels = covering.map(function (span) { return span.label; });
          // The names of the marks that start here, shown before the text (CSS ::before, so
          // read by screen readers yet no part of the text or its offsets).
          var starting = covering.filter(function (span) {
            return units(target.text, span.start) === from;
          }).map(function (span) { return labelName(span.label); });
          var picked = selection && selection.response === name && selection.start <= from && to <= selection.end;
          if (!labels.length && !picked) {
            fragment.appendChild(document.createTextNode(piece));
            continue;
          }
          var mark = document.createElement("mark");
          mark.className = picked ? "span-pending" : "span-mark " + labelClass(labels[0]);
          if (labels.length) {
            mark.setAttribute("data-labels", labels.join(" "));
            mark.title = labels.map(labelName).join(", ");
          }
          if (starting.length) mark.setAttribute("data-label-names", starting.join(", "));
          mark.textContent = piece;
          fragment.appendChild(mark);
        }
        if (caret === target.text.length && caret > 0) fragment.appendChild(caretBar());
        target.element.replaceChildren(fragment);
      });
    }

    function save() {
      field.value = spans.length ? JSON.stringify(spans) : "";
      if (empty) empty.hidden = spans.length > 0;
      list.replaceChildren();
      spans.forEach(function (span, index) {
        var target = targets[span.response];
        var item = document.createElement("li");
        var quoted = target ? target.text.slice(units(target.text, span.start), units(target.text, span.end)) : "";
        var tag = document.createElement("mark");
        tag.className = "span-swatch " + labelClass(span.label);
        tag.textContent = labelName(span.label);
        var words = document.createElement("span");
        words.setAttribute("dir", "auto");
        words.textContent = " · " + responseName(span.response) + ": “" + quoted + "”" + (span.note ? " — " + span.note : "");
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = text("remove");
        remove.setAttribute("aria-label", text("remove") + ": “" + quoted + "”");
        remove.addEventListener("click", function () {
          spans.splice(index, 1);
          save();
          paint();
          status.textContent = text("removed", { text: quoted });
          var next = list.querySelector("button") || (target && target.element);
          if (next) next.focus();
        });
        item.append(tag, words, " ", remove);
        list.appendChild(item);
      });
    }

    function describe() {
      if (!selection) {
        status.textContent = text("none");
        return;
      }
      var target = targets[selection.response];
      status.textContent = text("selected", {
        response: responseName(selection.response),
        text: target.text.slice(selection.start, selection.end),
        length: codePoints(target.text, selection.end) - codePoints(target.text, selection.start),
      });
    }

    // The mouse: a selection inside one response, measured with a Range from its start.
    function fromDocument() {
      var chosen = window.getSelection();
      if (!chosen || chosen.rangeCount === 0 || chosen.isCollapsed) return null;
      var range = chosen.getRangeAt(0);
      var names = Object.keys(targets);
      for (var i = 0; i < names.length; i++) {
        var element = targets[names[i]].element;
        if (!element.contains(range.startContainer) || !element.contains(range.endContainer)) continue;
        var before = document.createRange();
        before.selectNodeContents(element);
        before.setEnd(range.startContainer, range.startOffset);
        var start = before.toString().length;
        var end = start + range.toString().length;
        var value = targets[names[i]].text;
        return { response: names[i], start: snap(value, start), end: snap(value, end) };
      }
      return null;
    }

    card.addEventListener("mouseup", function () {
      var picked = fromDocument();
      if (!picked || picked.start === picked.end) return;
      selection = picked;
      var target = targets[picked.response];
      target.anchor = picked.start;
      target.caret = picked.end;
      describe();
    });

    // The keyboard: a caret per response; Shift extends the selection from its anchor.
    // The caret shows while the response has the keyboard's focus (never under the mouse:
    // repainting there would cut a selection being dragged).
    Object.keys(targets).forEach(function (name) {
      var target = targets[name];
      target.element.addEventListener("focus", function () {
        target.keyboard = target.element.matches(":focus-visible");
        if (target.keyboard) paint();
      });
      target.element.addEventListener("blur", function () {
        if (!target.keyboard) return;
        target.keyboard = false;
        paint();
      });
      target.element.addEventListener("keydown", function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey) return;
        var rtl = getComputedStyle(target.element).direction === "rtl";
        var forward = { ArrowRight: !rtl, ArrowLeft: rtl }[event.key];
        var to;
        if (forward === true) {
          to = target.caret + (target.text.codePointAt(target.caret) > 0xffff ? 2 : 1);
        } else if (forward === false) {
          to = snap(target.text, target.caret - 1);
        } else if (event.key === "Home") {
          to = 0;
        } else if (event.key === "End") {
          to = target.text.length;
        } else {
          return;
        }
        event.preventDefault();
        target.keyboard = true;
        target.caret = Math.max(0, Math.min(target.text.length, to));
        if (!event.shiftKey) target.anchor = target.caret;
        var start = Math.min(target.anchor, target.caret);
        var end = Math.max(target.anchor, target.caret);
        selection = start < end ? { response: name, start: start, end: end } : null;
        paint();
        if (selection) {
          describe();
        } else {
          status.textContent = text("none");
        }
      });
    });

    tools.querySelectorAll("[data-span-label]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (!selection) {
          describe();
          return;
        }
        var target = targets[selection.response];
        var span = {
          response: selection.response,
          start: codePoints(target.text, selection.start),
          end: codePoints(target.text, selection.end),
          label: button.getAttribute("data-span-label"),
          note: note.value.trim(),
        };
        spans.push(span);
        note.value = "";
        var quoted = target.text.slice(selection.start, selection.end);
        selection = null;
        var chosen = window.getSelection();
        if (chosen) chosen.removeAllRanges();
        save();
        paint();
        status.textContent = text("added", {
          text: quoted,
          response: responseName(span.response),
          label: labelName(span.label),
        });
      });
    });

    card.classList.add("spans-ready");
    save();
    paint();
  }

  document.addEventListener("taskcard:ready", function (event) {
    setUp(event.detail && event.detail.card);
  });
  document.addEventListener("DOMContentLoaded", function () {
    setUp(document.getElementById("task-card"));
  });
})();
