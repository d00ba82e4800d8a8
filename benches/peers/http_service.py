"""Peer 2: an HTTP signing service built on Google's Python client, in the shape most Python
services have in production: a Flask app under gunicorn. Signing is synchronous CPU work, so an
ASGI stack would add an event loop and nothing else; gunicorn's threaded worker (`gthread`)
with one process is the fair match for storage-signer with one worker thread.

It does what a minimal but honest service must: checks the API key (SHA-256 of the bearer
token, looked up among the configured hashes), validates the fields it signs, signs the URL,
appends one audit line to a file (flushed before answering) and answers JSON in the shape of
POST /media_content_storage_secrets. No policy language, no hash chain, no metrics.

Environment: SERVICE_ACCOUNT_KEY_PATH, API_KEY_SHA256 (comma-separated), AUDIT_LOG_PATH.
Run: gunicorn --worker-class gthread --workers 1 --threads 8 http_service:app
"""

import datetime
import hashlib
import json
import os
import threading
import uuid

from flask import Flask, jsonify, request
from google.cloud import storage
from google.oauth2 import service_account

credentials = service_account.Credentials.from_service_account_file(
    os.environ["SERVICE_ACCOUNT_KEY_PATH"]
)
client = storage.Client(project="bench", credentials=credentials)
api_key_hashes = set(os.environ["API_KEY_SHA256"].split(","))
audit = open(os.environ["AUDIT_LOG_PATH"], "a", encoding="utf-8")
audit_lock = threading.Lock()
app = Flask(__name__)


def refuse(status: int, message: str):
    return jsonify({"meta": {"code": status}, "error": {"message": message}}), status


@app.post("/media_content_storage_secrets")
def create_secret():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if hashlib.sha256(token.encode()).hexdigest() not in api_key_hashes:
        return refuse(401, "invalid API key")
    secret = (request.get_json(silent=True) or {}).get("secret") or {}
    action, bucket = secret.get("action"), secret.get("bucket")
    resource_id = secret.get("resource_id")
    if action not in ("GET", "HEAD", "PUT", "DELETE") or not bucket or not resource_id:
        return refuse(422, "invalid secret")
    name = resource_id + ("/" + secret["resource_name"] if secret.get("resource_name") else "")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires_at = now + datetime.timedelta(seconds=900)
    url = client.bucket(bucket).blob(name).generate_signed_url(
        version=secret.get("version", "v2"),
        expiration=expires_at,
        method=action,
        content_type=secret.get("content_type"),
        credentials=credentials,
    )
    request_id = str(uuid.uuid4())
    with audit_lock:
        audit.write(json.dumps({"request_id": request_id, "decision": "issued", "action": action,
                                "bucket": bucket, "object": name,
                                "expires_at": expires_at.isoformat()}) + "\n")
        audit.flush()
    body = {"meta": {"code": 201, "type": "object", "request_id": request_id},
            "data": {"action": action, "bucket": bucket, "resource_id": resource_id,
                     "secret_url": url, "expires_at": expires_at.isoformat(),
                     "inserted_at": now.isoformat()}}
    return jsonify(body), 201


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
