"""Quantities with units: parsed once into SI floats; bare numbers and wrong units rejected."""

import pytest

from archsim.spec.units import format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("80 GiB", "bytes", 80 * 2**30),
        ("40 MB", "bytes", 40e6),
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("900 GB/s", "bandwidth", 900e9),
        ("200 Gb/s", "bandwidth", 25e9),  # bits: HDR InfiniBand = 25 GB/s
        ("312 TFLOPS", "flops", 312e12),
        ("624 TOPS", "flops", 624e12),
        ("2 us", "time", 2e-6),
        ("1.5 ms", "time", 1.5e-3),
        ("400 W", "power", 400.0),
        ("1.2 kW", "power", 1200.0),
        ("2.50 USD/h", "price", 2.5),
        ("1e3 GB/s", "bandwidth", 1e12),
    ],
)
def test_parses_into_si(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected)


def test_bare_number_names_the_unit_expected():
    with pytest.raises(ValueError, match=r"bare number 80 has no unit; expected a quantity in "
                                         r"bytes, e.g. '80 GiB'"):
        parse_quantity(80, "bytes")


def test_number_without_unit_in_a_string():
    with pytest.raises(ValueError, match=r"'3.35' has no unit; expected a quantity in bandwidth"):
        parse_quantity("3.35", "bandwidth")


def test_unit_of_another_dimension():
    with pytest.raises(ValueError, match=r"unit 'GB' in '80 GB' is not a unit of bandwidth"):
        parse_quantity("80 GB", "bandwidth")


@pytest.mark.parametrize("text", ["0 GiB", "-1 GiB"])
def test_zero_and_negative_sizes(text):
    with pytest.raises(ValueError, match="must be greater than zero"):
        parse_quantity(text, "bytes")


def test_zero_allowed_where_asked():
    assert parse_quantity("0 us", "time", allow_zero=True) == 0.0


def test_unreadable():
    with pytest.raises(ValueError, match="cannot read 'fast' as a quantity"):
        parse_quantity("fast", "bandwidth")


@pytest.mark.parametrize(("value", "dimension"), [(80 * 2**30, "bytes"), (3.35e12, "bandwidth"),
                                                  (312e12, "flops"), (2e-6, "time")])
def test_format_round_trips(value, dimension):
    assert parse_quantity(format_quantity(value, dimension, digits=8), dimension) == \
        pytest.approx(value)


def test_a_dumped_device_reloads_to_the_same_floats():
    """40 GB is 37.2529029846191… GiB: dumped with 6 digits it came back 8e-8 smaller."""
    from archsim.spec.device import DeviceSpec
    from archsim.spec.loader import load_spec_file

    raw = load_spec_file("devices", "a100-sxm4-80gb").model_dump(mode="json")
    raw["memory"] = {"capacity": "40 GB", "bandwidth": "1.23456789 TB/s"}
    device = DeviceSpec.model_validate(raw)
    again = DeviceSpec.model_validate(device.model_dump(mode="json"))
    assert device.memory.capacity == pytest.approx(40e9, rel=1e-14)
    assert again.memory.capacity == pytest.approx(40e9, rel=1e-14)
    assert again.memory.bandwidth == 1.23456789e12
