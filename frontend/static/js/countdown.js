// Countdowns on event time: the presenter's "12:30 left". Event time runs `time_scale` times
// faster than the wall clock in a rehearsal, so the page counts from the server's
// `server_time` and scale (the socket's `welcome`), not from the computer's clock.

function format(ms) {
  const total = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

let base = null; // {eventMs, perfMs, scale}

function eventNow() {
  if (!base) return Date.now();
  return base.eventMs + (performance.now() - base.perfMs) * base.scale;
}

function tick() {
  const now = eventNow();
  for (const element of document.querySelectorAll(".countdown[data-ends-at]")) {
    const starts = Date.parse(element.dataset.startsAt);
    const ends = Date.parse(element.dataset.endsAt);
    const value = element.querySelector(".countdown__value");
    const label = element.querySelector(".countdown__label");
    let text;
    let state;
    if (now < starts) {
      text = format(starts - now);
      state = "before";
      label.textContent = "until it starts";
    } else if (now < ends) {
      text = format(ends - now);
      state = ends - now < 2 * 60 * 1000 ? "ending" : "running";
      label.textContent = "left";
    } else {
      text = format(now - ends);
      state = "over";
      label.textContent = "over time";
    }
    value.textContent = text;
    element.dataset.state = state;
  }
}

const root = document.getElementById("live-connection");
if (root && root.dataset.serverTime) {
  const scale = Number(root.dataset.timeScale);
  base = { eventMs: Date.parse(root.dataset.serverTime), perfMs: performance.now(), scale: scale > 0 ? scale : 1 };
}
function onWelcome(frame) {
  base = {
    eventMs: Date.parse(frame.server_time),
    perfMs: performance.now(),
    scale: Number(frame.time_scale) > 0 ? Number(frame.time_scale) : 1,
  };
  tick();
}
function watch() {
  const live = window.studymissionLive;
  if (!live) return false;
  const known = live.welcome;
  if (known) onWelcome(known);
  live.on("welcome", onWelcome);
  return true;
}
if (!watch()) window.addEventListener("load", watch, { once: true });
setInterval(tick, 250);
// A region htmx swapped in brings a new countdown: show its value at once, not in 250 ms.
document.body.addEventListener("htmx:afterSwap", tick);
tick();
