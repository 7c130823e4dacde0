"""One admin request, one transaction: its writes and the rendering of its answer.

A request whose answer cannot be produced (a 5xx, or an error while rendering it) after
its writes would otherwise have changed the store behind an error page: a tenant nested
500 levels deep was stored although the PUT answered 500. Inside the transaction every
store write joins it (app/store/unit_of_work.py), so such a request changes nothing. A
refusal (a 4xx) commits what was done before it: counting a refusal by the label cap is
part of refusing.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import current_app, request

from ..errors import api_error_for
from ..services import services

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _Failed(Exception):
    """Carries a 5xx answer out of the transaction, so that it rolls back."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def _is_refusal(exc: Exception) -> bool:
    """A 4xx the request chose (kept: counting a refusal is part of refusing); anything
    else, a 5xx or an exception no code expected, undoes the request's writes."""
    answer = api_error_for(exc)
    return answer is not None and answer.status < 500


def in_one_transaction(view: Callable) -> Callable:
    """Decorator for admin views that write (MethodView.decorators)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method in SAFE_METHODS:
            return view(*args, **kwargs)
        refusal = None
        try:
            with services().store.db.write():
                try:
                    response = current_app.make_response(view(*args, **kwargs))
                except Exception as exc:  # sorted below: a refusal commits, the rest undoes
                    if not _is_refusal(exc):
                        raise
                    refusal = exc
                else:
                    if response.status_code >= 500:
                        raise _Failed(response)
        except _Failed as failed:
            return failed.response
        if refusal is not None:
            raise refusal
        return response
    return wrapper
