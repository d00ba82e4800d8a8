-- wrk: print one machine-readable summary line (read by scripts/bench-load and
-- scripts/lib/bench-peers.sh).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d non2xx=%d socket_errors=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f mean_ms=%.3f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.mean / 1000))
end
