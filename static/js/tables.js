/* Phone layout helper: copy each table's column headings onto its cells (data-label), so a table
 * marked `cards` can show every row as a labelled card on a narrow screen (see cxhub.css).
 * Cells that already carry a data-label keep it. Runs on load and after htmx swaps. */
(function () {
  "use strict";

  function label(table) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    var names = [];
    Array.prototype.forEach.call(head.cells, function (cell) {
      var span = cell.colSpan || 1, text = cell.textContent.replace(/\s+/g, " ").trim();
      for (var i = 0; i < span; i++) names.push(text);
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label") && cell.colSpan === 1 && names[column]) {
            cell.setAttribute("data-label", names[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
  }

  function labelAll(root) {
    (root || document).querySelectorAll("table").forEach(label);
  }

  document.addEventListener("DOMContentLoaded", function () { labelAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target;
    if (target && target.closest) {
      var table = target.closest("table");
      if (table) label(table); else labelAll(target);
    }
  });
})();
