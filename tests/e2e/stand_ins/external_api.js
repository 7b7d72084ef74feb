// A stand-in for Jitsi Meet's external_api.js, served to the browser in place of
// https://{domain}/external_api.js (no test reaches a real Jitsi server). It implements what
// the IFrame API documents and the live page uses: the constructor (domain, options with
// roomName, jwt, parentNode, width, height, userInfo, configOverwrite,
// interfaceConfigOverwrite), addListener / addEventListener / on and their removal,
// executeCommand, isVideoMuted and dispose; it emits videoConferenceJoined shortly after it
// is created, as a conference does once joined. Tests drive the rest through
// window.__jitsi: every instance made, the current one, and emit() to fire an event.
(function () {
  "use strict";
  const registry = (window.__jitsi = window.__jitsi || { created: [], current: null, autoJoin: true });

  class JitsiMeetExternalAPI {
    constructor(domain, options = {}) {
      if (typeof domain !== "string" || !domain) throw new Error("stand-in: a domain is required");
      if (!options.parentNode) throw new Error("stand-in: parentNode is required");
      this.domain = domain;
      this.options = options;
      this.roomName = options.roomName;
      this.jwt = options.jwt;
      this.listeners = new Map();
      this.commands = [];
      this.disposed = false;
      this.videoMuted = Boolean(options.configOverwrite && options.configOverwrite.startWithVideoMuted);
      this.frame = document.createElement("iframe");
      this.frame.id = `jitsiConferenceFrame${registry.created.length}`;
      this.frame.title = "Video call";
      this.frame.setAttribute("allow", "camera; microphone; display-capture");
      // No style attributes inside: a srcdoc frame inherits the page's Content-Security-Policy,
      // which refuses inline styles. The frame element itself is styled through the CSSOM.
      this.frame.style.background = "#e5edf5";
      this.frame.style.border = "0";
      this.frame.srcdoc =
        "<body><p>Stand-in conference<br><small>" +
        String(options.roomName).replace(/[<&]/g, "") + "</small></p></body>";
      options.parentNode.appendChild(this.frame);
      registry.created.push(this);
      registry.current = this;
      setTimeout(() => {
        if (!this.disposed && registry.autoJoin) {
          this.emit("videoConferenceJoined", { roomName: this.roomName, id: "local", displayName: "" });
        }
      }, 50);
    }

    addListener(name, listener) {
      if (!this.listeners.has(name)) this.listeners.set(name, new Set());
      this.listeners.get(name).add(listener);
      return this;
    }
    addEventListener(name, listener) {
      return this.addListener(name, listener);
    }
    on(name, listener) {
      return this.addListener(name, listener);
    }
    removeListener(name, listener) {
      const set = this.listeners.get(name);
      if (set) set.delete(listener);
      return this;
    }
    removeEventListener(name, listener) {
      return this.removeListener(name, listener);
    }
    off(name, listener) {
      return this.removeListener(name, listener);
    }
    emit(name, data = {}) {
      for (const listener of [...(this.listeners.get(name) || [])]) listener(data);
      return true;
    }

    executeCommand(name, ...args) {
      this.commands.push([name, ...args]);
      if (name === "toggleVideo") this.videoMuted = !this.videoMuted;
      if (name === "hangup") {
        this.emit("videoConferenceLeft", { roomName: this.roomName });
        this.emit("readyToClose", {});
      }
    }
    isVideoMuted() {
      return Promise.resolve(this.videoMuted);
    }
    getIFrame() {
      return this.frame;
    }
    dispose() {
      this.disposed = true;
      this.frame.remove();
      if (registry.current === this) registry.current = null;
    }
  }

  window.JitsiMeetExternalAPI = JitsiMeetExternalAPI;
})();
