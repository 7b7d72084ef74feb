// The live page's stage: the Jitsi conference of the room the server puts the person in,
// through the Jitsi Meet IFrame API, and the presence it reports.
//
// The server decides the room: each `state` frame carries room.jitsi = {domain, room, jwt,
// tenant} or null. A new room (another mode, another breakout) disposes the old conference
// and joins the new one without a reload; the same room again (a reconnect brings a fresh
// token) leaves the call alone. `in_room` is true only between the conference's own
// videoConferenceJoined and videoConferenceLeft / readyToClose events.
//
// If external_api.js cannot load (a firewall, an outage), the page says so and everything
// else — programme, notices, questions — keeps working.

import { eventClock } from "./event-clock.js";
import { attachSiteVisit } from "./site-visit.js";

const MODE_LABELS = {
  waiting: "Waiting to start",
  stage: "Main stage",
  breakouts: "Group discussion in breakout rooms",
  site_visit: "Virtual site visit",
  break: "Break",
  ended: "Session ended",
};
const SCRIPT_TIMEOUT_MS = 20000;
const LOW_RESOLUTION = 180;
const NORMAL_RESOLUTION = 720;

function readAgenda(element) {
  const script = element.querySelector("script[type='application/json'].stage-agenda");
  try {
    return script ? JSON.parse(script.textContent) : [];
  } catch {
    return [];
  }
}

export function attachStage(live, element, options = {}) {
  const videoElement = element.querySelector(".stage__video");
  const message = element.querySelector(".stage__message");
  const modeElement = element.querySelector(".stage__mode");
  const itemElement = element.querySelector(".stage__item");
  const speakersElement = element.querySelector(".stage__speakers");
  const rejoinButton = element.querySelector(".stage__rejoin");
  const lowBandwidthBox = element.querySelector(".stage__low-bandwidth");
  const timerElement = element.querySelector(".stage__timer");
  const agenda = new Map(readAgenda(element).map((item) => [item.key, item]));
  const loadTimeout = options.scriptTimeoutMs ?? SCRIPT_TIMEOUT_MS;

  let api = null;
  let conference = null; // "domain|roomName" of the conference joined or being joined
  let joined = false;
  let room = "main";
  let mode = null;
  let lastFrame = null;
  let scriptPromise = null;
  let scriptElement = null;
  let lowBandwidth = element.dataset.lowBandwidth === "true";
  const clock = eventClock(live);
  let visit = null; // the site-visit player (site-visit.js), attached below
  let endsAt = null;
  let timer = null;

  function say(text, kind = "info") {
    if (!message) return;
    message.textContent = text;
    message.dataset.kind = kind;
  }

  function report() {
    // In the site visit there is no call: watching the stream is being in the room.
    live.setPresence({ in_room: joined || (visit !== null && visit.watching), room });
    element.dataset.inRoom = String(joined);
  }

  function loadScript(domain) {
    if (typeof window.JitsiMeetExternalAPI === "function") return Promise.resolve();
    if (!scriptPromise) {
      scriptPromise = new Promise((resolve, reject) => {
        scriptElement = document.createElement("script");
        scriptElement.src = `https://${domain}/external_api.js`;
        scriptElement.async = true;
        const timer = setTimeout(() => reject(new Error("it took too long")), loadTimeout);
        scriptElement.onload = () => {
          clearTimeout(timer);
          if (typeof window.JitsiMeetExternalAPI === "function") resolve();
          else reject(new Error("it did not provide the video API"));
        };
        scriptElement.onerror = () => {
          clearTimeout(timer);
          reject(new Error("it could not be downloaded"));
        };
        document.head.append(scriptElement);
      });
      // A failed load may be retried (the Rejoin button): start from a clean slate then.
      scriptPromise.catch(() => {
        scriptPromise = null;
        if (scriptElement) scriptElement.remove();
        scriptElement = null;
      });
    }
    return scriptPromise;
  }

  function leave() {
    const old = api;
    api = null;
    conference = null;
    joined = false;
    element.dataset.conference = "";
    if (old) {
      try {
        old.dispose();
      } catch (error) {
        console.warn("stage: disposing the conference failed", error);
      }
    }
    report();
  }

  function applyBandwidth() {
    if (!api) return;
    api.executeCommand("setVideoQuality", lowBandwidth ? LOW_RESOLUTION : NORMAL_RESOLUTION);
    if (lowBandwidth && typeof api.isVideoMuted === "function") {
      Promise.resolve(api.isVideoMuted())
        .then((muted) => {
          if (!muted && api) api.executeCommand("toggleVideo");
        })
        .catch(() => {});
    }
  }

  async function join(jitsi) {
    const roomName = jitsi.tenant ? `${jitsi.tenant}/${jitsi.room}` : jitsi.room;
    const key = `${jitsi.domain}|${roomName}`;
    if (conference === key) return; // the same call: keep it (a fresh token waits for the next join)
    leave();
    conference = key;
    rejoinButton.hidden = true;
    say("Joining the video call…", "progress");
    try {
      await loadScript(jitsi.domain);
    } catch (error) {
      if (conference !== key) return;
      conference = null;
      say(
        `The video could not be loaded from ${jitsi.domain}: ${error.message}. ` +
          "The programme, notices and questions keep working. Try again, or ask your IT " +
          `team to allow ${jitsi.domain}.`,
        "error",
      );
      element.dataset.video = "failed";
      rejoinButton.textContent = "Try the video again";
      rejoinButton.hidden = false;
      report();
      return;
    }
    if (conference !== key) return; // moved again while the script loaded
    element.dataset.video = "loaded";
    api = new window.JitsiMeetExternalAPI(jitsi.domain, {
      roomName,
      jwt: jitsi.jwt || undefined,
      parentNode: videoElement,
      width: "100%",
      height: "100%",
      userInfo: { displayName: element.dataset.personName || "", email: element.dataset.personEmail || "" },
      configOverwrite: {
        prejoinConfig: { enabled: false },
        disableDeepLinking: true,
        startWithVideoMuted: lowBandwidth,
        resolution: lowBandwidth ? LOW_RESOLUTION : NORMAL_RESOLUTION,
      },
      interfaceConfigOverwrite: { MOBILE_APP_PROMO: false },
    });
    element.dataset.conference = roomName;
    const current = api;
    current.addListener("videoConferenceJoined", () => {
      if (api !== current) return;
      joined = true;
      say("You are in the room. Your attendance is being logged.", "ok");
      applyBandwidth();
      report();
    });
    current.addListener("videoConferenceLeft", () => {
      if (api !== current) return;
      joined = false;
      say("You have left the call: this time does not count as attendance.", "warning");
      rejoinButton.textContent = "Rejoin the call";
      rejoinButton.hidden = false;
      report();
    });
    current.addListener("readyToClose", () => {
      if (api !== current) return;
      leave();
      say("You have left the call: this time does not count as attendance.", "warning");
      rejoinButton.textContent = "Rejoin the call";
      rejoinButton.hidden = false;
    });
  }

  function showTimer() {
    if (!timerElement) return;
    if (endsAt === null) {
      timerElement.textContent = "";
      return;
    }
    const left = Math.max(0, Math.round((endsAt - clock.now()) / 1000));
    const minutes = Math.floor(left / 60);
    const seconds = String(left % 60).padStart(2, "0");
    const label = room.startsWith("breakout-") ? `Room ${room.slice(9)}` : room;
    timerElement.textContent = `${label} · ${minutes}:${seconds} left`;
    timerElement.dataset.ending = String(left <= 60);
  }

  function followTimer(frame) {
    endsAt = typeof frame.ends_at === "string" ? Date.parse(frame.ends_at) : null;
    if (endsAt !== null && timer === null) timer = setInterval(showTimer, 250);
    if (endsAt === null && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
    showTimer();
  }

  function showHead(frame) {
    const label = MODE_LABELS[frame.mode] || frame.mode;
    if (modeElement) {
      modeElement.textContent = label;
      modeElement.dataset.mode = frame.mode;
    }
    const item = frame.item ? agenda.get(frame.item) : null;
    if (itemElement) itemElement.textContent = item ? item.title : "";
    if (speakersElement) speakersElement.textContent = item && item.speakers.length ? item.speakers.join(", ") : "";
    element.dataset.mode = frame.mode;
  }

  function follow(frame) {
    lastFrame = frame;
    mode = frame.mode;
    const target = frame.room || null;
    room = target && typeof target.name === "string" ? target.name : "main";
    element.dataset.room = room;
    showHead(frame);
    followTimer(frame);
    if (target && target.jitsi) {
      join(target.jitsi);
      report();
      return;
    }
    leave();
    rejoinButton.hidden = true;
    if (frame.mode === "site_visit") say("", "info"); // the player below speaks for itself
    else if (frame.mode === "ended") say("This session has ended. Thank you for taking part.", "info");
    else say("The video call opens when the session starts.", "info");
  }

  rejoinButton.addEventListener("click", () => {
    conference = null;
    if (lastFrame) follow(lastFrame);
  });

  if (lowBandwidthBox) {
    lowBandwidthBox.checked = lowBandwidth;
    lowBandwidthBox.addEventListener("change", () => {
      lowBandwidth = lowBandwidthBox.checked;
      applyBandwidth();
      const form = lowBandwidthBox.form;
      const body = new URLSearchParams(new FormData(form));
      body.set("on", lowBandwidth ? "true" : "false");
      fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      }).catch((error) => console.warn("stage: the low-bandwidth choice was not saved", error));
    });
  }

  const visitElement = element.querySelector(".visit");
  if (visitElement) {
    visit = attachSiteVisit(live, visitElement, {
      eventCode: options.eventCode || "",
      clock,
      onChange: report,
    });
  }

  const known = live.last("state");
  if (known) follow(known);
  live.on("state", follow);

  return {
    get joined() {
      return joined;
    },
    get conference() {
      return conference;
    },
    get api() {
      return api;
    },
    get lowBandwidth() {
      return lowBandwidth;
    },
    get visit() {
      return visit;
    },
  };
}
