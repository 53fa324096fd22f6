// The tracking report: draws the figures of the json_script "tracking-report-data"
// with the vendored Chart.js; the numbers stay in the page beside each chart.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("tracking-report-data").textContent);
  const colors = ["#3056d3", "#1e6b35"];
  function draw(name, type, extra) {
    const canvas = document.getElementById("chart-" + name);
    if (!canvas || !window.Chart) { return; }
    const figure = data[name];
    new window.Chart(canvas, {
      type: type,
      data: {
        labels: figure.labels,
        datasets: figure.datasets.map(function (set, i) {
          return { label: set.label, data: set.values, backgroundColor: colors[i % 2],
                   borderColor: colors[i % 2] };
        }),
      },
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
                               plugins: { legend: { display: true, position: "bottom" } } },
                             extra || {}),
    });
  }
  const percent = { scales: { y: { beginAtZero: true, max: 100,
                                   title: { display: true, text: "%" } } } };
  const counts = { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } };
  draw("rates_sender", "bar", percent);
  draw("rates_mailbox", "bar", percent);
  draw("rates_template", "bar", percent);
  draw("mail_per_day", "line", counts);
  draw("items_per_day", "bar", counts);
  draw("items_per_mailbox", "bar", counts);
})();
