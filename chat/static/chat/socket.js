// One room's WebSocket: connect, watch for silence, reconnect with backoff. Knows nothing of
// messages; it hands every frame to `onFrame` and every state change to `onState`.

// The server's close codes (chat.protocol.Close; tests/unit/test_close_codes.py keeps the two equal).
export const CLOSE = Object.freeze({
  TOO_BIG: 1009, // a frame of ours was over daphne's size limit (sent by daphne)
  RESTARTING: 1012, // the worker is restarting: come back soon, to any worker
  TRY_AGAIN: 1013, // the worker cannot reach Redis or the database: back off
  TOO_SLOW: 4008, // we did not read fast enough: resume with ?after=
  FORBIDDEN: 4403, // not allowed in the room (members only, no guests, banned): final
  NO_ROOM: 4404, // final
  FLOOD: 4429, // too many refused frames: back off, never come straight back
  SEND_FAILED: 4500, // a frame to us could not be sent: back off
  // RESTARTING and TRY_AGAIN from a worker that cannot send codes below 3000 (its internals are off).
  RESTARTING_FALLBACK: 4012,
  TRY_AGAIN_FALLBACK: 4013,
});

// Closes that end a session which had been welcomed and would end the same way again (it flooded,
// a frame did not fit). A welcome starts the backoff over, so without a count of their own such a
// client would come back every half second for ever; each one in a row waits one step longer.
const REPEATING = new Set([CLOSE.FLOOD, CLOSE.SEND_FAILED, CLOSE.TOO_BIG]);

const FIRST_DELAY = 0.5; // seconds; doubles per failed attempt
const MAX_DELAY = 10;
// A connection that has not said welcome by then is as good as dead.
const HANDSHAKE_TIMEOUT = 10;
// Silence longer than this many heartbeats means the connection is dead even if TCP has not noticed.
const SILENCE_HEARTBEATS = 2.5;

// The change cursor goes only with a resume: without `after` there is nothing held to bring up to date.
export function socketUrl(location, slug, after = null, changes = null) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let query = "";
  if (after !== null) {
    query = `?after=${encodeURIComponent(after)}`;
    if (changes !== null) query += `&changes=${encodeURIComponent(changes)}`;
  }
  return `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(slug)}/${query}`;
}

// Exponential backoff with ±50 % jitter, so that a restarted server is not hit by everyone at once.
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** attempt);
  return base * (0.5 + random());
}

export class RoomSocket {
  constructor({ slug, resumeAfter, resumeChanges = () => null, onFrame, onState, location = window.location }) {
    this.slug = slug;
    this.resumeAfter = resumeAfter; // () => seq or null, asked at every (re)connect
    this.resumeChanges = resumeChanges; // () => change or null, likewise
    this.onFrame = onFrame;
    this.onState = onState;
    this.location = location;
    this.ws = null;
    this.attempt = 0;
    this.repeats = 0; // REPEATING closes in a row; only a session that ends otherwise clears it
    this.welcomed = false; // the current connection has said welcome
    this.retryTimer = null;
    this.silenceTimer = null;
    this.silenceLimit = HANDSHAKE_TIMEOUT;
    this.stopped = false;
    this.state = "closed";
    this.retryNow = () => {
      if (this.state === "reconnecting") this.connect();
    };
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.retryNow();
    };
  }

  start() {
    window.addEventListener("online", this.retryNow);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Stop for good (the page is going away, the room does not exist, or we may not be in it).
  stop(state = "closed") {
    this.stopped = true;
    window.removeEventListener("online", this.retryNow);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.setState("closing");
      this.ws.close(1000);
    } else {
      this.setState(state);
    }
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.detach();
    this.welcomed = false;
    this.setState("connecting", { retry: this.attempt > 0 });
    const ws = new WebSocket(socketUrl(this.location, this.slug, this.resumeAfter(), this.resumeChanges()));
    this.ws = ws;
    this.silenceLimit = HANDSHAKE_TIMEOUT;
    this.armSilence();
    // "open" waits for the welcome: a socket the server accepts only to close (4404) never was.
    ws.onmessage = (event) => this.received(event);
    ws.onclose = (event) => this.closed(event.code);
  }

  received(event) {
    this.armSilence();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // not our protocol; the server never sends this
    }
    if (frame === null || typeof frame !== "object") return;
    if (frame.type === "welcome") {
      this.attempt = 0; // a real session started: the next failure starts the backoff over
      this.welcomed = true;
      if (Number(frame.heartbeat) > 0) this.silenceLimit = SILENCE_HEARTBEATS * Number(frame.heartbeat);
      this.armSilence();
      this.setState("open");
    }
    this.onFrame(frame);
  }

  armSilence() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.dropDead(), this.silenceLimit * 1000);
  }

  // Silence: the connection is dead even if the browser has not noticed. Give up on it at once.
  dropDead() {
    if (!this.ws) return;
    const ws = this.ws;
    this.detach();
    this.setState("closing");
    try {
      ws.close(4000, "no heartbeat");
    } catch {
      // already closed
    }
    this.scheduleRetry();
  }

  closed(code) {
    this.detach();
    if (this.stopped) {
      this.setState("closed");
    } else if (code === CLOSE.NO_ROOM) {
      this.stop("gone");
    } else if (code === CLOSE.FORBIDDEN) {
      this.stop("forbidden"); // the same answer every time until someone changes the room or lifts a ban
    } else if (REPEATING.has(code)) {
      // Never the first step, whatever the welcome reset: at least 1 s, then 2, 4… per repeat.
      this.repeats += 1;
      this.attempt = Math.max(this.attempt, this.repeats);
      this.scheduleRetry();
    } else {
      if (this.welcomed) this.repeats = 0; // a session that did not end in a repeat
      // 1012 (restart) is expected to be brief: retry soon, still jittered.
      if (code === CLOSE.RESTARTING || code === CLOSE.RESTARTING_FALLBACK) this.attempt = 0;
      this.scheduleRetry();
    }
  }

  scheduleRetry() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
    this.setState("reconnecting", { retryAt: Date.now() + delay * 1000 });
  }

  detach() {
    clearTimeout(this.silenceTimer);
    if (!this.ws) return;
    this.ws.onmessage = this.ws.onclose = null;
    this.ws = null;
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }
}
