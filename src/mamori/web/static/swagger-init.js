// Starts Swagger UI on /api/docs. A file, not an inline script: the Content-Security-Policy
// allows scripts from mamori's origin only. The schema URL comes from the page (data-openapi-url).
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") {
      return;
    }
    window.ui = window.SwaggerUIBundle({
      url: root.getAttribute("data-openapi-url"),
      domNode: root,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      deepLinking: true,
      // No "?url=" / "?configUrl=" from the address bar: only mamori's own schema is shown.
      queryConfigEnabled: false,
      // The online validator's badge is an image from validator.swagger.io (APP-6).
      validatorUrl: null,
      tryItOutEnabled: false,
      persistAuthorization: false,
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
