"""Envoy's HTTP reason phrases (``source/common/http/codes.cc``, ``CodeUtility::toString``).

Envoy's HTTP/1 codec writes the status line itself from this table; codes it does not
list print ``Unknown`` -- which is why ``curl -v`` through a gateway shows
``HTTP/1.1 418 Unknown`` (docs/behaviour.md §1.5) even though the upstream said ``I'm a teapot``.
"""

from __future__ import annotations

__all__ = ["reason_phrase"]

# Copied from Envoy's CodeUtility::toString switch (codes.cc); 418 is deliberately absent.
_PHRASES: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


def reason_phrase(status: int) -> str:
    """Return the reason phrase Envoy prints for ``status`` (``Unknown`` when it has none).

    Args:
        status: the HTTP status code.

    Returns:
        The phrase from Envoy's table, e.g. ``"OK"``; ``"Unknown"`` for 418 and friends.
    """
    return _PHRASES.get(status, "Unknown")
