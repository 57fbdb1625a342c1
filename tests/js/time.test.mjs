import assert from "node:assert/strict";
import { test } from "node:test";

import { dayKey, formatDay } from "../../chat/static/chat/time.js";
import { avatar, el, hueFor } from "../../chat/static/chat/dom.js";
import { installDocument } from "./fakes.mjs";

test("dayKey is the local calendar day, sortable", () => {
  assert.equal(dayKey(new Date(2026, 0, 5, 0, 0)), "2026-01-05");
  assert.equal(dayKey(new Date(2026, 10, 21, 23, 59)), "2026-11-21");
  assert.ok(dayKey(new Date(2026, 0, 31)) < dayKey(new Date(2026, 1, 1)));
});

test("formatDay says Today and Yesterday, across a month boundary too", () => {
  const now = new Date(2026, 2, 1, 9, 0); // 1 March
  assert.equal(formatDay(new Date(2026, 2, 1, 0, 1), now), "Today");
  assert.equal(formatDay(new Date(2026, 1, 28, 23, 59), now), "Yesterday");
  assert.notEqual(formatDay(new Date(2026, 1, 27, 12, 0), now), "Yesterday");
});

test("formatDay shows the year only for other years", () => {
  const now = new Date(2026, 5, 15);
  assert.ok(!formatDay(new Date(2026, 0, 2), now).includes("2026"));
  assert.ok(formatDay(new Date(2025, 0, 2), now).includes("2025"));
});

test("a name always gets the same hue, in range", () => {
  assert.equal(hueFor("alice"), hueFor("alice"));
  assert.notEqual(hueFor("alice"), hueFor("bob"));
  for (const name of ["", "a", "zoë", "🦊fox", "x".repeat(500)]) {
    const hue = hueFor(name);
    assert.ok(Number.isInteger(hue) && hue >= 0 && hue < 360, `${name}: ${hue}`);
  }
});

test("an avatar shows the first character, whole, upper-cased", () => {
  installDocument();
  assert.equal(avatar("bob").textContent, "B");
  assert.equal(avatar("  émile").textContent, "É");
  assert.equal(avatar("🦊fox").textContent, "🦊");
  assert.equal(avatar("   ").textContent, "?");
});

test("el puts text in as text and skips absent attributes and children", () => {
  installDocument();
  const node = el("p", { text: "<b>hi</b>", attrs: { title: "t", hidden: false, id: null, open: true } }, [null, "x"]);
  assert.equal(node.textContent, "<b>hi</b>x");
  assert.equal(node.getAttribute("title"), "t");
  assert.equal(node.getAttribute("open"), "");
  assert.equal(node.hasAttribute("hidden"), false);
  assert.equal(node.hasAttribute("id"), false);
});
