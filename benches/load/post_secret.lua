-- wrk script: POST one upload-URL request per call and print a machine-readable summary.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or
  '{"secret":{"action":"PUT","bucket":"dev-bucket","resource_id":"bench/2026","resource_name":"scan 1.pdf","content_type":"application/pdf"}}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d non2xx=%d socket_errors=%d p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
