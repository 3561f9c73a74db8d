"""``hosts.intersection`` equals Istio's pairwise ``Names.Intersection`` (names.go), on any input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gatewaykit._translate.hosts import HostIndex, intersection, subset_of


def _pairwise(h: list[str], other: list[str]) -> list[str]:
    # pkg/config/host/names.go Intersection, verbatim.
    result: list[str] = []
    for hh in h:
        for oh in other:
            if subset_of(hh, oh):
                if hh not in result:
                    result.append(hh)
            elif subset_of(oh, hh):
                if oh not in result:
                    result.append(oh)
    return result


_host = st.sampled_from(
    ["*", "*.com", "*.example.com", "a.example.com", "b.example.com", "example.com", "*.a.example.com",
     "x.a.example.com", "a.example.org", "*.org"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_host, max_size=6), st.lists(_host, max_size=6))
def test_intersection_matches_istio(h: list[str], other: list[str]) -> None:
    assert intersection(h, other) == _pairwise(h, other)


@settings(max_examples=400, deadline=None)
@given(st.lists(_host, max_size=12), st.lists(_host.filter(lambda x: x[0] != "*"), max_size=3))
def test_host_index_matches_istio(h: list[str], other: list[str]) -> None:
    # Long server host lists and a few exact VirtualService hosts: the indexed path.
    assert HostIndex(h).intersection(other) == _pairwise(h, other)
    assert HostIndex(h + h).intersection(other + other) == _pairwise(h + h, other + other)


def test_many_exact_server_hosts() -> None:
    server = [f"h{i}.example.com" for i in range(2000)]
    assert intersection(server, ["h7.example.com"]) == ["h7.example.com"]
    assert intersection(server, ["*.example.com"]) == server
    assert intersection(["*.example.com"], ["h7.example.com", "x.org"]) == ["h7.example.com"]
    index = HostIndex([*server, "*.example.com", "*"])
    assert index.intersection(["h7.example.com", "new.example.com", "x.org"]) == [
        "h7.example.com",
        "new.example.com",
        "x.org",
    ]
