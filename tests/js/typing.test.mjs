import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { throttle, TypingIndicator } from "../../chat/static/chat/typing.js";
import { installDocument } from "./fakes.mjs";

describe("throttle (typing frames)", () => {
  // Simulated keystrokes at the given times (ms); returns the times at which a frame went out.
  function keystrokes(times, { connected = () => true } = {}) {
    let now = 0;
    const frames = [];
    const typed = throttle(
      () => {
        if (!connected(now)) return false;
        frames.push(now);
        return true;
      },
      undefined, // the default interval, as the room page uses it
      () => now,
    );
    for (const t of times) {
      now = t;
      typed();
    }
    return frames;
  }

  test("sends at most one typing frame per 2 s however fast the user types", () => {
    const everyTenthOfASecond = Array.from({ length: 100 }, (_, i) => i * 100); // 0 .. 9.9 s
    assert.deepEqual(keystrokes(everyTenthOfASecond), [0, 2000, 4000, 6000, 8000]);
  });

  test("the first keystroke is announced at once", () => {
    assert.deepEqual(keystrokes([5000]), [5000]);
  });

  test("a keystroke just under 2 s later is not sent, one at 2 s is", () => {
    assert.deepEqual(keystrokes([0, 1999, 2000]), [0, 2000]);
  });

  test("slow typing sends a frame for every keystroke more than 2 s apart", () => {
    assert.deepEqual(keystrokes([0, 2500, 5000]), [0, 2500, 5000]);
  });

  test("a keystroke that could not be sent (disconnected) does not use up the slot", () => {
    const frames = keystrokes([0, 100, 200], { connected: (now) => now >= 100 });
    assert.deepEqual(frames, [100]);
  });
});

describe("TypingIndicator", () => {
  let node;
  let typing;

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout"] });
    node = installDocument().createElement("p");
    typing = new TypingIndicator(node);
  });

  afterEach(() => mock.timers.reset());

  const visible = () => node.classList.contains("is-active");

  test("nobody typing shows nothing", () => {
    typing.render();
    assert.equal(visible(), false);
    assert.equal(node.textContent, "");
  });

  test("names one typer", () => {
    typing.saw("bob");
    assert.equal(node.textContent, "bob is typing…");
    assert.equal(visible(), true);
  });

  test("names two typers", () => {
    typing.saw("bob");
    typing.saw("carol");
    assert.equal(node.textContent, "bob and carol are typing…");
  });

  test("summarises three or more", () => {
    for (const name of ["bob", "carol", "dave"]) typing.saw(name);
    assert.equal(node.textContent, "Several people are typing…");
  });

  test("fades out 4 s after the last typing frame, keeping its text for the transition", () => {
    typing.saw("bob");
    mock.timers.tick(3999);
    assert.equal(visible(), true);
    mock.timers.tick(1);
    assert.equal(visible(), false);
    assert.equal(node.textContent, "bob is typing…");
  });

  test("each typing frame keeps the indicator up another 4 s", () => {
    typing.saw("bob");
    mock.timers.tick(3000);
    typing.saw("bob");
    mock.timers.tick(3000);
    assert.equal(visible(), true);
    assert.equal(node.textContent, "bob is typing…");
    mock.timers.tick(1000);
    assert.equal(visible(), false);
  });

  test("a message from the typer (or their leaving) removes them at once", () => {
    typing.saw("bob");
    typing.saw("carol");
    typing.stopped("bob");
    assert.equal(node.textContent, "carol is typing…");
    typing.stopped("carol");
    assert.equal(visible(), false);
    typing.stopped("nobody"); // harmless
    mock.timers.tick(10_000);
    assert.equal(visible(), false);
  });

  test("one typer's timeout does not hide another who is still typing", () => {
    typing.saw("bob");
    mock.timers.tick(2000);
    typing.saw("carol");
    mock.timers.tick(2000); // bob expires
    assert.equal(node.textContent, "carol is typing…");
    assert.equal(visible(), true);
  });
});
