// Who is online: the member list panel and every place that shows the count.

import { avatar, el } from "./dom.js";
import { personKey, samePerson } from "./people.js";

export class Members {
  // `you`: the reader's <user> (from welcome), marked in the list.
  constructor(list, counters, { you = null } = {}) {
    this.list = list;
    this.counters = counters; // elements whose text is the online count
    this.you = you;
    this.users = new Map(); // person key -> user: namesakes are listed once each
  }

  // `online`: how many are online, which may be more than `users` lists (the server cuts the
  // list of a huge room to fit one frame); without it the list's length is the count.
  reset(users, online) {
    this.users = new Map();
    for (const user of users) {
      const key = personKey(user);
      if (key !== null) this.users.set(key, user);
    }
    this.render();
    this.count(Number.isFinite(online) ? online : this.users.size);
  }

  // Returns true when this changed who is listed (a real arrival or departure).
  join(user, online) {
    const key = personKey(user);
    if (key === null) return false;
    const isNew = !this.users.has(key);
    this.users.set(key, user); // a renamed guest shows their new name
    this.render();
    this.count(online ?? this.users.size);
    return isNew;
  }

  leave(user, online) {
    const key = personKey(user);
    const was = key !== null && this.users.delete(key);
    this.render();
    this.count(online ?? this.users.size);
    return was;
  }

  count(online) {
    if (!Number.isFinite(online)) return;
    for (const node of this.counters) {
      node.textContent = String(online);
      node.closest(".online-pill")?.classList.toggle("is-empty", online === 0);
    }
  }

  render() {
    // By name, then by key: namesakes keep their places from one render to the next.
    const entries = Array.from(this.users, ([key, user]) => ({ key, user, name: String(user.name ?? "") }));
    entries.sort((a, b) => a.name.localeCompare(b.name) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.list.replaceChildren(
      ...entries.map(({ user, name }) => {
        const isYou = samePerson(user, this.you);
        return el("li", { className: isYou ? "member member--you" : "member", attrs: { title: name } }, [
          avatar(name),
          el("span", { className: "member-name", text: name }),
          // As in the conversation: a guest "bob" and a member "bob" can be told apart.
          user.guest ? el("span", { className: "badge badge--muted", text: "guest" }) : null,
          isYou ? el("span", { className: "badge", text: "you" }) : null,
        ]);
      }),
    );
  }
}
