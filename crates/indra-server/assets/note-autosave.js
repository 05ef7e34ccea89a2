// Autosave of a note draft: every 20 seconds, when the text changed since the last save, the
// editor's sections go to the notes API (PATCH with the version's ETag and the session's CSRF
// token), and the hidden ETag follows, so the Save and Sign buttons name the saved version.
// Without JavaScript the Save button does the same.
(function () {
  "use strict";
  var form = document.getElementById("note-editor");
  if (!form || !window.fetch) { return; }
  var noteId = form.getAttribute("data-note-id");
  var status = document.getElementById("autosave-status");
  var etags = document.querySelectorAll('input[name="etag"]');
  var csrf = form.querySelector('input[name="csrf_token"]').value;
  var areas = form.querySelectorAll("textarea[data-section]");
  var dirty = false;
  var stopped = false;
  var saving = false;

  function say(text) { if (status) { status.textContent = text; } }
  function two(n) { return (n < 10 ? "0" : "") + n; }

  for (var i = 0; i < areas.length; i++) {
    areas[i].addEventListener("input", function () { dirty = true; });
  }

  function save() {
    if (!dirty || stopped || saving) { return; }
    var content = {};
    for (var i = 0; i < areas.length; i++) {
      content[areas[i].getAttribute("data-section")] = areas[i].value;
    }
    dirty = false;
    saving = true;
    fetch("/api/v1/notes/" + encodeURIComponent(noteId), {
      method: "PATCH",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "If-Match": etags[0].value,
        "X-CSRF-Token": csrf
      },
      body: JSON.stringify({ content: content })
    }).then(function (response) {
      saving = false;
      if (response.ok) {
        var tag = response.headers.get("ETag");
        for (var i = 0; i < etags.length; i++) { if (tag) { etags[i].value = tag; } }
        var now = new Date();
        say("Saved at " + two(now.getHours()) + ":" + two(now.getMinutes()));
      } else if (response.status === 412) {
        stopped = true;
        say("Not saved: this note changed since you opened it (another tab or window). " +
            "Your text is still here; press Save draft to keep it.");
      } else if (response.status === 401) {
        stopped = true;
        say("Not saved: your session ended. Copy your text, then sign in again.");
      } else {
        dirty = true;
        say("Not saved automatically (the server refused). Press Save draft.");
      }
    }, function () {
      saving = false;
      dirty = true;
      say("Not saved: no connection. Retrying.");
    });
  }

  window.setInterval(save, 20000);
}());
