/* mailroom review — keyboard shortcuts and the category filter. Plain JS, no build step.
   Every action also works without JavaScript (links, radios, buttons); this only makes it faster. */
(function () {
  "use strict";
  var body = document.body;
  var page = body.dataset.page;

  function typing(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && !/^(radio|checkbox|button|submit|reset)$/.test(el.type);
  }
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }
  function go(url) { if (url) window.location.assign(url); }
  function digit(event) {
    var match = /^(?:Digit|Numpad)([1-9])$/.exec(event.code || "");
    if (match) return match[1];
    return /^[1-9]$/.test(event.key) ? event.key : null;
  }

  // -- live region: after a decision, say what happened and where we are now -----------------
  var announce = document.getElementById("annonce");
  if (announce && announce.dataset.message) {
    window.setTimeout(function () { announce.textContent = announce.dataset.message; }, 150);
  }

  var help = document.getElementById("aide");
  function showHelp() { if (help && !help.open) help.showModal(); }
  document.querySelectorAll("[data-action=help]").forEach(function (b) { b.addEventListener("click", showHelp); });

  // -- category filter ---------------------------------------------------------------
  var filter = document.getElementById("filtre");
  var items = Array.prototype.slice.call(document.querySelectorAll("#autres li"));
  function visibleRadios() {
    return items.filter(function (li) { return !li.hidden; }).map(function (li) { return li.querySelector("input"); });
  }
  function applyFilter() {
    var q = fold(filter.value);
    items.forEach(function (li) { li.hidden = q !== "" && fold(li.dataset.filter).indexOf(q) === -1; });
    var none = document.getElementById("aucune");
    if (none) none.hidden = visibleRadios().length > 0;
  }
  function pick(radio) {
    if (!radio || radio.matches(":disabled")) return;
    radio.checked = true;
    radio.focus();
    radio.scrollIntoView({ block: "nearest" });
  }
  if (filter) {
    filter.addEventListener("input", applyFilter);
    filter.addEventListener("keydown", function (event) {
      var radios = visibleRadios();
      if (event.key === "Enter") {          // Enter in the filter picks, a second Enter decides
        event.preventDefault();
        pick(radios[0]);
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        pick(radios[0]);
      } else if (event.key === "Escape") {
        filter.value = ""; applyFilter(); filter.blur();
      }
    });
  }

  // -- pages zoom ----------------------------------------------------------------------
  var pages = document.querySelector(".pages");
  var zoomButton = document.querySelector("[data-action=zoom]");
  function toggleZoom() {
    if (!pages) return;
    var on = !pages.classList.contains("zoomed");
    pages.classList.toggle("zoomed", on);
    pages.querySelectorAll("img[data-zoom]").forEach(function (img) {
      if (!img.dataset.page) img.dataset.page = img.getAttribute("src");
      img.setAttribute("src", on ? img.dataset.zoom : img.dataset.page);
    });
    if (zoomButton) zoomButton.setAttribute("aria-pressed", on ? "true" : "false");
  }
  if (zoomButton) zoomButton.addEventListener("click", toggleZoom);

  // -- decision ------------------------------------------------------------------------
  var form = document.getElementById("decision");
  var choice = document.getElementById("choisie");
  function decide() {
    if (!form || !choice) return;
    var picked = form.querySelector("input[name=category]:checked");
    if (!picked) { if (filter) filter.focus(); return; }
    form.requestSubmit(choice);
  }
  var sent = false;
  if (form) form.addEventListener("submit", function (event) {
    if (sent) event.preventDefault();   // one decision per page, however fast the keys
    sent = true;
  });

  function openReject() {
    var details = document.getElementById("rejet");
    if (!details) return;
    details.open = true;
    var reason = document.getElementById("reason");
    if (reason) reason.focus();
  }

  // -- queue: J/K walk the rows ---------------------------------------------------------
  function walkQueue(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("a.open"));
    if (!links.length) return;
    var index = links.indexOf(document.activeElement);
    var next = index === -1 ? 0 : Math.min(links.length - 1, Math.max(0, index + step));
    links[next].focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    if (help && help.open) return;   // the dialog handles Escape itself
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var key = event.key;
    if (key === "?") { event.preventDefault(); showHelp(); return; }
    if (page === "queue") {
      if (key === "Enter" && target === document.body) { event.preventDefault(); walkQueue(1); go(document.activeElement.href); }
      else if (key === "j" || key === "J") { event.preventDefault(); walkQueue(1); }
      else if (key === "k" || key === "K") { event.preventDefault(); walkQueue(-1); }
      return;
    }
    if (page !== "document") return;
    var n = digit(event);
    if (n) {
      var radio = document.querySelector("input[name=category][data-key='" + n + "']");
      if (radio) { event.preventDefault(); pick(radio); }
      return;
    }
    if (key === "Enter") {
      if (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY") return;
      if (target.closest && target.closest("#rejet")) return;
      event.preventDefault();
      decide();
    } else if (key === "/" || key === "c" || key === "C") {
      if (filter && !filter.matches(":disabled")) { event.preventDefault(); filter.focus(); filter.select(); }
    } else if (key === "j" || key === "J") { event.preventDefault(); go(body.dataset.next); }
    else if (key === "k" || key === "K") { event.preventDefault(); go(body.dataset.previous); }
    else if (key === "z" || key === "Z") { event.preventDefault(); toggleZoom(); }
    else if (key === "r" || key === "R") { if (document.getElementById("rejet")) { event.preventDefault(); openReject(); } }
    else if (key === "e" || key === "E") {
      var sender = document.getElementById("sender");
      if (sender && !sender.matches(":disabled")) { event.preventDefault(); sender.focus(); }
    }
  });
})();
