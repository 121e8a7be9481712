// medrelay console: the little that needs a script. Every page works without it.
"use strict";

document.addEventListener("submit", (event) => {
  // A form that asks first: <form data-confirm="Really?">.
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("change", (event) => {
  // A filter that applies as soon as it is chosen: <select data-autosubmit>.
  if (event.target.hasAttribute("data-autosubmit") && event.target.form) {
    event.target.form.requestSubmit();
  }
});
