// The connection state, always on screen and honest about it.

import { el } from "./dom.js";

const LABELS = {
  connecting: "Connecting…",
  open: "Connected",
  closing: "Closing…",
  closed: "Disconnected",
  gone: "No such room",
  forbidden: "Not allowed",
};

export class ConnectionStatus {
  constructor(node) {
    this.node = node; // a role="status" live region
    this.ticker = null;
  }

  show(state, { retryAt, retry = false } = {}) {
    clearInterval(this.ticker);
    this.node.dataset.state = state;
    if (state === "reconnecting") {
      // Screen readers hear "Reconnecting" once; the ticking seconds are for the eyes only.
      const countdown = el("span", { attrs: { "aria-hidden": "true" } });
      this.node.replaceChildren("Reconnecting", countdown);
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        countdown.textContent = seconds > 0 ? ` in ${seconds} s…` : "…";
      };
      tick();
      this.ticker = setInterval(tick, 250);
    } else if (state === "connecting" && retry) {
      this.node.textContent = "Reconnecting…";
    } else {
      this.node.textContent = LABELS[state] ?? state;
    }
  }
}
