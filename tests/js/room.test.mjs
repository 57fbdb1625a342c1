// The room page as a whole (room.js wires the socket, sync, timeline and outbox together), run against
// a hand-built page shaped like templates/chat/room.html, a fake WebSocket and mocked timers.
// room.js runs on import, so each test imports a fresh copy (a distinct ?query makes a new module).

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { GAP_GRACE_MS } from "../../chat/static/chat/sync.js";
import { build, FakeEventTarget, fakeFetch, fakeStorage, FakeWebSocket, installDocument, person } from "./fakes.mjs";

const ROOM = { slug: "general", name: "General", topic: "", archived: false, kind: "public", guests: true, slow_mode: 0 };
const READER = { moderator: false, muted: false, muted_until: null, edit_window: 900 };
let doc;
let storage;
let server; // the site's HTTP side: what the page fetches
let copies = 0;

function page({ slug, you, archived, otherRooms }) {
  return [
    "div",
    { id: "app", dataset: { room: slug, maxBody: "20", you, archived: String(archived) } },
    [
      "nav",
      { id: "rooms-panel" },
      ["strong", { id: "you-name" }, you],
      ...otherRooms.map(([otherSlug, lastSeq]) => [
        "a",
        { dataset: { slug: otherSlug, lastSeq: String(lastSeq) } },
        ["span", { className: "room-name" }, otherSlug],
        ["span", { className: "unread", hidden: true }],
      ]),
    ],
    ["button", { dataset: { panel: "rooms" }, attrs: { "aria-controls": "rooms-panel", "aria-expanded": "false" } }],
    ["h1", { id: "room-name" }, ROOM.name],
    ["p", { id: "room-topic", hidden: true }],
    ["p", { id: "conn" }, "Connecting…"],
    ["span", { className: "online-pill" }, ["span", { dataset: { onlineFor: slug } }, "–"]],
    [
      "main",
      { id: "content", className: "conversation" },
      [
        "div",
        { id: "log" },
        ["button", { id: "load-older", hidden: true }, "Load older messages"],
        ["p", { id: "empty", hidden: true }],
        ["ol", { id: "timeline" }],
        ["ol", { id: "pending" }],
      ],
      ["button", { id: "jump", hidden: true }, ["span", { id: "jump-count" }, "0"]],
      ["div", { id: "announcer" }],
      ["p", { id: "typing" }],
      ["p", { id: "alert", hidden: true }],
      [
        "form",
        { id: "composer" },
        ["textarea", { id: "body" }],
        ["button", { attrs: { type: "submit" } }, "Send"],
        ["p", { id: "counter", hidden: true }],
        ["p", { id: "archived-note", hidden: true }],
        ["p", { id: "gone-note", hidden: true }],
        ["p", { id: "forbidden-note", hidden: true }, "You are not allowed in this room."],
        ["p", { id: "muted-note", hidden: true }],
        ["p", { id: "slow-note", hidden: true }],
      ],
      [
        "div",
        { id: "mod-tools", hidden: true },
        [
          "select",
          { id: "slow-mode", value: "0" },
          ...[0, 5, 30, 60].map((n) => ["option", { value: String(n), attrs: { value: String(n) } }, `${n} s`]),
        ],
      ],
    ],
    ["aside", { id: "members-panel" }, ["ul", { id: "members" }]],
  ];
}

// Opens the room page: builds the DOM, installs the browser globals, runs room.js.
async function openRoom({ slug = "general", you = "ann", archived = false, readMark = null, otherRooms = [] } = {}) {
  doc = installDocument();
  doc.title = "General · Chat";
  doc.body.append(build(doc, page({ slug, you, archived, otherRooms })));
  const location = { protocol: "https:", host: "chat.example.org", href: `https://chat.example.org/rooms/${slug}/` };
  globalThis.window = Object.assign(new FakeEventTarget(), { location });
  globalThis.CSS = { escape: (value) => String(value).replace(/["\\]/g, "\\$&") };
  storage = fakeStorage();
  if (readMark !== null) storage.setItem(`chat:read:${slug}`, String(readMark));
  globalThis.localStorage = storage;
  server = fakeFetch({ fallback: { status: 200, body: { online: {} } } });
  globalThis.fetch = server.fetch;
  copies += 1;
  await import(`../../chat/static/chat/room.js?copy=${copies}`);
  return FakeWebSocket.last;
}

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: Date.UTC(2026, 10, 21, 12) });
  mock.method(Math, "random", () => 0.5); // reconnect after exactly 0.5 s
  FakeWebSocket.instances = [];
  globalThis.WebSocket = FakeWebSocket;
});

const realFetch = globalThis.fetch;

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
  globalThis.fetch = realFetch;
});

// -- The server's side --------------------------------------------------------------------------

// A <user> with its id; `id` gives a namesake an id of their own.
const user = (name, guest = false, id = undefined) => person(name, { guest, id });
// `author`: a name (that person's usual id) or a whole <user>.
const message = (seq, { author = "bob", body = `message ${seq}`, client_id = null, room = "general" } = {}) => ({
  type: "message",
  room,
  seq,
  author: typeof author === "string" ? user(author) : author,
  body,
  sent_at: new Date(Date.UTC(2026, 10, 21, 11, 0, seq)).toISOString(),
  client_id,
});
const range = (from, to, options) => Array.from({ length: to - from + 1 }, (_, i) => message(from + i, options));

// The server accepts, says welcome, then sends the first history (as RoomConsumer._replay does).
function connect(
  ws,
  { lastSeq = 0, messages = [], online = [user("ann"), user("bob")], resumed = false, rights, lastChange, room = ROOM } = {},
) {
  ws.open();
  const welcome = { type: "welcome", room, you: user("ann"), online, last_seq: lastSeq, heartbeat: 15 };
  if (rights !== undefined) welcome.rights = rights;
  if (lastChange !== undefined) welcome.last_change = lastChange;
  ws.receive(welcome);
  ws.receive({ type: "history", messages, has_more: false, resumed, reset: false, query: null });
}

// The answer to a history request.
const answer = (messages, query, { has_more = false } = {}) => ({
  type: "history",
  messages,
  has_more,
  resumed: false,
  reset: false,
  query,
});

// -- What the user sees -------------------------------------------------------------------------

const $ = (id) => doc.getElementById(id);
const onScreen = () => $("timeline").querySelectorAll(".msg").map((item) => Number(item.dataset.seq));
const pending = () =>
  $("pending").children.map((item) => ({
    body: item.querySelector(".body").textContent,
    state: item.dataset.state,
    status: item.querySelector(".outbox-status").textContent,
  }));
const sentOfType = (ws, type) => ws.sent.filter((frame) => frame.type === type);

function type(text) {
  const textarea = $("body");
  textarea.value = text;
  textarea.dispatchEvent({ type: "input" });
}

function pressEnter({ shiftKey = false } = {}) {
  return $("body").dispatchEvent({ type: "keydown", key: "Enter", shiftKey, isComposing: false });
}

function write(text) {
  type(text);
  pressEnter();
}

// -- Tests --------------------------------------------------------------------------------------

test("the page connects to its room on the page's own host and shows the history in order", async () => {
  const ws = await openRoom();
  assert.equal(ws.url, "wss://chat.example.org/ws/rooms/general/");
  assert.equal($("conn").textContent, "Connecting…");
  connect(ws, { lastSeq: 3, messages: [message(1), message(2), message(3)] });
  assert.deepEqual(onScreen(), [1, 2, 3]);
  assert.equal($("conn").textContent, "Connected");
  assert.equal($("you-name").textContent, "ann");
  assert.equal(doc.querySelector("[data-online-for]").textContent, "2");
  assert.equal($("empty").hidden, true);
});

test("in a huge room the list shows whom welcome lists and the count says how many are online", async () => {
  const ws = await openRoom();
  ws.open();
  // The server cut `online` to fit the frame; online_count counts everyone.
  const online = [user("ann"), user("bob"), user("cy")];
  ws.receive({ type: "welcome", room: ROOM, you: user("ann"), online, online_count: 5000, last_seq: 0, heartbeat: 15 });
  const listed = $("members").querySelectorAll(".member-name").map((node) => node.textContent);
  assert.deepEqual(listed, ["ann", "bob", "cy"]);
  assert.equal(doc.querySelector("[data-online-for]").textContent, "5000");
});

test("an empty room says so", async () => {
  const ws = await openRoom();
  connect(ws);
  assert.equal($("empty").hidden, false);
});

test("live messages from other workers are shown in seq order, each once", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [message(1)] });
  for (const seq of [3, 2, 3, 2]) ws.receive(message(seq));
  assert.deepEqual(onScreen(), [1, 2, 3]);
  mock.timers.tick(GAP_GRACE_MS);
  assert.deepEqual(sentOfType(ws, "history"), [], "broadcasts that only crossed were asked for");
});

test("a message for another room is not shown", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [message(1)] });
  ws.receive(message(2, { room: "random" }));
  assert.deepEqual(onScreen(), [1]);
});

test("a seq jump asks the server for the missing message and shows it in place", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 41, messages: range(1, 41) });
  ws.receive(message(43));
  assert.deepEqual(sentOfType(ws, "history"), [], "42 may only be late: it gets a grace first");
  mock.timers.tick(GAP_GRACE_MS);
  assert.deepEqual(sentOfType(ws, "history"), [{ type: "history", after: 41, before: 43, limit: 100 }]);
  ws.receive(answer([message(42)], { after: 41, before: 43, limit: 100 }));
  assert.deepEqual(onScreen().slice(-3), [41, 42, 43]);
});

test("a heartbeat showing a missed message fetches it", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 5, messages: range(1, 5) });
  ws.receive({ type: "heartbeat", last_seq: 6, online: 3 });
  assert.deepEqual(sentOfType(ws, "history"), [{ type: "history", after: 5, limit: 100 }]);
  assert.equal(doc.querySelector("[data-online-for]").textContent, "3");
});

test("a moderator's deletion removes the message", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  ws.receive({ type: "deleted", seq: 2 });
  assert.deepEqual(onScreen(), [1, 3]);
});

test("Enter sends the message with a client_id and shows it as sending until it arrives", async () => {
  const ws = await openRoom();
  connect(ws);
  write("hello  ");
  const [frame] = sentOfType(ws, "message");
  assert.equal(frame.body, "hello", "trailing whitespace should be trimmed");
  assert.ok(frame.client_id);
  assert.equal($("body").value, "", "the composer should be cleared");
  assert.deepEqual(pending(), [{ body: "hello", state: "sending", status: "Sending…" }]);
  ws.receive({ type: "ack", client_id: frame.client_id, seq: 1 });
  assert.equal(pending()[0].state, "sent");
  ws.receive(message(1, { author: "ann", body: "hello", client_id: frame.client_id }));
  assert.deepEqual(pending(), []);
  assert.deepEqual(onScreen(), [1]);
});

test("Shift+Enter and blank messages send nothing", async () => {
  const ws = await openRoom();
  connect(ws);
  type("line one");
  pressEnter({ shiftKey: true });
  write("   \n ");
  assert.deepEqual(sentOfType(ws, "message"), []);
});

test("a message over the length limit is not sent and the counter says by how much", async () => {
  const ws = await openRoom(); // the page says max 20
  connect(ws);
  write("x".repeat(23));
  assert.deepEqual(sentOfType(ws, "message"), []);
  assert.equal($("counter").hidden, false);
  assert.equal($("counter").textContent, "3 characters too long");
  assert.equal($("body").value, "x".repeat(23), "the text must not be lost");
});

test("the length limit counts characters, not UTF-16 units", async () => {
  const ws = await openRoom();
  connect(ws);
  type("🦊".repeat(19)); // 19 characters, 38 UTF-16 units
  assert.equal($("counter").textContent, "1 character left");
  write("🦊".repeat(20)); // 20 characters, 40 UTF-16 units
  assert.equal(sentOfType(ws, "message").length, 1);
});

test("an error frame with our client_id marks that message failed, with the server's reason", async () => {
  const ws = await openRoom();
  connect(ws);
  write("spam");
  const [frame] = sentOfType(ws, "message");
  ws.receive({
    type: "error",
    code: "rate_limited",
    detail: "Too many messages; slow down.",
    client_id: frame.client_id,
    retry_after: 2,
  });
  const [entry] = pending();
  assert.equal(entry.state, "failed");
  assert.match(entry.status, /^Failed: Too many messages; slow down\./);
  assert.equal($("alert").hidden, true, "a refusal tied to a message belongs on the message");
});

test("an error frame without a client_id shows an alert that goes away", async () => {
  const ws = await openRoom();
  connect(ws);
  ws.receive({ type: "error", code: "bad_request", detail: "Bad request." });
  assert.equal($("alert").hidden, false);
  assert.equal($("alert").textContent, "Bad request.");
  mock.timers.tick(8000);
  assert.equal($("alert").hidden, true);
});

test("a message the server cannot store (bad_text) offers only Discard, and no reconnect re-sends it", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  write("a\u0000b");
  const [frame] = sentOfType(ws, "message");
  const detail = "The message contains a character that cannot be sent: U+0000.";
  ws.receive({ type: "error", code: "bad_text", detail, client_id: frame.client_id });
  assert.deepEqual(pending(), [{ body: "a\u0000b", state: "failed", status: `Failed: ${detail} — Discard` }]);
  ws.serverClose(1006);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  connect(next, { lastSeq: 3, resumed: true });
  mock.timers.tick(60_000);
  assert.deepEqual(sentOfType(next, "message"), [], "a refused message was sent again");
  assert.equal(pending()[0].state, "failed");
});

test("unavailable: the page sends the message again by itself once, after retry_after", async () => {
  const ws = await openRoom();
  connect(ws);
  write("hello");
  const [frame] = sentOfType(ws, "message");
  const detail = "The database is not answering; try again in a moment.";
  ws.receive({ type: "error", code: "unavailable", detail, client_id: frame.client_id, retry_after: 1 });
  assert.deepEqual(pending(), [{ body: "hello", state: "sending", status: "Sending…" }]);
  assert.equal($("alert").hidden, true);
  mock.timers.tick(1000);
  assert.deepEqual(sentOfType(ws, "message"), [frame, frame]);
  ws.receive({ type: "ack", client_id: frame.client_id, seq: 1 });
  assert.equal(pending()[0].state, "sent");
});

test("read_only closes the composer", async () => {
  const ws = await openRoom();
  connect(ws);
  write("hello");
  const [frame] = sentOfType(ws, "message");
  ws.receive({ type: "error", code: "read_only", detail: "This room is archived.", client_id: frame.client_id });
  assert.equal($("body").disabled, true);
  assert.equal($("archived-note").hidden, false);
  write("again");
  assert.equal(sentOfType(ws, "message").length, 1);
});

test("after a reconnect, an unacknowledged message is re-sent with the same client_id", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  write("are you there?");
  const [first] = sentOfType(ws, "message");
  ws.serverClose(1006); // dropped before the ack
  assert.match($("conn").textContent, /^Reconnecting/);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  assert.notEqual(next, ws);
  assert.equal(next.url, "wss://chat.example.org/ws/rooms/general/?after=3");
  assert.deepEqual(sentOfType(next, "message"), [], "re-sent before the history could show it was stored");
  connect(next, { lastSeq: 3, resumed: true });
  assert.deepEqual(sentOfType(next, "message"), [first]);
  assert.equal(pending()[0].state, "sending");
});

test(
  "a missing message is fetched even when a reconnect drops between welcome and history",
  async () => {
    const ws = await openRoom();
    connect(ws, { lastSeq: 41, messages: range(1, 41) });
    ws.receive(message(43)); // 42's broadcast was lost; the client gives it a grace...
    ws.serverClose(1012); // ...but its worker restarts before that is over (the grace ends offline)
    mock.timers.tick(500);
    const second = FakeWebSocket.last;
    assert.match(second.url, /\?after=41$/);
    second.open();
    second.receive({ type: "welcome", room: ROOM, you: user("ann"), online: [], last_seq: 43, heartbeat: 15 });
    second.serverClose(1012); // a rolling restart: this worker goes too, before the history
    mock.timers.tick(500);
    const third = FakeWebSocket.last;
    // The server answers exactly what ?after= asks for.
    const after = Number(new URL(third.url).searchParams.get("after"));
    connect(third, { lastSeq: 43, resumed: true, messages: range(after + 1, 43) });
    third.receive({ type: "heartbeat", last_seq: 43, online: 2 });
    assert.ok(onScreen().includes(42), `message 42 never shown (resumed after ${after})`);
  },
);

test("after a reconnect, a message the history shows as stored is not re-sent", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  write("are you there?");
  const [first] = sentOfType(ws, "message");
  ws.serverClose(1012);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  const stored = message(4, { author: "ann", body: first.body, client_id: first.client_id });
  connect(next, { lastSeq: 4, resumed: true, messages: [stored] });
  assert.deepEqual(sentOfType(next, "message"), []);
  assert.deepEqual(pending(), []);
  assert.deepEqual(onScreen(), [1, 2, 3, 4]);
});

test("a resume in pages shows them all in order and re-sends the outbox once, after the last", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  write("stored");
  write("lost");
  const [stored, lost] = sentOfType(ws, "message");
  ws.serverClose(1006);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  next.open();
  next.receive({ type: "welcome", room: ROOM, you: user("ann"), online: [], last_seq: 250, heartbeat: 15 });
  const page = (messages, has_more) => ({
    type: "history",
    messages,
    has_more,
    resumed: true,
    reset: false,
    query: null,
  });
  next.receive(page(range(4, 120), true));
  assert.deepEqual(sentOfType(next, "message"), [], "re-sent before the resume was complete");
  const mine = message(250, { author: "ann", body: stored.body, client_id: stored.client_id });
  next.receive(page([...range(121, 249), mine], false));
  assert.deepEqual(onScreen(), range(1, 250).map((m) => m.seq));
  assert.deepEqual(sentOfType(next, "message"), [lost]);
  assert.deepEqual(pending(), [{ body: "lost", state: "sending", status: "Sending…" }]);
});

test("a message written while disconnected waits, then goes once the room is back", async () => {
  const ws = await openRoom();
  connect(ws);
  ws.serverClose(1006);
  write("offline note");
  assert.deepEqual(pending(), [{ body: "offline note", state: "sending", status: "Waiting for the connection…" }]);
  mock.timers.tick(30_000); // not failed while it could not even be sent
  assert.equal(pending()[0].state, "sending");
  connect(FakeWebSocket.last, { resumed: true });
  assert.equal(sentOfType(FakeWebSocket.last, "message").length, 1);
});

test("a message sent just before the connection dropped does not fail while reconnecting", async () => {
  const ws = await openRoom();
  connect(ws);
  write("hello");
  ws.serverClose(1006);
  mock.timers.tick(30_000); // the server stays unreachable: retries time out one after another
  assert.equal(pending()[0].state, "sending");
  connect(FakeWebSocket.last, { resumed: true });
  assert.equal(sentOfType(FakeWebSocket.last, "message").length, 1);
});

test("a message with no ack in 10 s while connected is marked failed", async () => {
  const ws = await openRoom();
  connect(ws);
  write("hello");
  mock.timers.tick(9_999);
  assert.equal(pending()[0].state, "sending");
  ws.receive({ type: "heartbeat", last_seq: 0, online: 2 });
  mock.timers.tick(1);
  assert.equal(pending()[0].state, "failed");
});

test("a room that does not exist says so, closes the composer and stops trying", async () => {
  const ws = await openRoom();
  ws.open();
  ws.serverClose(4404);
  assert.equal($("conn").textContent, "No such room");
  assert.equal($("body").disabled, true);
  assert.equal($("gone-note").hidden, false);
  mock.timers.tick(60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
});

test("the read mark follows what a visible page shows", async () => {
  const ws = await openRoom({ readMark: 2 });
  connect(ws, { lastSeq: 5, messages: range(1, 5) });
  assert.equal(storage.getItem("chat:read:general"), "5");
  ws.receive(message(6));
  assert.equal(storage.getItem("chat:read:general"), "6");
});

test("on load, a 'New messages' divider sits above the first unread message", async () => {
  const ws = await openRoom({ readMark: 3 });
  connect(ws, { lastSeq: 5, messages: range(1, 5) });
  const items = $("timeline").children;
  const divider = items.findIndex((item) => item.classList.contains("sep--new"));
  assert.ok(divider > 0, "no divider");
  assert.equal(items[divider + 1].dataset.seq, "4");
  assert.ok(items[divider].scrolledIntoView, "the reader should land on the divider");
});

test("a hidden tab counts others' new messages in its title and keeps them unread", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 2, messages: range(1, 2) });
  ws.receive(message(3));
  assert.equal(doc.title, "General · Chat", "a visible page has nothing unread");
  doc.setVisibility("hidden");
  ws.receive(message(4));
  ws.receive(message(5));
  ws.receive(message(6, { author: "ann", client_id: "x" })); // your own, from another tab
  assert.equal(doc.title, "(2) General · Chat");
  assert.equal(storage.getItem("chat:read:general"), "3");
  doc.setVisibility("visible");
  assert.equal(doc.title, "General · Chat");
  assert.equal(storage.getItem("chat:read:general"), "6");
  const items = $("timeline").children;
  const divider = items.findIndex((item) => item.classList.contains("sep--new"));
  assert.equal(items[divider + 1].dataset.seq, "4");
});

test("other rooms' links are marked unread, this room's is not", async () => {
  const ws = await openRoom({ otherRooms: [["general", 9], ["random", 4], ["quiet", 0]] });
  connect(ws);
  const unread = doc
    .querySelectorAll("a[data-slug]")
    .filter((link) => link.classList.contains("has-unread"))
    .map((link) => link.dataset.slug);
  assert.deepEqual(unread, ["random"]);
});

test("someone else typing is shown; your own typing frames are not", async () => {
  const ws = await openRoom();
  connect(ws);
  ws.receive({ type: "typing", user: user("ann") });
  assert.equal($("typing").classList.contains("is-active"), false);
  ws.receive({ type: "typing", user: user("bob") });
  assert.equal($("typing").textContent, "bob is typing…");
  ws.receive(message(1, { author: "bob" }));
  assert.equal($("typing").classList.contains("is-active"), false, "bob's message should end his typing");
});

test("someone typing under your name is shown; your own typing (your id) is not", async () => {
  const ws = await openRoom();
  connect(ws);
  const otherAnn = user("ann", true, "00000000000000a2");
  ws.receive({ type: "typing", user: user("ann") }); // your other tab
  assert.equal($("typing").classList.contains("is-active"), false);
  ws.receive({ type: "typing", user: otherAnn });
  assert.equal($("typing").textContent, "ann is typing…");
  ws.receive({ type: "typing", user: user("bob") });
  assert.equal($("typing").textContent, "ann and bob are typing…");
  ws.receive(message(1, { author: otherAnn }));
  assert.equal($("typing").textContent, "bob is typing…", "the other ann's message should end her typing");
});

test("a message by someone else who took your name is not yours: not styled mine, counted unread", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [message(1, { author: "ann" })] });
  doc.setVisibility("hidden");
  const otherAnn = user("ann", false, "00000000000000a2");
  ws.receive(message(2, { author: otherAnn, client_id: "theirs" }));
  ws.receive(message(3, { author: "ann", client_id: "mine" })); // yours, from another tab
  const mine = $("timeline").querySelectorAll(".msg").map((item) => item.classList.contains("msg--mine"));
  assert.deepEqual(mine, [true, false, true]);
  assert.equal(doc.title, "(1) General · Chat", "the other ann's message is news to you");
  assert.equal($("announcer").textContent, "ann: message 2");
});

test("you are who welcome says, by id: the page's name is only a label until then", async () => {
  const ws = await openRoom({ you: "ann" });
  ws.open();
  // A renamed guest: the page was rendered as "ann", the server knows them as "anna" now, and
  // someone else is called "anna" too.
  const me = user("anna", true, "00000000000000a9");
  const otherAnna = user("anna", false, "00000000000000aa");
  ws.receive({ type: "welcome", room: ROOM, you: me, online: [me, otherAnna], last_seq: 3, heartbeat: 15 });
  const history = [message(1, { author: "ann" }), message(2, { author: me }), message(3, { author: otherAnna })];
  ws.receive(answer(history, null));
  assert.equal($("you-name").textContent, "anna");
  const mine = $("timeline").querySelectorAll(".msg").map((item) => item.classList.contains("msg--mine"));
  assert.deepEqual(mine, [false, true, false]);
  const marked = $("members").querySelectorAll(".member--you");
  assert.deepEqual(marked.map((item) => item.querySelector(".member-name").textContent), ["anna"]);
  assert.deepEqual(marked[0].querySelectorAll(".badge").map((badge) => badge.textContent), ["guest", "you"]);
});

test("typing sends one typing frame per 2 s, and none for blank input", async () => {
  const ws = await openRoom();
  connect(ws);
  type("   ");
  assert.equal(sentOfType(ws, "typing").length, 0);
  for (let i = 1; i <= 10; i += 1) {
    type("h".repeat(i));
    mock.timers.tick(300); // 3 s of typing
  }
  assert.equal(sentOfType(ws, "typing").length, 2);
});

test("presence frames add and remove people with a notice in the conversation", async () => {
  const ws = await openRoom();
  connect(ws, { online: [user("ann")] });
  ws.receive({ type: "presence", event: "join", user: user("carol"), online: 2 });
  ws.receive({ type: "presence", event: "join", user: user("carol"), online: 2 }); // a second tab
  ws.receive({ type: "presence", event: "leave", user: user("carol"), online: 1 });
  const notices = $("timeline").querySelectorAll(".notice").map((item) => item.querySelector("span").textContent);
  assert.deepEqual(notices, ["carol joined", "carol left"]);
  assert.equal(doc.querySelector("[data-online-for]").textContent, "1");
});

test("a batch of presence changes updates the list and says who came and went in one notice each", async () => {
  const ws = await openRoom();
  connect(ws, { online: [user("ann"), user("dan")] });
  const changes = [
    { event: "join", user: user("carol") },
    { event: "join", user: user("ann") }, // you: listed already, no notice
    { event: "join", user: user("erin") },
    { event: "join", user: user("fay") },
    { event: "leave", user: user("dan") },
    { event: "join", user: user("gus") },
  ];
  ws.receive({ type: "presence", event: "batch", changes, online: 5 });
  const notices = $("timeline").querySelectorAll(".notice").map((item) => item.querySelector("span").textContent);
  assert.deepEqual(notices, ["carol, erin and 2 others joined", "dan left"]);
  const listed = $("members").querySelectorAll(".member-name").map((node) => node.textContent);
  assert.deepEqual(listed, ["ann", "carol", "erin", "fay", "gus"]);
  assert.equal(doc.querySelector("[data-online-for]").textContent, "5");
});

test("two people called bob are two members; when one leaves, 'bob left' and the other stays", async () => {
  const ws = await openRoom();
  const bob = user("bob");
  const guestBob = user("bob", true, "00000000000000b2");
  connect(ws, { online: [user("ann"), bob] });
  ws.receive({ type: "presence", event: "join", user: guestBob, online: 3 });
  const listed = () => $("members").querySelectorAll(".member-name").map((node) => node.textContent);
  assert.deepEqual(listed(), ["ann", "bob", "bob"], "the second bob was taken for the first");
  ws.receive({ type: "presence", event: "join", user: guestBob, online: 3 }); // their second tab
  ws.receive({ type: "presence", event: "leave", user: bob, online: 2 });
  const notices = $("timeline").querySelectorAll(".notice").map((item) => item.querySelector("span").textContent);
  assert.deepEqual(notices, ["bob joined", "bob left"]);
  assert.deepEqual(listed(), ["ann", "bob"]);
  const [stayed] = $("members")
    .querySelectorAll(".member")
    .filter((item) => item.querySelector(".member-name").textContent === "bob");
  assert.deepEqual(stayed.querySelectorAll(".badge").map((badge) => badge.textContent), ["guest"], "the wrong bob left");
  assert.equal(doc.querySelector("[data-online-for]").textContent, "2");
});

test("a batch with namesakes names each arrival, and someone of your name is not you", async () => {
  const ws = await openRoom();
  connect(ws, { online: [user("ann")] });
  const changes = [
    { event: "join", user: user("bob") },
    { event: "join", user: user("bob", true, "00000000000000b2") },
    { event: "join", user: user("ann") }, // you: listed already, no notice
    { event: "join", user: user("ann", true, "00000000000000a2") }, // not you
  ];
  ws.receive({ type: "presence", event: "batch", changes, online: 4 });
  const notices = $("timeline").querySelectorAll(".notice").map((item) => item.querySelector("span").textContent);
  assert.deepEqual(notices, ["bob, bob and 1 other joined"]);
  const listed = $("members").querySelectorAll(".member-name").map((node) => node.textContent);
  assert.deepEqual(listed, ["ann", "ann", "bob", "bob"]);
});

test("an older server without ids: people go by name and nothing breaks", async () => {
  const ws = await openRoom();
  ws.open();
  const old = (name) => ({ name, guest: false });
  const online = [old("ann"), old("bob")];
  ws.receive({ type: "welcome", room: ROOM, you: old("ann"), online, last_seq: 2, heartbeat: 15 });
  ws.receive(answer([message(1, { author: old("ann") }), message(2, { author: old("bob") })], null));
  const mine = $("timeline").querySelectorAll(".msg").map((item) => item.classList.contains("msg--mine"));
  assert.deepEqual(mine, [true, false]);
  ws.receive({ type: "typing", user: old("ann") });
  assert.equal($("typing").classList.contains("is-active"), false, "your own typing shown");
  ws.receive({ type: "typing", user: old("bob") });
  assert.equal($("typing").textContent, "bob is typing…");
  ws.receive({ type: "typing", user: {} });
  ws.receive({ type: "typing" });
  ws.receive({ type: "presence", event: "join", user: old("bob"), online: 2 }); // listed already
  ws.receive({ type: "presence", event: "join", user: old("cy"), online: 3 });
  ws.receive({ type: "presence", event: "leave", user: old("bob"), online: 2 });
  ws.receive({ type: "presence", event: "join", online: 2 }); // no user at all
  const notices = $("timeline").querySelectorAll(".notice").map((item) => item.querySelector("span").textContent);
  assert.deepEqual(notices, ["cy joined", "bob left"]);
  assert.equal($("typing").classList.contains("is-active"), false, "bob's leaving should end his typing");
  const listed = $("members").querySelectorAll(".member-name").map((node) => node.textContent);
  assert.deepEqual(listed, ["ann", "cy"]);
  assert.equal($("you-name").textContent, "ann");
});

test("names in a notice: one, two, then the first two and a count", async () => {
  const { namesNotice } = await import("../../chat/static/chat/room.js");
  assert.equal(namesNotice(["ann"], "joined"), "ann joined");
  assert.equal(namesNotice(["ann", "bob"], "left"), "ann and bob left");
  assert.equal(namesNotice(["ann", "bob", "cy"], "joined"), "ann, bob and 1 other joined");
  assert.equal(namesNotice(["ann", "bob", "cy", "dee"], "joined"), "ann, bob and 2 others joined");
});

test("an archived room (room frame) closes the composer, unarchiving reopens it", async () => {
  const ws = await openRoom();
  connect(ws);
  ws.receive({ type: "room", room: { ...ROOM, name: "General (old)", archived: true } });
  assert.equal($("body").disabled, true);
  assert.equal($("room-name").textContent, "General (old)");
  assert.equal(doc.title, "General (old) · Chat");
  ws.receive({ type: "room", room: ROOM });
  assert.equal($("body").disabled, false);
});

test("Load older asks for the page before the oldest message and shows it above", async () => {
  const ws = await openRoom();
  ws.open();
  ws.receive({ type: "welcome", room: ROOM, you: user("ann"), online: [], last_seq: 100, heartbeat: 15 });
  ws.receive(answer(range(51, 100), null, { has_more: true }));
  assert.equal($("load-older").hidden, false);
  $("load-older").click();
  assert.deepEqual(sentOfType(ws, "history"), [{ type: "history", before: 51, limit: 50 }]);
  assert.equal($("load-older").disabled, true);
  ws.receive(answer(range(1, 50), { before: 51, after: null, limit: 50 }));
  assert.deepEqual(onScreen(), range(1, 100).map((m) => m.seq));
  assert.equal($("load-older").hidden, true);
});

test("a stored message that a reset history leaves out of view does not stay in the outbox", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3) });
  write("hello");
  const [sent] = sentOfType(ws, "message");
  ws.receive({ type: "ack", client_id: sent.client_id, seq: 4 }); // stored; its broadcast is lost
  assert.equal(pending()[0].state, "sent");
  ws.serverClose(1012);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  next.open();
  next.receive({ type: "welcome", room: ROOM, you: user("ann"), online: [], last_seq: 700, heartbeat: 15 });
  // Too far behind to resume: the newest page, and message 4 is somewhere in "load older".
  next.receive({ type: "history", messages: range(651, 700), has_more: true, resumed: false, reset: true, query: null });
  assert.deepEqual(onScreen(), range(651, 700).map((m) => m.seq));
  assert.deepEqual(pending(), []);
});

// -- Edits, deletions and moderation ------------------------------------------------------------

// A message sent `age` seconds before the mocked now (12:00): within the edit window or not.
const recent = (seq, { author = "ann", body = `message ${seq}`, age = 60 } = {}) => ({
  ...message(seq, { author, body }),
  sent_at: new Date(Date.UTC(2026, 10, 21, 12) - age * 1000).toISOString(),
  edited_at: null,
});
const item = (seq) => $("timeline").querySelectorAll(".msg").find((node) => node.dataset.seq === String(seq));
const bodies = () => $("timeline").querySelectorAll(".msg .body").map((node) => node.textContent);
const controls = (seq) => item(seq).querySelectorAll(".msg-actions button").map((node) => node.getAttribute("aria-label"));
const press = (seq, label) =>
  item(seq)
    .querySelectorAll("button")
    .find((node) => (node.getAttribute("aria-label") ?? node.textContent) === label) // its accessible name
    .click();
const notices = () => $("timeline").querySelectorAll(".notice").map((node) => node.querySelector("span").textContent);
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("an edit replaces the message where it was and marks it edited", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3), rights: READER, lastChange: 0 });
  const edited = { ...message(2, { body: "message 2, fixed" }), edited_at: "2026-11-21T11:30:00.000000Z" };
  ws.receive({ type: "edited", message: edited, change: 1 });
  assert.deepEqual(onScreen(), [1, 2, 3]);
  assert.deepEqual(bodies(), ["message 1", "message 2, fixed", "message 3"]);
  assert.equal(item(2).querySelector(".edited").textContent, "(edited)");
  assert.equal(item(3).querySelector(".edited"), null);
});

test("an edit of a message the page did not have yet shows it", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 2, messages: range(1, 2), rights: READER, lastChange: 0 });
  const edited = { ...message(3, { body: "late and edited" }), edited_at: "2026-11-21T11:30:00.000000Z" };
  ws.receive({ type: "edited", message: edited, change: 1 }); // 3's own broadcast was lost
  assert.deepEqual(onScreen(), [1, 2, 3]);
  assert.equal(item(3).querySelector(".edited").textContent, "(edited)");
});

test("a deleted message goes, and a copy of it that comes later is not shown", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3), rights: READER, lastChange: 0 });
  ws.receive({ type: "deleted", seq: 2, change: 1 });
  ws.receive({ type: "deleted", seq: 4, change: 2 }); // deleted before its broadcast arrived
  ws.receive(message(2));
  ws.receive(message(4));
  ws.receive(message(5));
  assert.deepEqual(onScreen(), [1, 3, 5]);
  mock.timers.tick(GAP_GRACE_MS);
  assert.deepEqual(sentOfType(ws, "history"), [], "a deleted seq is no gap to fill");
});

test("the resume URL carries the highest change seen, and a resume's changes apply to what is shown", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 3, messages: range(1, 3), rights: READER, lastChange: 4 });
  ws.receive({ type: "deleted", seq: 3, change: 5 });
  ws.serverClose(1006);
  mock.timers.tick(500);
  const next = FakeWebSocket.last;
  assert.equal(next.url, "wss://chat.example.org/ws/rooms/general/?after=2&changes=5");
  next.open();
  next.receive({ type: "welcome", room: ROOM, you: user("ann"), rights: READER, online: [], last_seq: 4, last_change: 7 });
  const edited = { ...message(1, { body: "changed while away" }), edited_at: "2026-11-21T11:40:00.000000Z" };
  next.receive({ type: "changes", edited: [edited], deleted: [2], last_change: 7 });
  next.receive({ type: "history", messages: [message(4)], has_more: false, resumed: true, reset: false, query: null });
  assert.deepEqual(onScreen(), [1, 4]);
  assert.deepEqual(bodies(), ["changed while away", "message 4"]);
  next.serverClose(1006);
  mock.timers.tick(500);
  assert.equal(FakeWebSocket.last.url, "wss://chat.example.org/ws/rooms/general/?after=4&changes=7");
});

test("your recent message can be edited in place: the edit goes out and the answer replaces it", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 2, messages: [recent(1, { author: "bob" }), recent(2)], rights: READER, lastChange: 0 });
  assert.deepEqual(controls(1), [], "bob's message is not yours to change");
  assert.deepEqual(controls(2), ["Edit message", "Delete message"]);
  press(2, "Edit message");
  const editor = item(2).querySelector("textarea");
  editor.value = "message 2, better";
  editor.dispatchEvent({ type: "keydown", key: "Enter", shiftKey: false, isComposing: false });
  assert.deepEqual(sentOfType(ws, "edit"), [{ type: "edit", seq: 2, body: "message 2, better" }]);
  assert.deepEqual(sentOfType(ws, "message"), [], "the composer's Enter must not fire too");
  const edited = { ...recent(2, { body: "message 2, better" }), edited_at: new Date().toISOString() };
  ws.receive({ type: "edited", message: edited, change: 1 });
  assert.equal(item(2).querySelector("textarea"), null);
  assert.deepEqual(bodies(), ["message 1", "message 2, better"]);
});

test("a refused edit or deletion shows the server's reason in the alert", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [recent(1)], rights: READER, lastChange: 0 });
  press(1, "Delete message");
  press(1, "Delete");
  assert.deepEqual(sentOfType(ws, "delete"), [{ type: "delete", seq: 1 }]);
  ws.receive({ type: "error", code: "forbidden", detail: "Messages can be changed for 15 minutes after they are sent." });
  assert.equal($("alert").hidden, false);
  assert.equal($("alert").textContent, "Messages can be changed for 15 minutes after they are sent.");
  assert.deepEqual(onScreen(), [1]);
});

test("a moderator gets Mute and Ban on others' messages, and a notice when it is done", async () => {
  const ws = await openRoom();
  const rights = { ...READER, moderator: true };
  connect(ws, { lastSeq: 2, messages: [message(1, { author: "bob" }), message(2, { author: "ann" })], rights });
  assert.deepEqual(controls(1), ["Delete message", "Mute author", "Ban author"]);
  assert.deepEqual(controls(2), ["Delete message"], "no mute or ban of oneself");
  press(1, "Mute author");
  press(1, "1 hour");
  assert.deepEqual(sentOfType(ws, "mute"), [{ type: "mute", seq: 1, minutes: 60 }]);
  const until = new Date(Date.now() + 60 * 60_000).toISOString();
  ws.receive({ type: "sanctioned", action: "mute", user: user("bob"), until });
  ws.receive({ type: "sanctioned", action: "ban", user: user("bob"), until: null });
  assert.deepEqual(notices(), ["bob was muted for 60 minutes", "bob was banned"]);
});

test("slow mode: a moderator sets it from the page, and everyone sees the note", async () => {
  const ws = await openRoom();
  connect(ws, { rights: READER });
  assert.equal($("mod-tools").hidden, true, "only moderators set slow mode");
  ws.receive({ type: "rights", rights: { ...READER, moderator: true } });
  assert.equal($("mod-tools").hidden, false);
  const select = $("slow-mode");
  select.value = "30";
  select.dispatchEvent({ type: "change" });
  assert.deepEqual(sentOfType(ws, "slow_mode"), [{ type: "slow_mode", seconds: 30 }]);
  ws.receive({ type: "room", room: { ...ROOM, slow_mode: 30 } });
  assert.equal($("slow-note").hidden, false);
  assert.equal($("slow-note").textContent, "Slow mode: one message every 30 s");
  assert.equal($("body").disabled, false);
  ws.receive({ type: "room", room: { ...ROOM, slow_mode: 0 } });
  assert.equal($("slow-note").hidden, true);
  assert.equal(select.value, "0");
});

test("a message refused by slow mode fails with a Retry held back until it can work", async () => {
  const ws = await openRoom();
  connect(ws, { rights: READER, room: { ...ROOM, slow_mode: 30 } });
  write("too soon");
  const [frame] = sentOfType(ws, "message");
  const detail = "Slow mode: one message per 30 seconds.";
  ws.receive({ type: "error", code: "slow_mode", detail, client_id: frame.client_id, retry_after: 12 });
  assert.deepEqual(pending(), [{ body: "too soon", state: "failed", status: `Failed: ${detail} — Retry in 12 s · Discard` }]);
  assert.equal($("alert").hidden, true);
});

test("muted: the composer closes with a note until when, and opens again when the mute is lifted", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [recent(1)], rights: READER });
  const until = new Date(Date.now() + 3_600_000).toISOString();
  ws.receive({ type: "rights", rights: { ...READER, muted: true, muted_until: until } });
  assert.equal($("body").disabled, true);
  assert.equal($("muted-note").hidden, false);
  assert.match($("muted-note").textContent, /^You are muted in this room until /);
  assert.deepEqual(controls(1), [], "a muted author cannot change their messages either");
  ws.receive({ type: "rights", rights: READER });
  assert.equal($("body").disabled, false);
  assert.equal($("muted-note").hidden, true);
  assert.deepEqual(controls(1), ["Edit message", "Delete message"]);
});

test("a message refused as muted is final, and the composer closes even if no rights frame came", async () => {
  const ws = await openRoom();
  connect(ws, { rights: READER });
  write("hello");
  const [frame] = sentOfType(ws, "message");
  ws.receive({ type: "error", code: "muted", detail: "You are muted in this room.", client_id: frame.client_id });
  assert.deepEqual(pending(), [{ body: "hello", state: "failed", status: "Failed: You are muted in this room. — Discard" }]);
  assert.equal($("body").disabled, true);
  assert.equal($("muted-note").hidden, false);
});

test("banned (4403 on an open page): it says so, closes the composer and never comes back", async () => {
  const ws = await openRoom();
  connect(ws, { lastSeq: 1, messages: [recent(1)], rights: READER });
  server.respond("banned page", 403); // what the room page now answers this reader
  ws.serverClose(4403);
  assert.equal($("conn").textContent, "Not allowed");
  assert.equal($("body").disabled, true);
  assert.deepEqual(controls(1), [], "nothing to click in a room one has been sent out of");
  await settle();
  assert.deepEqual(server.calls.map((call) => call.url), ["https://chat.example.org/rooms/general/"]);
  assert.equal($("forbidden-note").hidden, false);
  assert.equal($("forbidden-note").textContent, "You were banned from this room.");
  assert.equal($("alert").textContent, "You were banned from this room.");
  mock.timers.tick(60_000);
  assert.equal($("alert").hidden, false, "a lasting state must not fade away");
  assert.equal(FakeWebSocket.instances.length, 1);
});

test("not allowed for another reason (4403, the page does not say banned): it says so", async () => {
  const ws = await openRoom();
  server.respond("members only", 404);
  ws.open();
  ws.serverClose(4403);
  await settle();
  assert.equal($("forbidden-note").textContent, "You are not allowed in this room.");
  assert.equal($("body").disabled, true);
  mock.timers.tick(60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
});
