import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { backoffDelay, CLOSE, RoomSocket, socketUrl } from "../../chat/static/chat/socket.js";
import { FakeEventTarget, FakeWebSocket, installDocument } from "./fakes.mjs";

const page = (protocol, host) => ({ protocol, host, hostname: "ignored.invalid" });

describe("socketUrl", () => {
  test("uses wss: on an https: page", () => {
    assert.equal(socketUrl(page("https:", "chat.example.org"), "general"), "wss://chat.example.org/ws/rooms/general/");
  });

  test("uses ws: on an http: page", () => {
    assert.equal(socketUrl(page("http:", "localhost:8000"), "general"), "ws://localhost:8000/ws/rooms/general/");
  });

  test("takes host and port from the page, never a fixed host", () => {
    assert.equal(socketUrl(page("https:", "10.0.0.7:8443"), "ops"), "wss://10.0.0.7:8443/ws/rooms/ops/");
    assert.equal(socketUrl(page("http:", "other.test"), "ops"), "ws://other.test/ws/rooms/ops/");
  });

  test("adds no ?after on a first connection", () => {
    assert.ok(!socketUrl(page("http:", "h"), "general", null).includes("?"));
    assert.ok(!socketUrl(page("http:", "h"), "general").includes("?"));
  });

  test("adds ?after=N when resuming, including from zero", () => {
    assert.equal(socketUrl(page("http:", "h"), "general", 41), "ws://h/ws/rooms/general/?after=41");
    assert.equal(socketUrl(page("http:", "h"), "general", 0), "ws://h/ws/rooms/general/?after=0");
  });

  test("adds &changes=C alongside ?after=N, and never without it", () => {
    assert.equal(socketUrl(page("http:", "h"), "general", 41, 7), "ws://h/ws/rooms/general/?after=41&changes=7");
    assert.equal(socketUrl(page("http:", "h"), "general", 41, 0), "ws://h/ws/rooms/general/?after=41&changes=0");
    assert.equal(socketUrl(page("http:", "h"), "general", 41, null), "ws://h/ws/rooms/general/?after=41");
    assert.equal(socketUrl(page("http:", "h"), "general", null, 7), "ws://h/ws/rooms/general/");
  });

  test("escapes the slug so that it stays one path segment", () => {
    assert.equal(socketUrl(page("http:", "h"), "a/b?c"), "ws://h/ws/rooms/a%2Fb%3Fc/");
  });
});

describe("backoffDelay", () => {
  const middle = () => 0.5; // jitter factor exactly 1

  test("starts at half a second and doubles per failed attempt", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, middle)),
      [0.5, 1, 2, 4, 8],
    );
  });

  test("never waits more than 10 s before jitter", () => {
    assert.equal(backoffDelay(5, middle), 10);
    assert.equal(backoffDelay(12, middle), 10);
    assert.equal(backoffDelay(5000, middle), 10);
  });

  test("jitters by ±50 % so that clients do not return in lockstep", () => {
    assert.equal(backoffDelay(2, () => 0), 1); // 2 s × 0.5
    assert.equal(backoffDelay(2, () => 0.999), 2 * 1.499);
    assert.equal(backoffDelay(9, () => 0), 5); // the cap is jittered too
    assert.ok(Math.abs(backoffDelay(9, () => 0.999999) - 15) < 1e-4);
  });

  test("uses Math.random when no source is given", () => {
    const seen = new Set(Array.from({ length: 20 }, () => backoffDelay(0)));
    assert.ok(seen.size > 1, "twenty draws gave one delay: no jitter");
    for (const delay of seen) assert.ok(delay >= 0.25 && delay < 0.75, `${delay} outside 0.25..0.75 s`);
  });
});

describe("CLOSE", () => {
  test("names the server's close codes and cannot be changed", () => {
    assert.equal(CLOSE.NO_ROOM, 4404);
    assert.equal(CLOSE.FORBIDDEN, 4403);
    assert.equal(CLOSE.RESTARTING, 1012);
    assert.ok(Object.isFrozen(CLOSE));
    assert.throws(() => {
      CLOSE.NO_ROOM = 1000; // modules are strict: writing to a frozen object throws
    }, TypeError);
  });
});

describe("RoomSocket", () => {
  let states;
  let frames;
  let resumeFrom;
  let changesFrom;
  let socket;
  let doc;

  const WELCOME = { type: "welcome", heartbeat: 15, last_seq: 0, online: [], you: { name: "ann" } };

  function start() {
    socket = new RoomSocket({
      slug: "general",
      resumeAfter: () => resumeFrom,
      resumeChanges: () => changesFrom,
      onFrame: (frame) => frames.push(frame),
      onState: (state, detail) => states.push({ state, ...detail }),
      location: page("https:", "chat.example.org"),
    });
    socket.start();
    return FakeWebSocket.last;
  }

  const sockets = () => FakeWebSocket.instances.length;
  const state = () => states[states.length - 1].state;

  // The server side of a healthy connection: accepted, then welcome.
  function welcome(ws = FakeWebSocket.last, frame = WELCOME) {
    ws.open();
    ws.receive(frame);
  }

  // Wait just short of `seconds`, check nothing reconnected, then let the retry timer fire.
  function expectRetryAfter(seconds) {
    const before = sockets();
    mock.timers.tick(seconds * 1000 - 1);
    assert.equal(sockets(), before, `reconnected before ${seconds} s`);
    mock.timers.tick(1);
    assert.equal(sockets(), before + 1, `did not reconnect after ${seconds} s`);
    return FakeWebSocket.last;
  }

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    mock.method(Math, "random", () => 0.5); // no jitter: delays are exactly 0.5, 1, 2, 4… s
    FakeWebSocket.instances = [];
    globalThis.WebSocket = FakeWebSocket;
    globalThis.window = new FakeEventTarget();
    doc = installDocument();
    states = [];
    frames = [];
    resumeFrom = null;
    changesFrom = null;
  });

  afterEach(() => {
    socket?.stop();
    mock.timers.reset();
    mock.restoreAll();
  });

  test("connects to the room's URL without ?after the first time", () => {
    const ws = start();
    assert.equal(ws.url, "wss://chat.example.org/ws/rooms/general/");
    assert.equal(state(), "connecting");
  });

  test("says open only once the server has said welcome", () => {
    const ws = start();
    ws.open();
    assert.equal(state(), "connecting");
    ws.receive(WELCOME);
    assert.equal(state(), "open");
    assert.deepEqual(frames, [WELCOME]);
  });

  test("hands every frame over parsed and skips text that is not JSON", () => {
    const ws = start();
    welcome(ws);
    ws.receive("not json");
    ws.receive("null");
    ws.receive({ type: "heartbeat", last_seq: 3, online: 1 });
    assert.deepEqual(frames.map((frame) => frame.type), ["welcome", "heartbeat"]);
  });

  test("sends frames as JSON only while the socket is open", () => {
    const ws = start();
    assert.equal(socket.send({ type: "typing" }), false);
    welcome(ws);
    assert.equal(socket.send({ type: "typing" }), true);
    assert.deepEqual(ws.sent, [{ type: "typing" }]);
  });

  test("4404 (no such room) stops for good", () => {
    const ws = start();
    ws.open();
    ws.serverClose(CLOSE.NO_ROOM);
    assert.equal(state(), "gone");
    mock.timers.tick(120_000);
    window.dispatchEvent({ type: "online" });
    doc.setVisibility("visible");
    assert.equal(sockets(), 1, "retried a room that does not exist");
    assert.equal(state(), "gone");
  });

  test("4403 (not allowed in the room, or banned) stops for good, even on an open session", () => {
    const ws = start();
    welcome(ws);
    ws.serverClose(CLOSE.FORBIDDEN);
    assert.equal(state(), "forbidden");
    mock.timers.tick(120_000);
    window.dispatchEvent({ type: "online" });
    doc.setVisibility("visible");
    assert.equal(sockets(), 1, "came back to a room it may not be in");
    assert.equal(state(), "forbidden");
  });

  test("a dropped connection resumes with the change cursor too", () => {
    const ws = start();
    welcome(ws);
    resumeFrom = 41;
    changesFrom = 9;
    ws.serverClose(1006);
    const next = expectRetryAfter(0.5);
    assert.equal(next.url, "wss://chat.example.org/ws/rooms/general/?after=41&changes=9");
  });

  test("a dropped connection is retried with ?after= from resumeAfter", () => {
    const ws = start();
    welcome(ws);
    resumeFrom = 41;
    ws.serverClose(1006);
    assert.equal(state(), "reconnecting");
    const next = expectRetryAfter(0.5);
    assert.equal(next.url, "wss://chat.example.org/ws/rooms/general/?after=41");
    assert.equal(state(), "connecting");
    assert.equal(states[states.length - 1].retry, true, "a retry should read as reconnecting, not connecting");
  });

  test("failed attempts back off 0.5, 1, 2, 4, 8 s, then stay at 10 s", () => {
    start();
    for (const seconds of [0.5, 1, 2, 4, 8, 10, 10]) {
      FakeWebSocket.last.serverClose(1006);
      expectRetryAfter(seconds);
    }
  });

  test("tells the status line when the next try will be", () => {
    start();
    FakeWebSocket.last.serverClose(1006);
    expectRetryAfter(0.5);
    FakeWebSocket.last.serverClose(1006);
    const reconnecting = states[states.length - 1];
    assert.equal(reconnecting.state, "reconnecting");
    assert.equal(reconnecting.retryAt, Date.now() + 1000);
  });

  test("4008 (too slow) reconnects and resumes", () => {
    const ws = start();
    welcome(ws);
    resumeFrom = 1200;
    ws.serverClose(CLOSE.TOO_SLOW);
    const next = expectRetryAfter(0.5);
    assert.match(next.url, /\?after=1200$/);
  });

  for (const code of [CLOSE.RESTARTING, CLOSE.RESTARTING_FALLBACK]) {
    test(`${code} (server restart) resets the backoff to its first step`, () => {
      start();
      for (const seconds of [0.5, 1, 2, 4]) {
        FakeWebSocket.last.serverClose(1006);
        expectRetryAfter(seconds);
      }
      // The next failure would wait 8 s; a restart retries at once-ish instead.
      FakeWebSocket.last.open();
      FakeWebSocket.last.serverClose(code);
      expectRetryAfter(0.5);
    });
  }

  test("1013 (Redis or the database unavailable) keeps backing off", () => {
    start();
    FakeWebSocket.last.serverClose(CLOSE.TRY_AGAIN);
    expectRetryAfter(0.5);
    FakeWebSocket.last.serverClose(CLOSE.TRY_AGAIN);
    expectRetryAfter(1);
    FakeWebSocket.last.serverClose(CLOSE.TRY_AGAIN);
    expectRetryAfter(2);
  });

  test("4429 (flood) never reconnects at once, and each flood in a row waits longer despite the welcome", () => {
    start();
    for (const seconds of [1, 2, 4, 8, 10]) {
      welcome(); // every flooded session was welcomed first: that must not start the backoff over
      FakeWebSocket.last.serverClose(CLOSE.FLOOD);
      expectRetryAfter(seconds);
    }
  });

  test("4429 does not cut short a backoff already under way", () => {
    start();
    welcome();
    FakeWebSocket.last.serverClose(CLOSE.FLOOD);
    expectRetryAfter(1);
    for (const seconds of [2, 4]) {
      FakeWebSocket.last.serverClose(1006); // the next tries fail before any welcome
      expectRetryAfter(seconds);
    }
    welcome();
    FakeWebSocket.last.serverClose(CLOSE.FLOOD);
    expectRetryAfter(2); // the second flood in a row, not the first step again
  });

  test("4500 (send failed) and 1009 (too big) back off across welcomes like a flood", () => {
    start();
    for (const [code, seconds] of [
      [CLOSE.SEND_FAILED, 1],
      [CLOSE.TOO_BIG, 2],
      [CLOSE.SEND_FAILED, 4],
    ]) {
      welcome();
      FakeWebSocket.last.serverClose(code);
      expectRetryAfter(seconds);
    }
  });

  test("a welcomed session that ends some other way clears the flood count", () => {
    start();
    for (const seconds of [1, 2]) {
      welcome();
      FakeWebSocket.last.serverClose(CLOSE.FLOOD);
      expectRetryAfter(seconds);
    }
    welcome();
    FakeWebSocket.last.serverClose(1006);
    expectRetryAfter(0.5);
    welcome();
    FakeWebSocket.last.serverClose(CLOSE.FLOOD);
    expectRetryAfter(1);
  });

  test("a 1012 after a flood retries at the first step", () => {
    start();
    welcome();
    FakeWebSocket.last.serverClose(CLOSE.FLOOD);
    expectRetryAfter(1);
    welcome();
    FakeWebSocket.last.serverClose(CLOSE.RESTARTING);
    expectRetryAfter(0.5);
  });

  test("welcome resets the attempt counter", () => {
    start();
    for (const seconds of [0.5, 1, 2]) {
      FakeWebSocket.last.serverClose(1006);
      expectRetryAfter(seconds);
    }
    welcome();
    FakeWebSocket.last.serverClose(1006);
    expectRetryAfter(0.5);
  });

  test("silence longer than 2.5 heartbeats drops the socket and reconnects", () => {
    const ws = start();
    welcome(ws); // heartbeat: 15 s, so 37.5 s of silence is too much
    mock.timers.tick(37_499);
    assert.equal(ws.closedWith, null, "dropped a connection that was not silent for long enough");
    mock.timers.tick(1);
    assert.equal(ws.closedWith, 4000);
    assert.equal(state(), "reconnecting");
    const next = expectRetryAfter(0.5);
    assert.notEqual(next, ws);
  });

  test("any frame restarts the silence watch", () => {
    const ws = start();
    welcome(ws);
    mock.timers.tick(30_000);
    ws.receive({ type: "heartbeat", last_seq: 0, online: 1 });
    mock.timers.tick(30_000);
    assert.equal(ws.closedWith, null);
    assert.equal(state(), "open");
    mock.timers.tick(7_500);
    assert.equal(ws.closedWith, 4000);
  });

  test("a dropped socket's late close does not schedule a second retry", () => {
    const ws = start();
    welcome(ws);
    mock.timers.tick(37_500);
    ws.serverClose(4000); // the browser finally reports the close we asked for
    expectRetryAfter(0.5);
    mock.timers.tick(60_000);
    assert.equal(sockets(), 2);
  });

  test("a server that accepts but never says welcome is dropped after 10 s", () => {
    const ws = start();
    ws.open();
    mock.timers.tick(9_999);
    assert.equal(ws.closedWith, null);
    mock.timers.tick(1);
    assert.equal(ws.closedWith, 4000);
    expectRetryAfter(0.5);
  });

  test("coming back online retries at once instead of waiting out the backoff", () => {
    start();
    for (const seconds of [0.5, 1, 2, 4]) {
      FakeWebSocket.last.serverClose(1006);
      expectRetryAfter(seconds);
    }
    FakeWebSocket.last.serverClose(1006); // next try in 8 s
    window.dispatchEvent({ type: "online" });
    assert.equal(sockets(), 6);
    mock.timers.tick(8_000);
    assert.equal(sockets(), 6, "the cancelled retry timer fired anyway");
  });

  test("the tab becoming visible retries at once, becoming hidden does not", () => {
    start();
    FakeWebSocket.last.serverClose(1006);
    doc.setVisibility("hidden");
    assert.equal(sockets(), 1);
    doc.setVisibility("visible");
    assert.equal(sockets(), 2);
  });

  test("online does nothing to a healthy connection", () => {
    const ws = start();
    welcome(ws);
    window.dispatchEvent({ type: "online" });
    assert.equal(sockets(), 1);
    assert.equal(state(), "open");
  });

  test("stop() closes normally and never reconnects", () => {
    const ws = start();
    welcome(ws);
    socket.stop();
    assert.equal(ws.closedWith, 1000);
    ws.serverClose(1000);
    assert.equal(state(), "closed");
    mock.timers.tick(120_000);
    window.dispatchEvent({ type: "online" });
    assert.equal(sockets(), 1);
    assert.equal(window.listenerCount("online"), 0);
    assert.equal(doc.listenerCount("visibilitychange"), 0);
  });

  test("stop() while waiting to retry cancels the retry", () => {
    start();
    FakeWebSocket.last.serverClose(1006);
    socket.stop();
    assert.equal(state(), "closed");
    mock.timers.tick(60_000);
    assert.equal(sockets(), 1);
  });
});
