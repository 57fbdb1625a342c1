import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { Follower } from "../../chat/static/chat/scroll.js";
import { installDocument } from "./fakes.mjs";

// A scroller with a 500 px viewport over `content` px of messages.
let log;
let jump;
let count;
let follower;

beforeEach(() => {
  const doc = installDocument();
  log = doc.createElement("div");
  jump = doc.createElement("button");
  count = doc.createElement("span");
  jump.hidden = true;
  log.clientHeight = 500;
  log.scrollHeight = 2000;
  log.scrollTop = 1500; // at the bottom
  follower = new Follower(log, jump, count);
});

// Adds `px` of content and reports `messages` new messages, as the room's show() does.
const grow = (px, messages) => () => {
  log.scrollHeight += px;
  return messages;
};

test("at the bottom, new messages scroll into view", () => {
  follower.append(grow(100, 1));
  assert.equal(log.scrollTop, log.scrollHeight);
  assert.equal(jump.hidden, true);
});

test("within 48 px of the bottom still counts as at the bottom", () => {
  log.scrollTop = 1452;
  follower.append(grow(100, 1));
  assert.equal(log.scrollTop, log.scrollHeight);
});

test("scrolled up, new messages leave the reader in place and are counted on the jump button", () => {
  log.scrollTop = 200;
  follower.append(grow(100, 2));
  follower.append(grow(100, 3));
  assert.equal(log.scrollTop, 200);
  assert.equal(jump.hidden, false);
  assert.equal(count.textContent, "5");
});

test("a notice (no new message) does not show the jump button", () => {
  log.scrollTop = 200;
  follower.append(grow(30, 0));
  assert.equal(jump.hidden, true);
});

test("force (your own message, a rebuilt view) scrolls down even when scrolled up", () => {
  log.scrollTop = 200;
  follower.append(grow(100, 1), { force: true });
  assert.equal(log.scrollTop, log.scrollHeight);
  assert.equal(jump.hidden, true);
});

test("the jump button goes to the bottom and resets its count", () => {
  log.scrollTop = 200;
  follower.append(grow(100, 2));
  jump.click();
  assert.equal(log.scrollTop, log.scrollHeight);
  assert.equal(jump.hidden, true);
  log.scrollTop = 200;
  follower.append(grow(100, 1));
  assert.equal(count.textContent, "1", "the old count carried over");
});

test("scrolling back to the bottom by hand hides the jump button", () => {
  log.scrollTop = 200;
  follower.append(grow(100, 2));
  log.scrollTop = log.scrollHeight - log.clientHeight;
  log.dispatchEvent({ type: "scroll" });
  assert.equal(jump.hidden, true);
});

test("older messages added above keep the reader's place", () => {
  log.scrollTop = 300; // reading something 300 px from the top
  follower.prepend(grow(800, 0));
  assert.equal(log.scrollTop, 1100);
});
