import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { Timeline } from "../../chat/static/chat/timeline.js";
import { installDocument, person } from "./fakes.mjs";

// Local times, so that "same day" holds in whatever time zone the tests run.
const at = (day, hour, minute = 0) => new Date(2020, 0, day, hour, minute).toISOString();
// `author`: a name (that person's usual id) or a whole <user>.
const msg = (seq, { author = "bob", sent = at(5, 12, seq % 60), body = `#${seq}`, guest = false } = {}) => ({
  type: "message",
  room: "general",
  seq,
  author: typeof author === "string" ? person(author, { guest }) : author,
  body,
  sent_at: sent,
  client_id: null,
});

let list;
let timeline;

beforeEach(() => {
  const doc = installDocument();
  list = doc.createElement("ol");
  doc.body.append(list);
  timeline = new Timeline(list, { you: person("ann") });
});

// What the reader sees, top to bottom: "#seq" for a message, "day", "new" or the notice's text.
function screen() {
  return list.children.map((item) => {
    if (item.classList.contains("msg")) return `#${item.dataset.seq}`;
    if (item.classList.contains("sep--day")) return "day";
    if (item.classList.contains("sep--new")) return "new";
    return item.querySelector("span").textContent;
  });
}
const messagesOnScreen = () => screen().filter((line) => line.startsWith("#"));
const item = (seq) => list.children.find((node) => node.dataset.seq === String(seq));

describe("order and uniqueness", () => {
  test("messages are listed in seq order whatever order they arrive in", () => {
    timeline.insert([msg(3)]);
    timeline.insert([msg(1), msg(5)]);
    timeline.insert([msg(4), msg(2)]);
    assert.deepEqual(messagesOnScreen(), ["#1", "#2", "#3", "#4", "#5"]);
  });

  test("a seq that arrives twice is shown once", () => {
    timeline.insert([msg(1), msg(2)]);
    const added = timeline.insert([msg(2), msg(3), msg(3)]);
    assert.deepEqual(messagesOnScreen(), ["#1", "#2", "#3"]);
    assert.deepEqual(
      added.map((message) => message.seq),
      [3],
      "only new messages may count as arrived (announcements, unread counts)",
    );
  });

  test("a message without an integer seq is not shown", () => {
    const added = timeline.insert([msg("7"), msg(null), msg(1.5), msg(2)]);
    assert.deepEqual(messagesOnScreen(), ["#2"]);
    assert.equal(added.length, 1);
  });

  test("highest, lowest and size follow what is on screen", () => {
    assert.equal(timeline.size, 0);
    assert.equal(timeline.highest, 0);
    assert.equal(timeline.lowest, null);
    timeline.insert([msg(12), msg(10), msg(11)]);
    assert.deepEqual([timeline.size, timeline.lowest, timeline.highest], [3, 10, 12]);
    assert.ok(timeline.has(11) && !timeline.has(13));
  });

  test("a deleted message disappears and its seq no longer counts", () => {
    timeline.insert([msg(1), msg(2), msg(3)]);
    assert.equal(timeline.remove(3), true);
    assert.deepEqual(messagesOnScreen(), ["#1", "#2"]);
    assert.equal(timeline.highest, 2);
    assert.equal(timeline.remove(3), false);
  });

  test("clear empties the conversation", () => {
    timeline.insert([msg(1), msg(2)]);
    timeline.notice("bob joined");
    timeline.clear();
    assert.deepEqual(screen(), []);
    assert.equal(timeline.size, 0);
  });

  test("a notice stays where it happened when older messages fill in before it", () => {
    timeline.insert([msg(1), msg(3)]);
    timeline.notice("carol joined");
    timeline.insert([msg(2)]); // a gap fill
    timeline.insert([msg(4)]); // live, after the notice
    assert.deepEqual(screen(), ["day", "#1", "#2", "#3", "carol joined", "#4"]);
  });
});

describe("what each message shows", () => {
  test("author, body and guest badge appear as text", () => {
    timeline.insert([msg(1, { author: "eve", body: "<img src=x onerror=alert(1)>", guest: true })]);
    const node = item(1);
    assert.equal(node.querySelector(".author").textContent, "eve");
    assert.equal(node.querySelector(".body").textContent, "<img src=x onerror=alert(1)>");
    assert.equal(node.querySelector(".badge").textContent, "guest");
    assert.equal(node.id, "m-1");
  });

  test("your own messages are marked as yours", () => {
    timeline.insert([msg(1, { author: "ann" }), msg(2, { author: "bob" })]);
    assert.ok(item(1).classList.contains("msg--mine"));
    assert.ok(!item(2).classList.contains("msg--mine"));
  });

  test("a message by someone else who took your name is not marked as yours", () => {
    const otherAnn = person("ann", { id: "00000000000000a2", guest: true });
    timeline.insert([msg(1, { author: otherAnn }), msg(2, { author: "ann" })]);
    assert.equal(item(1).querySelector(".author").textContent, "ann");
    assert.ok(!item(1).classList.contains("msg--mine"));
    assert.ok(item(2).classList.contains("msg--mine"));
  });

  test("without ids (an older server) your messages are told by your name", () => {
    timeline.you = { name: "ann", guest: false };
    timeline.insert([msg(1, { author: { name: "ann", guest: false } }), msg(2, { author: { name: "bob" } })]);
    timeline.insert([{ ...msg(3), author: undefined }]);
    assert.ok(item(1).classList.contains("msg--mine"));
    assert.ok(!item(2).classList.contains("msg--mine"));
    assert.equal(item(3).querySelector(".author").textContent, "unknown");
    assert.ok(!item(3).classList.contains("msg--mine"));
  });
});

describe("grouping and separators", () => {
  test("one day separator above the first message of each day", () => {
    timeline.insert([msg(1, { sent: at(5, 9) }), msg(2, { sent: at(5, 23, 59) }), msg(3, { sent: at(6, 0, 1) })]);
    assert.deepEqual(screen(), ["day", "#1", "#2", "day", "#3"]);
  });

  test("the list holds only plain list items; separators are named inside them", () => {
    timeline.insert([msg(1, { sent: at(4, 9) }), msg(2, { sent: at(5, 9) }), msg(3, { sent: at(5, 10) })]);
    timeline.setDivider(2);
    timeline.notice("carol joined");
    // A <li> with another role, or any other element, breaks the list for screen readers (axe: list).
    assert.ok(list.children.every((node) => node.tagName === "LI" && !node.hasAttribute("role")));
    const separators = list.querySelectorAll('[role="separator"]');
    assert.equal(separators.length, 3);
    assert.ok(separators.every((node) => node.getAttribute("aria-label") === node.textContent));
    assert.equal(separators[2].getAttribute("aria-label"), "New messages");
  });

  test("separators are rebuilt, not duplicated, as messages arrive", () => {
    timeline.insert([msg(2, { sent: at(5, 9) })]);
    timeline.insert([msg(1, { sent: at(4, 9) })]);
    timeline.insert([msg(3, { sent: at(5, 10) })]);
    assert.deepEqual(screen(), ["day", "#1", "day", "#2", "#3"]);
  });

  test("messages by one author within five minutes read as one group", () => {
    timeline.insert([
      msg(1, { author: "bob", sent: at(5, 12, 0) }),
      msg(2, { author: "bob", sent: at(5, 12, 4) }),
      msg(3, { author: "carol", sent: at(5, 12, 5) }),
      msg(4, { author: "carol", sent: at(5, 12, 10) }), // five minutes later: a new group
    ]);
    const continued = [1, 2, 3, 4].map((seq) => item(seq).classList.contains("msg--cont"));
    assert.deepEqual(continued, [false, true, false, false]);
  });

  test("two people of one name writing in turn are two groups, each with its own name", () => {
    const otherBob = person("bob", { id: "00000000000000b2" });
    timeline.insert([
      msg(1, { author: "bob", sent: at(5, 12, 0) }),
      msg(2, { author: otherBob, sent: at(5, 12, 1) }),
      msg(3, { author: otherBob, sent: at(5, 12, 2) }),
    ]);
    const continued = [1, 2, 3].map((seq) => item(seq).classList.contains("msg--cont"));
    assert.deepEqual(continued, [false, false, true], "the second bob's message would read as the first's");
  });

  test("a notice between two messages by the same author breaks the group", () => {
    timeline.insert([msg(1, { sent: at(5, 12, 0) })]);
    timeline.notice("carol joined");
    timeline.insert([msg(2, { sent: at(5, 12, 1) })]);
    assert.equal(item(2).classList.contains("msg--cont"), false);
  });

  test("deleting the head of a group makes the next message the head", () => {
    timeline.insert([msg(1, { sent: at(5, 12, 0) }), msg(2, { sent: at(5, 12, 1) })]);
    assert.equal(item(2).classList.contains("msg--cont"), true);
    timeline.remove(1);
    assert.equal(item(2).classList.contains("msg--cont"), false, "bob's name and avatar would be missing");
  });

  test("deleting the only message of a day removes that day's separator", () => {
    timeline.insert([msg(1, { sent: at(4, 9) }), msg(2, { sent: at(5, 9) })]);
    timeline.remove(1);
    assert.deepEqual(screen(), ["day", "#2"]);
  });

  test("the new-messages divider goes above the first message after the read mark", () => {
    timeline.insert([msg(1), msg(2), msg(3), msg(4)]);
    timeline.setDivider(2);
    assert.deepEqual(screen(), ["day", "#1", "#2", "new", "#3", "#4"]);
    assert.equal(item(3).classList.contains("msg--cont"), false, "the divider starts a new group");
  });

  test("no divider when everything on screen is new", () => {
    timeline.insert([msg(5), msg(6)]);
    timeline.setDivider(2); // read up to 2, but 1..4 are not on screen
    assert.ok(!screen().includes("new"));
  });

  test("no divider when nothing is new", () => {
    timeline.insert([msg(1), msg(2)]);
    timeline.setDivider(2);
    assert.ok(!screen().includes("new"));
    timeline.insert([msg(3)]);
    assert.deepEqual(screen(), ["day", "#1", "#2", "new", "#3"]);
  });
});

describe("edits and deletions", () => {
  const edited = (seq, body, options = {}) => ({ ...msg(seq, { body, ...options }), edited_at: at(5, 13) });

  test("an edit replaces the message in place, with an (edited) mark that tells when", () => {
    timeline.insert([msg(1), msg(2), msg(3)]);
    const node = timeline.replace(edited(2, "better words"));
    assert.ok(node);
    assert.deepEqual(messagesOnScreen(), ["#1", "#2", "#3"]);
    assert.equal(item(2), node);
    assert.equal(node.querySelector(".body").textContent, "better words");
    const mark = node.querySelector(".edited");
    assert.equal(mark.tagName, "TIME");
    assert.equal(mark.textContent, "(edited)");
    assert.equal(mark.getAttribute("datetime"), at(5, 13));
    assert.match(mark.getAttribute("title"), /^Edited /);
    assert.equal(item(1).querySelector(".edited"), null, "only the edited message is marked");
    assert.equal(node.classList.contains("msg--cont"), true, "it keeps its place in bob's group");
  });

  test("an edit of a message not on screen is left to the caller", () => {
    timeline.insert([msg(1)]);
    assert.equal(timeline.replace(edited(2, "new")), null);
    assert.deepEqual(messagesOnScreen(), ["#1"]);
  });

  test("a message that arrives already edited (history) shows the mark too", () => {
    timeline.insert([edited(1, "fixed typo"), msg(2)]);
    assert.equal(item(1).querySelector(".edited").textContent, "(edited)");
    assert.equal(item(1).querySelector(".body").textContent, "fixed typo", "the mark is not part of the text");
  });

  test("a deleted message stays gone: a late copy of it is not shown", () => {
    timeline.insert([msg(1), msg(2)]);
    timeline.remove(2);
    timeline.remove(3); // deleted before its copy got here
    const added = timeline.insert([msg(2), msg(3), msg(4)]);
    assert.deepEqual(messagesOnScreen(), ["#1", "#4"]);
    assert.deepEqual(added.map((message) => message.seq), [4], "a late copy counted as a new message");
    assert.ok(timeline.gone(2) && timeline.gone(3) && !timeline.gone(1));
    assert.equal(timeline.replace(edited(2, "back?")), null, "an edit must not bring it back either");
    timeline.clear(); // a reset history: seqs are never reused, so a deleted one stays deleted
    timeline.insert([msg(2)]);
    assert.deepEqual(messagesOnScreen(), []);
  });

  test("each message is decorated when shown and again on redecorate", () => {
    const seen = [];
    timeline = new Timeline(list, { you: person("ann"), decorate: (node, message) => seen.push([node, message.body]) });
    timeline.insert([msg(1), msg(2)]);
    timeline.replace(edited(1, "again"));
    assert.deepEqual(seen.map(([, body]) => body), ["#1", "#2", "again"]);
    seen.length = 0;
    timeline.redecorate();
    assert.deepEqual(seen.map(([node, body]) => [node.dataset.seq, body]), [["1", "again"], ["2", "#2"]]);
  });
});
