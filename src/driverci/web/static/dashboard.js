/* driverci dashboard: table sorting, the CI page's charts (Chart.js, vendored) and the
   admin forms. No framework, nothing fetched from outside this server. */
(function () {
  "use strict";

  function sortValue(cell, type) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    if (type === "number") { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return raw.toLowerCase();
  }

  function makeSortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, index) {
      th.addEventListener("click", function () {
        var type = th.getAttribute("data-type") || "text";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = sortValue(a.cells[index], type), y = sortValue(b.cells[index], type);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  // Draws the deadline as a vertical line on the latency histogram (category x axis:
  // bin i spans hours [i, i+1), so hour h sits at index h - 0.5).
  var deadlinePlugin = {
    id: "deadlineLine",
    afterDatasetsDraw: function (chart, args, options) {
      if (options.hours === undefined || options.hours === null) return;
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      var at = options.hours - 0.5, low = Math.floor(at), frac = at - low;
      var p0 = x.getPixelForValue(low), p1 = x.getPixelForValue(low + 1);
      var px = p0 + (p1 - p0) * frac;
      ctx.save();
      ctx.strokeStyle = "#b42318"; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = "#b42318"; ctx.font = "bold 12px sans-serif";
      ctx.fillText("deadline " + options.hours + " h", px + 4, area.top + 12);
      ctx.restore();
    }
  };

  function axis(title, extra) {
    var scale = { title: { display: true, text: title } };
    for (var key in extra) scale[key] = extra[key];
    return scale;
  }

  function percent(value) { return value === null ? null : Math.round(value * 1000) / 10; }

  function drawCharts(data) {
    if (typeof Chart === "undefined") return;
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    var bins = data.latency_histogram;
    new Chart(document.getElementById("latency-chart"), {
      type: "bar",
      data: {
        labels: bins.map(function (b) {
          return b.end_hours === null ? "≥" + b.start_hours : b.start_hours + "–" + b.end_hours;
        }),
        datasets: [{ label: "patch sets", data: bins.map(function (b) { return b.count; }),
                     backgroundColor: bins.map(function (b) {
                       return b.start_hours >= data.deadline_hours ? "#f0a58f" : "#6e9fd8"; }) }]
      },
      options: {
        plugins: { title: { display: true, text: "Latency to first result (hours)" },
                   legend: { display: false }, deadlineLine: { hours: data.deadline_hours } },
        scales: { x: axis("hours after upload"), y: axis("patch sets", { beginAtZero: true }) }
      },
      plugins: [deadlinePlugin]
    });
    var weeks = data.weekly;
    new Chart(document.getElementById("weekly-chart"), {
      type: "line",
      data: {
        labels: weeks.map(function (w) { return w.week_start; }),
        datasets: [
          { label: "coverage %", data: weeks.map(function (w) { return percent(w.coverage); }),
            borderColor: "#1a7f37", backgroundColor: "#1a7f37", spanGaps: true },
          { label: "on time %", data: weeks.map(function (w) { return percent(w.on_time_rate); }),
            borderColor: "#0969da", backgroundColor: "#0969da", spanGaps: true }
        ]
      },
      options: {
        plugins: { title: { display: true, text: "Coverage and on-time rate per week (%)" } },
        scales: { x: axis("week starting (UTC date)"), y: axis("%", { min: 0, max: 100 }) }
      }
    });
    var probes = data.probe_history;
    new Chart(document.getElementById("probe-chart"), {
      type: "line",
      data: {
        labels: probes.map(function (p) { return p.day; }),
        datasets: [{ label: "links available %", data: probes.map(function (p) { return percent(p.share); }),
                     borderColor: "#9a6700", backgroundColor: "#9a6700", stepped: false }]
      },
      options: {
        plugins: { title: { display: true, text: "Artifact availability when probed (%)" },
                   tooltip: { callbacks: { afterLabel: function (item) {
                     var p = probes[item.dataIndex]; return p.available + " of " + p.checked + " links"; } } } },
        scales: { x: axis("probe date (UTC)"), y: axis("% of links available", { min: 0, max: 100 }) }
      }
    });
  }

  var TOKEN_KEY = "driverci-admin-token";

  function setupAdmin() {
    var box = document.getElementById("admin-forms");
    var input = document.getElementById("admin-token");
    if (!box || !input) return;
    var result = document.getElementById("admin-result");
    function refresh() { box.hidden = input.value.trim() === ""; }
    input.value = sessionStorage.getItem(TOKEN_KEY) || "";
    input.addEventListener("input", function () {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim()); refresh();
    });
    refresh();
    Array.prototype.forEach.call(box.querySelectorAll("form"), function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = {};
        new FormData(form).forEach(function (value, key) {
          if (value !== "") body[key] = key === "allowed" ? value === "true" : value;
        });
        fetch("/api/v1/admin/ci/" + encodeURIComponent(box.dataset.account) + "/" + form.dataset.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Authorization": "Bearer " + input.value.trim() },
          body: JSON.stringify(body)
        }).then(function (response) {
          return response.json().then(function (payload) {
            if (response.ok) { result.textContent = "Saved to " + payload.registry + "."; location.reload(); }
            else { result.textContent = "Refused (" + response.status + "): " + payload.detail; }
          });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    var data = document.getElementById("ci-data");
    if (data) drawCharts(JSON.parse(data.textContent));
    setupAdmin();
  });
})();
