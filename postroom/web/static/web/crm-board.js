// Kanban boards: drag a card to another column to move the item to that stage.
// The POST goes to the same URL as the form under each card (the no-script fallback);
// the server decides, and a refusal is shown and the card goes back.
(function () {
  "use strict";
  const board = document.querySelector("[data-board]");
  if (!board) return;
  document.body.classList.add("js-board");
  const token = document.querySelector("#board-csrf input[name=csrfmiddlewaretoken]").value;
  const errorBox = document.querySelector(".board-error");
  let dragged = null;

  function count(column, delta) {
    const el = column.querySelector(".count");
    el.textContent = String(Number(el.textContent) + delta);
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest(".board-card[draggable=true]");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.card);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach((c) => c.classList.remove("drop-target"));
  });
  board.addEventListener("dragover", (event) => {
    const column = event.target.closest(".board-column");
    if (!dragged || !column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach((c) => c !== column && c.classList.remove("drop-target"));
    column.classList.add("drop-target");
  });
  board.addEventListener("drop", async (event) => {
    const column = event.target.closest(".board-column");
    const card = dragged;
    dragged = null;
    if (!card || !column) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    const from = card.closest(".board-column");
    if (from === column) return;
    // Move at once, undo on refusal: the board stays responsive.
    column.querySelector("ol.cards").prepend(card);
    count(from, -1);
    count(column, 1);
    const body = new URLSearchParams({ stage: column.dataset.stage });
    let response;
    try {
      response = await fetch(card.dataset.moveUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token, "X-Requested-With": "fetch" },
      });
    } catch (error) {
      response = null;
    }
    if (response && response.ok) {
      errorBox.hidden = true;
      // A collapsed (closed) column shows a count, not its cards.
      if (column.classList.contains("collapsed")) card.remove();
      card.querySelector("select[name=stage]").value = column.dataset.stage;
      card.dataset.moved = column.dataset.stage;
      return;
    }
    from.querySelector("ol.cards").prepend(card);
    count(column, -1);
    count(from, 1);
    showError(response ? await response.text() : "Postroom did not answer: the card was not moved.");
  });
})();
