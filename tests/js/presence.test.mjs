import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { Members } from "../../chat/static/chat/presence.js";
import { build, installDocument } from "./fakes.mjs";

let list;
let pills;
let members;

beforeEach(() => {
  const doc = installDocument();
  list = doc.createElement("ul");
  const header = build(doc, ["div", {}, ["span", { className: "online-pill" }, ["span", {}, "–"]], ["span", {}, "–"]]);
  pills = [header.children[0].children[0], header.children[1]];
  members = new Members(list, pills, { you: "ann" });
});

const listed = () => list.children.map((item) => item.querySelector(".member-name").textContent);
const counts = () => pills.map((node) => node.textContent);

test("welcome lists everyone online, sorted, with the count", () => {
  members.reset([{ name: "carol" }, { name: "ann" }, { name: "bob" }]);
  assert.deepEqual(listed(), ["ann", "bob", "carol"]);
  assert.deepEqual(counts(), ["3", "3"]);
});

test("you are marked as you", () => {
  members.reset([{ name: "ann" }, { name: "bob" }]);
  const [you, bob] = list.children;
  assert.ok(you.classList.contains("member--you"));
  assert.equal(you.querySelector(".badge").textContent, "you");
  assert.equal(bob.querySelector(".badge"), null);
});

test("a join adds the user and reports a real arrival only once", () => {
  members.reset([{ name: "ann" }]);
  assert.equal(members.join({ name: "bob" }, 2), true);
  assert.equal(members.join({ name: "bob" }, 2), false, "a second tab is not a second arrival");
  assert.deepEqual(listed(), ["ann", "bob"]);
  assert.deepEqual(counts(), ["2", "2"]);
});

test("a leave removes the user and reports a real departure only once", () => {
  members.reset([{ name: "ann" }, { name: "bob" }]);
  assert.equal(members.leave({ name: "bob" }, 1), true);
  assert.equal(members.leave({ name: "bob" }, 1), false);
  assert.deepEqual(listed(), ["ann"]);
  assert.deepEqual(counts(), ["1", "1"]);
});

test("the server's online count wins over the list's length", () => {
  members.reset([{ name: "ann" }]);
  members.join({ name: "bob" }, 5); // others joined while this tab was reconnecting
  assert.deepEqual(counts(), ["5", "5"]);
});

test("without a count from the server the list's length is shown", () => {
  members.reset([{ name: "ann" }]);
  members.join({ name: "bob" });
  assert.deepEqual(counts(), ["2", "2"]);
});

test("a heartbeat without a usable count leaves the count alone", () => {
  members.reset([{ name: "ann" }, { name: "bob" }]);
  members.count(undefined);
  members.count(Number("x"));
  assert.deepEqual(counts(), ["2", "2"]);
});

test("an empty room greys out the online pill", () => {
  const pill = pills[0].parentNode;
  members.count(0);
  assert.ok(pill.classList.contains("is-empty"));
  members.count(1);
  assert.ok(!pill.classList.contains("is-empty"));
});
