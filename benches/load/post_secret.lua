-- wrk: POST one upload-URL request per call (body overridable with BENCH_BODY).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or
  '{"secret":{"action":"PUT","bucket":"dev-bucket","resource_id":"bench/2026","resource_name":"scan 1.pdf","content_type":"application/pdf"}}'
dofile("benches/load/summary.lua")
