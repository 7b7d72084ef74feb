// Keeps a person's page connected to the live session (CONTRACT §3–§4) and tells htmx regions
// when the session's state changes ("sm:live-state" on <body>) or its Q&A does
// ("sm:questions"), so that they fetch their HTML again.
//
// The page marks the place with <div id="live-connection" data-event-code="…"
// data-presence="stage|observer">, around the _live_status.html partial:
//   stage     the live page: the video module (stage.js) reports whether the person is
//             really in the room, from the conference's own joined / left events;
//   observer  the console and the presenter view: open beside the live page, never "in a
//             room" themselves.
import { connectLive } from "./live.js";
import { attachStage } from "./stage.js";
import { attachSiteVisit } from "./site-visit.js";
import { eventClock } from "./event-clock.js";

const root = document.getElementById("live-connection");
if (root && root.dataset.eventCode) {
  const live = connectLive({
    eventCode: root.dataset.eventCode,
    statusElement: document.getElementById("live-status"),
    noticesElement: document.getElementById("live-notices"),
    presence: { in_room: false, room: "main" },
    sessionCheckUrl: `/api/events/${encodeURIComponent(root.dataset.eventCode)}`,
  });
  // The first frame describes what the page was just rendered with; later ones that change
  // the session, mode, item or the person's room make the regions listening for "sm:live-state" fetch again.
  let shown = null;
  live.on("state", (frame) => {
    // The room too: a person moved to another breakout room gets that room's notes.
    const room = frame.room && typeof frame.room.name === "string" ? frame.room.name : "";
    const now = [frame.session, frame.mode, frame.item, room].join("|");
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
  // A breakout room's shared notes changed: the notes region fetches them again.
  live.on("notes", (frame) => {
    document.body.dispatchEvent(new CustomEvent("sm:notes", { detail: frame }));
  });
  const stageElement = document.getElementById("stage");
  if (root.dataset.presence === "stage" && stageElement) {
    window.studymissionStage = attachStage(live, stageElement, { eventCode: root.dataset.eventCode });
  }
  // The console's preview of the site visit: the same player, muted, reporting nothing.
  const preview = document.querySelector("#site-visit-preview .visit");
  if (preview) {
    window.studymissionPreview = attachSiteVisit(live, preview, {
      eventCode: root.dataset.eventCode,
      clock: eventClock(live),
      preview: true,
    });
  }
  // For other modules (playback) and for tests.
  window.studymissionLive = live;
}
