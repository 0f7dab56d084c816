"""The one Go-duration parser and the one byte-size table (docker/go-units, compose-go's str2duration)."""

import pytest

from gantry.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize("text, want", [
    ("1m30s", 90 * 10**9), ("500ms", 500 * 10**6), ("1.5h", 5400 * 10**9), ("2d", 2 * 86400 * 10**9),
    ("1w", 7 * 86400 * 10**9), ("10us", 10_000), ("10µs", 10_000), ("3ns", 3), (".5s", 500 * 10**6),
    ("1.s", 10**9), ("-1m", -60 * 10**9), ("+2s", 2 * 10**9), ("0", 0), ("-0", 0),
    ("", None), ("5", None), ("1x", None), ("abc5s", None), ("5s abc", None), ("+-5s", None), ("1m 30s", None),
], ids=["m-s", "ms", "fraction-h", "days", "weeks", "us", "micro-sign", "ns", "leading-dot", "trailing-dot",
        "negative", "plus", "zero", "minus-zero", "empty", "no-unit", "bad-unit", "garbage-before",
        "garbage-after", "two-signs", "space"])
def test_units_parse_duration(text, want):
    assert parse_duration(text) == want


@pytest.mark.parametrize("nanos, want", [
    (0, "0s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (1_500_000_000, "1.5s"), (500 * 10**6, "500ms"),
    (1500, "1.5µs"), (7, "7ns"), (-60 * 10**9, "-1m0s"), (2 * 86400 * 10**9, "48h0m0s"),
], ids=["zero", "m-s", "hour", "fraction", "ms", "us", "ns", "negative", "days-as-hours"])
def test_units_format_duration_like_go(nanos, want):
    assert format_duration(nanos) == want


@pytest.mark.parametrize("text, decimal, want", [
    ("1048576", False, 1 << 20), ("512m", False, 512 << 20), ("512M", False, 512 << 20), ("1.5g", False, 3 << 29),
    ("64MiB", False, 64 << 20), ("64mb", False, 64 << 20), ("2 k", False, 2048), ("1t", False, 1 << 40),
    ("200MB", True, 200_000_000), ("1.5GB", True, 1_500_000_000), ("200MiB", True, 200 << 20), ("10k", True, 10_000),
    ("1.2.3m", False, None), ("m", False, None), ("-1m", False, None), ("12x", False, None), ("", False, None),
    ("1  m", False, None),
], ids=["bytes", "m", "M", "fraction-g", "MiB", "mb-binary", "one-space", "t", "decimal-MB", "decimal-fraction",
        "decimal-keeps-MiB", "decimal-k", "two-dots", "no-number", "negative", "bad-unit", "empty", "two-spaces"])
def test_units_parse_size(text, decimal, want):
    assert parse_size(text, decimal=decimal) == want


@pytest.mark.parametrize("value, want", [
    ("1.2.3m", 'services.web.mem_limit: invalid size: "1.2.3m"'),  # was a ValueError traceback
    ("lots", 'services.web.mem_limit: invalid size: "lots"'),
], ids=["two-dots", "word"])
def test_units_compose_size_errors_name_the_key(value, want):
    from gantry.compose.normalize import to_bytes
    from gantry.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        to_bytes(value, ("services", "web", "mem_limit"))
    assert str(exc.value).splitlines()[0] == want
