// Shows the programme in the browser's own time zone the first time a person opens it.
// The server guesses a zone from the person's country; once the browser tells us the real
// one we save it (the same form a person would submit), so every device then agrees.
(function () {
  "use strict";

  function detect() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (error) {
      return null;
    }
  }

  function adopt(form) {
    if (form.dataset.tzSource !== "guessed") return;
    var zone = detect();
    if (!zone || zone === form.dataset.tz) return;
    var select = form.querySelector("select[name=tz]");
    if (!Array.prototype.some.call(select.options, function (o) { return o.value === zone; })) {
      select.add(new Option(zone, zone));
    }
    select.value = zone;
    form.dataset.tzSource = "detected";
    form.requestSubmit();
  }

  function scan() {
    document.querySelectorAll("form.tz-form").forEach(adopt);
  }

  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
