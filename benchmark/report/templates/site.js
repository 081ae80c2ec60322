/* Sort a table by a column (click or Enter/Space on its header button) within each block of rows, and filter the
   page by task, DPC, learner and method kind. No network, no library. */
(function () {
  function value(cell) {
    var v = cell ? cell.getAttribute("data-value") : "";
    return v === null || v === "" ? null : parseFloat(v);
  }
  document.querySelectorAll("table.board-table").forEach(function (table) {
    table.querySelectorAll("thead button.sort").forEach(function (button) {
      button.addEventListener("click", function () {
        var th = button.parentElement;
        var col = Array.prototype.indexOf.call(th.parentElement.children, th);
        var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
        table.querySelectorAll("thead th[aria-sort]").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", dir);
        table.querySelectorAll("tbody").forEach(function (tbody) {
          var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr:not(.block)"));
          rows.sort(function (a, b) {
            var x = value(a.children[col]), y = value(b.children[col]);
            if (x === null && y === null) return 0;
            if (x === null) return 1;
            if (y === null) return -1;
            return dir === "descending" ? y - x : x - y;
          });
          rows.forEach(function (row) { tbody.appendChild(row); });
        });
      });
    });
  });
  var selects = document.querySelectorAll("#filters select");
  function matches(element, filters) {
    return ["task", "dpc", "learner"].every(function (key) {
      var want = filters[key], have = element.getAttribute("data-" + key);
      return !want || have === null || have === want;
    });
  }
  function apply() {
    var filters = {};
    selects.forEach(function (s) { filters[s.getAttribute("data-filter")] = s.value; });
    document.querySelectorAll("section.board").forEach(function (section) {
      var table = section.querySelector("table");
      var heads = table.querySelectorAll("thead th");
      var shown = 0;
      heads.forEach(function (th, i) {
        if (i === 0) return;
        var ok = matches(th, filters);
        th.hidden = !ok;
        if (ok) shown += 1;
        table.querySelectorAll("tbody tr:not(.block)").forEach(function (tr) { if (tr.children[i]) tr.children[i].hidden = !ok; });
      });
      table.querySelectorAll("tbody tr:not(.block)").forEach(function (tr) {
        var kind = tr.getAttribute("data-kind");
        tr.hidden = Boolean(filters.kind && kind && kind !== filters.kind);
      });
      section.hidden = !matches(section, filters) || (heads.length > 1 && shown === 0);
    });
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  apply();
})();
