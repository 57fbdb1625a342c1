// Follows the conversation only while the reader is at the bottom; otherwise offers a
// "jump to latest" button that counts what arrived below.

const NEAR_BOTTOM_PX = 48;

export class Follower {
  constructor(scroller, jumpButton, jumpCount) {
    this.scroller = scroller;
    this.button = jumpButton;
    this.countNode = jumpCount;
    this.unseen = 0;
    this.onBottom = () => {};
    scroller.addEventListener("scroll", () => {
      if (this.atBottom()) this.caughtUp();
    }, { passive: true });
    jumpButton.addEventListener("click", () => this.toBottom());
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= NEAR_BOTTOM_PX;
  }

  // Run `change` (which adds content at the end and returns how many new messages it added);
  // follow it if the reader was at the bottom (or `force`), else count them on the button.
  append(change, { force = false } = {}) {
    const follow = force || this.atBottom();
    const newCount = change() ?? 0;
    if (follow) {
      this.toBottom();
    } else if (newCount > 0) {
      this.unseen += newCount;
      this.countNode.textContent = String(this.unseen);
      this.button.hidden = false;
    }
  }

  // Run `change` (which adds content above); the reader keeps looking at the same thing.
  prepend(change) {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    change();
    s.scrollTop = s.scrollHeight - fromBottom;
  }

  toBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.caughtUp();
  }

  caughtUp() {
    this.unseen = 0;
    this.button.hidden = true;
    this.onBottom();
  }
}
