// Test-call page: read out what the caller hears with the browser's own voice
// (Web Speech API), when the supervisor ticks "speak". No build step, no CDN.
(function () {
  "use strict";
  var box = document.getElementById("speak");
  var list = document.getElementById("test-transcript");
  if (!box || !list) return;
  var canSpeak = "speechSynthesis" in window && "SpeechSynthesisUtterance" in window;
  if (!canSpeak) {
    box.disabled = true;
    box.parentNode.title = "This browser cannot speak";
    return;
  }
  box.checked = window.localStorage.getItem("ivr.speak") === "1";
  box.addEventListener("change", function () {
    window.localStorage.setItem("ivr.speak", box.checked ? "1" : "0");
    if (!box.checked) window.speechSynthesis.cancel();
  });
  var fresh = list.querySelectorAll('li[data-speak="1"]');
  if (fresh.length) fresh[fresh.length - 1].scrollIntoView({ block: "nearest" });
  if (!box.checked) return;
  fresh.forEach(function (li) {
    var say = new SpeechSynthesisUtterance(li.textContent);
    say.lang = document.documentElement.lang || "en-US";
    window.speechSynthesis.speak(say);
  });
})();
