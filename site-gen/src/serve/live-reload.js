// Injected by `site-gen serve` into every HTML page it sends (never into the
// built files): reloads the page after each successful rebuild, shows the
// errors of a failed one over the page (the last good build stays served),
// and the warnings of the last good build in a corner, folded.
(function () {
  "use strict";
  var script = document.currentScript;
  var build = Number(script && script.dataset.build);
  var overlay = null;
  var corner = null;
  var shownWarnings = "[]";

  function describe(e) {
    var text = e.file + (e.line ? ":" + e.line + ":" + e.column : "") + "\n" + e.message;
    if (e.source_line !== null && e.source_line !== undefined) text += "\n  " + e.line + " | " + e.source_line;
    if (e.help) text += "\n  help: " + e.help;
    return text;
  }

  // Warnings do not stop the build: a folded panel, not an overlay.
  function showWarnings(warnings) {
    if (corner) corner.remove();
    corner = null;
    if (!warnings.length) return;
    corner = document.createElement("details");
    corner.id = "site-gen-warnings";
    corner.style.cssText =
      "position:fixed;right:1rem;bottom:1rem;z-index:2147483646;max-width:min(40rem,calc(100vw - 2rem));" +
      "max-height:60vh;overflow:auto;padding:.5rem .75rem;background:#422006;color:#fef3c7;" +
      "border-radius:6px;font:14px/1.5 ui-monospace,monospace;box-shadow:0 2px 8px rgba(0,0,0,.4)";
    var summary = document.createElement("summary");
    summary.style.cssText = "cursor:pointer;font-weight:bold";
    summary.textContent = "site-gen: " + warnings.length + (warnings.length === 1 ? " warning" : " warnings") +
      " (the site builds; `site-gen check` lists them too)";
    corner.appendChild(summary);
    warnings.forEach(function (w) {
      var pre = document.createElement("pre");
      pre.style.cssText = "white-space:pre-wrap;margin:.5rem 0 0;padding:.5rem;background:#27272a;color:#fafafa;border-radius:4px";
      pre.textContent = describe(w);
      corner.appendChild(pre);
    });
    document.body.appendChild(corner);
  }

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
      pre.textContent = describe(e);
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
        return;
      }
      if (status.errors.length) {
        show(status.errors);
      } else {
        hide();
      }
      // Unchanged warnings keep the panel as the owner left it (open or folded).
      var seen = JSON.stringify(status.warnings || []);
      if (seen !== shownWarnings) {
        shownWarnings = seen;
        showWarnings(status.warnings || []);
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
