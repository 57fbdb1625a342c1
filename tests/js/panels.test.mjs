import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { setupPanels } from "../../chat/static/chat/panels.js";
import { build, installDocument } from "./fakes.mjs";

let doc;
let app;

beforeEach(() => {
  doc = installDocument();
  const toggle = (panel) => [
    "button",
    { dataset: { panel }, attrs: { "aria-controls": `${panel}-panel`, "aria-expanded": "false" } },
  ];
  app = build(doc, [
    "div",
    { id: "app" },
    ["nav", { id: "rooms-panel" }],
    toggle("rooms"),
    toggle("members"),
    ["main", { className: "conversation" }],
    ["aside", { id: "members-panel" }],
  ]);
  doc.body.append(app);
  setupPanels(app);
});

const button = (panel) => app.querySelector(`button[data-panel="${panel}"]`);
const expanded = (panel) => button(panel).getAttribute("aria-expanded") === "true";
const shown = (panel) => app.classList.contains(`show-${panel}`);

test("a toggle opens its panel and moves focus into it", () => {
  button("rooms").click();
  assert.equal(expanded("rooms"), true);
  assert.equal(shown("rooms"), true);
  assert.equal(doc.activeElement, doc.getElementById("rooms-panel"));
});

test("the same toggle closes it again", () => {
  button("rooms").click();
  button("rooms").click();
  assert.equal(expanded("rooms"), false);
  assert.equal(shown("rooms"), false);
});

test("opening one panel closes the other", () => {
  button("rooms").click();
  button("members").click();
  assert.deepEqual([shown("rooms"), shown("members")], [false, true]);
  assert.equal(expanded("rooms"), false);
});

test("Escape closes the open panel and gives focus back to its toggle", () => {
  button("members").click();
  app.dispatchEvent({ type: "keydown", key: "Escape" });
  assert.equal(shown("members"), false);
  assert.equal(doc.activeElement, button("members"));
});

test("Escape with nothing open leaves focus alone", () => {
  doc.activeElement = null;
  app.dispatchEvent({ type: "keydown", key: "Escape" });
  assert.equal(doc.activeElement, null);
});

test("a tap on the conversation puts an open panel away", () => {
  button("rooms").click();
  app.querySelector(".conversation").dispatchEvent({ type: "pointerdown" });
  assert.equal(shown("rooms"), false);
});
