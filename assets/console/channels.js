// medrelay console: drag a patient's channels into a new order. The card works without this
// file (the up/down buttons post the same form); dropping a channel posts the order as listed.
"use strict";

document.querySelectorAll("form[data-channel-order]").forEach((form) => {
  const list = form.querySelector("ol.channel-order");
  const save = form.querySelector("button[value='order']");
  if (!list || !save) {
    return;
  }
  let dragged = null;
  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li");
    if (dragged) {
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.channel || "");
    }
  });
  list.addEventListener("dragover", (event) => {
    const over = event.target.closest("li");
    if (!dragged || !over || over === dragged) {
      return;
    }
    event.preventDefault();
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", (event) => {
    event.preventDefault();
  });
  list.addEventListener("dragend", () => {
    if (!dragged) {
      return;
    }
    dragged.classList.remove("dragging");
    dragged = null;
    // The hidden `order` fields moved with their items: the form now posts the new order.
    form.requestSubmit(save);
  });
});

document.addEventListener("submit", (event) => {
  // A button that asks first: <button data-confirm="Really?">.
  const button = event.submitter;
  const question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
