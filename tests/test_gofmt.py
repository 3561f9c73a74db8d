"""Go's renderings (``gatewaykit._gofmt``) against Go's documented outputs.

The ``quote`` rows are the behaviour of Go's ``strconv.Quote`` (what ``%q`` prints): the
examples of its documentation and the cases of Go's own ``strconv/quote_test.go`` table
(control characters, invalid UTF-8, non-printable and non-ASCII runes).
"""

from __future__ import annotations

import pytest

from gatewaykit._gofmt import format_float, format_list, format_string_map, quote

QUOTE_ROWS = [
    # (input, Go's output)
    ("", '""'),
    ("abc", '"abc"'),
    ('"', '"\\""'),
    ("\\", '"\\\\"'),
    # The one-letter escapes.
    ("\a\b\f\r\n\t\v", '"\\a\\b\\f\\r\\n\\t\\v"'),
    # Other C0 controls and DEL: \xNN with lower-case hex.
    ("\x01", '"\\x01"'),
    ("\x04", '"\\x04"'),
    ("\x1b[0m", '"\\x1b[0m"'),
    ("\x7f", '"\\x7f"'),
    # Printable non-ASCII stays as it is.
    ("\u263a", '"\u263a"'),
    ("café ☺ 日本", '"café ☺ 日本"'),
    ("\U0001f600", '"\U0001f600"'),
    # Non-printable runes: \uNNNN below U+10000, \UNNNNNNNN above.
    ("\u0085", '"\\u0085"'),
    ("!\u00a0!\u2000!\u3000!", '"!\\u00a0!\\u2000!\\u3000!"'),
    ("\u2028\u2029", '"\\u2028\\u2029"'),
    ("\ufeff", '"\\ufeff"'),
    ("\U0010ffff", '"\\U0010ffff"'),
    # Invalid UTF-8: each bad byte as \xNN (Go strings are bytes).
    (b"abc\xffdef", '"abc\\xffdef"'),
    (b"\xc0\x80", '"\\xc0\\x80"'),  # overlong NUL
    (b"\xed\xa0\x80", '"\\xed\\xa0\\x80"'),  # an encoded surrogate
    (b"\xe2\x98", '"\\xe2\\x98"'),  # a truncated rune
    (b"\xe2\x98\xba", '"\u263a"'),  # the same rune complete
    # Python text carrying raw bytes (surrogateescape) and a lone surrogate.
    (b"\xff".decode("utf-8", "surrogateescape"), '"\\xff"'),
    ("\ud800", '"\\xed\\xa0\\x80"'),
    # strconv.Quote's documented example.
    ('"Fran & Freddie\'s Diner\t☺"', '"\\"Fran & Freddie\'s Diner\\t☺\\""'),
]


@pytest.mark.parametrize(("value", "expected"), QUOTE_ROWS)
def test_quote_matches_go_strconv_quote(value: str | bytes, expected: str) -> None:
    assert quote(value) == expected


def test_quote_of_a_non_string_quotes_its_text() -> None:
    # The Go fields these stand for are strings; a YAML number reaches us as int.
    assert quote(8080) == '"8080"'


def test_format_list_is_go_percent_v_of_a_slice() -> None:
    assert format_list(["a", "b"]) == "[a b]"
    assert format_list([]) == "[]"
    assert format_list(("x",)) == "[x]"


def test_format_float_is_go_percent_f() -> None:
    assert format_float(12.5) == "12.500000"
    assert format_float(-0.0001) == "-0.000100"
    assert format_float("n/a") == "n/a"


def test_format_string_map_is_go_percent_sharp_v_with_sorted_keys() -> None:
    assert format_string_map({"b": "2", "a": "x\ny"}) == 'map[string]string{"a":"x\\ny", "b":"2"}'
    assert format_string_map({}) == "map[string]string{}"
