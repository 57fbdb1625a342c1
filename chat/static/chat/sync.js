// Keeps the timeline complete: the first page, resuming after a reconnect, filling seq gaps,
// catching up when a heartbeat shows we missed something, and paging backwards.
//
// `known` is the highest seq up to which every stored message is on screen, already asked for, or
// in a gap waiting out its grace, so a seq left empty by a deleted message is fetched once, not at
// every heartbeat.
//
// `changes` is the same for edits and deletions: the highest change up to which every one is on
// screen. A resume asks for what came after it (`?changes=`).

const PAGE = 50;
const FILL_PAGE = 100;

// A seq jump seen live is usually no loss: broadcasts from different workers cross on the way a few
// milliseconds apart, so 43 often comes just before 42. Asking at once would turn nearly every such
// crossing in a busy room into a `history` request, against a budget (60 per 10 s) whose overrun
// ends in `rate_limited` and then 4429. 300 ms outlasts a crossing many times over and is nothing
// next to the 15 s heartbeat that bounds a broadcast really lost.
export const GAP_GRACE_MS = 300;
// More missing seqs than this is a lost stretch (a worker cut off from Redis), not a crossing.
const GAP_GRACE_MAX = 100;

export class Sync {
  // show(messages, how) puts messages on screen; how is "reset", "live", "fill" or "older".
  constructor({ timeline, send, show }) {
    this.timeline = timeline;
    this.send = send;
    this.show = show;
    this.known = 0;
    this.started = false; // a first history has arrived: later connections resume
    this.roomLastSeq = 0;
    this.olderAvailable = false;
    this.loadingOlder = false;
    this.fills = new Map(); // "after:before" -> { after, before } asked and not yet answered
    this.gaps = new Map(); // "after:before" -> { after, before, timer } seen live, not yet asked for
    this.resuming = false; // this connection's resume has sent pages, and more are to come
    this.changes = null; // every edit and deletion up to this change is shown (null: none known)
    this.laterChanges = new Set(); // changes seen live above `changes`, after one that went missing
    this.welcomeChange = null; // this connection's welcome.last_change, taken once its history came
  }

  // The `changes` for the next connection; only with a resume (see resumeAfter).
  resumeChanges() {
    return this.started ? this.changes : null;
  }

  // A live `edited` or `deleted` frame's change. Broadcasts are at most once: if one before it was
  // lost, the cursor waits below the hole, so that the next resume brings the lost one (and, once
  // more, those after it: applying an edit or a deletion twice changes nothing).
  changed(change) {
    if (!Number.isSafeInteger(change) || this.changes === null || change <= this.changes) return;
    this.laterChanges.add(change);
    this.advanceChanges();
  }

  advanceChanges() {
    while (this.laterChanges.has(this.changes + 1)) {
      this.changes += 1;
      this.laterChanges.delete(this.changes);
    }
    for (const change of this.laterChanges) if (change <= this.changes) this.laterChanges.delete(change);
  }

  // The `after` for the next connection: the highest seq shown, or lower if a fill was in flight
  // or a gap was waiting out its grace.
  resumeAfter() {
    if (!this.started) return null;
    let after = this.timeline.size ? this.timeline.highest : this.known;
    for (const fill of this.fills.values()) after = Math.min(after, fill.after);
    for (const gap of this.gaps.values()) after = Math.min(after, gap.after);
    return after;
  }

  welcome(frame) {
    this.roomLastSeq = Number(frame.last_seq) || 0;
    // Not yet the cursor: a resume's `changes` frames come after welcome, and the connection may
    // drop before they do. Once its history arrives, everything up to this change is on screen.
    this.welcomeChange = Number.isSafeInteger(frame.last_change) ? frame.last_change : null;
    this.loadingOlder = false;
    this.resuming = false; // a resume cut off with the old connection starts over
    // This connection's history starts from resumeAfter(), below every waiting gap: asking for them
    // as well would spend a request on what that history brings. They stay until it has come.
    for (const gap of this.gaps.values()) {
      clearTimeout(gap.timer);
      gap.timer = null;
    }
  }

  // Returns what kind of history it was: "initial" (the connection's first history is complete),
  // "resuming" (a page of it, more to come), "fill" or "older".
  history(frame) {
    const query = frame.query;
    if (query === null || query === undefined) {
      this.initial(frame);
      return this.resuming ? "resuming" : "initial";
    }
    if (query.after !== null && query.after !== undefined) {
      this.filled(frame, query);
      return "fill";
    }
    this.olderAvailable = frame.has_more;
    this.loadingOlder = false;
    this.show(frame.messages, "older");
    return "older";
  }

  initial(frame) {
    // Answers to the old connection's requests will never come, and this history covers them.
    // Not earlier, at welcome: a connection that drops before its history must still resume from
    // below the gaps that were open. Not at a resume's later pages: fills asked meanwhile stand.
    if (!this.resuming) {
      this.fills.clear();
      for (const gap of this.gaps.values()) clearTimeout(gap.timer);
      this.gaps.clear();
    }
    this.started = true;
    if (frame.resumed) {
      // A resume comes in pages cut to fit a frame, oldest first, each continuing the last. The
      // last page says has_more: false or reaches the room's last seq (it may say has_more when
      // messages were stored since welcome; those come live).
      const last = frame.messages.length ? frame.messages[frame.messages.length - 1].seq : null;
      this.resuming = Boolean(frame.has_more) && last !== null && last < this.roomLastSeq;
      this.known = Math.max(this.known, this.roomLastSeq, last ?? 0);
      if (this.welcomeChange !== null) {
        this.changes = Math.max(this.changes ?? 0, this.welcomeChange);
        this.advanceChanges();
      }
      this.show(frame.messages, "live");
    } else {
      // A first page, or the server could not resume from where we were: start over.
      this.resuming = false;
      this.olderAvailable = frame.has_more;
      this.known = this.roomLastSeq;
      // The page is rebuilt as the room is now, whatever the old cursor said (a reset database).
      this.changes = this.welcomeChange;
      this.laterChanges.clear();
      this.show(frame.messages, "reset");
    }
  }

  filled(frame, query) {
    this.fills.delete(`${query.after}:${query.before}`);
    this.show(frame.messages, "fill");
    if (frame.has_more && frame.messages.length) {
      const last = frame.messages[frame.messages.length - 1].seq;
      this.fill(last, query.before);
    }
  }

  message(frame) {
    if (frame.seq > this.known + 1) this.gap(this.known, frame.seq); // e.g. 41 then 43: 42 is late or lost
    this.known = Math.max(this.known, frame.seq);
    this.show([frame], "live");
  }

  // Seqs between after and before are missing: ask after GAP_GRACE_MS for those still missing then,
  // or at once if too many are missing for a crossing.
  gap(after, before) {
    const key = `${after}:${before}`;
    if (this.gaps.has(key)) return;
    if (before - after - 1 > GAP_GRACE_MAX) {
      this.fill(after, before);
      return;
    }
    const gap = { after, before, timer: null };
    gap.timer = setTimeout(() => this.graceOver(key), GAP_GRACE_MS);
    this.gaps.set(key, gap);
  }

  graceOver(key) {
    const gap = this.gaps.get(key);
    if (!gap) return;
    gap.timer = null;
    let low = null;
    let high = null;
    for (let seq = gap.after + 1; seq < gap.before; seq += 1) {
      if (this.timeline.has(seq) || this.timeline.gone?.(seq)) continue; // a deleted seq stays empty
      low ??= seq;
      high = seq;
    }
    // All there: the broadcasts had only crossed. Otherwise one request for what is still missing;
    // if it cannot be sent (no connection) the gap stays, keeping resumeAfter() below it.
    if (low === null || this.fill(low - 1, high + 1)) this.gaps.delete(key);
  }

  heartbeat(frame) {
    const last = Number(frame.last_seq);
    if (this.started && last > this.known) {
      this.fill(this.known, null);
      this.known = last;
    }
  }

  // Asks for after < seq < before (before null: no upper bound); true if that is now in flight.
  fill(after, before) {
    const key = `${after}:${before}`;
    if (this.fills.has(key)) return true;
    const frame = { type: "history", after, limit: FILL_PAGE };
    if (before !== null) frame.before = before;
    if (!this.send(frame)) return false;
    this.fills.set(key, { after, before });
    return true;
  }

  loadOlder() {
    if (this.loadingOlder || !this.olderAvailable) return false;
    const lowest = this.timeline.lowest ?? this.known + 1;
    this.loadingOlder = this.send({ type: "history", before: lowest, limit: PAGE });
    return this.loadingOlder;
  }
}
