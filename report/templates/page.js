
(function () {
  "use strict";
  var d = document;
  function all(sel) { return Array.prototype.slice.call(d.querySelectorAll(sel)); }

  // Filters: hidden until this script runs, so a reader without JavaScript sees every finding.
  var form = d.getElementById("filters");
  if (form) {
    var cards = all("article.finding");
    var selects = all("#filters select");
    var query = d.getElementById("f-q");
    var count = d.getElementById("f-count");
    var empty = d.getElementById("f-empty");
    var apply = function () {
      var text = query.value.trim().toLowerCase();
      var shown = 0;
      cards.forEach(function (card) {
        var ok = selects.every(function (s) {
          return s.value === "" || card.getAttribute("data-" + s.getAttribute("data-key")) === s.value;
        });
        if (ok && text !== "") {
          ok = card.textContent.toLowerCase().indexOf(text) >= 0;
        }
        card.hidden = !ok;
        if (ok) { shown++; }
      });
      count.textContent = shown === cards.length ? cards.length + " shown" : shown + " of " + cards.length + " shown";
      empty.hidden = shown !== 0;
    };
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    query.addEventListener("input", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.addEventListener("reset", function () { setTimeout(apply, 0); });
    // A "caused by #N" link must land on its finding even when the filter hides it.
    var reveal = function () {
      var target = location.hash ? d.getElementById(location.hash.slice(1)) : null;
      if (target && target.hidden) {
        form.reset();
        cards.forEach(function (c) { c.hidden = false; });
        apply();
        target.scrollIntoView();
      }
    };
    window.addEventListener("hashchange", reveal);
    form.hidden = false;
    apply();
  }

  // Copy buttons: the commands stay selectable text without JavaScript.
  all("button.copy").forEach(function (button) {
    var source = d.getElementById(button.getAttribute("data-target"));
    if (!source) { return; }
    var done = function (label) {
      button.textContent = label;
      button.classList.add("done");
      setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 1600);
    };
    var fallback = function () {
      var range = d.createRange();
      range.selectNodeContents(source);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = d.execCommand("copy"); } catch (e) { ok = false; }
      done(ok ? "Copied" : "Press Ctrl+C");
    };
    button.addEventListener("click", function () {
      var text = source.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("Copied"); }, fallback);
      } else {
        fallback();
      }
    });
    button.hidden = false;
  });

  // Print everything, folded or not.
  window.addEventListener("beforeprint", function () {
    all("details").forEach(function (x) { x.open = true; });
  });
})();
