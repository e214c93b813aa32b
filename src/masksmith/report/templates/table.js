/* masksmith index pages: sortable, filterable tables and mask toggles. Plain JavaScript, offline. */
(function () {
  "use strict";

  var table = document.querySelector("table[data-sortable]");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filters = Array.prototype.slice.call(document.querySelectorAll("[data-filter]"));
  var counter = document.getElementById("shown-count");
  var noun = table.getAttribute("data-noun") || "rows";

  function cellValue(row, index, type) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    return type === "number" ? parseFloat(raw) || 0 : raw.toLowerCase();
  }

  function sortBy(index, direction) {
    var type = headers[index].getAttribute("data-sort-type");
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type);
      var y = cellValue(b, index, type);
      var order = type === "number" ? x - y : x.localeCompare(y, undefined, { numeric: true });
      return direction === "descending" ? -order : order;
    });
    rows.forEach(function (row) { tbody.appendChild(row); });
    headers.forEach(function (th, k) {
      if (k === index) { th.setAttribute("aria-sort", direction); }
      else if (th.hasAttribute("aria-sort")) { th.removeAttribute("aria-sort"); }
    });
  }

  headers.forEach(function (th, index) {
    var button = th.querySelector("button");
    if (!button || !th.hasAttribute("data-sort-type")) { return; }
    button.addEventListener("click", function () {
      var next = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      sortBy(index, next);
    });
  });

  function matches(row) {
    return filters.every(function (input) {
      var wanted = input.value.trim().toLowerCase();
      if (!wanted) { return true; }
      var kind = input.getAttribute("data-filter");
      if (kind === "ops") {
        return (row.getAttribute("data-ops") || "").split("|").some(function (op) {
          return op && op.toLowerCase().indexOf(wanted) !== -1;
        });
      }
      if (kind === "text") { return (row.getAttribute("data-name") || "").toLowerCase().indexOf(wanted) !== -1; }
      if (kind === "status") { return (row.getAttribute("data-status") || "") === wanted; }
      if (kind === "status-text") { return (row.getAttribute("data-status-text") || "").toLowerCase() === wanted; }
      return true;
    });
  }

  function applyFilters() {
    var shown = 0;
    Array.prototype.forEach.call(tbody.rows, function (row) {
      var visible = matches(row);
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    if (counter) { counter.textContent = shown + " of " + tbody.rows.length + " " + noun + " shown"; }
  }

  filters.forEach(function (input) {
    input.addEventListener("input", applyFilters);
    input.addEventListener("change", applyFilters);
  });

  document.querySelectorAll("input[data-overlay]").forEach(function (box) {
    box.addEventListener("change", function () {
      var overlay = document.getElementById(box.getAttribute("data-overlay"));
      if (overlay) { overlay.hidden = !box.checked; }
    });
  });

  // "#op=NAME" in the address pre-fills the operation filter (links from other pages can use it).
  var match = /^#op=(.*)$/.exec(location.hash);
  var opInput = document.querySelector("[data-filter=ops]");
  if (match && opInput) { opInput.value = decodeURIComponent(match[1]); }
  applyFilters();
  document.body.setAttribute("data-ready", "true");
})();
