import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { lastRead, markRead, markUnreadLinks } from "../../chat/static/chat/seen.js";
import { build, fakeStorage, installDocument } from "./fakes.mjs";

let storage;

beforeEach(() => {
  storage = fakeStorage();
  globalThis.localStorage = storage;
});

describe("read marks", () => {
  test("a room never visited has read nothing", () => {
    assert.equal(lastRead("general"), 0);
  });

  test("the read mark is kept per room", () => {
    markRead("general", 12);
    markRead("random", 3);
    assert.equal(lastRead("general"), 12);
    assert.equal(lastRead("random"), 3);
  });

  test("the read mark only moves forward (an older tab cannot move it back)", () => {
    markRead("general", 12);
    markRead("general", 8);
    assert.equal(lastRead("general"), 12);
  });

  test("force moves it back, for a room whose history was reset", () => {
    markRead("general", 500);
    markRead("general", 3, { force: true });
    assert.equal(lastRead("general"), 3);
  });

  test("a mark written by another tab is seen", () => {
    storage.setItem("chat:read:general", "77");
    assert.equal(lastRead("general"), 77);
  });

  test("a corrupt or negative stored mark reads as nothing read", () => {
    for (const junk of ["", "abc", "-5", "NaN"]) {
      storage.setItem("chat:read:general", junk);
      assert.equal(lastRead("general"), 0, `stored ${JSON.stringify(junk)}`);
    }
  });

  test("blocked storage behaves as a first visit and never throws", () => {
    globalThis.localStorage = fakeStorage({ broken: true });
    assert.equal(lastRead("general"), 0);
    assert.doesNotThrow(() => markRead("general", 5));
    assert.doesNotThrow(() => markRead("general", 5, { force: true }));
  });

  test("storage missing altogether behaves the same", () => {
    delete globalThis.localStorage;
    assert.equal(lastRead("general"), 0);
    assert.doesNotThrow(() => markRead("general", 5));
  });
});

describe("unread markers on room links", () => {
  let doc;

  // A room list as the server renders it: each link carries the room's last seq.
  function roomList(rooms) {
    const nav = build(doc, [
      "nav",
      {},
      ...rooms.map(([slug, lastSeq]) => [
        "a",
        { dataset: { slug, lastSeq: String(lastSeq) } },
        ["span", { className: "room-name" }, slug],
        ["span", { className: "unread", hidden: true }],
      ]),
    ]);
    doc.body.append(nav);
    return nav;
  }
  const unread = (nav) =>
    nav.querySelectorAll("a").filter((link) => link.classList.contains("has-unread")).map((link) => link.dataset.slug);
  const markerShown = (nav, slug) => !nav.querySelector(`a[data-slug="${slug}"] .unread`).hidden;

  beforeEach(() => {
    doc = installDocument();
  });

  test("a room whose last seq is beyond the read mark is unread", () => {
    markRead("general", 10);
    markRead("random", 5);
    const nav = roomList([["general", 12], ["random", 5], ["new-room", 1], ["empty", 0]]);
    markUnreadLinks(nav);
    assert.deepEqual(unread(nav), ["general", "new-room"]);
    assert.equal(markerShown(nav, "general"), true);
    assert.equal(markerShown(nav, "random"), false);
    assert.equal(markerShown(nav, "empty"), false);
  });

  test("the room being read is never marked unread", () => {
    const nav = roomList([["general", 12], ["random", 5]]);
    markUnreadLinks(nav, { except: "general" });
    assert.deepEqual(unread(nav), ["random"]);
  });

  test("reading a room clears its marker on the next pass", () => {
    const nav = roomList([["general", 12]]);
    markUnreadLinks(nav);
    assert.deepEqual(unread(nav), ["general"]);
    markRead("general", 12);
    markUnreadLinks(nav);
    assert.deepEqual(unread(nav), []);
    assert.equal(markerShown(nav, "general"), false);
  });
});
