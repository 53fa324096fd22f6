// The inbox and the conversation workflow, in a little vanilla JS (no CDN, no build):
// keyboard shortcuts (j/k move, o/Enter open, x tick, e close, a assign, r reply), the
// live "Alice is replying" line, the reply form's heartbeat, and @mention autocomplete.
(function () {
  "use strict";

  function typing(event) {
    const t = event.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) ||
      (t.closest && t.closest("trix-editor")));
  }

  function csrf() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  // ------------------------------------------------------------- the inbox list
  const inbox = document.querySelector("[data-inbox]");
  if (inbox) {
    const rows = Array.from(inbox.querySelectorAll("tr[data-row]"));
    const bulk = document.getElementById("bulk");
    let current = rows.length ? 0 : -1;
    const show = function () {
      rows.forEach(function (row, i) { row.classList.toggle("current", i === current); });
      if (current >= 0) rows[current].scrollIntoView({ block: "nearest" });
    };
    const tickAll = inbox.querySelector("[data-tick-all]");
    if (tickAll) {
      tickAll.addEventListener("change", function () {
        rows.forEach(function (row) { row.querySelector("input[type=checkbox]").checked = tickAll.checked; });
      });
    }
    // A key acts on the ticked rows, or on the current one when none is ticked.
    const target = function () {
      const ticked = rows.filter(function (row) { return row.querySelector("input[type=checkbox]").checked; });
      if (!ticked.length && current >= 0) rows[current].querySelector("input[type=checkbox]").checked = true;
      return ticked.length || current >= 0;
    };
    const submit = function (action) {
      if (!bulk || !target()) return;
      const button = bulk.querySelector("button[name=action][value=" + action + "]");
      if (button) button.click();
    };
    show();
    document.addEventListener("keydown", function (event) {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "j" && current < rows.length - 1) { current += 1; show(); }
      else if (event.key === "k" && current > 0) { current -= 1; show(); }
      else if ((event.key === "o" || event.key === "Enter") && current >= 0) { window.location = rows[current].dataset.url; }
      else if (event.key === "r" && current >= 0) { window.location = rows[current].dataset.reply; }
      else if (event.key === "x" && current >= 0) {
        const box = rows[current].querySelector("input[type=checkbox]");
        box.checked = !box.checked;
      }
      else if (event.key === "e") { submit("closed"); }
      else if (event.key === "a") {
        const picker = bulk && bulk.querySelector("[data-assign]");
        if (picker) { target(); picker.focus(); }
      }
      else return;
      event.preventDefault();
    });
  }

  // ------------------------------------------------------------- a conversation
  const bar = document.querySelector(".workflow-bar");
  if (bar) {
    document.addEventListener("keydown", function (event) {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "e") {
        const close = bar.querySelector("button[data-close]");
        if (close) close.click();
      } else if (event.key === "a") {
        const picker = bar.querySelector("[data-assign]");
        if (picker) picker.focus();
      } else if (event.key === "r") {
        const reply = document.querySelector(".compose-actions a");
        if (reply) window.location = reply.href;
      } else return;
      event.preventDefault();
    });
    // "Alice is replying", live: the fragment is polled while the page is visible.
    const presence = bar.querySelector("[data-presence]");
    if (presence) {
      const poll = function () {
        if (document.hidden) return;
        fetch(presence.dataset.presence, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) { if (html !== null && presence.innerHTML !== html) presence.innerHTML = html; })
          .catch(function () {});
      };
      window.setInterval(poll, 3000);
    }
  }

  // ------------------------------------------------------------- the reply form
  const compose = document.querySelector("form[data-replying]");
  if (compose) {
    const url = compose.dataset.replying;
    const beat = function (stop) {
      const body = new URLSearchParams({ csrfmiddlewaretoken: csrf() });
      if (stop) body.set("stop", "1");
      if (stop && navigator.sendBeacon) { navigator.sendBeacon(url, body); return; }
      fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } }).catch(function () {});
    };
    beat(false);
    window.setInterval(function () { if (!document.hidden) beat(false); }, 5000);
    window.addEventListener("pagehide", function () { beat(true); });
  }

  // ------------------------------------------------------------- @mentions
  const area = document.querySelector("textarea[data-mention]");
  const data = document.getElementById("mentionable");
  if (area && data) {
    const people = JSON.parse(data.textContent);
    const list = area.closest("form").querySelector(".mention-list");
    let matches = [], chosen = 0;
    const word = function () {
      const before = area.value.slice(0, area.selectionStart);
      const found = /(^|[^\w.@])@([\w.+-]*)$/.exec(before);
      return found ? found[2] : null;
    };
    const close = function () { list.hidden = true; matches = []; };
    const pick = function (person) {
      const start = area.selectionStart;
      const before = area.value.slice(0, start).replace(/@[\w.+-]*$/, "@" + person.username + " ");
      area.value = before + area.value.slice(start);
      area.selectionStart = area.selectionEnd = before.length;
      close();
      area.focus();
    };
    const render = function () {
      list.innerHTML = "";
      matches.forEach(function (person, i) {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.dataset.username = person.username;
        item.textContent = person.name + " (@" + person.username + ")";
        if (i === chosen) item.setAttribute("aria-selected", "true");
        item.addEventListener("mousedown", function (event) { event.preventDefault(); pick(person); });
        list.appendChild(item);
      });
      list.hidden = !matches.length;
    };
    area.addEventListener("input", function () {
      const typed = word();
      if (typed === null) { close(); return; }
      const q = typed.toLowerCase();
      matches = people.filter(function (p) {
        return p.username.toLowerCase().startsWith(q) || p.name.toLowerCase().split(/\s+/).some(function (w) { return w.startsWith(q); });
      }).slice(0, 8);
      chosen = 0;
      render();
    });
    area.addEventListener("keydown", function (event) {
      if (list.hidden || !matches.length) return;
      if (event.key === "ArrowDown") { chosen = (chosen + 1) % matches.length; render(); }
      else if (event.key === "ArrowUp") { chosen = (chosen + matches.length - 1) % matches.length; render(); }
      else if (event.key === "Enter" || event.key === "Tab") { pick(matches[chosen]); }
      else if (event.key === "Escape") { close(); }
      else return;
      event.preventDefault();
    });
    area.addEventListener("blur", function () { window.setTimeout(close, 150); });
  }
})();
