// Spaces Connector UI behaviour: no inline script anywhere (the CSP forbids
// it), so small enhancements are wired here by data attributes.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
