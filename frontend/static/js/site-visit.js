// The virtual site visit: a packaged recording played to everyone at the same second, or an
// external live stream, and the presence it reports.
//
// The server holds the playback clock. Each `state` frame in site_visit mode carries
// playback = {asset, url, state, position, at, duration, rate, live}: while playing, the
// recording stands at position + (event now − at) × rate. Every half second the page
// compares its video with that target: a small drift is taken up by playing slightly
// faster or slower, a large one (a late joiner, a reconnect, the moderator's seek) by
// jumping. Participants get no seek bar, so nobody runs ahead; they can mute, pick a
// quality, pause for themselves (which stops their attendance until they come back) and go
// full screen.
//
// Watching counts as being in the room (CONTRACT §4): `watching` is true while the video
// really plays — or while the moderator holds it paused or it has ended, or while it loads
// or buffers — and false once the person pauses it, or once it has been stalled (buffering,
// or a stream that is down) for longer than the stale window.
//
// hls.js (vendored, loaded only when a visit starts) plays HLS where Media Source
// Extensions exist; elsewhere (iOS Safari) the browser's own HLS does.

const HLS_MODULE = "/static/vendor/hls-1.7.4.min.mjs";
const TICK_MS = 500;
// Seconds between the page's video and the server's clock: beyond SEEK_DRIFT the page
// jumps; between RATE_DRIFT and SEEK_DRIFT it plays up to MAX_RATE_CHANGE faster or slower.
const SEEK_DRIFT = 1;
const RATE_DRIFT = 0.25;
const MAX_RATE_CHANGE = 0.25;
// Event seconds without playback progress after which the page stops counting as present:
// the event's stale window from `welcome`, else the presence rule's default (CONTRACT §4).
const STALE_EVENT_SECONDS = 45;
const RETRY_MS = [2000, 5000, 10000, 20000, 30000];
// The media cookies last 15 minutes; renew them well before.
const ACCESS_RENEW_MS = 5 * 60 * 1000;

let hlsModule = null;
function loadHls() {
  if (!hlsModule) {
    hlsModule = import(HLS_MODULE).then((module) => module.default);
    hlsModule.catch(() => {
      hlsModule = null;
    });
  }
  return hlsModule;
}

export function clockText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–:––";
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

/** Where the recording stands at event time `nowMs` by the server's clock. */
export function targetPosition(playback, nowMs) {
  if (!playback || playback.live) return null;
  let position = Number(playback.position) || 0;
  if (playback.state === "playing") {
    position += ((nowMs - Date.parse(playback.at)) / 1000) * (Number(playback.rate) || 1);
  }
  const duration = Number(playback.duration);
  if (Number.isFinite(duration)) position = Math.min(position, duration);
  return Math.max(0, position);
}

/** The playback rate that takes up `drift` seconds (video minus target), or null to jump. */
export function correction(drift) {
  const size = Math.abs(drift);
  if (size > SEEK_DRIFT) return null;
  if (size <= RATE_DRIFT) return 1;
  return 1 - Math.sign(drift) * Math.min(MAX_RATE_CHANGE, size / 4);
}

export function attachSiteVisit(live, element, options = {}) {
  const video = element.querySelector("video");
  const message = element.querySelector(".visit__message");
  const timeElement = element.querySelector(".visit__time");
  const soundButton = element.querySelector(".visit__sound");
  const pauseButton = element.querySelector(".visit__pause");
  const qualitySelect = element.querySelector(".visit__quality");
  const fullscreenButton = element.querySelector(".visit__fullscreen");
  const clock = options.clock;
  const preview = Boolean(options.preview);
  const onChange = options.onChange || (() => {});

  let playback = null; // the latest playback of a site_visit state frame
  let active = false; // the page is in site_visit mode
  let source = null; // the URL loaded now
  let hls = null;
  let loading = null; // the source being loaded (a promise in flight)
  let userPaused = false;
  let stalledSince = null; // performance.now() when playback stopped progressing
  let lastTime = -1;
  let watching = false;
  let retry = 0;
  let retryTimer = null;
  let accessTimer = null;
  let ticker = null;
  let seekLead = 0.3; // seconds a jump takes to start playing, learned from the last one
  let seekStarted = null;

  if (preview) video.muted = true;

  function say(text, kind = "info") {
    if (!message) return;
    message.textContent = text;
    message.dataset.kind = kind;
  }

  function staleMs() {
    const told = live.welcome ? Number(live.welcome.stale_after_seconds) : NaN;
    const seconds = told > 0 ? told : STALE_EVENT_SECONDS;
    return (seconds * 1000) / (clock ? clock.scale : 1);
  }

  function nowMs() {
    return clock ? clock.now() : Date.now();
  }

  function update() {
    // Loading, buffering or waiting for a stream to come back: still there, for as long
    // as the presence rule would wait for a silent page.
    const trying = stalledSince !== null;
    const stalled = trying && performance.now() - stalledSince > staleMs();
    const held = !playback || (!playback.live && (playback.state === "paused" || ended()));
    const next = active && !userPaused && !stalled && (held || trying || !video.paused);
    element.dataset.watching = String(next);
    if (next !== watching) {
      watching = next;
      onChange(watching);
    }
  }

  function ended() {
    if (!playback || playback.live) return false;
    return targetPosition(playback, nowMs()) >= Number(playback.duration) - 0.05;
  }

  function access(url) {
    // /media/NAME/VERSION/master.m3u8 → the cookies for that version's files.
    const parts = new URL(url, location.href).pathname.split("/");
    const query = new URLSearchParams({ asset: parts[2] || "", version: parts[3] || "" });
    const code = encodeURIComponent(options.eventCode || "");
    return fetch(`/api/events/${code}/media-access?${query}`, { credentials: "same-origin" }).then(
      (response) => {
        if (!response.ok) throw new Error(`access refused (${response.status})`);
      },
    );
  }

  function unload() {
    clearTimeout(retryTimer);
    clearInterval(accessTimer);
    retryTimer = null;
    accessTimer = null;
    if (hls) {
      hls.destroy();
      hls = null;
    }
    video.removeAttribute("src");
    video.load();
    source = null;
    loading = null;
    stalledSince = null;
    if (qualitySelect) qualitySelect.replaceChildren(new Option("Auto", "-1"));
  }

  function scheduleRetry(text) {
    const delay = RETRY_MS[Math.min(retry, RETRY_MS.length - 1)];
    retry += 1;
    say(`${text} Trying again in ${Math.round(delay / 1000)} s…`, "warning");
    element.dataset.stream = "down";
    const wanted = source;
    const since = stalledSince ?? performance.now();
    unload();
    stalledSince = since; // the stall goes on through the retries
    retryTimer = setTimeout(() => {
      if (active && playback && playback.url === wanted) load(playback, true);
    }, delay);
    update();
  }

  function showLevels() {
    if (!qualitySelect || !hls) return;
    const options = [new Option("Auto", "-1")];
    hls.levels.forEach((level, index) => {
      if (level.height) options.push(new Option(`${level.height}p`, String(index)));
    });
    qualitySelect.replaceChildren(...options);
    qualitySelect.disabled = options.length < 2;
  }

  async function load(next, retrying = false) {
    const url = next.url;
    const live = Boolean(next.live);
    const since = retrying ? stalledSince : null;
    unload();
    source = url;
    stalledSince = since ?? performance.now();
    element.dataset.stream = "loading";
    say(live ? "Connecting to the live stream…" : "Loading the site visit…", "progress");
    const attempt = (loading = (async () => {
      if (!live) {
        await access(url);
        accessTimer = setInterval(() => access(url).catch(() => {}), ACCESS_RENEW_MS);
      }
      const Hls = await loadHls().catch(() => null);
      if (Hls && Hls.isSupported()) {
        hls = new Hls({ startPosition: live ? -1 : (targetPosition(next, nowMs()) ?? 0) });
        hls.on(Hls.Events.MANIFEST_PARSED, showLevels);
        hls.on(Hls.Events.ERROR, (_event, data) => onHlsError(Hls, data));
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        if (qualitySelect) qualitySelect.disabled = true; // the browser picks the quality
        video.src = url;
      } else {
        throw new Error("this browser cannot play the stream");
      }
    })());
    try {
      await attempt;
    } catch (error) {
      if (loading !== attempt) return;
      scheduleRetry(`The ${live ? "live stream" : "recording"} could not be loaded: ${error.message}.`);
      return;
    }
    if (loading === attempt) tick();
  }

  function onHlsError(Hls, data) {
    if (!data.fatal) return;
    const live = Boolean(playback && playback.live);
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
      return;
    }
    const status = data.response && data.response.code;
    if (!live && (status === 403 || status === 410)) {
      // The access cookies ran out (a laptop that slept): renew them and carry on.
      access(source)
        .then(() => hls && hls.startLoad())
        .catch(() => scheduleRetry("The recording could not be loaded."));
      return;
    }
    scheduleRetry(
      live
        ? "The live stream is not on the air yet (or has stopped)."
        : "The recording could not be loaded.",
    );
  }

  function play() {
    const started = video.play();
    if (!started) return;
    started.catch((error) => {
      if (error.name !== "NotAllowedError" || video.muted) {
        update();
        return;
      }
      // The browser allows sound only after a click on the page: start muted and offer it.
      video.muted = true;
      showSound();
      video.play().catch(() => {
        say("Press “Play” to watch the site visit.", "warning");
        if (pauseButton) {
          userPaused = true;
          showPause();
        }
        update();
      });
    });
  }

  function sync() {
    if (!playback || playback.live || video.readyState < 1 || video.seeking) return;
    const target = targetPosition(playback, nowMs());
    if (playback.state === "paused" || ended()) {
      if (!video.paused) video.pause();
      if (Math.abs(video.currentTime - target) > 0.5) jump(target);
      return;
    }
    const rate = correction(video.currentTime - target);
    if (rate === null) {
      jump(Math.min(target + seekLead, Number(playback.duration)));
      video.playbackRate = 1;
    } else {
      video.playbackRate = rate;
    }
    if (video.paused) play();
  }

  function jump(position) {
    seekStarted = performance.now();
    video.currentTime = position;
  }

  function tick() {
    if (!active || !playback || loading === null) return;
    if (!userPaused) {
      if (playback.live) {
        if (video.paused && video.readyState >= 2) play();
      } else {
        sync();
      }
    } else if (!video.paused) {
      video.pause();
    }
    showTime();
    update();
  }

  function showTime() {
    if (!timeElement) return;
    if (playback && playback.live) {
      timeElement.textContent = "Live";
      return;
    }
    const duration = playback ? Number(playback.duration) : NaN;
    timeElement.textContent = `${clockText(video.currentTime)} / ${clockText(duration)}`;
  }

  function showSound() {
    if (!soundButton) return;
    soundButton.textContent = video.muted ? "Turn on sound" : "Mute";
    soundButton.setAttribute("aria-pressed", String(video.muted));
  }

  function showPause() {
    if (!pauseButton) return;
    pauseButton.textContent = userPaused ? "Back to the live position" : "Pause for me";
    if (userPaused) {
      say("Paused for you: this time does not count as attendance. Everyone else watches on.", "warning");
    }
  }

  function follow(frame) {
    const wasActive = active;
    active = frame.mode === "site_visit";
    element.hidden = !active;
    if (!active) {
      playback = null;
      userPaused = false;
      if (wasActive) unload();
      clearInterval(ticker);
      ticker = null;
      update();
      return;
    }
    if (ticker === null) ticker = setInterval(tick, TICK_MS);
    const next = frame.playback || null;
    playback = next;
    if (!next) {
      if (source) unload();
      say("The site visit starts in a moment.", "info");
      element.dataset.stream = "waiting";
      update();
      return;
    }
    if (next.url !== source) {
      retry = 0;
      load(next);
    } else if (!next.live && next.state === "paused") {
      say("The moderator has paused the site visit.", "info");
    }
    tick();
  }

  video.addEventListener("playing", () => {
    stalledSince = null;
    retry = 0;
    element.dataset.stream = "playing";
    if (seekStarted !== null) {
      // Learn how long a jump takes, so that the next one lands where the clock will be.
      seekLead = Math.min(3, Math.max(0.1, (performance.now() - seekStarted) / 1000));
      seekStarted = null;
    }
    if (userPaused) return update();
    if (preview) say("Preview: what every participant's page plays now (muted).", "ok");
    else if (playback && playback.live) say("You are watching the live stream.", "ok");
    else say("You are watching the site visit with everyone.", "ok");
    update();
  });
  video.addEventListener("timeupdate", () => {
    if (video.currentTime !== lastTime) {
      lastTime = video.currentTime;
      if (!video.paused) stalledSince = null;
    }
    showTime();
  });
  for (const name of ["waiting", "stalled"]) {
    video.addEventListener(name, () => {
      if (stalledSince === null && !video.paused) stalledSince = performance.now();
      element.dataset.stream = "buffering";
    });
  }
  video.addEventListener("pause", () => {
    if (playback && playback.state === "paused") {
      say("The moderator has paused the site visit.", "info");
    } else if (ended()) {
      say("The recording has ended.", "info");
    }
    update();
  });

  if (soundButton) {
    showSound();
    soundButton.addEventListener("click", () => {
      video.muted = !video.muted;
      if (!video.muted && video.volume === 0) video.volume = 1;
      showSound();
    });
  }
  if (pauseButton) {
    pauseButton.hidden = preview;
    pauseButton.addEventListener("click", () => {
      userPaused = !userPaused;
      showPause();
      if (!userPaused) {
        say("Back with everyone.", "ok");
        const target = targetPosition(playback, nowMs());
        if (target !== null && video.readyState >= 1) jump(target + seekLead);
        tick();
      } else {
        video.pause();
      }
      update();
    });
  }
  if (qualitySelect) {
    qualitySelect.addEventListener("change", () => {
      if (hls) hls.currentLevel = Number(qualitySelect.value);
    });
  }
  if (fullscreenButton) {
    fullscreenButton.hidden = !element.requestFullscreen;
    fullscreenButton.addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else element.requestFullscreen().catch(() => {});
    });
  }

  const known = live.last("state");
  if (known) follow(known);
  live.on("state", follow);

  return {
    get watching() {
      return watching;
    },
    get video() {
      return video;
    },
    get source() {
      return source;
    },
    /** The server clock's position now (seconds), for tests and the console. */
    get target() {
      return targetPosition(playback, nowMs());
    },
    get levels() {
      return hls ? hls.levels.map((level) => level.height) : [];
    },
  };
}
