// Whether the composer is open and which note says why not (standing.js).

import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { mock } from "node:test";

import { FORBIDDEN_TEXT, mutedText, Standing } from "../../chat/static/chat/standing.js";
import { installDocument } from "./fakes.mjs";

const NOW = Date.UTC(2026, 10, 21, 12);
let doc;
let nodes;
let standing;
let changes;

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: NOW });
  doc = installDocument();
  const make = (tag) => doc.createElement(tag);
  nodes = {
    textarea: make("textarea"),
    submit: make("button"),
    notes: { archived: make("p"), gone: make("p"), forbidden: make("p"), muted: make("p"), slow: make("p") },
  };
  changes = 0;
  standing = new Standing(nodes, { onChange: () => (changes += 1) });
  standing.render();
});

afterEach(() => mock.timers.reset());

// The notes shown, by name, with their text.
const shown = () =>
  Object.fromEntries(
    Object.entries(nodes.notes)
      .filter(([, node]) => !node.hidden)
      .map(([name, node]) => [name, node.textContent]),
  );
const closed = () => nodes.textarea.disabled && nodes.submit.disabled;

test("an open room: the composer is open and no note shows", () => {
  assert.equal(closed(), false);
  assert.deepEqual(shown(), {});
});

test("slow mode is a note, not a closed composer", () => {
  standing.setSlowMode(30);
  assert.equal(closed(), false);
  assert.deepEqual(shown(), { slow: "Slow mode: one message every 30 s" });
  standing.setSlowMode(0);
  assert.deepEqual(shown(), {});
});

test("muted until a time: closed, says until when, and opens again by itself then", () => {
  const until = new Date(NOW + 60 * 60_000).toISOString();
  standing.setSlowMode(5);
  standing.setMuted(true, until);
  assert.equal(closed(), true);
  assert.deepEqual(shown(), { muted: mutedText(until) });
  assert.match(shown().muted, /^You are muted in this room until .+\.$/);
  mock.timers.tick(60 * 60_000 - 1);
  assert.equal(closed(), true);
  mock.timers.tick(1);
  assert.equal(closed(), false);
  assert.equal(changes, 1, "the page is told, to show the message controls again");
  assert.deepEqual(shown(), { slow: "Slow mode: one message every 5 s" });
});

test("muted until lifted, then unmuted by a rights frame", () => {
  standing.setMuted(true, null);
  assert.deepEqual(shown(), { muted: "You are muted in this room until a moderator lifts it." });
  mock.timers.tick(365 * 86_400_000);
  assert.equal(closed(), true);
  standing.setMuted(false);
  assert.equal(closed(), false);
  assert.deepEqual(shown(), {});
});

test("a mute that has already ended does not close anything", () => {
  standing.setMuted(true, new Date(NOW - 1000).toISOString());
  assert.equal(closed(), false);
});

test("not allowed in the room, or banned: closed for good, with the reason", () => {
  standing.setMuted(true, null);
  standing.setForbidden("banned");
  assert.equal(closed(), true);
  assert.deepEqual(shown(), { forbidden: FORBIDDEN_TEXT.banned });
  assert.equal(FORBIDDEN_TEXT.banned, "You were banned from this room.");
  standing.setForbidden("anything else");
  assert.deepEqual(shown(), { forbidden: "You are not allowed in this room." });
});

test("one reason at a time: gone, then not allowed, then archived, then muted", () => {
  standing.setMuted(true, null);
  standing.setArchived(true);
  assert.deepEqual(Object.keys(shown()), ["archived"]);
  standing.setForbidden("denied");
  assert.deepEqual(Object.keys(shown()), ["forbidden"]);
  standing.setGone();
  assert.deepEqual(Object.keys(shown()), ["gone"]);
});
