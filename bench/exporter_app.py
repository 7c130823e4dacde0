"""Peer: the bare app plus prometheus-flask-exporter (multiprocess), what a team adds first."""
from flask import Flask, jsonify

from .peer_metrics import instrument

app = Flask(__name__)
metrics = instrument(app)


@app.get("/health")
def health():
    return jsonify({"status": "ok"})
