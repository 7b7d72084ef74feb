// The live connection of a person's browser to their event (CONTRACT §3 and §4).
//
//   import { connectLive } from "/static/js/live.js";
//   const live = connectLive({
//     eventCode: "SM2021",                                   // or url: "wss://host/ws/SM2021"
//     statusElement: document.getElementById("live-status"),
//     noticesElement: document.getElementById("live-notices"),
//     onFrame(type, frame) { ... },
//   });
//   live.on("state", (frame) => { ... });                   // one frame type, or "*" for all
//   live.setPresence({ in_room: true, room: "breakout-2" }); // from the video module
//
// The socket reconnects by itself (exponential backoff with full jitter: 1 s, ×2, at most
// 30 s; reset once a connection has stayed up 10 s; at once when the browser comes back
// online) and never after the server closes it with 1008, 4401 or 4403: the person must open
// their join link again. After `welcome` the page sends a heartbeat every `heartbeat_seconds`,
// timed by a Web Worker because browsers throttle the timers of background tabs, and one at
// once whenever `visible`, `in_room` or `room` changes.

const BACKOFF = { initialDelayMs: 1000, factor: 2, maxDelayMs: 30000, resetAfterMs: 10000 };
const FINAL_CLOSE_CODES = new Set([1008, 4401, 4403]);
const DEFAULT_HEARTBEAT_SECONDS = 15;
const MIN_HEARTBEAT_MS = 50;
// A worker tick this late means the computer slept or the page was frozen: the socket may be
// dead without knowing it, so it is replaced rather than trusted.
const SLEPT_AFTER_MS = 30000;

const TEXTS = {
  connecting: "Connecting to the live session…",
  connected: "Connected to the live session",
  reconnecting: "Connection lost — reconnecting",
  offline: "You are offline — we will reconnect when your connection is back",
  "signed-out": "Signed out — open your personal join link again",
  closed: "Disconnected from the live session",
};

/** Milliseconds to wait before reconnection attempt number `attempt` (0, 1, 2, …). */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const { initialDelayMs, factor, maxDelayMs } = { ...BACKOFF, ...options };
  const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** The WebSocket URL for `url` (ws, wss, http(s) or relative) or for an event code. */
export function liveUrl({ url, eventCode } = {}) {
  let target;
  if (url) {
    target = new URL(url, location.href);
  } else if (eventCode) {
    target = new URL(`/ws/${encodeURIComponent(eventCode)}`, location.href);
  } else {
    throw new TypeError("connectLive needs options.url or options.eventCode");
  }
  if (target.protocol === "http:") target.protocol = "ws:";
  else if (target.protocol === "https:") target.protocol = "wss:";
  return target.href;
}

function report(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error(error);
}

function pageVisible() {
  return document.visibilityState === "visible";
}

function browserOnline() {
  return typeof navigator.onLine === "boolean" ? navigator.onLine : true;
}

// Timers that keep time in a background tab: a dedicated worker when the browser lets us
// start one, else plain main-thread timers.
function makeClock({ useWorker = true, workerUrl } = {}) {
  let worker = null;
  let kind = "interval";
  let tickMs = 0;
  let onTick = null;
  let intervalId = null;
  let nextTimeoutId = 1;
  const timeouts = new Map(); // id -> {fn, due, handle}

  function startFallbackInterval() {
    if (intervalId !== null) clearInterval(intervalId);
    intervalId = tickMs ? setInterval(() => onTick && onTick(), tickMs) : null;
  }

  function fallBack() {
    if (!worker) return;
    worker.terminate();
    worker = null;
    kind = "interval";
    startFallbackInterval();
    for (const [id, entry] of timeouts) {
      entry.handle = setTimeout(() => fire(id), Math.max(0, entry.due - Date.now()));
    }
  }

  function fire(id) {
    const entry = timeouts.get(id);
    if (!entry) return;
    timeouts.delete(id);
    entry.fn();
  }

  if (useWorker && typeof Worker === "function") {
    try {
      worker = new Worker(workerUrl || new URL("./heartbeat-worker.js", import.meta.url), {
        name: "studymission-heartbeat",
      });
      kind = "worker";
      worker.onmessage = (event) => {
        const data = event.data || {};
        if (data.type === "tick" && onTick) onTick();
        else if (data.type === "timeout") fire(data.id);
      };
      // A worker that cannot load (missing file, a Content-Security-Policy) reports here.
      worker.onerror = (event) => {
        event.preventDefault();
        fallBack();
      };
    } catch (error) {
      worker = null;
      kind = "interval";
    }
  }

  return {
    get kind() {
      return kind;
    },
    every(ms, fn) {
      tickMs = ms;
      onTick = fn;
      if (worker) worker.postMessage({ cmd: "start", intervalMs: ms });
      else startFallbackInterval();
    },
    stopEvery() {
      tickMs = 0;
      onTick = null;
      if (worker) worker.postMessage({ cmd: "stop" });
      else startFallbackInterval();
    },
    after(ms, fn) {
      const id = nextTimeoutId++;
      const entry = { fn, due: Date.now() + ms, handle: null };
      timeouts.set(id, entry);
      if (worker) worker.postMessage({ cmd: "timeout", id, delayMs: ms });
      else entry.handle = setTimeout(() => fire(id), ms);
      return () => {
        timeouts.delete(id);
        if (entry.handle !== null) clearTimeout(entry.handle);
        if (worker) worker.postMessage({ cmd: "cancel", id });
      };
    },
    terminate() {
      tickMs = 0;
      onTick = null;
      startFallbackInterval();
      for (const entry of timeouts.values()) if (entry.handle !== null) clearTimeout(entry.handle);
      timeouts.clear();
      if (worker) worker.terminate();
      worker = null;
    },
  };
}

function cleanPresence(next, current) {
  const given = next || {};
  return {
    in_room: "in_room" in given ? Boolean(given.in_room) : current.in_room,
    room: typeof given.room === "string" && given.room ? given.room : current.room,
  };
}

/**
 * Opens the live connection. Options:
 *   url | eventCode      where to connect (the URL is derived from the page's origin if only
 *                        the event code is given)
 *   statusElement        shows the connection state (text and `data-state`)
 *   noticesElement       a list; `notice` frames are added to it, newest first
 *   showNotices          false: leave notices to your own handler (default true)
 *   maxNotices           how many notices the list keeps (default 50)
 *   onFrame(type, frame) every frame the server sends
 *   onStatus(state, detail)  every change of state
 *   presence             initial {in_room, room}; default {in_room: false, room: "main"}
 *   backoff              {initialDelayMs, factor, maxDelayMs, resetAfterMs}
 *   useWorker, workerUrl the heartbeat clock (default: ./heartbeat-worker.js)
 *   texts                replaces some of the status texts, by state
 */
export function connectLive(options = {}) {
  const url = liveUrl(options);
  const statusElement = options.statusElement || null;
  const noticesElement = options.noticesElement || null;
  const showNotices = options.showNotices !== false;
  const maxNotices = options.maxNotices ?? 50;
  const backoff = { ...BACKOFF, ...(options.backoff || {}) };
  const texts = { ...TEXTS, ...(options.texts || {}) };
  const frameHandlers = new Map(); // type or "*" -> Set of functions
  const statusHandlers = new Set();
  const lastFrames = new Map();
  const clock = makeClock(options);

  let state = browserOnline() ? "connecting" : "offline";
  let socket = null;
  let openedAt = 0;
  let attempt = 0;
  let cancelRetry = null;
  let retryAt = 0;
  let countdownTimer = null;
  let heartbeatMs = 0; // 0 until `welcome` on the current socket
  let lastTickAt = 0;
  let lastSent = null;
  let welcome = null;
  let visible = pageVisible();
  let presence = cleanPresence(options.presence, { in_room: false, room: "main" });

  if (typeof options.onFrame === "function") {
    const onFrame = options.onFrame;
    on("*", (frame) => onFrame(frame.type, frame));
  }
  if (typeof options.onStatus === "function") statusHandlers.add(options.onStatus);

  // --- what the person sees ---------------------------------------------------------------

  let statusText = null;
  let statusCountdown = null;
  if (statusElement) {
    statusElement.setAttribute("role", "status");
    statusText = document.createElement("span");
    statusText.className = "live-status__text";
    // The countdown changes every second; screen readers hear the state, not each second.
    statusCountdown = document.createElement("span");
    statusCountdown.className = "live-status__countdown";
    statusCountdown.setAttribute("aria-hidden", "true");
    statusElement.replaceChildren(statusText, statusCountdown);
  }
  if (noticesElement && !noticesElement.hasAttribute("aria-live")) {
    noticesElement.setAttribute("aria-live", "polite");
  }

  function render() {
    if (!statusElement) return;
    statusElement.dataset.state = state;
    statusText.textContent = texts[state] || state;
    let countdown = "";
    if (state === "reconnecting") {
      const seconds = Math.ceil((retryAt - Date.now()) / 1000);
      countdown = cancelRetry && seconds > 0 ? ` in ${seconds} s` : " now…";
      if (cancelRetry && seconds > 0) statusElement.dataset.retryIn = String(seconds);
      else delete statusElement.dataset.retryIn;
    } else {
      delete statusElement.dataset.retryIn;
    }
    statusCountdown.textContent = countdown;
  }

  function setState(next, detail = {}) {
    const changed = next !== state;
    state = next;
    render();
    if (!changed) return;
    for (const handler of [...statusHandlers]) {
      try {
        handler(state, detail);
      } catch (error) {
        report(error);
      }
    }
  }

  function startCountdown() {
    stopCountdown();
    countdownTimer = setInterval(render, 1000);
  }

  function stopCountdown() {
    if (countdownTimer !== null) clearInterval(countdownTimer);
    countdownTimer = null;
  }

  function showNotice(frame) {
    if (!noticesElement) return;
    const item = document.createElement("li");
    item.className = "live-notice";
    const meta = document.createElement("p");
    meta.className = "live-notice__meta";
    const from = document.createElement("strong");
    from.className = "live-notice__from";
    from.textContent = frame.from ? String(frame.from) : "Organisers";
    meta.append(from);
    if (frame.room) meta.append(` · to ${String(frame.room)}`);
    const received = new Date();
    const time = document.createElement("time");
    time.dateTime = received.toISOString();
    time.textContent = received.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(" · ", time);
    const text = document.createElement("p");
    text.className = "live-notice__text";
    text.textContent = frame.text == null ? "" : String(frame.text); // user input: never HTML
    item.append(meta, text);
    noticesElement.prepend(item);
    while (noticesElement.children.length > maxNotices) noticesElement.lastElementChild.remove();
  }

  // --- frames -------------------------------------------------------------------------------

  function on(type, handler) {
    if (!frameHandlers.has(type)) frameHandlers.set(type, new Set());
    frameHandlers.get(type).add(handler);
    return () => off(type, handler);
  }

  function off(type, handler) {
    const handlers = frameHandlers.get(type);
    if (handlers) handlers.delete(handler);
  }

  function dispatch(frame) {
    lastFrames.set(frame.type, frame);
    const handlers = [...(frameHandlers.get(frame.type) || []), ...(frameHandlers.get("*") || [])];
    for (const handler of handlers) {
      try {
        handler(frame);
      } catch (error) {
        report(error);
      }
    }
  }

  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  function sendHeartbeat() {
    const frame = { type: "heartbeat", visible, in_room: presence.in_room, room: presence.room };
    if (send(frame)) lastSent = frame;
  }

  function heartbeatIfChanged() {
    if (!heartbeatMs) return; // the next `welcome` sends one
    if (
      !lastSent ||
      lastSent.visible !== visible ||
      lastSent.in_room !== presence.in_room ||
      lastSent.room !== presence.room
    ) {
      sendHeartbeat();
    }
  }

  function onTick() {
    const now = Date.now();
    const late = now - lastTickAt > Math.max(SLEPT_AFTER_MS, 4 * heartbeatMs);
    if (clock.kind === "worker" && lastTickAt && late) {
      drop();
      return;
    }
    lastTickAt = now;
    sendHeartbeat();
  }

  function onWelcome(frame) {
    welcome = frame;
    const seconds = Number(frame.heartbeat_seconds);
    const intervalSeconds =
      seconds > 0 && Number.isFinite(seconds) ? seconds : DEFAULT_HEARTBEAT_SECONDS;
    heartbeatMs = Math.max(MIN_HEARTBEAT_MS, Math.round(intervalSeconds * 1000));
    lastTickAt = Date.now();
    lastSent = null;
    clock.every(heartbeatMs, onTick);
    sendHeartbeat();
    setState("connected");
  }

  function onMessage(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      console.warn("live: a frame that is not JSON was ignored", error);
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
    if (frame.type === "welcome") onWelcome(frame);
    else if (frame.type === "notice" && showNotices) showNotice(frame);
    else if (frame.type === "error") console.warn("live: the server says", frame.code, frame.detail);
    dispatch(frame);
  }

  // --- the socket ---------------------------------------------------------------------------

  function final() {
    return state === "signed-out" || state === "closed";
  }

  function stopRetry() {
    if (cancelRetry) cancelRetry();
    cancelRetry = null;
    stopCountdown();
  }

  function open() {
    stopRetry();
    if (final()) return;
    let next;
    try {
      next = new WebSocket(url);
    } catch (error) {
      report(error);
      scheduleReconnect();
      return;
    }
    socket = next;
    openedAt = 0;
    render(); // "reconnecting now…"
    next.onopen = () => {
      if (socket === next) openedAt = Date.now();
    };
    next.onmessage = (event) => {
      if (socket === next) onMessage(event);
    };
    next.onclose = (event) => {
      if (socket === next) lost(event.code, event.reason);
    };
  }

  function lost(code, reason) {
    socket = null;
    heartbeatMs = 0;
    lastSent = null;
    clock.stopEvery();
    if (final()) return;
    const neverOpened = !openedAt;
    if (openedAt && Date.now() - openedAt >= backoff.resetAfterMs) attempt = 0;
    openedAt = 0;
    if (FINAL_CLOSE_CODES.has(code)) {
      setState("signed-out", { code, reason });
      shutDown();
      return;
    }
    scheduleReconnect({ code, reason });
    // A refused handshake (HTTP 403) reaches the page as a bare 1006, like a network failure.
    // Ask over HTTP whether the sign-in still holds, so that an expired or revoked link says
    // "signed out" instead of retrying for ever.
    if (neverOpened && options.sessionCheckUrl) checkSession(code);
  }

  function checkSession(code) {
    fetch(options.sessionCheckUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((response) => {
        if ((response.status === 401 || response.status === 403) && !final()) {
          setState("signed-out", { code, reason: "the sign-in no longer holds" });
          shutDown();
        }
      })
      .catch(() => {}); // offline: the reconnect loop and the "offline" state cover it
  }

  // Forget a socket that is probably dead and start again.
  function drop() {
    const old = socket;
    if (!old) return;
    old.onclose = null;
    old.onmessage = null;
    old.close();
    lost(1006, "no heartbeat tick for too long");
  }

  function scheduleReconnect(detail = {}) {
    stopRetry();
    const delay = backoffDelay(attempt, backoff);
    attempt += 1;
    retryAt = Date.now() + delay;
    cancelRetry = clock.after(delay, () => {
      cancelRetry = null;
      open();
    });
    startCountdown();
    setState(browserOnline() ? "reconnecting" : "offline", { ...detail, delayMs: delay });
  }

  // --- the page and the network -----------------------------------------------------------

  function onVisibility() {
    visible = pageVisible();
    heartbeatIfChanged();
  }

  function onOnline() {
    if (final()) return;
    attempt = 0;
    if (socket && heartbeatMs) {
      setState("connected");
    } else if (!socket) {
      open();
      setState("reconnecting");
    }
  }

  function onOffline() {
    if (!final()) setState("offline");
  }

  function onPageShow(event) {
    // Back from the back/forward cache, where the browser closed the socket.
    if (event.persisted && !socket && !final()) open();
  }

  function shutDown() {
    stopRetry();
    clock.terminate();
    document.removeEventListener("visibilitychange", onVisibility);
    window.removeEventListener("online", onOnline);
    window.removeEventListener("offline", onOffline);
    window.removeEventListener("pageshow", onPageShow);
  }

  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);
  window.addEventListener("pageshow", onPageShow);

  render();
  open();

  return {
    /** connecting | connected | reconnecting | offline | signed-out | closed */
    get state() {
      return state;
    },
    get presence() {
      return { ...presence };
    },
    get visible() {
      return visible;
    },
    /** The latest `welcome` frame, or null. */
    get welcome() {
      return welcome;
    },
    /** "worker" or "interval": what times the heartbeats. */
    get timerKind() {
      return clock.kind;
    },
    get url() {
      return url;
    },
    /** The latest frame of a type (e.g. "state"), or null: for modules that start late. */
    last(type) {
      return lastFrames.get(type) || null;
    },
    on,
    off,
    onStatus(handler) {
      statusHandlers.add(handler);
      return () => statusHandlers.delete(handler);
    },
    send,
    /** {in_room, room} as they are now; either may be left out. Sends a heartbeat at once. */
    setPresence(next) {
      presence = cleanPresence(next, presence);
      heartbeatIfChanged();
      return { ...presence };
    },
    close() {
      if (state === "closed") return;
      const old = socket;
      socket = null;
      heartbeatMs = 0;
      shutDown();
      if (old) {
        old.onclose = null;
        old.onmessage = null;
        old.close(1000, "page closed the connection");
      }
      setState("closed");
    },
  };
}
