import assert from "node:assert/strict";
import { test } from "node:test";

import { personKey, samePerson } from "../../chat/static/chat/people.js";
import { person } from "./fakes.mjs";

test("a person is keyed by their id, whatever their name", () => {
  assert.equal(personKey(person("bob", { id: "00000000000000b1" })), "00000000000000b1");
  assert.notEqual(personKey(person("bob")), personKey(person("bob", { id: "00000000000000b2" })));
});

test("without an id the name is the key, kept apart from every id", () => {
  assert.equal(personKey({ name: "bob" }), personKey({ name: "bob", guest: true }));
  assert.notEqual(personKey({ name: "00000000000000b1" }), "00000000000000b1");
  for (const nobody of [undefined, null, {}, { name: "" }, { id: "" }, { id: 7 }]) {
    assert.equal(personKey(nobody), null);
  }
});

test("two people of one name are not the same person; one person is, under any name", () => {
  const bob = person("bob", { id: "00000000000000b1" });
  assert.equal(samePerson(bob, person("bob", { id: "00000000000000b2" })), false);
  assert.equal(samePerson(bob, person("robert", { id: "00000000000000b1" })), true);
});

test("when either side has no id (an older server), the names decide", () => {
  const bob = person("bob");
  assert.equal(samePerson(bob, { name: "bob" }), true);
  assert.equal(samePerson({ name: "bob" }, { name: "bob" }), true);
  assert.equal(samePerson({ name: "bob" }, bob), true);
  assert.equal(samePerson({ name: "bob" }, { name: "carol" }), false);
  assert.equal(samePerson({}, {}), false);
  assert.equal(samePerson(undefined, bob), false);
  assert.equal(samePerson({ name: "" }, { name: "" }), false);
});
