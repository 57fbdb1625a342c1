// Messages on their way: each has a fresh client_id, shows "sending…" until the server has stored
// it, is re-sent after a reconnect (the client_id makes that idempotent) and can fail visibly.
// Only a "sending" entry is ever sent again without the user asking: a failed one waits for Retry.

import { el } from "./dom.js";

export const ACK_TIMEOUT_MS = 10_000;

// Refusals that the same text sent again cannot cure: the message offers Discard, not Retry. A
// mute or a ban is not lifted by trying again either. (`slow_mode`, like `rate_limited`, offers a
// Retry held back for its `retry_after`.)
const FINAL = new Set(["bad_text", "empty", "too_long", "bad_request", "read_only", "muted", "forbidden"]);
// `unavailable`: the server's database did not answer (the server already tried twice). One more
// try of our own after `retry_after` is worth it; this is the wait when the frame names none.
const UNAVAILABLE_WAIT_S = 1;

export function newClientId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; plain-http deployments still get a v4 UUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  // send(frame) -> bool (false while disconnected); isShown(seq) -> bool; onChange() after any change.
  constructor(list, { send, isShown, onChange = () => {} }) {
    this.list = list;
    this.send = send;
    this.isShown = isShown;
    this.onChange = onChange;
    this.entries = new Map(); // client_id -> entry
  }

  submit(body) {
    const entry = { clientId: newClientId(), body, state: "sending", seq: null, timer: null, retried: false };
    entry.node = this.render(entry);
    this.entries.set(entry.clientId, entry);
    this.list.append(entry.node);
    this.transmit(entry);
    this.onChange();
    return entry;
  }

  // The server stored it under `seq`; it stays in the outbox until that seq is on screen.
  ack(clientId, seq) {
    const entry = this.entries.get(clientId);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.seq = seq;
    if (this.isShown(seq)) this.drop(entry);
    else this.setState(entry, "sent");
  }

  // Messages now on screen: their outbox copies go (by client_id, or by the acked seq).
  delivered(messages) {
    for (const message of messages) {
      const entry = message.client_id ? this.entries.get(message.client_id) : undefined;
      if (entry) this.drop(entry);
    }
    for (const entry of this.entries.values()) {
      if (entry.seq !== null && this.isShown(entry.seq)) this.drop(entry);
    }
  }

  // Refused by the server (an error frame's code and detail); `retryAfter` (seconds) holds the
  // Retry button back until it can work. False when the client_id is not ours.
  refuse(clientId, { code, detail = "", retryAfter = 0 }) {
    const entry = this.entries.get(clientId);
    if (!entry) return false;
    // Acked means stored: a refused second copy (a Retry that crossed the ack) changes nothing.
    if (entry.state === "sent") return true;
    clearTimeout(entry.timer);
    if (code === "unavailable" && entry.state === "sending" && !entry.retried) {
      entry.retried = true; // a second `unavailable` is shown, not tried again
      const wait = retryAfter > 0 ? retryAfter : UNAVAILABLE_WAIT_S;
      // entry.timer, so that pause() holds it while the socket is down (resend() sends it then).
      entry.timer = setTimeout(() => {
        if (entry.state === "sending") this.transmit(entry);
      }, wait * 1000);
      return true;
    }
    this.setState(entry, "failed", detail, { retryAfter, final: FINAL.has(code) });
    return true;
  }

  // After a (re)connect: send again whatever was not acknowledged yet.
  resend() {
    for (const entry of this.entries.values()) if (entry.state === "sending") this.transmit(entry);
  }

  // The connection went away: acknowledgement timers only run while the socket is open.
  pause() {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
  }

  get pending() {
    return this.entries.size;
  }

  transmit(entry) {
    clearTimeout(entry.timer);
    if (this.send({ type: "message", body: entry.body, client_id: entry.clientId })) {
      this.setState(entry, "sending");
      entry.timer = setTimeout(() => this.setState(entry, "failed", "No answer from the server."), ACK_TIMEOUT_MS);
    } else {
      this.setState(entry, "sending", "Waiting for the connection…");
    }
  }

  drop(entry) {
    clearTimeout(entry.timer);
    clearInterval(entry.countdown);
    this.entries.delete(entry.clientId);
    entry.node.remove();
    this.onChange();
  }

  // `final`: the server will never take this text, so a failure offers no Retry.
  setState(entry, state, detail = "", { retryAfter = 0, final = false } = {}) {
    entry.state = state;
    entry.node.dataset.state = state;
    clearInterval(entry.countdown);
    entry.status.replaceChildren();
    if (state === "failed") {
      const actions = [];
      if (!final) {
        const retry = el("button", { className: "link-button", text: "Retry", attrs: { type: "button" } });
        retry.addEventListener("click", () => {
          entry.retried = false; // the user's try gets the same one automatic retry as the first
          this.transmit(entry);
        });
        if (retryAfter > 0) this.holdBack(entry, retry, Date.now() + retryAfter * 1000);
        actions.push(retry, " · ");
      }
      const discard = el("button", { className: "link-button", text: "Discard", attrs: { type: "button" } });
      discard.addEventListener("click", () => this.drop(entry));
      actions.push(discard);
      entry.status.append(el("span", { text: `Failed${detail ? `: ${detail}` : ""}` }), " — ", ...actions);
    } else {
      entry.status.textContent = state === "sent" ? "Sent" : detail || "Sending…";
    }
    this.onChange();
  }

  holdBack(entry, button, until) {
    const tick = () => {
      const seconds = Math.ceil((until - Date.now()) / 1000);
      button.disabled = seconds > 0;
      button.textContent = seconds > 0 ? `Retry in ${seconds} s` : "Retry";
      if (seconds <= 0) clearInterval(entry.countdown);
    };
    tick();
    entry.countdown = setInterval(tick, 200);
  }

  render(entry) {
    entry.status = el("p", { className: "outbox-status", attrs: { role: "status" } });
    return el("li", { className: "msg msg--mine msg--pending", dataset: { clientId: entry.clientId } }, [
      el("span", { className: "avatar avatar--pending", attrs: { "aria-hidden": "true" } }),
      el("div", { className: "msg-main" }, [el("p", { className: "body", text: entry.body }), entry.status]),
    ]);
  }
}
