// The user's time zone (postroom.accounts.timezones). Until one is saved, the browser's
// zone is sent once (saved only while none is set) and the page reloaded to show times
// in it if they were shown at another UTC offset; on the profile, the picker offers
// the browser's zone when none is saved.
(function () {
  "use strict";
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  if (!zone) return;

  document.querySelectorAll("[data-browser-zone]").forEach(function (select) {
    const hint = document.querySelector("[data-browser-zone-name]");
    if (hint) hint.textContent = zone;
    if (!select.value && Array.from(select.options).some((o) => o.value === zone)) {
      select.value = zone;
    }
  });

  const guess = document.getElementById("time-zone-guess");
  if (!guess) return;
  const body = new FormData(guess);
  body.set("time_zone", zone);
  fetch(guess.action, { method: "POST", body: body, credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then(function (answer) {
      // Reload only when this page's times are at another offset, and never under
      // someone who has started typing.
      const typing = document.activeElement && document.activeElement.matches("input, textarea, select, [contenteditable]");
      const shownOffset = Number(guess.dataset.offset) / 60; // minutes east of UTC
      if (answer && answer.changed && shownOffset !== -new Date().getTimezoneOffset() && !typing) {
        window.location.reload();
      }
    })
    .catch(function () {});
})();
