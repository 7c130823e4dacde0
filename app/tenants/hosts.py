"""Host names: one normal form for configured hosts and for the Host header of a request."""
from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_host(raw: str) -> str | None:
    """Lower-case, without port or trailing dot; IPv6 literals lose their brackets.

    Returns None for anything that is not a host name or IP address.
    """
    host = raw.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end == -1 or (host[end + 1:] and not re.fullmatch(r":\d{1,5}", host[end + 1:])):
            return None
        return _ipv6(host[1:end])
    if host.count(":") > 1:
        return _ipv6(host)  # a bare IPv6 literal without brackets or port
    host = re.sub(r":\d{1,5}$", "", host.rstrip(".")).rstrip(".")
    if not host or len(host) > 253:
        return None
    if all(_LABEL.match(label) for label in host.split(".")):
        return host
    return None


def _ipv6(text: str) -> str | None:
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        return None
