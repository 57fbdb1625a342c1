#!/usr/bin/env node
// bench/table.mjs RESULTS.jsonl [--markdown] -- the records of bench/loadgen.mjs as one table per scenario.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const markdown = args.includes("--markdown");
const file = args.find((a) => !a.startsWith("--"));
if (!file) {
  console.error("usage: node bench/table.mjs RESULTS.jsonl [--markdown]");
  process.exit(2);
}
const rows = readFileSync(file, "utf8")
  .split("\n")
  .filter((l) => l.trim().startsWith("{"))
  .map((l) => JSON.parse(l))
  .filter((r) => r.tool === "bench/loadgen.mjs");

const num = (x, d = 1) => (x == null ? "-" : Number.isInteger(x) ? String(x) : x.toFixed(d));
const ms = (x) => (x == null ? "-" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function print(title, head, body) {
  console.log(`\n${title}`);
  if (markdown) {
    console.log(`| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|`);
    for (const r of body) console.log(`| ${r.join(" | ")} |`);
    return;
  }
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join("  ");
  console.log([line(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(line)].join("\n"));
}

for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
  const rs = rows.filter((r) => r.scenario === scenario);
  if (rs[0].mode === "idle") {
    print(
      `== ${scenario}: idle connections`,
      ["label", "W", "joined", "fail", "open@end", "join p50 ms", "join p99 ms", "RSS before MB", "RSS after MB", "KB/conn", "redis KB/conn"],
      rs.map((r) => [r.label, r.config.workers, r.connected, r.connect_failures, r.still_open, ms(r.join_ms.p50), ms(r.join_ms.p99),
        num(r.server.rss_mb_before), num(r.server.rss_mb_after), num(r.server.kb_per_conn), num(r.redis?.kb_per_conn)]),
    );
    continue;
  }
  print(
    `== ${scenario}: fan-out (our protocol: acks and per-receiver seq continuity checked)`,
    ["label", "W", "rate", "msgs/s", "joined", "delivered/expected", "lost", "dup", "acks miss", "seq gaps", "seq dups", "reord",
      "deliv/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "ack p99", "srv CPU%", "CPU ms/1k", "srv RSS MB", "lg CPU%", "host%", "drain", "SLO"],
    rs.map((r) => [r.label, r.config.workers, r.rate_per_sender, r.offered_msgs_per_s, r.connected, `${r.delivered}/${r.expected}`, r.lost,
      r.duplicates, r.acks_missing, r.seq_check.gaps, r.seq_check.duplicates, r.seq_check.reordered, num(r.delivered_per_s, 0),
      ms(r.latency_ms.p50), ms(r.latency_ms.p90), ms(r.latency_ms.p99), ms(r.latency_ms.max), ms(r.ack_ms.p99), num(r.server.cpu_pct, 0),
      num(r.cpu_ms_per_1k_deliveries, 0), num(r.server.rss_mb_peak, 0), num(r.loadgen.cpu_pct, 0), num(r.host_cpu_busy_pct, 0),
      r.drain_end, r.slo.pass ? "pass" : `FAIL: ${r.slo.why.join("; ")}`]),
  );
}
console.log("\nCPU ms/1k = (workers + redis CPU) per 1000 deliveries to non-senders; srv CPU% of one core (200% = both);" +
  " lg = this load generator, on the same cores; seq gaps = (receiver, seq) pairs of the measured range never received.");
