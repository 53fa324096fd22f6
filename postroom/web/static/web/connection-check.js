/* A mailbox being connected: ask the check's status every second; once connected,
 * reload (the page then leads on to the mailbox), once failed, say why. */
(function () {
  "use strict";
  var box = document.querySelector(".connection-check[data-status-url]");
  if (!box || box.dataset.status !== "checking") return;
  var outcome = box.querySelector("[data-outcome]");
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (check) {
        if (!check || check.status === "checking") return setTimeout(poll, 1000);
        box.dataset.status = check.status;
        if (check.status === "connected") {
          outcome.textContent = check.outcome;
          window.location.reload();
          return;
        }
        outcome.textContent = (box.dataset.failed || "") + check.outcome;
        outcome.className = "error";
        box.querySelector("[data-again]").hidden = false;
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
