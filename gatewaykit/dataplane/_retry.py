"""Envoy's router retry policy, as a table and pure functions.

Rule: no I/O here. Istio gives every HTTP route a retry policy (``pilot/pkg/networking/core/
route/retry/retry.go`` ``DefaultPolicy``): ``num_retries: 2``, ``retry_on:
connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`` (no status code
listed), and the ``previous_hosts`` retry host predicate; a VirtualService ``retries`` block
replaces ``attempts``/``retryOn`` (status codes in ``retryOn`` become ``retriable_status_codes``).
What each ``retry_on`` condition retries is Envoy's ``RetryStateImpl``
(``source/common/router/retry_state_impl.cc``: ``wouldRetryFromReset``,
``wouldRetryFromHeaders``), documented under "x-envoy-retry-on" in Envoy's router filter docs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from enum import Enum

from gatewaykit import envoy

__all__ = ["RETRY_ON", "Failure", "backoff", "max_retries", "next_endpoint", "retries_on"]


class Failure(Enum):
    """How a try failed (Envoy's reset reasons, or an answer with a status code)."""

    CONNECT_FAILURE = "the upstream connection could not be made (local/remote connection failure)"
    RESET = "the upstream reset or closed the request before answering (connection termination)"
    REFUSED_STREAM = "the HTTP/2 upstream refused the stream (REFUSED_STREAM)"
    STATUS = "the upstream answered with a status code"


StatusTest = Callable[[int, tuple[int, ...]], bool]
_ANY_RESET = frozenset({Failure.CONNECT_FAILURE, Failure.RESET, Failure.REFUSED_STREAM})

#: retry_on condition → (the resets it retries, the statuses it retries). From the Envoy docs:
#: "5xx: ... any 5xx response code, or does not respond at all (disconnect/reset/read timeout).
#: (Includes connect-failure and refused-stream)"; "gateway-error: ... similar to the 5xx policy
#: but will only retry requests that result in a 502, 503, or 504"; "reset: ... does not respond
#: at all (disconnect/reset/read timeout.)"; "connect-failure: ... a connection failure to the
#: upstream server (connect timeout, etc.)"; "retriable-4xx: ... 409"; "refused-stream: ... resets
#: the stream with a REFUSED_STREAM error code"; "retriable-status-codes: ... the response status
#: code matches one defined in ... the retriable_status_codes list". In wouldRetryFromReset, 5xx,
#: gateway-error and reset retry every reset, connect failures included. ``unavailable`` and
#: ``cancelled`` are gRPC statuses (retry_grpc_on), which nothing here answers.
RETRY_ON: Mapping[str, tuple[frozenset[Failure], StatusTest | None]] = {
    "5xx": (_ANY_RESET, lambda status, _codes: status >= 500),
    "gateway-error": (_ANY_RESET, lambda status, _codes: status in (502, 503, 504)),
    "reset": (_ANY_RESET, None),
    "reset-before-request": (frozenset({Failure.CONNECT_FAILURE}), None),
    "connect-failure": (frozenset({Failure.CONNECT_FAILURE}), None),
    "refused-stream": (frozenset({Failure.REFUSED_STREAM}), None),
    "retriable-4xx": (frozenset(), lambda status, _codes: status == 409),
    "retriable-status-codes": (frozenset(), lambda status, codes: status in codes),
}


def _conditions(policy: envoy.RetryPolicy) -> list[str]:
    return [c.strip() for c in policy.retry_on.split(",") if c.strip()]


def retries_on(policy: envoy.RetryPolicy, failure: Failure, status: int = 0) -> bool:
    """Whether one of the policy's ``retry_on`` conditions covers this failure."""
    for condition in _conditions(policy):
        resets, status_test = RETRY_ON.get(condition, (frozenset(), None))
        if failure in resets:
            return True
        if failure is Failure.STATUS and status_test is not None:
            if status_test(status, policy.retriable_status_codes):
                return True
    return False


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


def backoff(retry: int, rng: random.Random, base: float = 0.025, maximum: float = 0.25) -> float:
    """Seconds to wait before retry number ``retry`` (1-based).

    Envoy's "fully jittered exponential back-off": a random time in ``[0, (2^retry - 1) * base)``
    with the default base interval of 25 ms, capped at the maximum interval (10 × base)
    (``JitteredExponentialBackOffStrategy``).
    """
    return min(rng.random() * ((1 << retry) - 1) * base, maximum)


def next_endpoint(healthy: Sequence[str], tried: Collection[str], rng: random.Random) -> str | None:
    """The endpoint a retry goes to: preferably one not tried yet (Istio's ``previous_hosts``
    retry host predicate, envoy.retry_host_predicates.previous_hosts), else any healthy one."""
    fresh = [e for e in healthy if e not in tried]
    pool = fresh or list(healthy)
    return pool[rng.randrange(len(pool))] if pool else None
