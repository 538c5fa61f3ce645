// Injected by `site-gen serve` into every HTML page it sends (never into the
// built files): reloads the page after each successful rebuild, and shows the
// errors of a failed one over the page (the last good build stays served).
(function () {
  "use strict";
  var script = document.currentScript;
  var build = Number(script && script.dataset.build);
  var overlay = null;

  function show(errors) {
    if (!overlay) {
      overlay = document.createElement("div");
      overlay.id = "site-gen-errors";
      overlay.setAttribute("role", "alert");
      overlay.style.cssText =
        "position:fixed;inset:0;z-index:2147483647;overflow:auto;margin:0;padding:1.5rem 2rem;" +
        "background:rgba(24,24,27,.96);color:#fafafa;font:14px/1.5 ui-monospace,monospace;";
      document.body.appendChild(overlay);
    }
    overlay.textContent = "";
    var heading = document.createElement("h2");
    heading.style.cssText = "color:#fca5a5;font:bold 16px/1.4 ui-monospace,monospace;margin:0 0 1rem";
    heading.textContent =
      "site-gen: the last change does not build (" + errors.length + (errors.length === 1 ? " error" : " errors") +
      "). You are seeing the last good build.";
    overlay.appendChild(heading);
    errors.forEach(function (e) {
      var pre = document.createElement("pre");
      pre.style.cssText = "white-space:pre-wrap;margin:0 0 1rem;padding:.75rem;background:#27272a;border-radius:4px";
      var text = e.file + (e.line ? ":" + e.line + ":" + e.column : "") + "\n" + e.message;
      if (e.source_line !== null && e.source_line !== undefined) text += "\n  " + e.line + " | " + e.source_line;
      if (e.help) text += "\n  help: " + e.help;
      pre.textContent = text;
      overlay.appendChild(pre);
    });
  }

  function hide() {
    if (overlay) {
      overlay.remove();
      overlay = null;
    }
  }

  // One event stream per visible tab: a browser keeps about six connections
  // to one host for all its tabs, so streams held open by tabs in the
  // background would leave the next page opened waiting. A tab shown again
  // reconnects, and the server's first message says whether it missed a
  // rebuild.
  var events = null;
  function connect() {
    if (events) return;
    events = new EventSource("/__site-gen/events");
    events.addEventListener("status", function (event) {
      var status = JSON.parse(event.data);
      if (status.build !== build) {
        location.reload();
      } else if (status.errors.length) {
        show(status.errors);
      } else {
        hide();
      }
    });
  }
  function disconnect() {
    if (events) {
      events.close();
      events = null;
    }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") disconnect();
    else connect();
  });
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function () {
    if (document.visibilityState !== "hidden") connect();
  });
  if (document.visibilityState !== "hidden") connect();
})();
