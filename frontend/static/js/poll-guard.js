// Conditions on htmx polling, kept out of the markup: htmx would evaluate a trigger filter
// like `every 30s [document.visibilityState === 'visible']` with Function(), which the
// Content-Security-Policy refuses (no 'unsafe-eval'), so the pages say it with attributes:
//
//   data-poll-when-visible            polls (and a visibilitychange trigger) only go out
//                                     while the tab is visible;
//   data-poll-skip-within="SELECTOR"  and a poll waits while the focus is inside SELECTOR
//                                     (a half-filled form the refresh would replace).
//
// A poll is the only request htmx issues without a triggering event; requests triggered by
// events (sm:live-state, clicks) are never held back here.
document.addEventListener("htmx:confirm", (event) => {
  const element = event.detail.elt;
  if (!(element instanceof Element) || !element.hasAttribute("data-poll-when-visible")) return;
  const trigger = event.detail.triggeringEvent;
  const polled = !trigger;
  if (!polled && trigger.type !== "visibilitychange") return;
  if (document.visibilityState !== "visible") {
    event.preventDefault();
    return;
  }
  const within = element.getAttribute("data-poll-skip-within");
  const focused = document.activeElement;
  if (polled && within && focused instanceof Element && focused.closest(within)) {
    event.preventDefault();
  }
});
