"""The baseline: a bare Flask app with one JSON route, served like Tenantgate."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify({"status": "ok"})
