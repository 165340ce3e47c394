// mamori's own script, on every page (loaded with defer; no inline script anywhere: CSP).
// When an htmx request fails, say so in the page's language: the messages are attributes of
// <body>, translated by the server.
(function () {
  "use strict";

  function flash(message) {
    var box = document.getElementById("flash");
    if (!box || !message) {
      return;
    }
    box.textContent = message;
    box.hidden = false;
  }

  function clear() {
    var box = document.getElementById("flash");
    if (box) {
      box.hidden = true;
      box.textContent = "";
    }
  }

  document.addEventListener("htmx:beforeRequest", clear);
  document.addEventListener("htmx:responseError", function () {
    flash(document.body.getAttribute("data-request-failed"));
  });
  document.addEventListener("htmx:sendError", function () {
    flash(document.body.getAttribute("data-network-failed"));
  });
})();
