// "alice is typing…": shown on typing frames, fading out when they stop coming.

import { personKey } from "./people.js";

const VISIBLE_MS = 4000; // the server relays at most one typing frame per 2 s per user
export const SEND_EVERY_MS = 2000;

export class TypingIndicator {
  constructor(node) {
    this.node = node;
    this.typers = new Map(); // person key -> { name, timer }: two typists called "bob" are two
  }

  // `user`: the typing frame's <user>.
  saw(user) {
    const key = personKey(user);
    if (key === null) return;
    clearTimeout(this.typers.get(key)?.timer);
    this.typers.set(key, { name: String(user.name ?? ""), timer: setTimeout(() => this.drop(key), VISIBLE_MS) });
    this.render();
  }

  // They sent a message or left: no longer typing, whatever the timer says.
  stopped(user) {
    const key = personKey(user);
    if (key !== null) this.drop(key);
  }

  drop(key) {
    const typer = this.typers.get(key);
    if (!typer) return;
    clearTimeout(typer.timer);
    this.typers.delete(key);
    this.render();
  }

  render() {
    const names = Array.from(this.typers.values(), (typer) => typer.name);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    // Keep the old text while fading out, so that it does not vanish mid-transition.
    if (text) this.node.textContent = text;
    this.node.classList.toggle("is-active", Boolean(text));
  }
}

// Calls `send` at most once per interval while the user keeps typing.
export function throttle(send, interval = SEND_EVERY_MS, now = () => Date.now()) {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < interval) return;
    if (send()) last = t;
  };
}
