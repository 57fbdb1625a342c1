import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { ACK_TIMEOUT_MS, newClientId, Outbox } from "../../chat/static/chat/outbox.js";
import { installDocument } from "./fakes.mjs";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newClientId", () => {
  test("is a v4 UUID, different every time", () => {
    const ids = new Set(Array.from({ length: 50 }, newClientId));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, UUID_V4);
  });

  test("is still a v4 UUID where randomUUID is missing (plain http)", () => {
    const real = globalThis.crypto;
    let calls = 0;
    Object.defineProperty(globalThis, "crypto", {
      configurable: true,
      value: {
        getRandomValues: (bytes) => {
          calls += 1;
          return real.getRandomValues(bytes);
        },
      },
    });
    try {
      const ids = new Set(Array.from({ length: 50 }, newClientId));
      assert.equal(calls, 50, "the fallback was not used");
      assert.equal(ids.size, 50);
      for (const id of ids) assert.match(id, UUID_V4);
      // All-ones bytes must still come out with the version and variant bits right.
      Object.defineProperty(globalThis, "crypto", {
        configurable: true,
        value: { getRandomValues: (bytes) => bytes.fill(0xff) },
      });
      assert.equal(newClientId(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    } finally {
      Object.defineProperty(globalThis, "crypto", { configurable: true, value: real });
    }
  });
});

describe("Outbox", () => {
  let list;
  let sent;
  let online;
  let shown;
  let changes;
  let outbox;

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
    const doc = installDocument();
    list = doc.createElement("ol");
    doc.body.append(list);
    sent = [];
    online = true;
    shown = new Set();
    changes = 0;
    outbox = new Outbox(list, {
      send: (frame) => {
        if (!online) return false;
        sent.push(frame);
        return true;
      },
      isShown: (seq) => shown.has(seq),
      onChange: () => {
        changes += 1;
      },
    });
  });

  afterEach(() => {
    mock.timers.reset();
  });

  // What the reader sees of a pending message: its state and its status line.
  const view = (entry) => ({ state: entry.node.dataset.state, status: entry.status.textContent });
  const buttons = (entry) => entry.status.querySelectorAll("button");
  const button = (entry, label) => buttons(entry).find((node) => node.textContent.startsWith(label));

  test("a submitted message is sent with a client_id and shows as sending", () => {
    const entry = outbox.submit("hello");
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
    assert.match(entry.clientId, UUID_V4);
    assert.deepEqual(view(entry), { state: "sending", status: "Sending…" });
    assert.equal(list.children.length, 1);
    assert.equal(list.children[0].querySelector(".body").textContent, "hello");
    assert.equal(outbox.pending, 1);
    assert.ok(changes > 0, "the page was not told (empty-room note, etc.)");
  });

  test("no ack within the timeout marks the message failed, with Retry and Discard", () => {
    const entry = outbox.submit("hello");
    mock.timers.tick(9_999);
    assert.equal(view(entry).state, "sending");
    mock.timers.tick(1);
    assert.equal(view(entry).state, "failed");
    assert.match(view(entry).status, /^Failed: No answer from the server\./);
    assert.deepEqual(
      buttons(entry).map((node) => node.textContent),
      ["Retry", "Discard"],
    );
  });

  test("an ack shows Sent and stops the timeout", () => {
    const entry = outbox.submit("hello");
    outbox.ack(entry.clientId, 42);
    assert.deepEqual(view(entry), { state: "sent", status: "Sent" });
    mock.timers.tick(ACK_TIMEOUT_MS * 3);
    assert.equal(view(entry).state, "sent");
  });

  test("an ack for a message already on screen removes it from the outbox", () => {
    const entry = outbox.submit("hello");
    shown.add(42);
    outbox.ack(entry.clientId, 42);
    assert.equal(outbox.pending, 0);
    assert.equal(list.children.length, 0);
  });

  test("an acked message leaves the outbox when its seq reaches the screen", () => {
    const entry = outbox.submit("hello");
    outbox.ack(entry.clientId, 42);
    shown.add(42);
    outbox.delivered([{ seq: 42, client_id: null }]);
    assert.equal(outbox.pending, 0);
  });

  test("a message on screen with our client_id removes its copy even before the ack", () => {
    const mine = outbox.submit("hello");
    const other = outbox.submit("second");
    outbox.delivered([{ seq: 42, client_id: mine.clientId }]);
    assert.equal(outbox.pending, 1);
    assert.deepEqual(
      list.children.map((node) => node.dataset.clientId),
      [other.clientId],
    );
    outbox.ack(mine.clientId, 42); // the late ack is harmless
    assert.equal(outbox.pending, 1);
  });

  test("an ack for an unknown client_id changes nothing", () => {
    const entry = outbox.submit("hello");
    outbox.ack("someone-else", 42);
    assert.equal(view(entry).state, "sending");
  });

  test("after a reconnect, unacked messages are sent again with the same client_id", () => {
    const acked = outbox.submit("first");
    const unacked = outbox.submit("second");
    outbox.ack(acked.clientId, 7);
    online = false;
    outbox.pause();
    sent.length = 0;
    online = true;
    outbox.resend();
    assert.deepEqual(sent, [{ type: "message", body: "second", client_id: unacked.clientId }]);
    assert.equal(view(unacked).state, "sending");
    assert.equal(view(acked).state, "sent");
  });

  test("while disconnected the ack clock does not run", () => {
    const entry = outbox.submit("hello");
    outbox.pause();
    mock.timers.tick(ACK_TIMEOUT_MS * 5);
    assert.equal(view(entry).state, "sending");
    outbox.resend();
    mock.timers.tick(ACK_TIMEOUT_MS);
    assert.equal(view(entry).state, "failed", "the timer should restart with the re-send");
  });

  test("a message written while disconnected waits for the connection, then goes", () => {
    online = false;
    const entry = outbox.submit("hello");
    assert.deepEqual(view(entry), { state: "sending", status: "Waiting for the connection…" });
    mock.timers.tick(ACK_TIMEOUT_MS * 5);
    assert.equal(view(entry).state, "sending", "it failed without ever being sent");
    online = true;
    outbox.resend();
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
    assert.equal(view(entry).status, "Sending…");
  });

  test("an error frame for a client_id marks that message failed with the server's reason", () => {
    const entry = outbox.submit("x".repeat(5000));
    const other = outbox.submit("fine");
    assert.equal(outbox.refuse(entry.clientId, { code: "too_long", detail: "Too long." }), true);
    assert.equal(view(entry).state, "failed");
    assert.match(view(entry).status, /^Failed: Too long\./);
    assert.equal(view(other).state, "sending");
    mock.timers.tick(ACK_TIMEOUT_MS);
    assert.match(view(entry).status, /Too long/, "the timeout overwrote the server's reason");
  });

  test("an error frame for an unknown client_id is left to the page", () => {
    outbox.submit("hello");
    assert.equal(outbox.refuse("not-ours", { code: "internal", detail: "Nope." }), false);
  });

  test("a failed message is not re-sent on reconnect without the user asking", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "read_only", detail: "Read only." });
    sent.length = 0;
    outbox.resend();
    assert.deepEqual(sent, []);
  });

  for (const code of ["bad_text", "empty", "too_long", "bad_request", "read_only", "muted", "forbidden"]) {
    test(`${code} is final: the message shows the reason with Discard only, and is never sent again`, () => {
      const entry = outbox.submit("hello");
      outbox.refuse(entry.clientId, { code, detail: "No." });
      assert.deepEqual(view(entry), { state: "failed", status: "Failed: No. — Discard" });
      assert.deepEqual(
        buttons(entry).map((node) => node.textContent),
        ["Discard"],
      );
      sent.length = 0;
      mock.timers.tick(ACK_TIMEOUT_MS * 3);
      outbox.pause();
      outbox.resend();
      assert.deepEqual(sent, []);
    });
  }

  test("internal (the server failed on the frame) shows failed with Retry", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "internal", detail: "The server could not handle that frame." });
    assert.equal(view(entry).state, "failed");
    assert.deepEqual(
      buttons(entry).map((node) => node.textContent),
      ["Retry", "Discard"],
    );
  });

  test("unavailable: sent again by itself once after retry_after, still showing Sending…", () => {
    const entry = outbox.submit("hello");
    sent.length = 0;
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "The database is not answering.", retryAfter: 2 });
    assert.deepEqual(view(entry), { state: "sending", status: "Sending…" });
    mock.timers.tick(1_999);
    assert.deepEqual(sent, [], "re-sent before retry_after");
    mock.timers.tick(1);
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
    assert.deepEqual(view(entry), { state: "sending", status: "Sending…" });
    outbox.ack(entry.clientId, 5);
    assert.equal(view(entry).state, "sent");
  });

  test("unavailable twice: failed with Retry, and no third send by itself", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "Not answering.", retryAfter: 1 });
    mock.timers.tick(1000);
    sent.length = 0;
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "Not answering.", retryAfter: 1 });
    assert.equal(view(entry).state, "failed");
    assert.match(view(entry).status, /^Failed: Not answering\./);
    assert.ok(button(entry, "Retry"), "a database that comes back is worth a Retry");
    mock.timers.tick(60_000);
    outbox.resend();
    assert.deepEqual(sent, []);
  });

  test("unavailable while the socket is down: the wait stops, the reconnect sends it", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "Not answering.", retryAfter: 1 });
    online = false;
    outbox.pause();
    sent.length = 0;
    mock.timers.tick(5_000);
    assert.deepEqual(sent, []);
    assert.equal(view(entry).state, "sending", "failed while it could not even be sent");
    online = true;
    outbox.resend();
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
  });

  test("unavailable for a message already failed (no answer in time) does not send it by itself", () => {
    const entry = outbox.submit("hello");
    mock.timers.tick(ACK_TIMEOUT_MS);
    assert.equal(view(entry).state, "failed");
    sent.length = 0;
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "Not answering.", retryAfter: 1 });
    mock.timers.tick(10_000);
    assert.deepEqual(sent, []);
    assert.equal(view(entry).state, "failed");
    assert.ok(button(entry, "Retry"));
  });

  test("after a Retry, unavailable is again tried once by itself", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "x", retryAfter: 1 });
    mock.timers.tick(1000);
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "x", retryAfter: 1 });
    mock.timers.tick(1000);
    button(entry, "Retry").click();
    sent.length = 0;
    outbox.refuse(entry.clientId, { code: "unavailable", detail: "x", retryAfter: 1 });
    assert.equal(view(entry).state, "sending");
    mock.timers.tick(1000);
    assert.equal(sent.length, 1);
  });

  test("a refusal of a copy sent after the ack changes nothing: acked means stored", () => {
    const entry = outbox.submit("hello");
    mock.timers.tick(ACK_TIMEOUT_MS);
    button(entry, "Retry").click(); // the first copy was slow, not lost
    outbox.ack(entry.clientId, 9);
    outbox.refuse(entry.clientId, { code: "rate_limited", detail: "Slow down.", retryAfter: 3 });
    assert.deepEqual(view(entry), { state: "sent", status: "Sent" });
  });

  test("Retry re-sends with the same client_id, so it cannot be stored twice", () => {
    const entry = outbox.submit("hello");
    mock.timers.tick(ACK_TIMEOUT_MS);
    sent.length = 0;
    button(entry, "Retry").click();
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
    assert.equal(view(entry).state, "sending");
  });

  test("Discard removes the message", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "internal", detail: "Nope." });
    button(entry, "Discard").click();
    assert.equal(outbox.pending, 0);
    assert.equal(list.children.length, 0);
  });

  test("rate limited: Retry is held back and counts down until it can work", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "rate_limited", detail: "Too many messages; slow down.", retryAfter: 3 });
    const retry = button(entry, "Retry");
    assert.equal(retry.textContent, "Retry in 3 s");
    assert.equal(retry.disabled, true);
    mock.timers.tick(1000);
    assert.equal(retry.textContent, "Retry in 2 s");
    mock.timers.tick(2000);
    assert.equal(retry.textContent, "Retry");
    assert.equal(retry.disabled, false);
  });

  test("slow mode: failed with the server's reason, and a Retry held back for retry_after", () => {
    const entry = outbox.submit("hello");
    outbox.refuse(entry.clientId, { code: "slow_mode", detail: "Slow mode: one message per 30 seconds.", retryAfter: 28 });
    assert.match(view(entry).status, /^Failed: Slow mode: one message per 30 seconds\./);
    const retry = button(entry, "Retry");
    assert.equal(retry.textContent, "Retry in 28 s");
    assert.equal(retry.disabled, true);
    sent.length = 0;
    outbox.resend(); // a reconnect meanwhile does not send it early
    assert.deepEqual(sent, []);
    mock.timers.tick(28_000);
    retry.click();
    assert.deepEqual(sent, [{ type: "message", body: "hello", client_id: entry.clientId }]);
  });

  test("an ack that comes after the timeout still turns the failure into Sent", () => {
    const entry = outbox.submit("hello");
    mock.timers.tick(ACK_TIMEOUT_MS);
    outbox.ack(entry.clientId, 9);
    assert.deepEqual(view(entry), { state: "sent", status: "Sent" });
  });
});
