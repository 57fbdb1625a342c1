// Who is online: the member list panel and every place that shows the count.

import { avatar, el } from "./dom.js";

export class Members {
  constructor(list, counters, { you = "" } = {}) {
    this.list = list;
    this.counters = counters; // elements whose text is the online count
    this.you = you;
    this.users = new Map(); // name -> user
  }

  // `online`: how many are online, which may be more than `users` lists (the server cuts the
  // list of a huge room to fit one frame); without it the list's length is the count.
  reset(users, online) {
    this.users = new Map(users.map((user) => [user.name, user]));
    this.render();
    this.count(Number.isFinite(online) ? online : this.users.size);
  }

  // Returns true when this changed who is listed (a real arrival or departure).
  join(user, online) {
    const isNew = !this.users.has(user.name);
    this.users.set(user.name, user);
    this.render();
    this.count(online ?? this.users.size);
    return isNew;
  }

  leave(user, online) {
    const was = this.users.delete(user.name);
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
    const names = Array.from(this.users.keys()).sort((a, b) => a.localeCompare(b));
    this.list.replaceChildren(
      ...names.map((name) => {
        return el("li", { className: name === this.you ? "member member--you" : "member", attrs: { title: name } }, [
          avatar(name),
          el("span", { className: "member-name", text: name }),
          name === this.you ? el("span", { className: "badge", text: "you" }) : null,
        ]);
      }),
    );
  }
}
