import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { throttle, TypingIndicator } from "../../chat/static/chat/typing.js";
import { installDocument, person } from "./fakes.mjs";

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
    typing.saw(person("bob"));
    assert.equal(node.textContent, "bob is typing…");
    assert.equal(visible(), true);
  });

  test("names two typers", () => {
    typing.saw(person("bob"));
    typing.saw(person("carol"));
    assert.equal(node.textContent, "bob and carol are typing…");
  });

  test("summarises three or more", () => {
    for (const name of ["bob", "carol", "dave"]) typing.saw(person(name));
    assert.equal(node.textContent, "Several people are typing…");
  });

  test("fades out 4 s after the last typing frame, keeping its text for the transition", () => {
    typing.saw(person("bob"));
    mock.timers.tick(3999);
    assert.equal(visible(), true);
    mock.timers.tick(1);
    assert.equal(visible(), false);
    assert.equal(node.textContent, "bob is typing…");
  });

  test("each typing frame keeps the indicator up another 4 s", () => {
    typing.saw(person("bob"));
    mock.timers.tick(3000);
    typing.saw(person("bob"));
    mock.timers.tick(3000);
    assert.equal(visible(), true);
    assert.equal(node.textContent, "bob is typing…");
    mock.timers.tick(1000);
    assert.equal(visible(), false);
  });

  test("a message from the typer (or their leaving) removes them at once", () => {
    typing.saw(person("bob"));
    typing.saw(person("carol"));
    typing.stopped(person("bob"));
    assert.equal(node.textContent, "carol is typing…");
    typing.stopped(person("carol"));
    assert.equal(visible(), false);
    typing.stopped(person("nobody")); // harmless
    mock.timers.tick(10_000);
    assert.equal(visible(), false);
  });

  test("one typer's timeout does not hide another who is still typing", () => {
    typing.saw(person("bob"));
    mock.timers.tick(2000);
    typing.saw(person("carol"));
    mock.timers.tick(2000); // bob expires
    assert.equal(node.textContent, "carol is typing…");
    assert.equal(visible(), true);
  });

  test("two typists of one name are two, and each stops on their own", () => {
    const otherBob = person("bob", { id: "00000000000000b2", guest: true });
    typing.saw(person("bob"));
    typing.saw(otherBob);
    assert.equal(node.textContent, "bob and bob are typing…");
    typing.stopped(person("bob"));
    assert.equal(node.textContent, "bob is typing…");
    assert.equal(visible(), true, "the other bob is still typing");
    typing.stopped(otherBob);
    assert.equal(visible(), false);
  });

  test("without ids (an older server) typists are told apart by name", () => {
    typing.saw({ name: "bob", guest: false });
    typing.saw({ name: "bob", guest: false });
    assert.equal(node.textContent, "bob is typing…");
    typing.saw({}); // neither id nor name: nobody to show
    typing.saw(undefined);
    assert.equal(node.textContent, "bob is typing…");
    typing.stopped({ name: "bob" });
    typing.stopped(undefined);
    assert.equal(visible(), false);
  });
});
