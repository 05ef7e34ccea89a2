// The assistant's small helpers: dictation through the browser's speech recognition (where
// the browser has it; the Dictate button stays hidden otherwise), and the run page's live
// status (it reloads when the run changes state). Without JavaScript, typing works and the
// run page refreshes itself.
(function () {
  "use strict";

  var Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  var dictate = document.getElementById("assistant-dictate");
  var input = document.getElementById("assistant-input");
  var said = document.getElementById("assistant-dictation-status");
  if (dictate && input && Recognition) {
    var recognition = null;
    var listening = false;
    dictate.hidden = false;
    var say = function (text) { if (said) { said.textContent = text; } };
    dictate.addEventListener("click", function () {
      if (listening && recognition) { recognition.stop(); return; }
      recognition = new Recognition();
      recognition.continuous = true;
      recognition.interimResults = false;
      recognition.lang = document.documentElement.lang || "en-US";
      recognition.onresult = function (event) {
        for (var i = event.resultIndex; i < event.results.length; i++) {
          if (event.results[i].isFinal) {
            var words = event.results[i][0].transcript.trim();
            if (words) {
              input.value = input.value ? input.value.replace(/\s*$/, " ") + words : words;
            }
          }
        }
      };
      recognition.onstart = function () {
        listening = true;
        dictate.textContent = "Stop dictating";
        say("Listening… speak, then press Stop dictating.");
      };
      recognition.onend = function () {
        listening = false;
        dictate.textContent = "Dictate";
        say("");
      };
      recognition.onerror = function (event) {
        say(event.error === "not-allowed"
          ? "The browser did not allow the microphone; type instead."
          : "Dictation stopped (" + event.error + ").");
      };
      recognition.start();
    });
  }

  var run = document.getElementById("assistant-run");
  if (run && window.fetch) {
    var id = run.getAttribute("data-run-id");
    var status = run.getAttribute("data-status");
    if (status !== "pending" && status !== "running") { return; }
    var poll = function () {
      fetch("/assistant/runs/" + encodeURIComponent(id) + "/status", {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (!response.ok) { return null; }
        return response.json();
      }).then(function (body) {
        if (!body) { return; }
        if (body.status !== status) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      }, function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  }
})();
