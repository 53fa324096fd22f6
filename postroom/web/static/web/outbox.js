/* Undo-send: an Undo button is offered until the email's not-before time; then the
 * page reloads to show what became of the email. */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form.undo[data-until]");
  var latest = 0;
  forms.forEach(function (form) {
    var until = Date.parse(form.dataset.until);
    if (!isNaN(until)) latest = Math.max(latest, until);
  });
  if (latest) setTimeout(function () { window.location.reload(); }, Math.max(0, latest - Date.now()) + 1500);
})();
