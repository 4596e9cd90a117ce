/* graft ui: draws the Vega-Lite charts a page carries and, on a live server, refreshes the
 * page's content in place when a branch or tag moves (polling the refs' ETag). */
(function () {
  "use strict";

  function drawCharts(root) {
    var boxes = (root || document).querySelectorAll(".chart:not([data-drawn])");
    boxes.forEach(function (box) {
      var source = document.getElementById(box.getAttribute("data-spec"));
      if (!source) { return; }
      box.setAttribute("data-drawn", "1");
      // the box is the chart's one accessible image (role=img, aria-label); the marks inside
      // are not described one by one (aria: false)
      vegaEmbed(box, JSON.parse(source.textContent), { actions: false, renderer: "svg", config: { aria: false } })
        .then(function () {
          box.querySelectorAll("svg").forEach(function (svg) { svg.setAttribute("aria-hidden", "true"); });
          box.setAttribute("data-drawn", "done");
        })
        .catch(function (error) { box.setAttribute("data-drawn", "failed"); console.error(error); });
    });
  }

  function poll(seconds) {
    var tag = null;
    var busy = false;
    function check() {
      if (busy) { return; }
      busy = true;
      var headers = tag ? { "If-None-Match": tag } : {};
      fetch("/refs", { headers: headers, cache: "no-store" }).then(function (answer) {
        if (answer.status === 304) { return; }
        return answer.json().then(function (body) {
          if (tag !== null && body.tag !== tag) {
            htmx.ajax("GET", window.location.pathname + window.location.search,
              { target: "#main", select: "#main", swap: "outerHTML" });
          }
          tag = body.tag;
        });
      }).catch(function () { /* the server stopped: keep the page as it is */ })
        .finally(function () { busy = false; });
    }
    check();
    window.setInterval(check, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    var seconds = document.body.getAttribute("data-poll");
    if (seconds) { poll(parseInt(seconds, 10)); }
  });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
})();
