#!/usr/bin/env node
// bench/loadgen.mjs -- load generator that speaks our room protocol (docs/protocol.md).
//
// Fan-out mode: R rooms x M clients spread over the workers' ports (client j of room r on
// ports[(r + j) % n], so every room spans workers). A client counts as joined once it has its
// `welcome` and `history` frames. The first S members of each room post
// {"type":"message","body":"bench:<id>:<send_us>","client_id":<uuid>} on an open-loop schedule at
// --rate msgs/s each. Besides what the shared harness measures (deliveries by token, loss,
// duplicates, latency), it checks what our protocol promises:
//   - every post is acked (`ack` with its client_id) -- ack latency is the store latency; with
//     --acks=0 posts carry no client_id, as the shared harness sends them, and are not acked;
//   - every member (sender included) receives every seq of its room exactly once: over the seq
//     range of the measured messages, per receiver, no gaps and no duplicates (`reordered` counts
//     seqs that arrived after a higher one: allowed by the protocol, but worth seeing).
// --settle-max lets the joins' own traffic (presence announcements) die down before the first step.
// --rate may be a list: one step per rate on the same connections; --stop-on-fail ends the ramp at
// the first step that misses the SLO (p99 >= --slo-p99-ms, any loss, gap, duplicate or missing ack).
//
// Idle mode (--idle): one warm-up connection per worker, then N joined connections over R rooms held
// for --hold s; reports the RSS growth of the workers (and redis) per connection.
//
// Server figures come from /proc of --server-pids (workers) and --aux-pids (redis-server).
// Output: one JSON line per step (stdout, and appended to --out); progress on stderr.
// Only ever connects to 127.0.0.1, and exits by itself (--max-run-s is a hard stop).

import WebSocket from "ws";
import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

// ------------------------------------------------------------------------------- options
const DEFAULTS = {
  label: "ours", scenario: "", ports: "9500,9501", "room-prefix": "bench-",
  rooms: 20, "clients-per-room": 10, "senders-per-room": 1, rate: "5",
  duration: 20, warmup: 3, "settle-max": 0, drain: 15, "drain-idle": 2, "slo-p99-ms": 250, "stop-on-fail": false,
  idle: false, connections: 2000, hold: 5,
  "connect-concurrency": 50, "connect-timeout": 15,
  "server-pids": "", "aux-pids": "", out: "", "max-run-s": 900, help: false, acks: true,
};
const FLAGS = new Set(["stop-on-fail", "idle", "help", "acks"]);
const USAGE = `usage: node bench/loadgen.mjs [--option value ...]; options and defaults:
${Object.entries(DEFAULTS).map(([k, v]) => `  --${k} ${FLAGS.has(k) ? "(flag)" : JSON.stringify(v)}`).join("\n")}`;

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].replace(/^--/, "").split(/=(.*)/s);
    if (!argv[i].startsWith("--") || !(key in DEFAULTS)) throw new Error(`unknown argument ${argv[i]}`);
    if (FLAGS.has(key)) o[key] = inline === undefined || !/^(0|false|no)$/i.test(inline);
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${key} needs a value`);
      o[key] = typeof DEFAULTS[key] === "number" ? Number(v) : v;
      if (Number.isNaN(o[key])) throw new Error(`--${key}: not a number: ${v}`);
    }
  }
  return o;
}

let opt;
try {
  opt = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`loadgen: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const list = (s) => String(s).split(",").map(Number).filter((x) => x > 0);
const PORTS = list(opt.ports);
const RATES = list(opt.rate);
const SERVER_PIDS = list(opt["server-pids"]);
const AUX_PIDS = list(opt["aux-pids"]);
if (!PORTS.length || !RATES.length || !/^[a-z0-9][a-z0-9-]*$/.test(opt["room-prefix"])) {
  console.error("loadgen: need --ports, --rate, and a --room-prefix of lower-case letters, digits, hyphens");
  process.exit(2);
}
const HOST = "127.0.0.1"; // on purpose not an option
const roomUrl = (port, room) => `ws://${HOST}:${port}/ws/rooms/${room}/`;
setTimeout(() => {
  console.error(`loadgen: hard stop after --max-run-s ${opt["max-run-s"]} s`);
  process.exit(3);
}, opt["max-run-s"] * 1000).unref();

const log = (...a) => console.error(`[loadgen ${opt.label}/${opt.scenario}]`, ...a);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const bump = (obj, key) => (obj[key] = (obj[key] || 0) + 1);

function percentiles(values) {
  if (!values.length) return { p50: null, p90: null, p99: null, max: null, mean: null };
  const a = Float64Array.from(values).sort();
  const at = (p) => round(a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)], 3);
  return { p50: at(50), p90: at(90), p99: at(99), max: round(a[a.length - 1], 3), mean: round(a.reduce((s, v) => s + v, 0) / a.length, 3) };
}

// ------------------------------------------------------------------------------- /proc
function procRead(pid, file) {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return null;
  }
}
const CLK_TCK = 100; // USER_HZ is 100 on every Linux ABI we run on
const cpuSeconds = (pids) =>
  pids.reduce((sum, pid) => {
    const s = procRead(pid, "stat");
    if (!s) return sum;
    const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // f[11] utime, f[12] stime
    return sum + (Number(f[11]) + Number(f[12])) / CLK_TCK;
  }, 0);
const rssKb = (pids) => pids.reduce((sum, pid) => sum + Number(/^VmRSS:\s+(\d+)/m.exec(procRead(pid, "status") || "")?.[1] || 0), 0);
const alive = (pid) => {
  const s = procRead(pid, "stat");
  return s != null && s[s.lastIndexOf(")") + 2] !== "Z";
};
function hostTicks() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();
let rssPeakKb = 0;
setInterval(() => (rssPeakKb = Math.max(rssPeakKb, rssKb(SERVER_PIDS))), 250).unref();

function meterStart() {
  eld.reset();
  rssPeakKb = rssKb(SERVER_PIDS);
  return { t: nowUs(), srv: cpuSeconds(SERVER_PIDS), aux: cpuSeconds(AUX_PIDS), me: process.cpuUsage(), host: hostTicks() };
}
function meterEnd(m0) {
  const secs = (nowUs() - m0.t) / 1e6;
  const me = process.cpuUsage(m0.me);
  const host = hostTicks();
  const srv = cpuSeconds(SERVER_PIDS) - m0.srv;
  const aux = cpuSeconds(AUX_PIDS) - m0.aux;
  return {
    secs, srv, aux,
    loadgen: {
      cpu_pct: round((100 * (me.user + me.system)) / 1e6 / secs, 1),
      eventloop_delay_p99_ms: round(Math.max(0, eld.percentile(99) / 1e6 - 5), 1),
    },
    host_cpu_busy_pct: round(100 * (1 - (host.idle - m0.host.idle) / (host.total - m0.host.total)), 1),
  };
}

// ------------------------------------------------------------------------------- clients
const RUN = { closing: false };
const totals = { frames: {}, errors: {}, close_codes: {}, disconnects: 0, foreign: 0, bad_frames: 0, early: 0, arrivals: 0, lastArrivalUs: 0 };
const msgs = []; // id -> { room, sender, sentUs, step, got, seq }
const byClientId = new Map(); // client_id -> msg id, until acked
let step = null; // the measured step, while its window is open

function onFrame(c, text) {
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    totals.bad_frames++;
    return;
  }
  const t = nowUs();
  bump(totals.frames, f.type);
  switch (f.type) {
    case "message":
      return onMessage(c, f, t);
    case "ack":
      return onAck(f, t);
    case "welcome":
      c.base = f.last_seq;
      return;
    case "history":
      if (!c.ready) {
        // live seqs continue from the newest message in the history (or the welcome's last_seq)
        for (const m of f.messages) c.base = Math.max(c.base ?? 0, m.seq);
        c.seqs.base = c.base ?? 0;
        c.ready = true;
        c.readyMs = (t - c.t0) / 1000;
        c.settle();
      }
      return;
    case "error":
      bump(totals.errors, f.code);
      return;
    default: // heartbeat, presence, typing, ...
      return;
  }
}

function onMessage(c, f, t) {
  if (c.ready) c.seqs.add(f.seq);
  else totals.early++; // the protocol sends welcome and history first
  const m = /^bench:(\d+):(\d+)$/.exec(f.body);
  const rec = m ? msgs[Number(m[1])] : undefined;
  if (!rec || rec.sentUs !== Number(m[2])) {
    totals.foreign++;
    return;
  }
  rec.seq ??= f.seq;
  const st = rec.step; // null for warm-up messages
  if (rec.room !== c.room) {
    if (st) st.misrouted++;
  } else if (c === rec.sender) {
    if (st) st.self_deliveries++;
  } else {
    totals.arrivals++;
    totals.lastArrivalUs = t;
    if (!st) return;
    if (rec.got[c.member]) st.duplicates++;
    else {
      rec.got[c.member] = 1;
      st.delivered++;
      st.lat.push((t - rec.sentUs) / 1000);
    }
  }
}

function onAck(f, t) {
  const id = byClientId.get(f.client_id);
  if (id === undefined) return void bump(totals.errors, "unexpected_ack");
  byClientId.delete(f.client_id);
  const rec = msgs[id];
  rec.seq = f.seq;
  if (rec.step) {
    rec.step.acked++;
    rec.step.ackLat.push((t - rec.sentUs) / 1000);
  }
}

// Seqs a receiver saw live: a bitmap from its history baseline, so a long ramp stays small.
class SeqSet {
  constructor() {
    this.base = 0; // set from the history before the first live frame
    this.bits = new Uint8Array(1024);
    this.max = 0;
    this.dups = 0;
    this.reordered = 0;
  }
  add(seq) {
    const i = seq - this.base - 1;
    if (i < 0) return void this.dups++; // at or below the history it was given: a repeat
    while (i >= this.bits.length) {
      const grown = new Uint8Array(this.bits.length * 2);
      grown.set(this.bits);
      this.bits = grown;
    }
    if (this.bits[i]) return void this.dups++;
    this.bits[i] = 1;
    if (seq < this.max) this.reordered++;
    this.max = Math.max(this.max, seq);
  }
  missingIn(lo, hi) {
    let n = 0;
    for (let s = lo; s <= hi; s++) {
      const i = s - this.base - 1;
      if (i < 0 || i >= this.bits.length || !this.bits[i]) n++;
    }
    return n;
  }
}

function connect(c) {
  return new Promise((resolve) => {
    c.t0 = nowUs();
    c.seqs = new SeqSet();
    let done = false;
    c.settle = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        c.error = err;
        c.ws.terminate();
      }
      resolve();
    };
    const timer = setTimeout(() => c.settle("timeout"), opt["connect-timeout"] * 1000);
    c.ws = new WebSocket(roomUrl(c.port, c.room), { perMessageDeflate: false, headers: { Origin: `http://${HOST}:${c.port}` } });
    c.ws.on("message", (data, binary) => (binary ? totals.bad_frames++ : onFrame(c, data.toString())));
    c.ws.on("unexpected-response", (_req, res) => c.settle(`http ${res.statusCode}`));
    c.ws.on("error", (e) => c.settle(e.code || e.message));
    c.ws.on("close", (code) => {
      if (!RUN.closing) {
        bump(totals.close_codes, code);
        if (c.ready) totals.disconnects++;
      }
      c.closed = true;
      c.settle(`closed ${code} before joining`);
    });
  });
}

async function connectAll(clients) {
  const t0 = nowUs();
  let next = 0;
  const worker = async () => {
    while (next < clients.length) await connect(clients[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(opt["connect-concurrency"], clients.length) }, worker));
  const ready = clients.filter((c) => c.ready);
  const errors = {};
  for (const c of clients) if (!c.ready) bump(errors, c.error);
  const p = percentiles(ready.map((c) => c.readyMs));
  return { connected: ready.length, connect_failures: clients.length - ready.length, connect_errors: errors,
    join_ms: { p50: p.p50, p99: p.p99, max: p.max }, connect_phase_s: round((nowUs() - t0) / 1e6) };
}

async function closeAll(clients) {
  RUN.closing = true;
  for (const c of clients) c.ws?.close();
  await sleep(500);
}

function emit(record) {
  const line = JSON.stringify({ ts: new Date().toISOString(), tool: "bench/loadgen.mjs", label: opt.label, scenario: opt.scenario, ...record });
  process.stdout.write(line + "\n");
  if (opt.out) appendFileSync(opt.out, line + "\n");
}

// ------------------------------------------------------------------------------- fan-out
async function runFanout() {
  const M = opt["clients-per-room"];
  const clients = [];
  for (let r = 0; r < opt.rooms; r++)
    for (let j = 0; j < M; j++) clients.push({ room: `${opt["room-prefix"]}r${r}`, port: PORTS[(r + j) % PORTS.length], j });
  log(`joining ${clients.length} clients (${opt.rooms} rooms x ${M}) on ports ${PORTS.join(",")}`);
  const rssStartKb = rssKb(SERVER_PIDS);
  const conn = await connectAll(clients);
  // --settle-max S: before sending, wait (at most S s) until no frame arrived for 1 s -- e.g. the
  // presence "join" announcements of a big room -- to measure the steady state apart from the joins.
  const settleStart = nowUs();
  let lastFrames = -1;
  while (nowUs() - settleStart < opt["settle-max"] * 1e6) {
    const n = Object.values(totals.frames).reduce((a, b) => a + b, 0);
    if (n === lastFrames) break;
    lastFrames = n;
    await sleep(1000);
  }
  conn.settle_s = round((nowUs() - settleStart) / 1e6);
  conn.frames_while_joining = { ...totals.frames };
  log(`joined ${conn.connected}/${clients.length} in ${conn.connect_phase_s}s`, conn.connect_failures ? conn.connect_errors : "");
  const rooms = new Map();
  for (const c of clients.filter((c) => c.ready)) {
    if (!rooms.has(c.room)) rooms.set(c.room, []);
    c.member = rooms.get(c.room).length;
    rooms.get(c.room).push(c);
  }
  const senders = clients.filter((c) => c.ready && c.j < opt["senders-per-room"]);
  if (!senders.length) {
    emit({ mode: "fanout", ...conn, error: "no sender joined" });
    return closeAll(clients);
  }

  let rate = RATES[0];
  let sending = false;
  let lag = [];
  const schedule = senders.map((c) => ({ c, next: 0 }));
  const tick = () => {
    if (!sending) return;
    const t = nowUs();
    const period = 1e6 / rate;
    for (const s of schedule) {
      for (let burst = 0; s.next <= t && burst < 1000; burst++) {
        const id = msgs.length;
        const sentUs = nowUs();
        const members = rooms.get(s.c.room).length;
        const clientId = randomUUID();
        msgs.push({ room: s.c.room, sender: s.c, sentUs, step, got: step && new Uint8Array(members), seq: null });
        if (s.c.ws.readyState === WebSocket.OPEN) {
          if (opt.acks) {
            s.c.ws.send(JSON.stringify({ type: "message", body: `bench:${id}:${sentUs}`, client_id: clientId }));
            byClientId.set(clientId, id);
          } else {
            // As the shared harness posts: no client_id, so no ack (counted as acked for the checks).
            s.c.ws.send(JSON.stringify({ type: "message", body: `bench:${id}:${sentUs}` }));
            if (step) step.acked++;
          }
          if (step) {
            step.sent++;
            step.expected += members - 1;
            lag.push((sentUs - s.next) / 1000);
          }
        } else if (step) step.send_errors++;
        s.next += period;
      }
    }
  };
  const ticker = setInterval(tick, 1);

  for (let k = 0; k < RATES.length; k++) {
    rate = RATES[k];
    const st = { sent: 0, send_errors: 0, acked: 0, expected: 0, delivered: 0, duplicates: 0, self_deliveries: 0, misrouted: 0, lat: [], ackLat: [] };
    const before = { ...totals, frames: { ...totals.frames }, errors: { ...totals.errors }, close_codes: { ...totals.close_codes } };
    step = null; // warm-up: sent but not measured
    const t = nowUs();
    for (const s of schedule) s.next = t + Math.random() * (1e6 / rate); // random phase
    sending = true;
    log(`step ${k + 1}/${RATES.length}: ${rate} msg/s x ${senders.length} senders, warm-up ${opt.warmup}s`);
    await sleep(opt.warmup * 1000);
    lag = [];
    const firstId = msgs.length;
    step = st;
    const m0 = meterStart();
    const arrivals0 = totals.arrivals;
    await sleep(opt.duration * 1000);
    sending = false;
    step = null;
    const win = meterEnd(m0);
    const arrivalsInWindow = totals.arrivals - arrivals0;
    const measured = msgs.slice(firstId).filter((m) => m.step === st);

    // drain: until everything (deliveries, acks) is in, nothing arrived for --drain-idle s, or the cap
    const tDrain = nowUs();
    let drainEnd = "complete";
    while (st.delivered < st.expected || st.acked < st.sent) {
      const now = nowUs();
      if (now - tDrain >= opt.drain * 1e6) drainEnd = "cap";
      else if (now - Math.max(tDrain, totals.lastArrivalUs) >= opt["drain-idle"] * 1e6) drainEnd = "idle";
      else {
        await sleep(20);
        continue;
      }
      break;
    }
    const drainS = (nowUs() - tDrain) / 1e6;

    // the protocol's promise, per receiver still open: every seq of the measured range, once
    const seqCheck = { receivers: 0, gaps: 0, duplicates: 0, reordered: 0, rooms_without_seqs: 0 };
    for (const [room, members] of rooms) {
      const seqs = measured.filter((m) => m.room === room && m.seq != null).map((m) => m.seq);
      if (!seqs.length) {
        seqCheck.rooms_without_seqs++;
        continue;
      }
      const lo = Math.min(...seqs);
      const hi = Math.max(...seqs);
      for (const c of members) {
        if (c.closed) continue;
        seqCheck.receivers++;
        seqCheck.gaps += c.seqs.missingIn(lo, hi);
        seqCheck.duplicates += c.seqs.dups - (c.seqDupsSeen || 0);
        seqCheck.reordered += c.seqs.reordered - (c.seqReorderedSeen || 0);
        c.seqDupsSeen = c.seqs.dups;
        c.seqReorderedSeen = c.seqs.reordered;
      }
    }

    const lost = st.expected - st.delivered;
    const lat = percentiles(st.lat);
    const ack = percentiles(st.ackLat);
    const errors = diffCounts(totals.errors, before.errors);
    const why = [];
    if (lost > 0) why.push(`lost ${lost}`);
    if (!(lat.p99 < opt["slo-p99-ms"])) why.push(`p99 ${lat.p99} ms`);
    if (st.duplicates) why.push(`${st.duplicates} duplicates`);
    if (seqCheck.gaps || seqCheck.duplicates) why.push(`seq gaps ${seqCheck.gaps}, seq dups ${seqCheck.duplicates}`);
    if (st.acked < st.sent) why.push(`${st.sent - st.acked} acks missing`);
    if (Object.keys(errors).length) why.push(`error frames ${JSON.stringify(errors)}`);
    const cpuPer1k = (s) => (st.delivered ? round((1e6 * s) / st.delivered, 1) : null);
    emit({
      mode: "fanout",
      config: { ports: PORTS, workers: PORTS.length, rooms: opt.rooms, clients_per_room: M, senders_per_room: opt["senders-per-room"],
        duration_s: opt.duration, warmup_s: opt.warmup, drain_max_s: opt.drain, room_prefix: opt["room-prefix"] },
      step: k + 1, steps: RATES.length, rate_per_sender: rate, senders: senders.length,
      offered_msgs_per_s: round(rate * senders.length, 1), expected_per_s: round(st.expected / win.secs, 1),
      ...conn,
      still_open: clients.filter((c) => c.ready && !c.closed).length,
      disconnects: totals.disconnects - before.disconnects,
      close_codes: diffCounts(totals.close_codes, before.close_codes),
      sent: st.sent, send_errors: st.send_errors, acked: st.acked, acks_missing: st.sent - st.acked,
      expected: st.expected, delivered: st.delivered, lost, loss_pct: st.expected ? round((100 * lost) / st.expected, 3) : null,
      duplicates: st.duplicates, self_deliveries: st.self_deliveries, misrouted: st.misrouted,
      // every frame received, by type, from the start of this step's warm-up (presence joins etc.)
      frames: diffCounts(totals.frames, before.frames),
      frames_while_joining: k === 0 ? conn.frames_while_joining : undefined,
      foreign: totals.foreign - before.foreign, early_frames: totals.early - before.early, error_frames: errors,
      seq_check: seqCheck,
      window_s: round(win.secs), drain_s: round(drainS), drain_end: drainEnd,
      delivered_per_s: round(arrivalsInWindow / win.secs, 1),
      latency_ms: lat,
      ack_ms: { p50: ack.p50, p99: ack.p99, max: ack.max },
      send_lag_ms: { p99: percentiles(lag).p99, max: percentiles(lag).max },
      server: { pids: SERVER_PIDS, cpu_s: round(win.srv), cpu_pct: round((100 * win.srv) / win.secs, 1),
        rss_mb_start: round(rssStartKb / 1024, 1), rss_mb_peak: round(rssPeakKb / 1024, 1), rss_mb_end: round(rssKb(SERVER_PIDS) / 1024, 1),
        dead_pids: SERVER_PIDS.filter((p) => !alive(p)) },
      redis: AUX_PIDS.length ? { pids: AUX_PIDS, cpu_s: round(win.aux), rss_mb: round(rssKb(AUX_PIDS) / 1024, 1) } : null,
      cpu_ms_per_1k_deliveries: cpuPer1k(win.srv + win.aux),
      server_cpu_ms_per_1k_deliveries: cpuPer1k(win.srv),
      loadgen: win.loadgen, host_cpu_busy_pct: win.host_cpu_busy_pct,
      slo: { p99_ms: opt["slo-p99-ms"], pass: why.length === 0, why },
    });
    log(`step ${k + 1}: sent ${st.sent} acked ${st.acked} delivered ${st.delivered}/${st.expected} p99 ${lat.p99} ms ` +
      `seq gaps ${seqCheck.gaps} dups ${seqCheck.duplicates}: ${why.length ? "FAIL " + why.join("; ") : "PASS"}`);
    if (opt["stop-on-fail"] && why.length && k + 1 < RATES.length) {
      log("stopping the ramp at the first failing step");
      break;
    }
  }
  clearInterval(ticker);
  await closeAll(clients);
}

function diffCounts(now, then) {
  const out = {};
  for (const [k, v] of Object.entries(now)) if (v - (then[k] || 0)) out[k] = v - (then[k] || 0);
  return out;
}

// ------------------------------------------------------------------------------- idle
async function runIdle() {
  const warm = PORTS.map((port, k) => ({ room: `${opt["room-prefix"]}warm${k}`, port }));
  await connectAll(warm); // start-up costs of each worker are not charged to the measured connections
  await sleep(1000);
  const before = { srv: rssKb(SERVER_PIDS), aux: rssKb(AUX_PIDS) };
  const R = Math.max(1, opt.rooms);
  const clients = Array.from({ length: opt.connections }, (_, i) => {
    const r = i % R;
    return { room: `${opt["room-prefix"]}r${r}`, port: PORTS[(r + Math.floor(i / R)) % PORTS.length] };
  });
  log(`idle: workers' RSS ${round(before.srv / 1024, 1)} MB; joining ${clients.length} over ${R} rooms`);
  const conn = await connectAll(clients);
  log(`idle: ${conn.connected} joined in ${conn.connect_phase_s}s; holding ${opt.hold}s`);
  const m0 = meterStart();
  await sleep(opt.hold * 1000);
  const win = meterEnd(m0);
  const after = { srv: rssKb(SERVER_PIDS), aux: rssKb(AUX_PIDS) };
  const n = conn.connected || 1;
  emit({
    mode: "idle",
    config: { ports: PORTS, workers: PORTS.length, connections: opt.connections, rooms: R, hold_s: opt.hold, room_prefix: opt["room-prefix"] },
    ...conn,
    still_open: clients.filter((c) => c.ready && !c.closed).length,
    close_codes: totals.close_codes,
    server: { pids: SERVER_PIDS, rss_mb_before: round(before.srv / 1024, 1), rss_mb_after: round(after.srv / 1024, 1),
      kb_per_conn: round((after.srv - before.srv) / n, 1), hold_cpu_s: round(win.srv), dead_pids: SERVER_PIDS.filter((p) => !alive(p)) },
    redis: AUX_PIDS.length ? { rss_mb_before: round(before.aux / 1024, 1), rss_mb_after: round(after.aux / 1024, 1), kb_per_conn: round((after.aux - before.aux) / n, 1) } : null,
    loadgen: win.loadgen, host_cpu_busy_pct: win.host_cpu_busy_pct,
  });
  log(`idle: ${conn.connected} joined, ${round((after.srv - before.srv) / n, 1)} KB/conn in the workers`);
  await closeAll([...warm, ...clients]);
}

(opt.idle ? runIdle : runFanout)()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error("loadgen: fatal:", e?.stack || e);
    process.exit(1);
  });
