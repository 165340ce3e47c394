"""The YAML reader: the fast path (yaml_rs) gives exactly what PyYAML gives, or is not used."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.vuln import osvyaml
from tests.conftest import shared_data


def _pyyaml(data: bytes) -> Any:
    return yaml.load(data, Loader=osvyaml.OsvLoader)


def test_every_real_pypi_record_reads_as_pyyaml_reads_it() -> None:
    """Differential test over all 2,661 files of ../shared/data/osv-pypi."""
    vulns = shared_data("osv-pypi", "vulns")
    files = sorted(vulns.rglob("*.yaml"))
    assert len(files) == 2661
    fast = 0
    for path in files:
        data = path.read_bytes()
        expected = _pyyaml(data)
        assert osvyaml.load(data) == expected, path
        quick = osvyaml._fast(data)
        if quick is not None:
            fast += 1
            assert quick == expected, path
    if osvyaml.yaml_rs is not None:
        assert fast > 2300  # the fast path is taken for nine in ten of them


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: 1.10\n", "1.10"),
        ("v: 0\n", "0"),
        ("v: 2021-01-01\n", "2021-01-01"),
        ("v: 1e3\n", "1e3"),
        ("v: 0x1F\n", "0x1F"),
        ("v: .inf\n", ".inf"),
        ("v: yes\n", True),
        ("v: Off\n", False),
        ("v: ~\n", None),
        ("v:\n", None),
        ("v: 'yes'\n", "yes"),
        ("v: !!str 1.10\n", "1.10"),
        ("v: 99999999999999999999999\n", "99999999999999999999999"),
    ],
)
def test_numbers_and_dates_stay_text(text: str, value: object) -> None:
    assert osvyaml.load(text.encode()) == {"v": value}


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGVsbG8=\n",  # a tag: yaml_rs would drop it
        "a: &x [1]\nb: *x\n",  # an anchor: PyYAML shares the value
        "b: &b {x: 1}\nd:\n  <<: *b\n",  # a merge key
        "a: 1\n---\nb: 2\n",  # two documents: PyYAML refuses
        "\ufeffa: b\n",
        "a: \x07\n",  # not printable: PyYAML refuses
        "a: x\x85y\n",  # a line break in YAML 1.1, not in 1.2
        "a: 1\na: 2\n",  # a duplicate key: yaml_rs refuses, PyYAML keeps the last
        "1: a\n",
        "yes: a\n",
        "- >\n",  # an empty block scalar: yaml_rs reads "\\n", PyYAML ""
        "[>x]",  # PyYAML refuses ">" starting a plain scalar in a flow
        "a: x > y\n",  # ">" where a node could start: left to PyYAML
        'a: {"k":|}\n',
    ],
)
def test_what_the_fast_path_leaves_to_pyyaml(text: str) -> None:
    data = text.encode()
    assert osvyaml._fast(data) is None
    try:
        expected = _pyyaml(data)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            osvyaml.load(data)
    else:
        assert osvyaml.load(data) == expected


_yamlish = st.text(
    alphabet=st.sampled_from(list("ab01.-:#'\"[]{},?|>\\ \n\t~yesnoultrf")) | st.characters(),
    max_size=80,
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_yamlish)
def test_fuzz_the_fast_path_agrees_with_pyyaml(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    quick = osvyaml._fast(data)
    if quick is None:
        return
    assert quick == _pyyaml(data), repr(text)  # PyYAML must read it, and read it the same


_records = st.recursive(
    st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=_records, flow=st.booleans(), width=st.sampled_from([20, 80, 10_000]))
def test_fuzz_dumped_records_read_back_alike(value: Any, flow: bool, width: int) -> None:
    data = yaml.safe_dump(value, default_flow_style=flow, width=width, allow_unicode=True).encode()
    assert osvyaml.load(data) == _pyyaml(data)


@pytest.mark.parametrize(
    "text",
    [
        "url: https://groups.google.com/forum/#!topic/x\n",  # "!" inside a word: no tag
        "url: https://example.org/?a=1&b=2\n",  # "&" inside a word: no anchor
        "details: use a => b\n",
    ],
)
def test_indicator_characters_inside_words_keep_the_fast_path(text: str) -> None:
    if osvyaml.yaml_rs is None:
        pytest.skip("yaml_rs is not installed: every document goes through PyYAML")
    assert osvyaml._fast(text.encode()) == _pyyaml(text.encode())
