"""A team's routes that spend, for the policy tests (test client and gunicorn alike)."""
from __future__ import annotations

import flask

from app.policy import tenant_spend


class Boom(Exception):
    """Raised inside a spend by the test route: the model call failed."""


def spend_blueprint() -> flask.Blueprint:
    """A team's route: spend ``estimate``, settle ``actual`` (if given) or raise."""
    bp = flask.Blueprint("spend_test", __name__)

    @bp.route("/spend", methods=["POST"])
    def spend():
        body = flask.request.get_json()
        with tenant_spend(model=body["model"], estimate_usd=body["estimate"]) as charge:
            if body.get("fail"):
                raise Boom("the model call failed")
            if "actual" in body:
                charge.settle(body["actual"])
        return {"estimate_usd": charge.estimate_usd}

    @bp.route("/spend-on-body", methods=["POST"])
    def spend_on_body():
        # The body is read inside the block: a client that leaves mid-body ends it.
        with tenant_spend(model="model-a", estimate_usd=0.5):
            size = len(flask.request.get_data())
        return {"size": size}

    @bp.route("/spend-streamed")
    def spend_streamed():
        def chunks():
            with tenant_spend(model="model-a", estimate_usd=0.5):
                for index in range(3):
                    yield f"chunk {index}\n"
        return flask.Response(flask.stream_with_context(chunks()))

    return bp
