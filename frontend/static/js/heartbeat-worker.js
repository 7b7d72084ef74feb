// The clock of the live page (a classic worker, started by live.js).
// Browsers throttle the timers of background tabs on the main thread (to once a minute, or
// worse) but not those of a dedicated worker, so heartbeats keep their pace, and reconnection
// keeps its schedule, while the person looks at another tab.
//
// In:  {cmd: "start", intervalMs}  ticks every intervalMs (replacing any earlier ticking)
//      {cmd: "stop"}               no more ticks
//      {cmd: "timeout", id, delayMs} / {cmd: "cancel", id}
// Out: {type: "tick", at}  and  {type: "timeout", id}
"use strict";

var ticker = null;
var timeouts = {};

self.onmessage = function (event) {
  var message = event.data || {};
  if (message.cmd === "start" || message.cmd === "stop") {
    if (ticker !== null) clearInterval(ticker);
    ticker = null;
    if (message.cmd === "start") {
      var intervalMs = Math.max(50, Number(message.intervalMs) || 15000);
      ticker = setInterval(function () {
        self.postMessage({ type: "tick", at: Date.now() });
      }, intervalMs);
    }
  } else if (message.cmd === "timeout") {
    var id = message.id;
    timeouts[id] = setTimeout(function () {
      delete timeouts[id];
      self.postMessage({ type: "timeout", id: id });
    }, Math.max(0, Number(message.delayMs) || 0));
  } else if (message.cmd === "cancel") {
    clearTimeout(timeouts[message.id]);
    delete timeouts[message.id];
  }
};
