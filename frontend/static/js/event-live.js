// Keeps a person's event page connected to the live session (CONTRACT §3–§4), so that their
// presence is logged minute by minute while the page is open, and tells htmx regions when the
// session's state changes ("sm:live-state" on <body>) so they fetch their HTML again.
//
// The page marks the place with <div id="live-connection" data-event-code="…"
// data-session-running="true|false">, around the _live_status.html partial.
import { connectLive } from "./live.js";

const RUNNING_MODES = new Set(["stage", "breakouts", "site_visit", "break"]);

const root = document.getElementById("live-connection");
if (root && root.dataset.eventCode) {
  // Until the video module (a later issue) reports whether the person really is in the
  // Jitsi room, an open page during a running session counts as being in the room: the
  // room the latest `state` frame says the person belongs to, "main" until one arrives.
  const live = connectLive({
    eventCode: root.dataset.eventCode,
    statusElement: document.getElementById("live-status"),
    noticesElement: document.getElementById("live-notices"),
    presence: { in_room: root.dataset.sessionRunning === "true", room: "main" },
    sessionCheckUrl: `/api/events/${encodeURIComponent(root.dataset.eventCode)}`,
  });
  // The first frame describes what the page was just rendered with; later ones that change
  // the session, mode or item make the regions listening for "sm:live-state" fetch again.
  let shown = null;
  live.on("state", (frame) => {
    const room = frame.room && typeof frame.room.name === "string" ? frame.room.name : "main";
    live.setPresence({ in_room: RUNNING_MODES.has(frame.mode), room });
    const now = [frame.session, frame.mode, frame.item].join("|");
    if (shown !== null && now !== shown) {
      document.body.dispatchEvent(new CustomEvent("sm:live-state", { detail: frame }));
    }
    shown = now;
  });
  // The Q&A changed: regions listening for "sm:questions" fetch the queue again, each after
  // a random delay of up to a second so that one vote does not bring every page at once.
  live.on("questions", (frame) => {
    setTimeout(() => {
      document.body.dispatchEvent(new CustomEvent("sm:questions", { detail: frame }));
    }, Math.random() * 1000);
  });
  // For the modules of later issues (video, playback) and for tests.
  window.studymissionLive = live;
}
