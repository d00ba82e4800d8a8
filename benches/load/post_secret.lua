-- wrk: POST one upload-URL request per call, as BENCH_API_KEY, with body BENCH_BODY
-- (scripts/lib/bench-setup.sh sets both).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")
wrk.body = os.getenv("BENCH_BODY")
dofile("benches/load/summary.lua")
