// The manager's dashboard: draws the figures of the json_script "dashboard-data" with
// the vendored Chart.js; the numbers stay in the page beside each chart.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const accent = "#3056d3";
  const common = { responsive: true, maintainAspectRatio: false, animation: false,
                   plugins: { legend: { display: false } } };
  function draw(name, type, label, colors, extra) {
    const canvas = document.getElementById("chart-" + name);
    if (!canvas || !window.Chart) { return; }
    const figure = data[name];
    new window.Chart(canvas, {
      type: type,
      data: { labels: figure.labels,
              datasets: [{ label: label, data: figure.values, backgroundColor: colors,
                           borderColor: accent }] },
      options: Object.assign({}, common, extra || {}),
    });
  }
  draw("incoming", "bar", "Incoming emails", accent,
       { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
  draw("first_reply", "bar", "Minutes", [accent, "#8a5300"],
       { scales: { y: { beginAtZero: true, title: { display: true, text: "minutes" } } } });
  draw("sla", "doughnut", "Deadlines", ["#1e6b35", "#c62828"],
       { plugins: { legend: { display: true, position: "bottom" } } });
  draw("open_per_person", "bar", "Open conversations", accent,
       { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
  draw("replies_per_person", "bar", "Replies", "#1e6b35",
       { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
})();
