// What the reader can do with a message: edit and delete their own for a while after sending it,
// and, as a moderator, delete any message and mute or ban its author. Real buttons in each message,
// an inline editor and an inline confirmation: a browser dialog would block the page (and its tests).

import { el } from "./dom.js";
import { samePerson } from "./people.js";

// A short choice, not a free field: moderators act in the middle of a conversation.
export const MUTE_CHOICES = Object.freeze([
  { label: "10 minutes", minutes: 10 },
  { label: "1 hour", minutes: 60 },
  { label: "1 day", minutes: 1440 },
]);

// Which controls a message gets. `rights` is welcome's (or the last `rights` frame's); the server
// checks again on every request, so this only spares the reader buttons that cannot work.
export function allowedActions(message, { you, rights, archived = false, now = Date.now() }) {
  if (!rights || !message) return { edit: false, delete: false, sanction: false };
  const own = samePerson(message.author, you);
  const sent = Date.parse(message.sent_at);
  const recent = Number.isFinite(sent) && now - sent < (Number(rights.edit_window) || 0) * 1000;
  // An archived room or a mute refuses the author's own changes; a moderator may always delete.
  const ownChange = own && recent && !archived && !rights.muted;
  const moderator = rights.moderator === true;
  return { edit: ownChange, delete: ownChange || moderator, sanction: moderator && !own };
}

// "60 minutes", "2 hours", "1 day": how long a sanction lasts, for the notice that confirms it.
export function duration(minutes) {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (minutes >= 1440 && minutes % 1440 === 0) return plural(minutes / 1440, "day");
  if (minutes >= 120 && minutes % 60 === 0) return plural(minutes / 60, "hour");
  return plural(minutes, "minute");
}

// The notice for a `sanctioned` frame: "bob was muted for 60 minutes", "bob was banned".
export function sanctionNotice(frame, now = Date.now()) {
  const name = frame.user?.name ?? "someone";
  const verb = frame.action === "ban" ? "banned" : "muted";
  const until = frame.until ? Date.parse(frame.until) : NaN;
  if (!Number.isFinite(until)) return `${name} was ${verb}`;
  return `${name} was ${verb} for ${duration(Math.max(1, Math.round((until - now) / 60_000)))}`;
}

// The text and its "(edited)" mark, hidden while the editor stands in for them.
const shownText = (main) =>
  Array.from(main.children).filter((node) => node.classList.contains("body") || node.classList.contains("edited"));

// Focus was on something that is gone (a replaced or deleted message): the browser left it on <body>.
function focusLost() {
  const active = document.activeElement;
  return !active || active === document.body || active.isConnected === false;
}

// `label`: the accessible name when the visible text alone would be too short ("Edit" -> "Edit
// message"); it starts with that text, so that a voice command naming what is seen still works.
function button(text, label, onClick, className = "msg-action") {
  const attrs = { type: "button", "aria-label": label === text ? null : label };
  const node = el("button", { className, text, attrs });
  node.addEventListener("click", onClick);
  return node;
}

export class MessageActions {
  // send(frame) -> bool (false while disconnected); notify(text) shows a problem in the alert area;
  // fallbackFocus: where focus goes when the message it was in is deleted; onExpiry() runs when an
  // own message's edit window ends, to decorate the messages again (Timeline.redecorate).
  constructor({ send, notify, fallbackFocus = null, onExpiry = () => {}, now = () => Date.now() }) {
    this.send = send;
    this.notify = notify;
    this.fallbackFocus = fallbackFocus;
    this.onExpiry = onExpiry;
    this.now = now;
    this.expiry = null; // the earliest end of an edit window now shown, with its timer
    this.expiryTimer = null;
    this.you = null;
    this.rights = null; // null until welcome: no controls before the server says what we may do
    this.archived = false;
    this.closed = false; // the page is done with the room (gone, forbidden): no controls at all
    this.editors = new Map(); // seq -> an open editor: { item, form, textarea, save, saving }
    this.deleting = new Set(); // seqs we asked to delete: focus must not vanish with them
  }

  // The Timeline's decorate hook: (re)builds the message's row of controls.
  decorate(item, message) {
    for (const old of item.querySelectorAll(":scope > .msg-actions")) old.remove();
    if (this.closed || !message) return;
    const { you, rights, archived } = this;
    const can = allowedActions(message, { you, rights, archived, now: this.now() });
    const name = message.author?.name ?? "this person";
    const seq = message.seq;
    const controls = [];
    if (can.edit) {
      controls.push(button("Edit", "Edit message", () => this.edit(item, message)));
      this.expireAt(Date.parse(message.sent_at) + Number(this.rights.edit_window) * 1000);
    }
    if (can.delete) {
      const del = button("Delete", "Delete message", () =>
        this.confirm(item, del, "Delete this message?", [{ label: "Delete", frame: { type: "delete", seq } }]),
      );
      controls.push(del);
    }
    if (can.sanction) {
      const mute = button("Mute", "Mute author", () =>
        this.confirm(
          item,
          mute,
          `Mute ${name} for`,
          MUTE_CHOICES.map(({ label, minutes }) => ({ label, frame: { type: "mute", seq, minutes } })),
        ),
      );
      const ban = button("Ban", "Ban author", () =>
        this.confirm(item, ban, `Ban ${name} from this room?`, [
          { label: "Ban", frame: { type: "ban", seq, minutes: null } },
        ]),
      );
      controls.push(mute, ban);
    }
    // An open editor stays even if the window passes meanwhile: the server's refusal says why.
    if (!controls.length) return;
    const attrs = { role: "group", "aria-label": "Message actions" };
    item.append(el("div", { className: "msg-actions", attrs }, controls));
  }

  // One timer for the earliest window to end: redecorating then sets the next.
  expireAt(when) {
    const now = this.now();
    if (this.expiry !== null && this.expiry > now && this.expiry <= when) return;
    clearTimeout(this.expiryTimer);
    this.expiry = when;
    this.expiryTimer = setTimeout(() => {
      this.expiry = null;
      this.onExpiry();
    }, Math.max(0, when - now) + 100); // a little after: decorate must find the window passed
  }

  // -- Editing ----------------------------------------------------------------------------------

  edit(item, message) {
    const open = this.editors.get(message.seq);
    if (open && open.item === item) {
      open.textarea.focus();
      return;
    }
    const main = item.querySelector(".msg-main");
    const shown = shownText(main);
    const textarea = el("textarea", {
      className: "msg-editor-input",
      attrs: { "aria-label": "Edit message", rows: "2" },
    });
    textarea.value = message.body;
    const save = el("button", { className: "button", text: "Save", attrs: { type: "submit" } });
    const cancel = el("button", { className: "button button--quiet", text: "Cancel", attrs: { type: "button" } });
    const form = el("form", { className: "msg-editor", dataset: { state: "editing" } }, [
      textarea,
      el("div", { className: "msg-editor-bar" }, [
        save,
        cancel,
        el("span", { className: "msg-editor-hint", text: "Enter to save · Escape to cancel" }),
      ]),
    ]);
    const editor = { item, form, textarea, save, saving: false };
    for (const node of shown) node.hidden = true;
    main.append(form);
    this.editors.set(message.seq, editor);
    const close = () => {
      this.closeEditor(message.seq);
      item.querySelector(".msg-actions button")?.focus();
    };
    cancel.addEventListener("click", close);
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (editor.saving) return;
      const body = textarea.value.replace(/\s+$/u, "");
      if (body === message.body) {
        close(); // nothing changed: nothing to send (the server would not answer either)
        return;
      }
      if (!body.trim()) {
        this.notify("A message cannot be empty. Delete it instead.");
        return;
      }
      if (!this.send({ type: "edit", seq: message.seq, body })) {
        this.notify("Not connected. Try again in a moment.");
        return;
      }
      this.setSaving(editor, true);
    });
    textarea.focus();
  }

  setSaving(editor, saving) {
    editor.saving = saving;
    editor.form.dataset.state = saving ? "saving" : "editing";
    editor.textarea.readOnly = saving;
    editor.save.disabled = saving;
    editor.save.textContent = saving ? "Saving…" : "Save";
  }

  closeEditor(seq) {
    const editor = this.editors.get(seq);
    if (!editor) return;
    this.editors.delete(seq);
    editor.form.remove();
    const main = editor.item.querySelector(".msg-main");
    if (main) for (const node of shownText(main)) node.hidden = false;
  }

  // The message was replaced (`item`, after an edit) or deleted (`item` null): an editor of ours on
  // it is done, and focus, if it was there, goes somewhere that still exists.
  settled(seq, item) {
    const edited = this.editors.delete(seq);
    const deleted = this.deleting.delete(seq);
    if (!(edited || deleted) || !focusLost()) return;
    (item?.querySelector(".msg-actions button") ?? this.fallbackFocus)?.focus();
  }

  // An error frame that names no message (edits, deletions and sanctions carry no client_id): an
  // edit on its way was refused, so its editor is editable again; the alert says why.
  refused() {
    for (const editor of this.editors.values()) if (editor.saving) this.setSaving(editor, false);
  }

  // -- Confirming -------------------------------------------------------------------------------

  // A question under the message with one button per choice, and Cancel (focused: the safe one).
  confirm(item, opener, question, choices) {
    const main = item.querySelector(".msg-main");
    for (const old of main.querySelectorAll(":scope > .msg-confirm")) old.remove();
    const close = () => {
      box.remove();
      (opener.isConnected === false ? this.fallbackFocus : opener)?.focus();
    };
    const buttons = choices.map(({ label, frame }) =>
      button(
        label,
        label,
        () => {
          close();
          if (!this.send(frame)) this.notify("Not connected. Try again in a moment.");
          else if (frame.type === "delete") this.deleting.add(frame.seq);
        },
        "button button--danger",
      ),
    );
    const cancel = button("Cancel", "Cancel", close, "button button--quiet");
    const box = el("div", { className: "msg-confirm", attrs: { role: "group", "aria-label": question } }, [
      el("span", { className: "msg-confirm-question", text: question }),
      ...buttons,
      cancel,
    ]);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    main.append(box);
    cancel.focus();
  }
}
