// Event time on the page (CONTRACT §4): the server's clock at the latest `welcome`, run on
// at the event's time scale with the page's monotonic clock (the wall clock may jump).

export function eventClock(live) {
  let base = null;

  function onWelcome(frame) {
    const scale = Number(frame.time_scale);
    base = {
      eventMs: Date.parse(frame.server_time),
      perfMs: performance.now(),
      scale: scale > 0 ? scale : 1,
    };
  }

  if (live.welcome) onWelcome(live.welcome);
  live.on("welcome", onWelcome);

  return {
    /** Event time now, in milliseconds since the epoch (the wall clock until `welcome`). */
    now() {
      if (!base) return Date.now();
      return base.eventMs + (performance.now() - base.perfMs) * base.scale;
    },
    /** Event seconds per real second. */
    get scale() {
      return base ? base.scale : 1;
    },
  };
}
