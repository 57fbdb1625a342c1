// The room page: wires the socket, the timeline and the panels together and handles each frame.

import { MessageActions, sanctionNotice } from "./actions.js";
import { el } from "./dom.js";
import { pollOnline } from "./online.js";
import { Outbox } from "./outbox.js";
import { setupPanels } from "./panels.js";
import { personKey, samePerson } from "./people.js";
import { Members } from "./presence.js";
import { Follower } from "./scroll.js";
import { lastRead, markRead, markUnreadLinks } from "./seen.js";
import { RoomSocket } from "./socket.js";
import { FORBIDDEN_TEXT, Standing } from "./standing.js";
import { ConnectionStatus } from "./status.js";
import { Sync } from "./sync.js";
import { Timeline } from "./timeline.js";
import { throttle, TypingIndicator } from "./typing.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const slug = app.dataset.room;
const maxBody = Number(app.dataset.maxBody) || 4000;
// The reader's <user>. Only the name until welcome brings the id; nothing is shown before that.
let you = { name: app.dataset.you ?? "" };
let baseTitle = document.title;
let rights = null; // what the reader may do here (welcome, then `rights` frames)
// Read before anything is shown, which moves it forward: where the "new messages" divider goes.
const readAtLoad = lastRead(slug);

const actions = new MessageActions({
  send: (frame) => send(frame),
  notify: (text) => showAlert(text),
  fallbackFocus: $("log"),
  onExpiry: () => timeline.redecorate(),
});
const timeline = new Timeline($("timeline"), { you, decorate: (item, message) => actions.decorate(item, message) });
const follower = new Follower($("log"), $("jump"), $("jump-count"));
const status = new ConnectionStatus($("conn"));
const members = new Members($("members"), document.querySelectorAll(`[data-online-for="${CSS.escape(slug)}"]`), {
  you,
});
const typing = new TypingIndicator($("typing"));
const composer = $("composer");
const textarea = $("body");
const olderButton = $("load-older");
const slowModeSelect = $("slow-mode");
const standing = new Standing(
  {
    textarea,
    submit: composer.querySelector("button[type=submit]"),
    notes: {
      archived: $("archived-note"),
      gone: $("gone-note"),
      forbidden: $("forbidden-note"),
      muted: $("muted-note"),
      slow: $("slow-note"),
    },
  },
  { onChange: () => refreshControls() }, // a mute ran out
);

let socket = null;
const send = (frame) => socket !== null && socket.send(frame);

const outbox = new Outbox($("pending"), {
  send,
  // On screen, deleted already, or older than everything on screen (behind "load older", e.g.
  // after a reset).
  isShown: (seq) => timeline.has(seq) || timeline.gone(seq) || (timeline.size > 0 && seq < timeline.lowest),
  onChange: () => updateEmpty(),
});

const sync = new Sync({ timeline, send, show });

// -- Reading ---------------------------------------------------------------------------------

let hiddenUnread = 0;
let hiddenSince = null; // highest seq shown when the tab was hidden

function show(messages, how) {
  let added = [];
  if (how === "older") {
    follower.prepend(() => {
      added = timeline.insert(messages);
    });
  } else {
    const mine = messages.some((m) => samePerson(m.author, you) && m.client_id && how === "live");
    follower.append(
      () => {
        if (how === "reset") timeline.clear();
        added = timeline.insert(messages);
        return how === "reset" ? 0 : added.filter((m) => !samePerson(m.author, you)).length;
      },
      { force: how === "reset" || mine },
    );
  }
  if (how === "reset") markRead(slug, Math.min(lastRead(slug), timeline.highest), { force: true });
  outbox.delivered(added);
  if (how === "live" || how === "fill") arrived(added);
  seen();
  olderButton.hidden = !sync.olderAvailable;
  olderButton.disabled = false;
  olderButton.textContent = "Load older messages";
  updateEmpty();
}

function updateEmpty() {
  $("empty").hidden = !sync.started || timeline.size > 0 || sync.olderAvailable || outbox.pending > 0;
}

// New messages from others: announce them, stop their typing indicator, count them while hidden.
function arrived(messages) {
  const others = messages.filter((m) => !samePerson(m.author, you));
  for (const message of others) typing.stopped(message.author);
  // A catch-up after a reconnect can bring dozens at once: read out a count, not every one.
  if (others.length > 3) announce(`${others.length} new messages`);
  else for (const message of others) announce(`${message.author?.name ?? "unknown"}: ${message.body}`);
  if (document.visibilityState === "hidden" && others.length) {
    hiddenUnread += others.length;
    document.title = `(${hiddenUnread}) ${baseTitle}`;
  }
}

function announce(text) {
  const region = $("announcer");
  region.append(el("p", { text }));
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

function seen() {
  if (document.visibilityState === "visible" && timeline.size) markRead(slug, timeline.highest);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") {
    hiddenSince = timeline.highest;
    hiddenUnread = 0;
    return;
  }
  if (hiddenUnread > 0 && hiddenSince !== null) timeline.setDivider(hiddenSince);
  hiddenUnread = 0;
  document.title = baseTitle;
  seen();
});

olderButton.addEventListener("click", () => {
  if (sync.loadOlder()) {
    olderButton.disabled = true;
    olderButton.textContent = "Loading…";
  }
});

// -- The room and its people -----------------------------------------------------------------

function applyRoom(room) {
  $("room-name").textContent = room.name;
  $("room-topic").textContent = room.topic;
  $("room-topic").hidden = !room.topic;
  baseTitle = `${room.name} · Chat`;
  document.title = hiddenUnread ? `(${hiddenUnread}) ${baseTitle}` : baseTitle;
  for (const link of document.querySelectorAll(`a[data-slug="${CSS.escape(slug)}"] .room-name`)) {
    link.textContent = room.name;
  }
  standing.setArchived(room.archived);
  standing.setSlowMode(Number(room.slow_mode) || 0);
  showSlowMode(Number(room.slow_mode) || 0);
  refreshControls();
}

// -- What the reader may do ------------------------------------------------------------------

function applyRights(next) {
  if (next === null || typeof next !== "object") return;
  rights = next;
  standing.setMuted(next.muted, next.muted_until);
  refreshControls();
}

// Every message's controls follow the reader's rights, the room's state and the page's.
function refreshControls() {
  actions.you = you;
  actions.rights = rights === null ? null : { ...rights, muted: standing.muted };
  actions.archived = standing.archived;
  actions.closed = standing.gone || standing.forbidden !== null;
  timeline.redecorate();
  const tools = $("mod-tools");
  if (tools) tools.hidden = rights?.moderator !== true || actions.closed;
}

function showSlowMode(seconds) {
  if (!slowModeSelect) return;
  const value = String(seconds);
  const options = Array.from(slowModeSelect.querySelectorAll("option"));
  if (!options.some((option) => option.getAttribute("value") === value)) {
    // Set to something else in the admin: listed as it is, so that the control tells the truth.
    slowModeSelect.append(el("option", { text: `${seconds} s`, attrs: { value } }));
  }
  slowModeSelect.value = value;
}

slowModeSelect?.addEventListener("change", () => {
  const seconds = Number(slowModeSelect.value);
  if (!send({ type: "slow_mode", seconds })) showAlert("Not connected. Try again in a moment.");
  // The room frame that follows (to every page, this one too) is the truth; until then, the choice.
});

// 4403 says "not allowed" and not why; the room page does: 403 for a ban (chat/banned.html), 404
// for a members-only room, a redirect to log in for a room closed to guests.
async function whyForbidden() {
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", redirect: "manual" });
    return response.status === 403 ? "banned" : "denied";
  } catch {
    return "denied";
  }
}

async function forbidden() {
  standing.setForbidden("denied");
  refreshControls();
  const reason = await whyForbidden();
  standing.setForbidden(reason);
  showAlert(FORBIDDEN_TEXT[reason], { stay: true });
}

// -- Edits and deletions ---------------------------------------------------------------------

// An edited message takes its old place, or comes in as a new one if it was not shown.
function edited(message, { insert = true } = {}) {
  if (message?.room !== undefined && message.room !== slug) return;
  if (!Number.isSafeInteger(message?.seq) || timeline.gone(message.seq)) return;
  let item = null;
  follower.append(() => {
    item = timeline.replace(message);
    return 0;
  });
  if (item) {
    actions.settled(message.seq, item);
    return;
  }
  // Behind "Load older" (that page brings it as it is now), or a resume's change to a message this
  // page does not hold: nothing to show.
  if (!insert || (timeline.size > 0 && message.seq < timeline.lowest && sync.olderAvailable)) return;
  sync.message(message);
}

function deleted(seq) {
  if (!Number.isSafeInteger(seq)) return;
  follower.append(() => {
    timeline.remove(seq);
    return 0;
  });
  actions.settled(seq, null);
  outbox.delivered([]); // one of ours, deleted before its copy came: it is not "sent" any more
  updateEmpty();
}

function notice(text, kind) {
  follower.append(() => {
    timeline.notice(text, kind);
    return 0;
  });
}

// Applies one change; returns the name when it changed who is listed (and is not you). The list
// is keyed by person, so when one of two "bob"s leaves the notice says "bob left" and the other
// bob stays listed.
function presenceChange(event, user, online) {
  if (personKey(user) === null) return null;
  const name = user.name ?? "";
  if (event === "join") {
    return members.join(user, online) && !samePerson(user, you) ? name : null;
  }
  if (event === "leave") {
    typing.stopped(user);
    return members.leave(user, online) && !samePerson(user, you) ? name : null;
  }
  return null;
}

// "ann joined", "ann and bob joined", "ann, bob and 3 others joined".
export function namesNotice(names, verb) {
  if (names.length === 1) return `${names[0]} ${verb}`;
  if (names.length === 2) return `${names[0]} and ${names[1]} ${verb}`;
  const others = names.length - 2;
  return `${names[0]}, ${names[1]} and ${others} other${others === 1 ? "" : "s"} ${verb}`;
}

function presence(frame) {
  if (frame.event !== "batch") {
    const name = presenceChange(frame.event, frame.user, frame.online);
    if (name) notice(`${name} ${frame.event === "join" ? "joined" : "left"}`, frame.event);
    return;
  }
  // Changes that happened close together (a busy room): one notice per kind, not one per person.
  const changed = { join: [], leave: [] };
  for (const change of frame.changes ?? []) {
    const name = presenceChange(change.event, change.user, frame.online);
    if (name) changed[change.event].push(name);
  }
  if (changed.join.length) notice(namesNotice(changed.join, "joined"), "join");
  if (changed.leave.length) notice(namesNotice(changed.leave, "left"), "leave");
}

let alertTimer = null;
// `stay`: for what does not change by itself (the page may not be in the room any more).
function showAlert(text, { stay = false } = {}) {
  const node = $("alert");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(alertTimer);
  if (stay) return;
  alertTimer = setTimeout(() => {
    node.hidden = true;
  }, 8000);
}

function refused(frame) {
  const detail = typeof frame.detail === "string" && frame.detail ? frame.detail : `Refused (${frame.code}).`;
  const retryAfter = Number(frame.retry_after) || 0;
  if (frame.code === "read_only") {
    standing.setArchived(true);
    refreshControls();
  } else if (frame.code === "muted") {
    // The `rights` frame may have been lost on the way; the refusal says as much (and until when).
    standing.setMuted(true, retryAfter > 0 ? new Date(Date.now() + retryAfter * 1000).toISOString() : null);
    refreshControls();
  }
  if (frame.client_id && outbox.refuse(frame.client_id, { code: frame.code, detail, retryAfter })) return;
  // Edits, deletions, sanctions and slow mode carry no client_id: their refusals land here.
  actions.refused();
  showSlowMode(standing.slowMode); // a refused choice of slow mode does not stay chosen
  showAlert(detail);
}

// -- Frames ----------------------------------------------------------------------------------

let firstHistory = true;

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      if (personKey(frame.you) !== null) you = frame.you;
      timeline.you = you;
      members.you = you;
      $("you-name").textContent = you.name ?? "";
      // In a big room `online` lists only as many as fit one frame; `online_count` counts everyone.
      members.reset(frame.online ?? [], frame.online_count);
      applyRights(frame.rights);
      applyRoom(frame.room);
      sync.welcome(frame);
      break;
    case "history": {
      // A long resume comes as several pages ("resuming" until the last): re-send the outbox once,
      // after the last, so that what the history shows as stored is not sent again.
      const kind = sync.history(frame);
      if (kind === "initial") {
        if (firstHistory) {
          firstHistory = false;
          if (readAtLoad > 0) timeline.setDivider(readAtLoad);
          const divider = $("timeline").querySelector(".sep--new");
          if (divider) divider.scrollIntoView({ block: "center" });
          else follower.toBottom();
        }
        outbox.resend();
      }
      break;
    }
    case "message":
      if (frame.room === slug) sync.message(frame);
      break;
    case "ack":
      outbox.ack(frame.client_id, frame.seq);
      break;
    case "presence":
      presence(frame);
      break;
    case "typing":
      if (!samePerson(frame.user, you)) typing.saw(frame.user); // a namesake's typing is shown
      break;
    case "edited":
      sync.changed(frame.change);
      edited(frame.message);
      break;
    case "deleted":
      sync.changed(frame.change);
      deleted(frame.seq);
      break;
    case "changes":
      // On a resume, before its history: what became of the messages this page holds. The cursor
      // moves on with that history (Sync), not here: more such frames may follow.
      for (const message of frame.edited ?? []) edited(message, { insert: false });
      for (const seq of frame.deleted ?? []) deleted(seq);
      break;
    case "room":
      applyRoom(frame.room);
      break;
    case "rights":
      applyRights(frame.rights);
      break;
    case "sanctioned":
      notice(sanctionNotice(frame), "info");
      break;
    case "heartbeat":
      members.count(frame.online);
      sync.heartbeat(frame);
      break;
    case "error":
      refused(frame);
      break;
    default:
      break; // newer servers may add frames; ignore what we do not know
  }
}

function onState(state, detail) {
  status.show(state, detail);
  app.dataset.conn = state;
  if (state !== "open") outbox.pause();
  if (state === "gone") {
    standing.setGone();
    refreshControls();
  } else if (state === "forbidden") {
    forbidden();
  }
}

// -- Composing -------------------------------------------------------------------------------

const sendTyping = throttle(() => send({ type: "typing" }));
const counter = $("counter");

function bodyLength() {
  return Array.from(textarea.value).length; // the server counts code points, not UTF-16 units
}

function updateCounter() {
  const length = bodyLength();
  const over = length > maxBody;
  counter.hidden = length < maxBody * 0.9;
  const plural = (n) => (n === 1 ? "character" : "characters");
  const excess = length - maxBody;
  counter.textContent = over ? `${excess} ${plural(excess)} too long` : `${-excess} ${plural(-excess)} left`;
  counter.classList.toggle("is-over", over);
  textarea.setAttribute("aria-invalid", over ? "true" : "false");
}

function autosize() {
  textarea.style.height = "auto";
  textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
}

textarea.addEventListener("input", () => {
  updateCounter();
  autosize();
  if (textarea.value.trim()) sendTyping();
});

textarea.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = textarea.value.replace(/\s+$/u, "");
  if (!body.trim() || standing.closed) return;
  if (Array.from(body).length > maxBody) {
    updateCounter();
    textarea.focus();
    return;
  }
  outbox.submit(body);
  textarea.value = "";
  updateCounter();
  autosize();
  follower.toBottom();
  textarea.focus();
});

// -- Start -----------------------------------------------------------------------------------

setupPanels(app);
markUnreadLinks(document, { except: slug });
standing.setArchived(app.dataset.archived === "true");
// The other rooms' counts; this room's come live over the socket.
pollOnline({ except: slug });
socket = new RoomSocket({
  slug,
  resumeAfter: () => sync.resumeAfter(),
  resumeChanges: () => sync.resumeChanges(),
  onFrame,
  onState,
});
socket.start();
