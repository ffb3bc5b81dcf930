/* RefExp leaderboard: sortable tables and filters, plain DOM, no dependencies (works offline).
   Sorting: click (or Enter on) a header with data-sort="num"|"text"; cells may carry data-value.
   Filters: rows carry data-env-version, data-family, data-method, data-verification. */
(function () {
  "use strict";

  function value(td, kind) {
    var raw = td.hasAttribute("data-value") ? td.getAttribute("data-value") : td.textContent.trim();
    return kind === "num" ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortTable(table, th) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var col = heads.indexOf(th);
    var kind = th.getAttribute("data-sort");
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "ascending" ? "descending" : "ascending")
                      : (th.getAttribute("data-first") === "desc" ? "descending" : "ascending");
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-row]"));
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = value(a.cells[col], kind), y = value(b.cells[col], kind);
      if (x < y) return -sign;
      if (x > y) return sign;
      return 0;  // Array.prototype.sort is stable: ties keep their order
    });
    var empty = body.querySelector("tr.empty");
    rows.forEach(function (r) { body.insertBefore(r, empty); });
  }

  function applyFilters() {
    var version = document.getElementById("f-env-version").value;
    var family = document.getElementById("f-family").value;
    var method = document.getElementById("f-method").value;
    var verified = document.getElementById("f-verified").checked;
    var shown = 0, total = 0;
    document.querySelectorAll("table.board").forEach(function (table) {
      var visible = 0;
      table.querySelectorAll("tbody tr[data-row]").forEach(function (tr) {
        var ok = (!version || tr.getAttribute("data-env-version") === version) &&
                 (!family || tr.getAttribute("data-family") === family) &&
                 (!method || tr.getAttribute("data-method") === method) &&
                 (!verified || tr.getAttribute("data-verification") === "verified");
        tr.hidden = !ok;
        total += 1;
        if (ok) { visible += 1; shown += 1; }
      });
      table.querySelector("tr.empty").hidden = visible > 0;
    });
    document.getElementById("f-count").textContent = shown + " of " + total + " rows shown";
  }

  document.querySelectorAll("table.board th[data-sort]").forEach(function (th) {
    var table = th.closest("table");
    th.addEventListener("click", function () { sortTable(table, th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, th); }
    });
  });
  ["f-env-version", "f-family", "f-method", "f-verified"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("change", applyFilters);
  });
  if (document.getElementById("filters")) applyFilters();
})();
