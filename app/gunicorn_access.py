"""The access log's atoms, each made only when the line's format asks for it.

gunicorn builds every atom of every access line (the date with ``strftime``, a dict
entry for each request header, response header and environ variable, all of it copied
once more to escape quotes), though ``access_log_format`` names a handful: about half
of what an access line costs. ``LazyAtoms`` answers the lookups of ``format % atoms``
with exactly what gunicorn's ``SafeAtoms(Logger.atoms(...))`` would answer (tested
against it for many formats); nothing else is built.
"""
from __future__ import annotations

import os
from typing import Any, Callable

_DASH = "-"
_NONE = object()  # no such header or variable


def _status(a: "LazyAtoms") -> Any:
    status = a.resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _sent(a: "LazyAtoms") -> Any:
    return getattr(a.resp, "sent", None)


def _seconds(a: "LazyAtoms") -> int:
    return a.request_time.seconds


# gunicorn's atoms (glogging.Logger.atoms), by name.
_ATOMS: dict[str, Callable[["LazyAtoms"], Any]] = {
    "h": lambda a: a.environ.get("REMOTE_ADDR", _DASH),
    "l": lambda a: _DASH,
    "u": lambda a: a.logger._get_user(a.environ) or _DASH,
    "t": lambda a: a.logger.now(),
    "r": lambda a: "%s %s %s" % (a.environ["REQUEST_METHOD"], a.environ["RAW_URI"],
                                 a.environ["SERVER_PROTOCOL"]),
    "s": _status,
    "m": lambda a: a.environ.get("REQUEST_METHOD"),
    "U": lambda a: a.environ.get("PATH_INFO"),
    "q": lambda a: a.environ.get("QUERY_STRING"),
    "H": lambda a: a.environ.get("SERVER_PROTOCOL"),
    "b": lambda a: _sent(a) is not None and str(_sent(a)) or _DASH,
    "B": _sent,
    "f": lambda a: a.environ.get("HTTP_REFERER", _DASH),
    "a": lambda a: a.environ.get("HTTP_USER_AGENT", _DASH),
    "T": _seconds,
    "D": lambda a: _seconds(a) * 1000000 + a.request_time.microseconds,
    "M": lambda a: _seconds(a) * 1000 + int(a.request_time.microseconds / 1000),
    "L": lambda a: "%d.%06d" % (_seconds(a), a.request_time.microseconds),
    "p": lambda a: "<%s>" % os.getpid(),
}


class LazyAtoms(dict):
    """``format % LazyAtoms(...)`` is ``format % SafeAtoms(logger.atoms(...))``.

    A dict only so that ``%`` takes it as a mapping: it holds nothing, and only its
    ``__getitem__`` is meant to be used.
    """

    __slots__ = ("logger", "resp", "req", "environ", "request_time")

    def __init__(self, logger, resp, req, environ, request_time):
        super().__init__()
        self.logger, self.resp, self.req = logger, resp, req
        self.environ, self.request_time = environ, request_time

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{"):
            value = self._braced(key.lower())
            if value is _NONE:
                return _DASH
        else:
            make = _ATOMS.get(key)
            if make is None:
                return _DASH
            value = make(self)
        # What SafeAtoms does to every string it holds.
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def _braced(self, key: str) -> Any:
        """``{name}i`` (request header), ``{name}o`` (response header) or ``{name}e``
        (environ variable), names compared lower-cased and the last of equal names
        winning, as in gunicorn's dicts of them; _NONE when there is none."""
        kind, name = key[-1:], key[1:-2]
        if len(key) < 3 or key[-2] != "}" or kind not in ("i", "o", "e"):
            return _NONE
        if kind == "e":
            pairs = self.environ.items()
        elif kind == "o":
            pairs = _pairs(self.resp.headers)
        else:
            pairs = _pairs(getattr(self.req, "headers", self.req))
        found = _NONE
        for header, value in pairs:
            if header.lower() == name:
                found = value
        return found


def _pairs(headers):
    return headers.items() if hasattr(headers, "items") else headers
