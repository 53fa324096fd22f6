// What the pages ask of script by data attributes, so that no template needs an inline
// script or an on...= handler: the Content-Security-Policy allows only script files
// from Postroom itself (script-src 'self').
//   <form data-confirm="Delete it?">   asks before it is submitted
//   <select data-autosubmit>            submits its form when changed
//   <a data-back href="/">              goes back in the history (the href without script)
//   <button data-copy="ID">             copies the value of the field with that id
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var back = event.target.closest("[data-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var field = document.getElementById(copy.getAttribute("data-copy"));
      if (!field) return;
      field.select();
      var done = function () { copy.textContent = "Copied"; };
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done); }
      else { document.execCommand("copy"); done(); }
    }
  });
})();
