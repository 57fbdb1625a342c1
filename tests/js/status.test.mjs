import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { mock } from "node:test";

import { ConnectionStatus } from "../../chat/static/chat/status.js";
import { installDocument } from "./fakes.mjs";

let node;
let status;

beforeEach(() => {
  mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
  node = installDocument().createElement("p");
  status = new ConnectionStatus(node);
});

afterEach(() => mock.timers.reset());

test("each state reads as plain words", () => {
  const labels = ["connecting", "open", "closing", "closed", "gone"].map((state) => {
    status.show(state);
    return node.textContent;
  });
  assert.deepEqual(labels, ["Connecting…", "Connected", "Closing…", "Disconnected", "No such room"]);
  assert.equal(node.dataset.state, "gone");
});

test("a room the reader may not be in says so", () => {
  status.show("forbidden");
  assert.equal(node.textContent, "Not allowed");
  assert.equal(node.dataset.state, "forbidden");
});

test("a retry in progress reads as reconnecting, not as a first connection", () => {
  status.show("connecting", { retry: true });
  assert.equal(node.textContent, "Reconnecting…");
});

test("waiting to reconnect counts the seconds down", () => {
  status.show("reconnecting", { retryAt: Date.now() + 3000 });
  assert.equal(node.textContent, "Reconnecting in 3 s…");
  mock.timers.tick(1000);
  assert.equal(node.textContent, "Reconnecting in 2 s…");
  mock.timers.tick(1000);
  assert.equal(node.textContent, "Reconnecting in 1 s…");
  mock.timers.tick(1000);
  assert.equal(node.textContent, "Reconnecting…");
});

test("the countdown stops once the state changes", () => {
  status.show("reconnecting", { retryAt: Date.now() + 5000 });
  status.show("open");
  mock.timers.tick(2000);
  assert.equal(node.textContent, "Connected");
});
