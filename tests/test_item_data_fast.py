"""The well-formed fast path of item_data_list (issue 16 §5) gives what the checking
path gives, and every malformed object still gets the checking path's error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.exceptions import BatchArgumentError
from porthos.issuance import item_data
from porthos.issuance.item_data import item_data_list


class Text(str):
    """A str subclass: accepted by the checking path, left to it by the fast path."""


texts = st.one_of(st.sampled_from(["a.example", "urn:uuid:1", ""]), st.text(max_size=5))
kinds = st.one_of(st.sampled_from([*item_data.SAN_KINDS, "DNS", "x"]), texts.map(Text))
values = st.one_of(texts, texts.map(Text), st.integers(), st.none())
entries = st.one_of(
    st.tuples(kinds, values).map(list),
    st.tuples(kinds, values),
    st.just(["dirname", [["CN", "x"]]]),
    st.just(["dirname", []]),
    st.lists(texts, max_size=3),
    st.integers(),
)
instants = st.one_of(
    st.sampled_from(
        [
            "2027-03-01T00:00:00Z",
            "2027-03-01T00:00:00+09:00",
            "2027-03-01",
            "2027-03-01T00:00:00",
            "yesterday",
            "",
        ]  # fmt: skip
    ),
    st.integers(),
    st.none(),
)
objects = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "sans": st.one_of(st.lists(entries, max_size=4), st.none(), st.integers(), texts),
            "not_after": instants,
            "other": st.integers(),
        },
    ),
    st.lists(st.integers(), max_size=2),
    st.none(),
    texts,
)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except BatchArgumentError as exc:
        return ("error", exc.code, str(exc))


@settings(max_examples=500)
@given(objects)
def test_fast_path_is_the_checking_path(obj: Any) -> None:
    fast = item_data._well_formed(obj)
    if fast is not None:
        assert ("ok", fast) == _outcome(item_data._checked, obj, "ra_data[0]")
    whole = _outcome(item_data_list, [obj], 1)
    if whole[0] == "ok":
        whole = ("ok", whole[1][0])
    assert whole == _outcome(item_data._checked, obj, "ra_data[0]")


def test_fast_path_takes_the_common_object() -> None:
    obj = {"sans": [["uri", "urn:uuid:x"], ("upn", "a@b")], "not_after": "2027-03-01T00:00:00Z"}
    fast = item_data._well_formed(obj)
    assert fast is not None and fast.sans == (("uri", "urn:uuid:x"), ("upn", "a@b"))
    with pytest.raises(BatchArgumentError) as info:
        item_data_list([obj, {"sans": [["dn", "x"]]}], 2)
    assert info.value.code == "batch-argument"
    assert str(info.value).startswith("ra_data[1].sans[0][0]: unknown SAN kind 'dn'")
