// Whether the reader can post in the room right now, and the note by the composer that says why
// not: the room is archived or gone, they may not be in it (4403), or they are muted. Slow mode
// does not close the composer; its note says how often one may post.

import { formatFull } from "./time.js";

// setTimeout holds at most 2^31-1 ms (24.8 days): a longer mute re-arms its timer when that ends.
const MAX_TIMER_MS = 2 ** 31 - 1;

export const FORBIDDEN_TEXT = Object.freeze({
  banned: "You were banned from this room.",
  denied: "You are not allowed in this room.",
});

export const slowModeText = (seconds) => `Slow mode: one message every ${seconds} s`;

export function mutedText(until) {
  if (!until) return "You are muted in this room until a moderator lifts it.";
  return `You are muted in this room until ${formatFull(new Date(until))}.`;
}

export class Standing {
  // notes: { archived, gone, forbidden, muted, slow } elements (any may be missing); onChange()
  // runs when a mute ends by itself, so that the page can show its controls again.
  constructor({ textarea, submit, notes }, { onChange = () => {} } = {}) {
    this.textarea = textarea;
    this.submit = submit;
    this.notes = notes;
    this.onChange = onChange;
    this.archived = false;
    this.gone = false;
    this.forbidden = null; // null, or a key of FORBIDDEN_TEXT
    this.muted = false;
    this.mutedUntil = null; // ISO time, or null: until lifted
    this.slowMode = 0;
    this.timer = null;
  }

  get closed() {
    return this.archived || this.gone || this.forbidden !== null || this.muted;
  }

  setArchived(archived) {
    this.archived = Boolean(archived);
    this.render();
  }

  setGone() {
    this.gone = true;
    this.render();
  }

  setForbidden(reason) {
    this.forbidden = reason in FORBIDDEN_TEXT ? reason : "denied";
    this.render();
  }

  // From `rights` (muted, muted_until) or a `muted` refusal. A mute with an end lifts itself then:
  // the server sends nothing when a mute runs out, it just stops refusing.
  setMuted(muted, until = null) {
    clearTimeout(this.timer);
    this.timer = null;
    const end = until ? Date.parse(until) : NaN;
    this.muted = Boolean(muted) && !(Number.isFinite(end) && end <= Date.now());
    this.mutedUntil = this.muted && Number.isFinite(end) ? until : null;
    if (this.muted && this.mutedUntil) this.armTimer(end);
    this.render();
  }

  armTimer(end) {
    const wait = end - Date.now();
    this.timer = setTimeout(
      () => {
        if (Date.now() < end) {
          this.armTimer(end);
          return;
        }
        this.setMuted(false);
        this.onChange();
      },
      Math.min(Math.max(0, wait), MAX_TIMER_MS),
    );
  }

  setSlowMode(seconds) {
    this.slowMode = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    this.render();
  }

  render() {
    const closed = this.closed;
    this.textarea.disabled = closed;
    this.submit.disabled = closed;
    const { archived, gone, forbidden, muted, slow } = this.notes;
    // One reason at a time, the most lasting first.
    const show = (node, on, text) => {
      if (!node) return;
      node.hidden = !on;
      if (on && text !== undefined) node.textContent = text;
    };
    const isForbidden = !this.gone && this.forbidden !== null;
    const isArchived = !this.gone && !isForbidden && this.archived;
    const isMuted = !this.gone && !isForbidden && !isArchived && this.muted;
    show(gone, this.gone);
    show(forbidden, isForbidden, FORBIDDEN_TEXT[this.forbidden]);
    show(archived, isArchived);
    show(muted, isMuted, mutedText(this.mutedUntil));
    show(slow, !closed && this.slowMode > 0, slowModeText(this.slowMode));
  }
}
