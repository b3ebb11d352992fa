// The pages' one script: the order page refreshes its live part, and counts down to the payment deadline.
// It decides nothing: the server renders every state; this only asks for it again and shows the time left.
"use strict";

(function () {
  const POLL_MS = 1000;

  function tickCountdown() {
    const el = document.getElementById("countdown");
    if (!el) return;
    const left = Math.max(0, Math.floor((Date.parse(el.dataset.deadline) - Date.now()) / 1000));
    const minutes = Math.floor(left / 60);
    const seconds = String(left % 60).padStart(2, "0");
    el.textContent = minutes + ":" + seconds + (left === 0 ? " (expiring…)" : "");
  }

  function startLive(container) {
    const url = container.dataset.liveUrl;
    async function poll() {
      const current = container.querySelector("[data-version]");
      if (current && current.dataset.final === "true") return;
      try {
        const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
        if (response.ok) {
          const holder = document.createElement("div");
          holder.innerHTML = await response.text();
          const fresh = holder.querySelector("[data-version]");
          if (fresh && (!current || fresh.dataset.version !== current.dataset.version)) {
            container.replaceChildren(fresh);
            tickCountdown();
          }
        }
      } catch (error) {
        // offline for a moment: the next poll tries again
      }
      setTimeout(poll, POLL_MS);
    }
    setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const live = document.getElementById("live");
    if (live) startLive(live);
    tickCountdown();
    setInterval(tickCountdown, 1000);
  });
})();
