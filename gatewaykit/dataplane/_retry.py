"""Envoy's router retry policy, as a table and pure functions.

Rule: no I/O here. Istio gives every HTTP route a retry policy (``pilot/pkg/networking/core/
route/retry/retry.go`` ``DefaultPolicy``): ``num_retries: 2``, ``retry_on:
connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes``; a VirtualService
``retries`` block replaces ``attempts``/``retryOn`` (status codes in ``retryOn`` become
``retriable_status_codes``). What each ``retry_on`` condition retries is Envoy's
``RetryStateImpl`` (``source/common/router/retry_state_impl.cc``), documented under
"x-envoy-retry-on" in Envoy's router filter docs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from enum import Enum

from gatewaykit import envoy

__all__ = ["RETRY_ON", "Failure", "backoff", "max_retries", "retries_on"]


class Failure(Enum):
    """The kinds of failed try the router may retry."""

    CONNECT_FAILURE = "the upstream connection could not be made"
    STATUS = "the upstream answered with a status code"


StatusTest = Callable[[int, tuple[int, ...]], bool]

#: retry_on condition → (retries a connect failure?, which statuses it retries).
#: Envoy docs (router filter, x-envoy-retry-on): "connect-failure: Envoy will attempt a retry if a
#: request is failed because of a connection failure to the upstream server"; "5xx ... any 5xx
#: response code"; "gateway-error: ... only retry requests that result in a 502, 503, or 504";
#: "retriable-status-codes: ... the response status code matches one defined in ... the
#: retriable_status_codes list". refused-stream, unavailable and cancelled concern HTTP/2
#: REFUSED_STREAM resets and gRPC statuses, which nothing here produces.
RETRY_ON: Mapping[str, tuple[bool, StatusTest | None]] = {
    "connect-failure": (True, None),
    "reset": (True, None),
    "5xx": (False, lambda status, _codes: status >= 500),
    "gateway-error": (False, lambda status, _codes: status in (502, 503, 504)),
    "retriable-status-codes": (False, lambda status, codes: status in codes),
}


def _conditions(policy: envoy.RetryPolicy) -> list[str]:
    return [c.strip() for c in policy.retry_on.split(",") if c.strip()]


def max_retries(policy: envoy.RetryPolicy | None, failure: Failure, status: int = 0) -> int:
    """How many retries the policy allows after a try failed this way (0: none).

    Args:
        policy: the route's retry policy (None: retries disabled, VirtualService attempts 0).
        failure: how the try failed.
        status: the upstream's status code, for :attr:`Failure.STATUS`.
    """
    if policy is None or not retries_on(policy, failure, status):
        return 0
    return max(policy.num_retries, 0)


def retries_on(policy: envoy.RetryPolicy, failure: Failure, status: int = 0) -> bool:
    """Whether one of the policy's ``retry_on`` conditions covers this failure."""
    for condition in _conditions(policy):
        connect, status_test = RETRY_ON.get(condition, (False, None))
        if failure is Failure.CONNECT_FAILURE and connect:
            return True
        if failure is Failure.STATUS and status_test is not None:
            if status_test(status, policy.retriable_status_codes):
                return True
    return False


def backoff(retry: int, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): jittered, 25 ms base interval."""
    return 0.025 * rng.random() * retry
