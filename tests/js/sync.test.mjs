import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { GAP_GRACE_MS, Sync } from "../../chat/static/chat/sync.js";

beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
afterEach(() => mock.timers.reset());

// A timeline that only remembers which seqs are on screen, and a server that records requests.
// `link.connected` false is a dropped connection: nothing can be sent.
function setup({ connected = true } = {}) {
  const link = { connected };
  const seqs = new Set();
  const timeline = {
    has(seq) {
      return seqs.has(seq);
    },
    get size() {
      return seqs.size;
    },
    get highest() {
      return seqs.size ? Math.max(...seqs) : 0;
    },
    get lowest() {
      return seqs.size ? Math.min(...seqs) : null;
    },
  };
  const requests = [];
  const shown = [];
  const sync = new Sync({
    timeline,
    send: (frame) => {
      if (!link.connected) return false;
      requests.push(frame);
      return true;
    },
    show: (messages, how) => {
      if (how === "reset") seqs.clear();
      for (const message of messages) seqs.add(message.seq);
      shown.push({ how, seqs: messages.map((message) => message.seq) });
    },
  });
  return { sync, seqs, requests, shown, link };
}

const msg = (seq) => ({ type: "message", room: "general", seq, body: `#${seq}`, author: { name: "bob" } });
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));
const history = (messages, { query = null, has_more = false, resumed = false, reset = false } = {}) => ({
  type: "history",
  messages,
  has_more,
  resumed,
  reset,
  query,
});
const fillQuery = (after, before = null) => ({ after, before, limit: 100 });

// Connected to a room whose last seq is `last`, showing `messages` as the first page.
function connected(last, messages, options = {}) {
  const env = setup(options);
  env.sync.welcome({ type: "welcome", last_seq: last });
  env.sync.history(history(messages, { has_more: options.has_more ?? false }));
  return env;
}

describe("resuming", () => {
  test("the first connection asks for no ?after", () => {
    const { sync } = setup();
    assert.equal(sync.resumeAfter(), null);
    sync.welcome({ type: "welcome", last_seq: 10 });
    assert.equal(sync.resumeAfter(), null, "welcome alone is not a session to resume");
  });

  test("a reconnect resumes after the highest seq on screen", () => {
    const { sync } = connected(41, range(1, 41));
    assert.equal(sync.resumeAfter(), 41);
    sync.message(msg(42));
    assert.equal(sync.resumeAfter(), 42);
  });

  test("a reconnect with a gap fill in flight resumes from below the gap", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS);
    assert.equal(requests.length, 1, "the fill is in flight");
    assert.equal(sync.resumeAfter(), 41, "resuming after 43 would lose 42 for good");
  });

  test("a reconnect while a gap waits out its grace resumes from below the gap", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS - 1);
    assert.deepEqual(requests, [], "asked before the grace was over");
    assert.equal(sync.resumeAfter(), 41, "resuming after 43 would lose 42 for good");
  });

  test("a gap whose grace ends while disconnected is still resumed from, and asked for by no one", () => {
    const { sync, requests, link } = connected(41, range(1, 41));
    sync.message(msg(43));
    link.connected = false; // dropped within the grace
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests, []);
    assert.equal(sync.resumeAfter(), 41, "the gap was forgotten when its request could not go");
    link.connected = true;
    sync.welcome({ type: "welcome", last_seq: 43 }); // and this one drops before its history
    assert.equal(sync.resumeAfter(), 41);
    sync.welcome({ type: "welcome", last_seq: 43 });
    sync.history(history([msg(42), msg(43)], { resumed: true }));
    assert.equal(sync.resumeAfter(), 43);
    mock.timers.tick(10 * GAP_GRACE_MS);
    assert.deepEqual(requests, [], "the resume brought 42; nothing is left to ask");
  });

  test("a gap waiting when the next connection says welcome is left to that connection's history", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43)); // the connection drops at once; the next one resumes after 41
    sync.welcome({ type: "welcome", last_seq: 43 });
    mock.timers.tick(GAP_GRACE_MS); // the history is slow to come
    assert.deepEqual(requests, [], "asked for what the resume is bringing anyway");
    assert.equal(sync.resumeAfter(), 41, "a drop before the history must still resume below the gap");
    sync.history(history([msg(42), msg(43)], { resumed: true }));
    assert.equal(sync.resumeAfter(), 43);
  });

  test("a reconnect with a heartbeat catch-up in flight resumes from where the catch-up starts", () => {
    const { sync } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 45 });
    assert.equal(sync.resumeAfter(), 41);
  });

  test("an empty room resumes after the room's last seq", () => {
    const { sync } = connected(7, []); // seven messages, all deleted
    assert.equal(sync.resumeAfter(), 7);
  });

  test("a fill lost with the old connection does not hold back later resumes", () => {
    const { sync } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS); // asks for 42; the connection drops before the answer
    assert.equal(sync.resumeAfter(), 41);
    sync.welcome({ type: "welcome", last_seq: 43 });
    sync.history(history([msg(42)], { resumed: true })); // the resume brought 42
    assert.equal(sync.resumeAfter(), 43, "the next reconnect would download 42 and 43 again");
  });

  test(
    "a gap fill lost with one connection is still resumed from if the next drops before its history",
    () => {
      const { sync } = connected(41, range(1, 41));
      sync.message(msg(43));
      mock.timers.tick(GAP_GRACE_MS); // asks for 42; the connection drops before the answer
      assert.equal(sync.resumeAfter(), 41);
      sync.welcome({ type: "welcome", last_seq: 43 }); // the next connection says welcome, then drops
      assert.equal(sync.resumeAfter(), 41, "resuming after 43 loses 42 for good");
    },
  );

  test("a resumed history is shown as live messages and nothing is asked again", () => {
    const { sync, shown, requests } = connected(41, range(1, 41));
    sync.welcome({ type: "welcome", last_seq: 44 });
    assert.equal(sync.history(history(range(42, 44), { resumed: true })), "initial");
    assert.deepEqual(shown.at(-1), { how: "live", seqs: [42, 43, 44] });
    sync.heartbeat({ type: "heartbeat", last_seq: 44 });
    sync.message(msg(45));
    assert.deepEqual(requests, []);
  });

  test("a resume in two pages shows both as live, in order, and is complete only after the last", () => {
    const { sync, seqs, shown, requests } = connected(41, range(1, 41));
    sync.welcome({ type: "welcome", last_seq: 300 });
    assert.equal(sync.history(history(range(42, 180), { resumed: true, has_more: true })), "resuming");
    assert.equal(sync.history(history(range(181, 300), { resumed: true, has_more: false })), "initial");
    assert.deepEqual(shown.slice(-2), [
      { how: "live", seqs: range(42, 180).map((m) => m.seq) },
      { how: "live", seqs: range(181, 300).map((m) => m.seq) },
    ]);
    assert.deepEqual([...seqs].sort((a, b) => a - b), range(1, 300).map((m) => m.seq));
    assert.equal(sync.known, 300);
    sync.heartbeat({ type: "heartbeat", last_seq: 300 });
    sync.message(msg(301));
    assert.deepEqual(requests, [], "a resume in pages left something to ask for");
  });

  test("a resume's last page may say has_more when it reaches the room's last seq", () => {
    // Messages stored after welcome make the server's last page say has_more; they come live.
    const { sync } = connected(41, range(1, 41));
    sync.welcome({ type: "welcome", last_seq: 200 });
    assert.equal(sync.history(history(range(42, 141), { resumed: true, has_more: true })), "resuming");
    assert.equal(sync.history(history(range(142, 200), { resumed: true, has_more: true })), "initial");
  });

  test("a connection dropped in the middle of a resume resumes after the last page it got", () => {
    const { sync } = connected(41, range(1, 41));
    sync.welcome({ type: "welcome", last_seq: 300 });
    sync.history(history(range(42, 180), { resumed: true, has_more: true }));
    assert.equal(sync.resumeAfter(), 180);
    sync.welcome({ type: "welcome", last_seq: 300 }); // the next connection starts its own resume
    assert.equal(sync.history(history(range(181, 300), { resumed: true })), "initial");
    assert.equal(sync.resumeAfter(), 300);
  });

  test("a reset history rebuilds the view from the new page", () => {
    const { sync, seqs, shown } = connected(41, range(1, 41));
    // The server's database was reset: the room now ends at seq 3.
    sync.welcome({ type: "welcome", last_seq: 3 });
    sync.history(history(range(1, 3), { reset: true }));
    assert.equal(shown.at(-1).how, "reset");
    assert.deepEqual([...seqs], [1, 2, 3]);
    assert.equal(sync.resumeAfter(), 3);
  });

  test("after a reset, new messages continue from the room's new last seq without a fill", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.welcome({ type: "welcome", last_seq: 3 });
    sync.history(history(range(1, 3), { reset: true }));
    sync.message(msg(4));
    assert.deepEqual(requests, []);
  });
});

describe("gaps", () => {
  test("a seq jump (41 then 43) still open after the grace asks once for what lies between", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    sync.message(msg(43)); // the same broadcast twice
    sync.message(msg(44));
    mock.timers.tick(GAP_GRACE_MS - 1);
    assert.deepEqual(requests, [], "asked before the grace was over");
    mock.timers.tick(1);
    assert.deepEqual(requests, [{ type: "history", after: 41, before: 43, limit: 100 }]);
    mock.timers.tick(10 * GAP_GRACE_MS);
    sync.message(msg(45));
    assert.equal(requests.length, 1, "asked again");
  });

  test("an inversion healed within the grace asks for nothing", () => {
    const { sync, requests, seqs } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS - 1);
    sync.message(msg(42)); // the other worker's broadcast, a little late
    mock.timers.tick(10 * GAP_GRACE_MS);
    assert.deepEqual(requests, []);
    assert.deepEqual([...seqs].sort((a, b) => a - b), range(1, 43).map((m) => m.seq));
    assert.equal(sync.resumeAfter(), 43, "a healed gap held the resume point back");
  });

  test("a busy room's crossings ask for nothing, and a real loss among them for only itself", () => {
    const { sync, requests } = connected(100, range(1, 100));
    // Pairs of broadcasts crossing (102 before 101, ...), and 149's broadcast lost.
    for (let seq = 101; seq < 200; seq += 2) {
      sync.message(msg(seq + 1));
      if (seq !== 149) sync.message(msg(seq));
      mock.timers.tick(20);
    }
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests, [{ type: "history", after: 148, before: 150, limit: 100 }]);
  });

  test("after the grace only what is still missing is asked for", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(46)); // 42..45 missing
    sync.message(msg(42));
    sync.message(msg(45));
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests, [{ type: "history", after: 42, before: 45, limit: 100 }], "43 and 44 only");
    assert.equal(sync.resumeAfter(), 42);
  });

  test("a large gap is asked for at once, without waiting", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(143)); // 101 missing: a lost stretch, not broadcasts crossing
    assert.deepEqual(requests, [{ type: "history", after: 41, before: 143, limit: 100 }]);
    mock.timers.tick(GAP_GRACE_MS);
    assert.equal(requests.length, 1, "asked again when the grace would have ended");
  });

  test("a gap of a hundred still waits out the grace", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(142)); // 100 missing
    assert.deepEqual(requests, []);
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests, [{ type: "history", after: 41, before: 142, limit: 100 }]);
  });

  test("a gap moves what we know at once: a heartbeat within the grace asks nothing for it", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    sync.heartbeat({ type: "heartbeat", last_seq: 43 });
    assert.deepEqual(requests, []);
    sync.message(msg(44));
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests, [{ type: "history", after: 41, before: 43, limit: 100 }]);
  });

  test("messages arriving in order ask for nothing", () => {
    const { sync, requests } = connected(41, range(1, 41));
    for (const seq of [42, 43, 44]) sync.message(msg(seq));
    assert.deepEqual(requests, []);
  });

  test("a late arrival after the gap was asked for asks for nothing more", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS);
    sync.message(msg(42)); // the other worker's broadcast, very late
    mock.timers.tick(GAP_GRACE_MS);
    assert.equal(requests.length, 1);
  });

  test("the fill's answer goes on screen as a fill", () => {
    const { sync, shown, seqs } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS);
    assert.equal(sync.history(history([msg(42)], { query: fillQuery(41, 43) })), "fill");
    assert.deepEqual(shown.at(-1), { how: "fill", seqs: [42] });
    assert.ok(seqs.has(42));
    assert.equal(sync.resumeAfter(), 43, "an answered fill still holds the resume point back");
  });

  test("a fill answered with has_more asks for the next page after the last message it got", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(300));
    requests.length = 0;
    sync.history(history(range(42, 141), { query: fillQuery(41, 300), has_more: true }));
    assert.deepEqual(requests, [{ type: "history", after: 141, before: 300, limit: 100 }]);
    sync.history(history(range(142, 241), { query: fillQuery(141, 300), has_more: true }));
    sync.history(history(range(242, 299), { query: fillQuery(241, 300), has_more: false }));
    assert.deepEqual(
      requests.map((frame) => frame.after),
      [141, 241],
    );
    assert.equal(sync.resumeAfter(), 300);
  });

  test("a fill answered with a page cut short by size goes on from its last message", () => {
    const { sync, requests, seqs } = connected(41, range(1, 41));
    sync.message(msg(300));
    requests.length = 0;
    // 100 asked, 37 fitted in the frame: the server kept the oldest and says has_more.
    assert.equal(sync.history(history(range(42, 78), { query: fillQuery(41, 300), has_more: true })), "fill");
    assert.deepEqual(requests, [{ type: "history", after: 78, before: 300, limit: 100 }]);
    sync.history(history(range(79, 299), { query: fillQuery(78, 300), has_more: false }));
    assert.equal(requests.length, 1);
    assert.equal(seqs.size, 300, "a message between the cut and the next page was lost");
    assert.equal(sync.resumeAfter(), 300);
  });

  test("a heartbeat catch-up with has_more pages on without an upper bound", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 400 });
    sync.history(history(range(42, 141), { query: fillQuery(41), has_more: true }));
    assert.deepEqual(requests.at(-1), { type: "history", after: 141, limit: 100 });
  });

  test("a fill answered with has_more but no messages does not ask again", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    mock.timers.tick(GAP_GRACE_MS);
    sync.history(history([], { query: fillQuery(41, 43), has_more: true }));
    assert.equal(requests.length, 1);
  });
});

describe("heartbeats", () => {
  test("a heartbeat above what we know asks at once for everything after it", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 45, online: 2 });
    assert.deepEqual(requests, [{ type: "history", after: 41, limit: 100 }], "a missed broadcast waited");
    mock.timers.tick(GAP_GRACE_MS);
    assert.equal(requests.length, 1);
  });

  test("a heartbeat asks at once even while a live gap waits out its grace", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43));
    sync.heartbeat({ type: "heartbeat", last_seq: 45 });
    assert.deepEqual(requests, [{ type: "history", after: 43, limit: 100 }]);
    mock.timers.tick(GAP_GRACE_MS);
    assert.deepEqual(requests.at(-1), { type: "history", after: 41, before: 43, limit: 100 });
    assert.equal(requests.length, 2);
  });

  test("the same heartbeat again while the catch-up is pending asks nothing more", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 45 });
    sync.heartbeat({ type: "heartbeat", last_seq: 45 });
    assert.equal(requests.length, 1);
  });

  test("a heartbeat at or below what we know asks nothing", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 41 });
    sync.heartbeat({ type: "heartbeat", last_seq: 30 });
    sync.heartbeat({ type: "heartbeat" });
    assert.deepEqual(requests, []);
  });

  test("a heartbeat before the first history is ignored", () => {
    const { sync, requests } = setup();
    sync.welcome({ type: "welcome", last_seq: 10 });
    sync.heartbeat({ type: "heartbeat", last_seq: 12 });
    assert.deepEqual(requests, []);
  });

  test("a hole left by a deleted message is not fetched again at every heartbeat", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.message(msg(43)); // 42 was stored, then deleted by a moderator
    mock.timers.tick(GAP_GRACE_MS);
    sync.history(history([], { query: fillQuery(41, 43) }));
    for (let beat = 0; beat < 5; beat += 1) sync.heartbeat({ type: "heartbeat", last_seq: 43 });
    assert.equal(requests.length, 1);
  });

  test("a deleted newest message is not fetched at every heartbeat", () => {
    // The room's last seq is 42, but 42 was deleted: the first page ends at 41.
    const { sync, requests } = connected(42, range(1, 41));
    for (let beat = 0; beat < 5; beat += 1) sync.heartbeat({ type: "heartbeat", last_seq: 42 });
    assert.deepEqual(requests, []);
  });

  test("a hole found by a heartbeat catch-up is not fetched again either", () => {
    const { sync, requests } = connected(41, range(1, 41));
    sync.heartbeat({ type: "heartbeat", last_seq: 44 });
    sync.history(history([msg(42), msg(44)], { query: fillQuery(41) })); // 43 deleted
    for (let beat = 0; beat < 5; beat += 1) sync.heartbeat({ type: "heartbeat", last_seq: 44 });
    assert.equal(requests.length, 1);
  });
});

describe("older pages", () => {
  test("loading older asks for the page before the lowest seq on screen", () => {
    const { sync, requests } = connected(200, range(151, 200), { has_more: true });
    assert.equal(sync.loadOlder(), true);
    assert.deepEqual(requests, [{ type: "history", before: 151, limit: 50 }]);
  });

  test("a second click while a page is loading sends nothing", () => {
    const { sync, requests } = connected(200, range(151, 200), { has_more: true });
    sync.loadOlder();
    assert.equal(sync.loadOlder(), false);
    assert.equal(requests.length, 1);
  });

  test("the answer is shown as older messages and paging continues from the new lowest", () => {
    const { sync, shown, requests } = connected(200, range(151, 200), { has_more: true });
    sync.loadOlder();
    const older = history(range(101, 150), { query: { before: 151, after: null, limit: 50 }, has_more: true });
    assert.equal(sync.history(older), "older");
    assert.equal(shown.at(-1).how, "older");
    sync.loadOlder();
    assert.deepEqual(requests.at(-1), { type: "history", before: 101, limit: 50 });
  });

  test("an older page cut short by size goes on below the lowest message it kept", () => {
    const { sync, requests } = connected(200, range(151, 200), { has_more: true });
    sync.loadOlder();
    // 50 asked, 12 fitted: the server kept the newest of the page (139..150) and says has_more.
    sync.history(history(range(139, 150), { query: { before: 151, after: null, limit: 50 }, has_more: true }));
    assert.equal(sync.olderAvailable, true);
    sync.loadOlder();
    assert.deepEqual(requests.at(-1), { type: "history", before: 139, limit: 50 });
  });

  test("there is nothing to load once a page says has_more: false", () => {
    const { sync, requests } = connected(200, range(151, 200), { has_more: true });
    sync.loadOlder();
    sync.history(history(range(101, 150), { query: { before: 151, after: null, limit: 50 }, has_more: false }));
    assert.equal(sync.olderAvailable, false);
    assert.equal(sync.loadOlder(), false);
    assert.equal(requests.length, 1);
  });

  test("a room whose first page was complete offers no older page", () => {
    const { sync, requests } = connected(3, range(1, 3));
    assert.equal(sync.olderAvailable, false);
    assert.equal(sync.loadOlder(), false);
    assert.deepEqual(requests, []);
  });

  test("an older page lost with a dropped connection can be asked for again", () => {
    const { sync, requests } = connected(200, range(151, 200), { has_more: true });
    sync.loadOlder();
    sync.welcome({ type: "welcome", last_seq: 200 }); // reconnected: that answer will never come
    sync.history(history([], { resumed: true }));
    assert.equal(sync.loadOlder(), true);
    assert.equal(requests.length, 2);
  });

  test("nothing is marked loading while disconnected", () => {
    const { sync } = connected(200, range(151, 200), { has_more: true, connected: false });
    assert.equal(sync.loadOlder(), false);
    assert.equal(sync.loadingOlder, false);
  });
});

describe("the change cursor (?changes=)", () => {
  // Connected with welcome.last_change = `change`.
  function withChanges(change, { last = 41 } = {}) {
    const env = setup();
    env.sync.welcome({ type: "welcome", last_seq: last, last_change: change });
    env.sync.history(history(range(1, last)));
    return env;
  }

  test("none before a first history; then welcome's last_change", () => {
    const { sync } = setup();
    assert.equal(sync.resumeChanges(), null);
    sync.welcome({ type: "welcome", last_seq: 3, last_change: 7 });
    assert.equal(sync.resumeChanges(), null, "welcome alone is not a session to resume");
    sync.history(history(range(1, 3)));
    assert.equal(sync.resumeChanges(), 7);
  });

  test("an older server without last_change: no cursor, and the resume asks for none", () => {
    const { sync } = connected(3, range(1, 3));
    sync.changed(4);
    assert.equal(sync.resumeChanges(), null);
  });

  test("each live edit and deletion moves it on", () => {
    const { sync } = withChanges(7);
    sync.changed(8);
    sync.changed(9);
    assert.equal(sync.resumeChanges(), 9);
    sync.changed(9); // the same change twice (two tabs' worth of broadcasts) is no news
    sync.changed(5);
    assert.equal(sync.resumeChanges(), 9);
  });

  test("a change lost on the way holds it below the hole, so the next resume brings it", () => {
    const { sync } = withChanges(7);
    sync.changed(8);
    sync.changed(10); // 9's broadcast was lost
    sync.changed(11);
    assert.equal(sync.resumeChanges(), 8, "resuming from 11 would never bring 9");
    sync.welcome({ type: "welcome", last_seq: 41, last_change: 11 });
    sync.history(history([], { resumed: true })); // the resume's `changes` frame brought 9 to 11
    assert.equal(sync.resumeChanges(), 11);
  });

  test("a late change fills the hole", () => {
    const { sync } = withChanges(7);
    sync.changed(9);
    sync.changed(8); // the two broadcasts crossed
    assert.equal(sync.resumeChanges(), 9);
  });

  test("a connection that drops between welcome and its history keeps the old cursor", () => {
    const { sync } = withChanges(7);
    sync.welcome({ type: "welcome", last_seq: 41, last_change: 12 }); // its `changes` frames never came
    assert.equal(sync.resumeChanges(), 7);
    sync.welcome({ type: "welcome", last_seq: 41, last_change: 12 });
    sync.history(history([], { resumed: true }));
    assert.equal(sync.resumeChanges(), 12);
  });

  test("a reset takes the room's cursor as it is, even a lower one (a database reset)", () => {
    const { sync } = withChanges(30);
    sync.changed(32); // a hole at 31
    sync.welcome({ type: "welcome", last_seq: 5, last_change: 2 });
    sync.history(history(range(1, 5), { reset: true }));
    assert.equal(sync.resumeChanges(), 2);
    sync.changed(3);
    assert.equal(sync.resumeChanges(), 3, "a change remembered from before the reset held it back");
  });
});
