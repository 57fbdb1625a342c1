// The live online counts of the room lists (online.js), against a fake fetch and mocked timers.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { ONLINE_URL, POLL_MS, pollOnline, showCounts } from "../../chat/static/chat/online.js";
import { build, fakeFetch, installDocument } from "./fakes.mjs";

let doc;
let poller = null;

// The room page's rooms panel (chat/_room_list.html) and the room list's cards (chat/index.html).
function roomPanel(counts) {
  return [
    "ul",
    {},
    ...Object.entries(counts).map(([slug, count]) => [
      "a",
      { dataset: { slug } },
      [
        "span",
        { className: count ? "online-pill" : "online-pill is-empty" },
        ["span", { dataset: { onlineFor: slug } }, String(count)],
      ],
    ]),
  ];
}

function roomCards(counts) {
  return [
    "ul",
    {},
    ...Object.entries(counts).map(([slug, count]) => [
      "a",
      { className: "room-card", dataset: { slug } },
      ["span", { className: count ? "online-pill" : "online-pill is-empty" }, `${count} online`],
    ]),
  ];
}

const counts = () =>
  Object.fromEntries(doc.querySelectorAll("[data-online-for]").map((node) => [node.dataset.onlineFor, node.textContent]));
const empty = (slug) =>
  doc.querySelector(`a[data-slug="${slug}"]`).querySelector(".online-pill").classList.contains("is-empty");
const cards = () =>
  Object.fromEntries(doc.querySelectorAll("a[data-slug]").map((a) => [a.dataset.slug, a.querySelector(".online-pill").textContent]));

// Lets the fake fetch's promises settle (they are not timers).
const settle = () => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout"] });
  doc = installDocument();
});

afterEach(() => {
  poller?.stop();
  poller = null;
  mock.timers.reset();
});

describe("showCounts", () => {
  test("updates every count and its pill, and leaves rooms the answer does not name", () => {
    doc.body.append(build(doc, roomPanel({ general: 3, quiet: 0, other: 5 })));
    showCounts(doc, { general: 0, quiet: 2 });
    assert.deepEqual(counts(), { general: "0", quiet: "2", other: "5" });
    assert.equal(empty("general"), true);
    assert.equal(empty("quiet"), false);
  });

  test("a room whose count the server could not read shows a dash", () => {
    doc.body.append(build(doc, roomPanel({ general: 3 })));
    showCounts(doc, { general: null });
    assert.deepEqual(counts(), { general: "–" });
    assert.equal(empty("general"), true);
  });

  test("leaves alone the room the page counts itself", () => {
    doc.body.append(build(doc, roomPanel({ general: 3, quiet: 0 })));
    showCounts(doc, { general: 9, quiet: 1 }, { except: "general" });
    assert.deepEqual(counts(), { general: "3", quiet: "1" });
  });

  test("the room list's cards say how many are online in their pill", () => {
    doc.body.append(build(doc, roomCards({ general: 3, quiet: 0 })));
    showCounts(doc, { general: 0, quiet: 4 });
    assert.deepEqual(cards(), { general: "0 online", quiet: "4 online" });
    assert.equal(empty("general"), true);
    assert.equal(empty("quiet"), false);
    showCounts(doc, { quiet: null });
    assert.equal(cards().quiet, "online count unavailable");
  });

  test("a count that is not a number is not shown as one", () => {
    doc.body.append(build(doc, roomPanel({ general: 3 })));
    showCounts(doc, { general: "<b>9</b>" });
    assert.deepEqual(counts(), { general: "–" });
  });
});

describe("pollOnline", () => {
  test("asks every 15 s and shows the answer", async () => {
    doc.body.append(build(doc, roomPanel({ general: 3, quiet: 0 })));
    const server = fakeFetch();
    poller = pollOnline({ fetch: server.fetch });
    mock.timers.tick(POLL_MS - 1);
    assert.equal(server.calls.length, 0, "the page was rendered with fresh counts");
    server.respond({ online: { general: 4, quiet: 1 } });
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(server.calls.map((call) => call.url), [ONLINE_URL]);
    assert.equal(server.calls[0].options.credentials, "same-origin");
    assert.deepEqual(counts(), { general: "4", quiet: "1" });
    server.respond({ online: { general: 2, quiet: 0 } });
    mock.timers.tick(POLL_MS);
    await settle();
    assert.deepEqual(counts(), { general: "2", quiet: "0" });
    assert.equal(empty("quiet"), true);
  });

  test("a failed fetch, an error status or a strange answer leaves the old numbers", async () => {
    doc.body.append(build(doc, roomPanel({ general: 3 })));
    const server = fakeFetch();
    poller = pollOnline({ fetch: server.fetch });
    server.fail();
    server.respond({ detail: "oops" }, 503);
    server.respond({ nothing: true });
    server.respond("null");
    for (let i = 0; i < 4; i += 1) {
      mock.timers.tick(POLL_MS);
      await settle();
    }
    assert.equal(server.calls.length, 4);
    assert.deepEqual(counts(), { general: "3" });
    server.respond({ online: { general: 7 } });
    mock.timers.tick(POLL_MS);
    await settle();
    assert.deepEqual(counts(), { general: "7" }, "polling stopped after a failure");
  });

  test("a hidden tab is not polled; coming back asks at once", async () => {
    doc.body.append(build(doc, roomPanel({ general: 3 })));
    const server = fakeFetch();
    poller = pollOnline({ fetch: server.fetch });
    doc.setVisibility("hidden");
    mock.timers.tick(POLL_MS * 4);
    await settle();
    assert.equal(server.calls.length, 0);
    server.respond({ online: { general: 5 } });
    doc.setVisibility("visible");
    await settle();
    assert.equal(server.calls.length, 1);
    assert.deepEqual(counts(), { general: "5" });
    mock.timers.tick(POLL_MS - 1);
    assert.equal(server.calls.length, 1, "the visit's answer is fresh: the next poll is 15 s after it");
  });

  test("the room page's own room keeps its live count", async () => {
    doc.body.append(build(doc, roomPanel({ general: 3, quiet: 0 })));
    const server = fakeFetch();
    poller = pollOnline({ fetch: server.fetch, except: "general" });
    server.respond({ online: { general: 0, quiet: 2 } });
    mock.timers.tick(POLL_MS);
    await settle();
    assert.deepEqual(counts(), { general: "3", quiet: "2" });
  });

  test("stop ends the polling", async () => {
    const server = fakeFetch();
    poller = pollOnline({ fetch: server.fetch });
    poller.stop();
    mock.timers.tick(POLL_MS * 3);
    doc.setVisibility("visible");
    await settle();
    assert.equal(server.calls.length, 0);
  });
});
