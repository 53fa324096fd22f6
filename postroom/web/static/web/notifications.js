// The header's notification badge and any notification list on the page, kept live:
// polls /notifications/live/ (JSON) every few seconds while the tab is visible.
(function () {
  "use strict";
  const badge = document.querySelector("[data-notification-badge]");
  if (!badge) return;
  const url = badge.dataset.notificationBadge;
  const every = 5000;

  function ago(seconds) {
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " days ago";
  }

  function showBadge(count) {
    badge.textContent = "";
    if (count > 0) {
      const span = document.createElement("span");
      span.className = "badge";
      span.textContent = String(count);
      badge.appendChild(span);
    }
  }

  function showList(list, items) {
    const known = new Set([...list.querySelectorAll("[data-notification-id]")].map(
      (li) => li.dataset.notificationId));
    // Newest first: new ones go on top, in order.
    for (const item of items.slice().reverse()) {
      if (known.has(String(item.id))) continue;
      const li = document.createElement("li");
      li.className = "card" + (item.unread ? " unread" : "");
      li.dataset.notificationId = String(item.id);
      const time = document.createElement("time");
      time.dateTime = item.created_at;
      time.title = item.exact || item.created_at;
      time.textContent = ago(item.seconds_ago);
      const p = document.createElement("p");
      if (item.url) {
        const a = document.createElement("a");
        a.href = item.url;
        a.textContent = item.text;
        p.appendChild(a);
      } else {
        p.textContent = item.text;
      }
      li.append(time, p);
      list.prepend(li);
      const empty = document.querySelector("[data-notification-empty]");
      if (empty) empty.hidden = true;
    }
  }

  async function poll() {
    if (document.visibilityState !== "hidden") {
      try {
        const answer = await fetch(url, { headers: { Accept: "application/json" } });
        if (answer.ok) {
          const data = await answer.json();
          showBadge(data.unread);
          document.querySelectorAll("[data-notification-list]").forEach(
            (list) => showList(list, data.items));
        }
      } catch (error) {
        // Offline for a moment: the next round tries again.
      }
    }
    window.setTimeout(poll, every);
  }
  // A page with the header's menu asks at once, so the menu is filled when opened.
  if (document.querySelector("[data-notification-menu]")) {
    poll();
  } else {
    window.setTimeout(poll, every);
  }
})();
