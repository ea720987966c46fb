// The portal's only script, an enhancement: every page works without it.
// An element with data-live="<url>" is kept current by server-sent events: each `html` event carries the element's
// new content, rendered (and escaped) by the server's own template. EventSource reconnects by itself.
"use strict";
document.querySelectorAll("[data-live]").forEach(function (element) {
  var source = new EventSource(element.getAttribute("data-live"));
  source.addEventListener("html", function (event) {
    element.innerHTML = event.data;
  });
});
