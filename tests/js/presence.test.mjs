import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { Members } from "../../chat/static/chat/presence.js";
import { build, installDocument, person } from "./fakes.mjs";

let list;
let pills;
let members;

beforeEach(() => {
  const doc = installDocument();
  list = doc.createElement("ul");
  const header = build(doc, ["div", {}, ["span", { className: "online-pill" }, ["span", {}, "–"]], ["span", {}, "–"]]);
  pills = [header.children[0].children[0], header.children[1]];
  members = new Members(list, pills, { you: person("ann") });
});

const listed = () => list.children.map((item) => item.querySelector(".member-name").textContent);
const badges = () => list.children.map((item) => item.querySelectorAll(".badge").map((badge) => badge.textContent));
const counts = () => pills.map((node) => node.textContent);

test("welcome lists everyone online, sorted, with the count", () => {
  members.reset([person("carol"), person("ann"), person("bob")]);
  assert.deepEqual(listed(), ["ann", "bob", "carol"]);
  assert.deepEqual(counts(), ["3", "3"]);
});

test("you are marked as you", () => {
  members.reset([person("ann"), person("bob")]);
  const [you, bob] = list.children;
  assert.ok(you.classList.contains("member--you"));
  assert.equal(you.querySelector(".badge").textContent, "you");
  assert.equal(bob.querySelector(".badge"), null);
});

test("a join adds the user and reports a real arrival only once", () => {
  members.reset([person("ann")]);
  assert.equal(members.join(person("bob"), 2), true);
  assert.equal(members.join(person("bob"), 2), false, "a second tab is not a second arrival");
  assert.deepEqual(listed(), ["ann", "bob"]);
  assert.deepEqual(counts(), ["2", "2"]);
});

test("a leave removes the user and reports a real departure only once", () => {
  members.reset([person("ann"), person("bob")]);
  assert.equal(members.leave(person("bob"), 1), true);
  assert.equal(members.leave(person("bob"), 1), false);
  assert.deepEqual(listed(), ["ann"]);
  assert.deepEqual(counts(), ["1", "1"]);
});

test("the server's online count wins over the list's length", () => {
  members.reset([person("ann")]);
  members.join(person("bob"), 5); // others joined while this tab was reconnecting
  assert.deepEqual(counts(), ["5", "5"]);
});

test("without a count from the server the list's length is shown", () => {
  members.reset([person("ann")]);
  members.join(person("bob"));
  assert.deepEqual(counts(), ["2", "2"]);
});

test("a heartbeat without a usable count leaves the count alone", () => {
  members.reset([person("ann"), person("bob")]);
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

test("two people with the same name are listed twice, and one leaving keeps the other", () => {
  const guestBob = person("bob", { id: "00000000000000b2", guest: true });
  members.reset([person("ann"), person("bob"), guestBob], 3);
  assert.deepEqual(listed(), ["ann", "bob", "bob"]);
  assert.deepEqual(counts(), ["3", "3"]);
  assert.equal(members.join(guestBob, 3), false, "the guest bob's second tab is not an arrival");
  assert.equal(members.join(person("bob", { id: "00000000000000b3" }), 4), true, "a third bob is new");
  assert.deepEqual(listed(), ["ann", "bob", "bob", "bob"]);
  assert.equal(members.leave(guestBob, 3), true);
  assert.equal(members.leave(guestBob, 3), false, "that bob is gone already");
  assert.deepEqual(listed(), ["ann", "bob", "bob"]);
  assert.ok(members.users.has(person("bob").id), "the other bob was removed instead");
  assert.deepEqual(counts(), ["3", "3"]);
});

test("a guest is marked as a guest, so a guest and a member of one name can be told apart", () => {
  members.reset([person("bob", { guest: true }), person("bob", { id: "00000000000000b2" })]);
  assert.deepEqual(listed(), ["bob", "bob"]);
  assert.deepEqual(badges().sort(), [[], ["guest"]]);
});

test("only you are marked as you, not someone else who took your name", () => {
  members.reset([person("ann"), person("ann", { id: "00000000000000a2", guest: true })]);
  const marked = list.children.map((item) => item.classList.contains("member--you"));
  assert.equal(marked.filter(Boolean).length, 1);
  const yours = list.children.find((item) => item.classList.contains("member--you"));
  assert.deepEqual(yours.querySelectorAll(".badge").map((badge) => badge.textContent), ["you"]);
});

test("namesakes keep their order from one change to the next", () => {
  const first = person("bob", { id: "00000000000000b1", guest: true });
  const second = person("bob", { id: "00000000000000b2" });
  members.reset([second, first]);
  const before = badges();
  members.join(person("carol"));
  members.reset([first, second, person("carol")]);
  assert.deepEqual(badges().slice(0, 2), before);
});

test("without ids (an older server) people are told apart by name, and nothing breaks", () => {
  members = new Members(list, pills, { you: { name: "ann", guest: false } });
  members.reset([{ name: "ann", guest: false }, { name: "bob", guest: false }, { guest: false }]);
  assert.deepEqual(listed(), ["ann", "bob"], "a user with neither id nor name cannot be listed");
  assert.ok(list.children[0].classList.contains("member--you"));
  assert.equal(members.join({ name: "bob", guest: false }, 2), false);
  assert.equal(members.join({ name: "cy", guest: false }, 3), true);
  assert.equal(members.join({}, 3), false);
  assert.equal(members.leave({ name: "bob", guest: false }, 2), true);
  assert.equal(members.leave(undefined, 2), false);
  assert.deepEqual(listed(), ["ann", "cy"]);
});

test("a name that looks like an id is not taken for somebody's id", () => {
  const hexy = person("1529cc1874c633cf"); // a name made of 16 hex digits
  members.reset([person("ann"), hexy]);
  assert.equal(members.leave({ name: person("ann").id }, 1), false, "ann left because of a name");
  assert.deepEqual(listed(), ["1529cc1874c633cf", "ann"]);
});
