// CRM item pickers: a <select data-item-search="URL"> refills from the JSON search
// (crm_save_views.item_search: only items the reader may read) as one types.
// Without this script each picker still works: its "Find" button GETs a page with the
// matches, and form selects list the first items by name.
(function () {
  "use strict";
  if (window.postroomPicker) return; // included once per widget: set up once
  window.postroomPicker = true;

  function searchBoxFor(select) {
    const box = document.querySelector(`input[data-picker-for="${select.id}"]`);
    if (box) return box;
    // Form pickers (forms_crm.py) come without a box: add one above the select.
    const made = document.createElement("input");
    made.type = "search";
    made.placeholder = "Search by name or email";
    made.setAttribute("aria-label", "Search");
    made.className = "picker-search";
    select.before(made);
    return made;
  }

  function fill(select, items, valueKey) {
    const keep = select.value;
    const keepOption = keep ? select.querySelector(`option[value="${CSS.escape(keep)}"]`) : null;
    const blank = select.querySelector('option[value=""]');
    select.replaceChildren();
    // A form's empty choice stays first; the current choice stays chosen.
    if (blank && select.dataset.value !== "ref") select.append(blank);
    if (keepOption && !items.some((i) => String(i[valueKey]) === keep)) select.append(keepOption);
    for (const item of items) {
      select.append(new Option(item.text, item[valueKey], false, String(item[valueKey]) === keep));
    }
    if (!select.options.length) select.append(new Option("(no match)", ""));
  }

  function setUp(select) {
    if (select.dataset.pickerReady) return;
    select.dataset.pickerReady = "1";
    const box = searchBoxFor(select);
    const valueKey = select.dataset.value === "ref" ? "ref" : "id";
    const find = select.form && select.form.querySelector("[data-picker-find]");
    if (find) find.hidden = true;
    // The Find button sits in the POST form but submits the GET one: Enter in the box
    // would do the same, so keep it from leaving the page.
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });
    let timer = null;
    let asked = 0;
    box.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const url = new URL(select.dataset.itemSearch, window.location.href);
        url.searchParams.set("q", box.value);
        const ticket = ++asked;
        try {
          const response = await fetch(url, {
            headers: { "X-Requested-With": "fetch", Accept: "application/json" },
            credentials: "same-origin",
          });
          if (!response.ok || ticket !== asked) return;
          fill(select, (await response.json()).items, valueKey);
        } catch (error) {
          // Offline or server gone: the select keeps what it had.
        }
      }, 200);
    });
  }

  function start() {
    document.querySelectorAll("select[data-item-search]").forEach(setUp);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
