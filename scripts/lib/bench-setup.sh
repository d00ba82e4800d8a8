# Sourced by scripts/bench-*. bench_setup DIR writes into DIR a fresh service-account key, a
# clients file with 20 API-key clients (the benchmark's caller is the last one, so every key
# comparison runs) and sets:
#   SERVICE_ENV   environment for `storage-signer serve`: policy on, audit trail to DIR/audit.log
#   BENCH_API_KEY the caller's API key
#   BENCH_BODY    the request body (a V2 upload URL the caller's policy allows)
#   BENCH_BODY_V4, BENCH_BODY_HMAC, BENCH_BODY_BATCH, BENCH_BODY_GET
#                 a V4 RSA URL; a V4 URL of a bucket signed with an HMAC key; a batch of 10;
#                 a V2 download URL of one object (sent again and again: the hot read, served
#                 by the rule's reuse_window of 60 s)
#   BENCH_BODY_S3, BENCH_BODY_SWIFT
#                 the V2 body's upload for an S3 bucket and a Swift bucket (DIR/backends.toml)
bench_setup() {
  local dir=$1 hash i
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
  python3 -c 'import json, sys; print(json.dumps({"type": "service_account", "client_email": "bench@example.invalid", "private_key": open(sys.argv[1]).read(), "token_uri": "https://oauth2.googleapis.com/token"}))' \
    "$dir/key.pem" >"$dir/key.json"
  : >"$dir/clients.toml"
  for i in $(seq 19); do
    hash=$(printf 'ssk_other-%s' "$i" | sha256sum | cut -d' ' -f1)
    printf '[[clients]]\nid = "other-%s"\napi_key_sha256 = "%s"\n[[clients.allow]]\nmethods = ["GET"]\nresources = ["/bench-bucket/other-%s/**"]\n\n' \
      "$i" "$hash" "$i" >>"$dir/clients.toml"
  done
  BENCH_API_KEY="ssk_bench-$(openssl rand -hex 16)"
  hash=$(printf '%s' "$BENCH_API_KEY" | sha256sum | cut -d' ' -f1)
  cat >>"$dir/clients.toml" <<TOML
[[clients]]
id = "bench-frontend"
api_key_sha256 = "$hash"
max_ttl = 900
[[clients.allow]]
methods = ["PUT"]
resources = ["/bench-bucket/declarations/*/uploads/**", "/bench-hmac/declarations/*/uploads/**", "/bench-s3/declarations/*/uploads/**"]
content_types = ["application/pdf", "image/jpeg"]
[[clients.allow]]
methods = ["PUT"]
resources = ["/bench-swift/declarations/*/uploads/**"]
[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/bench-bucket/declarations/*/uploads/*/preview.jpg"]
reuse_window = 60
TOML
  local secret='"action":"PUT","resource_id":"declarations/2026/uploads","resource_name":"scan 1.pdf","content_type":"application/pdf"'
  BENCH_BODY="{\"secret\":{$secret,\"bucket\":\"bench-bucket\"}}"
  BENCH_BODY_V4="{\"secret\":{$secret,\"bucket\":\"bench-bucket\",\"version\":\"v4\"}}"
  BENCH_BODY_HMAC="{\"secret\":{$secret,\"bucket\":\"bench-hmac\",\"version\":\"v4\"}}"
  BENCH_BODY_GET='{"secret":{"action":"GET","bucket":"bench-bucket","resource_id":"declarations/2026/uploads/1","resource_name":"preview.jpg"}}'
  BENCH_BODY_S3="{\"secret\":{$secret,\"bucket\":\"bench-s3\"}}"
  BENCH_BODY_SWIFT="{\"secret\":{$secret,\"bucket\":\"bench-swift\"}}"
  cat >"$dir/backends.toml" <<TOML
[[backends]]
name = "minio"
type = "s3"
endpoint = "http://127.0.0.1:9000"
access_key_id = "AKIDBENCHMARK"
secret_access_key_env = "BENCH_S3_SECRET"
buckets = ["bench-s3"]

[[backends]]
name = "swift"
type = "swift"
endpoint = "https://swift.example:8080"
account = "AUTH_bench"
temp_url_key_env = "BENCH_SWIFT_KEY"
buckets = ["bench-swift"]
TOML
  BENCH_BODY_BATCH="{\"secrets\":[$(for i in $(seq 10); do printf '%s{%s,"bucket":"bench-bucket"}' "$([ "$i" -gt 1 ] && echo ,)" "$secret"; done)]}"
  SERVICE_ENV=(
    "SERVICE_ACCOUNT_KEY_PATH=$dir/key.json"
    "KNOWN_BUCKETS=bench-bucket,bench-hmac,bench-s3,bench-swift"
    "BACKENDS_CONFIG_PATH=$dir/backends.toml"
    "BENCH_S3_SECRET=$(openssl rand -base64 30)"
    "BENCH_SWIFT_KEY=$(openssl rand -hex 20)"
    "HMAC_ACCESS_ID=GOOG1BENCHMARKACCESSID"
    "HMAC_SECRET=$(openssl rand -base64 30)"
    "HMAC_BUCKETS=bench-hmac"
    "CLIENTS_CONFIG_PATH=$dir/clients.toml"
    "AUDIT_LOG_PATH=$dir/audit.log"
    "LOG_LEVEL=info"
  )
  export BENCH_API_KEY BENCH_BODY BENCH_BODY_V4 BENCH_BODY_HMAC BENCH_BODY_BATCH BENCH_BODY_GET \
    BENCH_BODY_S3 BENCH_BODY_SWIFT
}
