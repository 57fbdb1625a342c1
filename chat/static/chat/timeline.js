// The conversation: messages kept in seq order, whatever order they arrive in, each seq once.
// Grouping by author and day, day separators and the "new messages" divider follow from the order.

import { avatar, el } from "./dom.js";
import { personKey, samePerson } from "./people.js";
import { dayKey, formatClock, formatDay, formatFull } from "./time.js";

// Messages closer together than this, by the same author, read as one group.
const GROUP_GAP_MS = 5 * 60 * 1000;

// A list may hold only list items, so the separator role goes on the label inside the <li>; a
// separator's children are presentational, hence the label's text again as its name.
function separator(kind, text) {
  return el("li", { className: `sep ${kind}` }, [el("span", { text, attrs: { role: "separator", "aria-label": text } })]);
}

export class Timeline {
  // `you`: the reader's <user> (from welcome); their messages are marked as theirs.
  // `decorate(item, message)`: adds what the reader may do with a message (actions.js).
  constructor(list, { you = null, decorate = null } = {}) {
    this.list = list;
    this.you = you;
    this.decorate = decorate;
    this.items = new Map(); // seq -> <li>
    this.messages = new Map(); // seq -> <message> as shown
    // Deleted seqs: a copy still on its way (a crossing broadcast, a fill) must not bring one back.
    this.deleted = new Set();
    this.dividerAfter = null; // messages above this seq are "new"
  }

  get size() {
    return this.items.size;
  }

  get highest() {
    let top = 0;
    for (const seq of this.items.keys()) if (seq > top) top = seq;
    return top;
  }

  get lowest() {
    let low = null;
    for (const seq of this.items.keys()) if (low === null || seq < low) low = seq;
    return low;
  }

  has(seq) {
    return this.items.has(seq);
  }

  // Deleted: never shown again.
  gone(seq) {
    return this.deleted.has(seq);
  }

  // Insert messages (any order); returns those that were new.
  insert(messages) {
    const added = [];
    for (const message of messages) {
      if (!Number.isSafeInteger(message.seq) || this.items.has(message.seq) || this.deleted.has(message.seq)) continue;
      const item = this.render(message);
      this.items.set(message.seq, item);
      this.messages.set(message.seq, message);
      this.place(item, message.seq);
      added.push(message);
    }
    if (added.length) this.relayout();
    return added;
  }

  // An edited message takes its old one's place; returns the new <li>, or null if it is not shown.
  replace(message) {
    const old = this.items.get(message.seq);
    if (!old) return null;
    const item = this.render(message);
    old.before(item);
    old.remove();
    this.items.set(message.seq, item);
    this.messages.set(message.seq, message);
    this.relayout();
    return item;
  }

  // A deleted message goes, and stays gone.
  remove(seq) {
    this.deleted.add(seq);
    const item = this.items.get(seq);
    if (!item) return false;
    this.items.delete(seq);
    this.messages.delete(seq);
    item.remove();
    this.relayout();
    return true;
  }

  // What the reader may do changed (rights, the edit window passing): decorate every message again.
  redecorate() {
    if (!this.decorate) return;
    for (const [seq, item] of this.items) this.decorate(item, this.messages.get(seq));
  }

  clear() {
    this.items.clear();
    this.messages.clear();
    this.list.replaceChildren();
  }

  // A join/leave/info line at the current end of the conversation; it has no seq.
  notice(text, kind = "info") {
    const item = el("li", { className: `notice notice--${kind}` }, [
      el("span", { text }),
      el("time", { text: formatClock(new Date()), attrs: { datetime: new Date().toISOString() } }),
    ]);
    this.list.append(item);
    this.relayout();
    return item;
  }

  setDivider(afterSeq) {
    this.dividerAfter = afterSeq;
    this.relayout();
  }

  render(message) {
    const sent = new Date(message.sent_at);
    const name = message.author?.name ?? "unknown";
    const mine = samePerson(message.author, this.you); // by id: a namesake's message is not yours
    const time = () =>
      el("time", { text: formatClock(sent), attrs: { datetime: message.sent_at, title: formatFull(sent) } });
    const head = el("div", { className: "msg-head" }, [
      el("span", { className: "author", text: name }),
      message.author?.guest ? el("span", { className: "badge badge--muted", text: "guest" }) : null,
      time(),
    ]);
    // After the text, not in the head: a message that continues its group shows no head.
    const edited = message.edited_at ? new Date(message.edited_at) : null;
    const mark = edited
      ? el("time", {
          className: "edited",
          text: "(edited)",
          attrs: { datetime: message.edited_at, title: `Edited ${formatFull(edited)}` },
        })
      : null;
    const item = el(
      "li",
      {
        className: `msg${mine ? " msg--mine" : ""}${edited ? " msg--edited" : ""}`,
        attrs: { id: `m-${message.seq}` },
        // Grouping compares people, not names: two "bob"s in a row each get their own head.
        dataset: { seq: message.seq, author: personKey(message.author) ?? "", day: dayKey(sent), at: sent.getTime() },
      },
      [
        avatar(name),
        el("div", { className: "msg-main" }, [head, el("p", { className: "body", text: message.body }), mark]),
        el("span", { className: "gutter-time" }, [time()]),
      ],
    );
    this.decorate?.(item, message);
    return item;
  }

  // Before the first message with a higher seq, so that notices stay where they happened.
  place(item, seq) {
    let next = null;
    for (const [other, node] of this.items) {
      if (other > seq && (next === null || other < next.seq)) next = { seq: other, node };
    }
    if (next) next.node.before(item);
    else this.list.append(item);
  }

  relayout() {
    for (const sep of this.list.querySelectorAll(":scope > .sep")) sep.remove();
    let previous = null; // the <li> just before, message or notice
    let lastDay = null;
    let dividerPlaced = false;
    for (const item of Array.from(this.list.children)) {
      if (!item.classList.contains("msg")) {
        previous = item;
        continue;
      }
      const seq = Number(item.dataset.seq);
      let breaks = false;
      if (item.dataset.day !== lastDay) {
        const date = new Date(Number(item.dataset.at));
        item.before(separator("sep--day", formatDay(date)));
        lastDay = item.dataset.day;
        breaks = true;
      }
      if (!dividerPlaced && this.dividerAfter !== null && seq > this.dividerAfter && this.hasOlderThan(seq)) {
        item.before(separator("sep--new", "New messages"));
        dividerPlaced = true;
        breaks = true;
      }
      const continues =
        !breaks &&
        previous?.classList.contains("msg") &&
        previous.dataset.author === item.dataset.author &&
        Number(item.dataset.at) - Number(previous.dataset.at) < GROUP_GAP_MS;
      item.classList.toggle("msg--cont", Boolean(continues));
      previous = item;
    }
  }

  hasOlderThan(seq) {
    for (const other of this.items.keys()) if (other < seq && other <= this.dividerAfter) return true;
    return false;
  }
}
