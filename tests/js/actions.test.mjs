// The controls on each message (actions.js): who gets which, and what they send. Run through a real
// Timeline on the fake DOM, as the room page uses them.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { allowedActions, duration, MessageActions, sanctionNotice } from "../../chat/static/chat/actions.js";
import { Timeline } from "../../chat/static/chat/timeline.js";
import { installDocument, person } from "./fakes.mjs";

const NOW = Date.UTC(2026, 10, 21, 12);
const WINDOW = 900; // seconds, as CHAT_EDIT_WINDOW
const ann = person("ann");
const bob = person("bob", { guest: true });
const reader = { moderator: false, muted: false, muted_until: null, edit_window: WINDOW };
const moderator = { ...reader, moderator: true };

// A message `age` seconds old.
const msg = (seq, { author = ann, age = 60, body = `message ${seq}` } = {}) => ({
  type: "message",
  room: "general",
  seq,
  author,
  body,
  sent_at: new Date(NOW - age * 1000).toISOString(),
  edited_at: null,
  client_id: null,
});

describe("allowedActions", () => {
  const can = (message, rights, extra = {}) => allowedActions(message, { you: ann, rights, now: NOW, ...extra });

  test("your own message, within the edit window: edit and delete", () => {
    assert.deepEqual(can(msg(1), reader), { edit: true, delete: true, sanction: false });
  });

  test("your own message once the window has passed: nothing", () => {
    assert.deepEqual(can(msg(1, { age: WINDOW }), reader), { edit: false, delete: false, sanction: false });
  });

  test("someone else's message: nothing, even one from a namesake", () => {
    assert.deepEqual(can(msg(1, { author: bob }), reader), { edit: false, delete: false, sanction: false });
    const otherAnn = person("ann", { id: "00000000000000a2" });
    assert.deepEqual(can(msg(2, { author: otherAnn }), reader), { edit: false, delete: false, sanction: false });
  });

  test("a moderator deletes any message and sanctions its author, never themselves", () => {
    assert.deepEqual(can(msg(1, { author: bob, age: 86_400 }), moderator), { edit: false, delete: true, sanction: true });
    assert.deepEqual(can(msg(2), moderator), { edit: true, delete: true, sanction: false });
    assert.deepEqual(can(msg(3, { age: 86_400 }), moderator), { edit: false, delete: true, sanction: false });
  });

  test("muted, or in an archived room, you cannot change your own; a moderator still deletes", () => {
    const none = { edit: false, delete: false, sanction: false };
    assert.deepEqual(can(msg(1), { ...reader, muted: true }), none);
    assert.deepEqual(can(msg(1), reader, { archived: true }), none);
    assert.deepEqual(can(msg(2, { author: bob }), moderator, { archived: true }), {
      edit: false,
      delete: true,
      sanction: true,
    });
  });

  test("before welcome says what you may do: nothing", () => {
    assert.deepEqual(can(msg(1), null), { edit: false, delete: false, sanction: false });
  });
});

describe("sanction notices", () => {
  test("say who, what and for how long", () => {
    const until = (minutes) => new Date(NOW + minutes * 60_000).toISOString();
    assert.equal(sanctionNotice({ action: "mute", user: bob, until: until(60) }, NOW), "bob was muted for 60 minutes");
    assert.equal(sanctionNotice({ action: "mute", user: bob, until: until(1440) }, NOW), "bob was muted for 1 day");
    assert.equal(sanctionNotice({ action: "ban", user: bob, until: null }, NOW), "bob was banned");
    assert.equal(sanctionNotice({ action: "mute", user: bob, until: null }, NOW), "bob was muted");
  });

  test("durations read naturally", () => {
    assert.deepEqual([1, 10, 60, 90, 120, 1440, 2880].map(duration), [
      "1 minute",
      "10 minutes",
      "60 minutes",
      "90 minutes",
      "2 hours",
      "1 day",
      "2 days",
    ]);
  });
});

describe("the controls on the page", () => {
  let doc;
  let list;
  let timeline;
  let actions;
  let sent;
  let alerts;
  let connected;
  let expired;

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: NOW });
    doc = installDocument();
    list = doc.createElement("ol");
    doc.body.append(list);
    sent = [];
    alerts = [];
    connected = true;
    expired = 0;
    actions = new MessageActions({
      send: (frame) => connected && sent.push(frame) > 0,
      notify: (text) => alerts.push(text),
      onExpiry: () => {
        expired += 1;
        timeline.redecorate();
      },
    });
    actions.you = ann;
    actions.rights = reader;
    timeline = new Timeline(list, { you: ann, decorate: (item, message) => actions.decorate(item, message) });
  });

  afterEach(() => mock.timers.reset());

  const item = (seq) => list.children.find((node) => node.dataset.seq === String(seq));
  const labels = (seq) => item(seq).querySelectorAll(".msg-actions button").map((node) => node.getAttribute("aria-label"));
  const control = (seq, label) =>
    item(seq)
      .querySelectorAll("button")
      .find((node) => (node.getAttribute("aria-label") ?? node.textContent) === label); // its accessible name
  const key = (node, name, extra = {}) => node.dispatchEvent({ type: "keydown", key: name, shiftKey: false, ...extra });

  test("your recent messages get Edit and Delete buttons; others' and old ones get none", () => {
    timeline.insert([msg(1), msg(2, { author: bob }), msg(3, { age: 3600 })]);
    assert.deepEqual(labels(1), ["Edit message", "Delete message"]);
    assert.deepEqual(labels(2), []);
    assert.deepEqual(labels(3), []);
    const edit = control(1, "Edit message");
    assert.equal(edit.tagName, "BUTTON", "a real button: focusable and keyboard-operable");
    assert.equal(edit.getAttribute("type"), "button");
    assert.equal(edit.textContent, "Edit", "the visible text is part of the accessible name");
    assert.equal(item(1).querySelector(".msg-actions").getAttribute("role"), "group");
  });

  test("a moderator gets Delete, Mute and Ban on others' messages, and no Mute or Ban on their own", () => {
    actions.rights = moderator;
    timeline.insert([msg(1, { author: bob, age: 86_400 }), msg(2)]);
    assert.deepEqual(labels(1), ["Delete message", "Mute author", "Ban author"]);
    assert.deepEqual(labels(2), ["Edit message", "Delete message"]);
  });

  test("the controls go when the edit window ends", () => {
    timeline.insert([msg(1, { age: WINDOW - 30 }), msg(2, { age: 60 })]);
    mock.timers.tick(29_000);
    assert.deepEqual(labels(1), ["Edit message", "Delete message"]);
    mock.timers.tick(2_000);
    assert.equal(expired, 1);
    assert.deepEqual(labels(1), []);
    assert.deepEqual(labels(2), ["Edit message", "Delete message"], "a newer message keeps its own window");
    mock.timers.tick((WINDOW - 60) * 1000);
    assert.deepEqual(labels(2), []);
  });

  test("rights that change (a mute, or no page any more) take the controls away", () => {
    timeline.insert([msg(1)]);
    actions.rights = { ...reader, muted: true };
    timeline.redecorate();
    assert.deepEqual(labels(1), []);
    actions.rights = moderator;
    actions.closed = true;
    timeline.redecorate();
    assert.deepEqual(labels(1), []);
  });

  test("Edit opens the text in place; Enter sends the edit and waits for the server", () => {
    timeline.insert([msg(1, { body: "see you at 5" })]);
    control(1, "Edit message").click();
    const textarea = item(1).querySelector("textarea");
    assert.equal(textarea.getAttribute("aria-label"), "Edit message");
    assert.equal(textarea.value, "see you at 5");
    assert.equal(doc.activeElement, textarea);
    assert.equal(item(1).querySelector(".body").hidden, true);
    textarea.value = "see you at 6  ";
    const enter = key(textarea, "Enter");
    assert.equal(enter.defaultPrevented, true);
    assert.deepEqual(sent, [{ type: "edit", seq: 1, body: "see you at 6" }]);
    assert.equal(item(1).querySelector(".msg-editor").dataset.state, "saving");
    key(textarea, "Enter"); // impatient
    assert.equal(sent.length, 1);
    // The server's `edited` replaces the message: the editor goes with the old one.
    const node = timeline.replace({ ...msg(1, { body: "see you at 6" }), edited_at: new Date(NOW).toISOString() });
    actions.settled(1, node);
    assert.equal(item(1).querySelector("textarea"), null);
    assert.equal(item(1).querySelector(".body").textContent, "see you at 6");
  });

  test("Shift+Enter is a new line in the editor, not a save", () => {
    timeline.insert([msg(1)]);
    control(1, "Edit message").click();
    const enter = key(item(1).querySelector("textarea"), "Enter", { shiftKey: true });
    assert.equal(enter.defaultPrevented, false);
    assert.deepEqual(sent, []);
  });

  test("Escape (or Cancel) puts the message back as it was, and sends nothing", () => {
    timeline.insert([msg(1, { body: "original" })]);
    control(1, "Edit message").click();
    const textarea = item(1).querySelector("textarea");
    textarea.value = "half-typed";
    key(textarea, "Escape");
    assert.equal(item(1).querySelector("textarea"), null);
    assert.equal(item(1).querySelector(".body").hidden, false);
    assert.equal(item(1).querySelector(".body").textContent, "original");
    assert.equal(doc.activeElement, control(1, "Edit message"), "focus goes back to where it came from");
    control(1, "Edit message").click();
    item(1).querySelectorAll("button").find((node) => node.textContent === "Cancel").click();
    assert.equal(item(1).querySelector("textarea"), null);
    assert.deepEqual(sent, []);
  });

  test("saving the same text closes the editor without asking the server", () => {
    timeline.insert([msg(1, { body: "same" })]);
    control(1, "Edit message").click();
    key(item(1).querySelector("textarea"), "Enter");
    assert.deepEqual(sent, []);
    assert.equal(item(1).querySelector("textarea"), null);
  });

  test("a refused edit leaves the editor open and editable; the alert says why", () => {
    timeline.insert([msg(1)]);
    control(1, "Edit message").click();
    const textarea = item(1).querySelector("textarea");
    textarea.value = "new words";
    key(textarea, "Enter");
    actions.refused();
    assert.equal(item(1).querySelector(".msg-editor").dataset.state, "editing");
    assert.equal(textarea.readOnly, false);
    assert.equal(textarea.value, "new words", "the reader's text must not be lost");
  });

  test("an edit that cannot be sent, or leaves nothing, says so and stays open", () => {
    timeline.insert([msg(1)]);
    control(1, "Edit message").click();
    const textarea = item(1).querySelector("textarea");
    textarea.value = "   ";
    key(textarea, "Enter");
    textarea.value = "offline words";
    connected = false;
    key(textarea, "Enter");
    assert.deepEqual(sent, []);
    assert.equal(alerts.length, 2);
    assert.equal(item(1).querySelector(".msg-editor").dataset.state, "editing");
  });

  test("Delete asks first, in the page; only the confirmation sends the frame", () => {
    timeline.insert([msg(1), msg(2)]);
    control(1, "Delete message").click();
    assert.deepEqual(sent, []);
    const confirm = item(1).querySelector(".msg-confirm");
    assert.equal(confirm.querySelector(".msg-confirm-question").textContent, "Delete this message?");
    assert.equal(doc.activeElement.textContent, "Cancel", "the safe choice has the focus");
    key(confirm, "Escape");
    assert.equal(item(1).querySelector(".msg-confirm"), null);
    assert.deepEqual(sent, []);
    control(1, "Delete message").click();
    control(1, "Delete").click();
    assert.deepEqual(sent, [{ type: "delete", seq: 1 }]);
    assert.equal(item(1).querySelector(".msg-confirm"), null);
  });

  test("Mute offers a few durations and Ban asks once; both name the message's seq", () => {
    actions.rights = moderator;
    timeline.insert([msg(7, { author: bob })]);
    control(7, "Mute author").click();
    const question = item(7).querySelector(".msg-confirm-question").textContent;
    assert.equal(question, "Mute bob for");
    const choices = item(7)
      .querySelector(".msg-confirm")
      .querySelectorAll("button")
      .map((node) => node.textContent);
    assert.deepEqual(choices, ["10 minutes", "1 hour", "1 day", "Cancel"]);
    control(7, "1 hour").click();
    control(7, "Ban author").click();
    assert.equal(item(7).querySelector(".msg-confirm-question").textContent, "Ban bob from this room?");
    control(7, "Ban").click();
    assert.deepEqual(sent, [
      { type: "mute", seq: 7, minutes: 60 },
      { type: "ban", seq: 7, minutes: null },
    ]);
  });
});
