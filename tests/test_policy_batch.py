"""decide_batch's short path for the generic fqdn rule (issue 16 §5) gives the answers of
decide() + the profile's SAN rule, reasons included, on random host names and subjects."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.cpcps.loader import load_profile_set
from porthos.cpcps.policy import decide, decide_batch
from porthos.cpcps.profiles import Profile
from porthos.cpcps.subject_rules import GENERIC_RULES, SubjectInvalid, is_fqdn, is_fqdn_cn
from porthos.status import IssueStatus, KeyType

CN, ORG = "2.5.4.3", "2.5.4.10"
SECOM = load_profile_set("secom", "prod")
# Every bundled profile the short path can take (generic fqdn rule), SAN rule or not.
FQDN_PROFILES = [
    p
    for ps in (SECOM, load_profile_set("porthos", "prod"))
    for p in ps.profiles.values()
    if p.rule is GENERIC_RULES["fqdn"]
]

# Label characters, the separators and the near misses of an FQDN: a wildcard, an
# underscore, a space, a non-ASCII digit and letter, a trailing newline.
_ALPHABET = "aZ09-.-..*_ \u0663\u00e9\n"
labels = st.text(alphabet="abcXYZ0189-", min_size=0, max_size=66)
names = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=80),
    st.lists(labels, min_size=1, max_size=5).map(".".join),
    st.lists(labels, min_size=1, max_size=4).map(lambda ls: ".".join(ls) + "."),
    st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), min_size=2, max_size=4).map(
        ".".join
    ),
)


def test_the_short_path_has_profiles_to_cover() -> None:
    assert any(p.name == "tls-server-ecc" for p in FQDN_PROFILES)
    assert any(p.san_rule is not None for p in FQDN_PROFILES)


@settings(max_examples=400)
@given(names)
def test_is_fqdn_cn_is_is_fqdn_for_a_common_name(cn: str) -> None:
    assert is_fqdn_cn(cn) == (len(cn) <= 64 and is_fqdn(cn) is None)


@given(names)
def test_is_fqdn_cn_on_the_edges(cn: str) -> None:
    # The cases a regex gets wrong most easily, each against is_fqdn itself.
    for name in ("a.b", "a.1", "1.a", "a-.b", "-a.b", "a.b-c", "*.a.b", "a..b", "a.b\n",
                 "1.2.3.4", "x" * 63 + ".b", "x" * 64 + ".b", cn):  # fmt: skip
        assert is_fqdn_cn(name) == (len(name) <= 64 and is_fqdn(name) is None), name


Answer = tuple[int, str, list[tuple[str, str]] | None, list[tuple[str, str]] | None]


def _one(profile: Profile, subject: list[tuple[str, str]], kt: int, kb: int) -> Answer:
    d = decide(profile, subject, kt, kb)
    san_rule = profile.san_rule
    if d.subject is None or san_rule is None:
        return int(d.status), d.reason, d.subject, None
    try:
        return int(d.status), d.reason, d.subject, san_rule(d.subject)
    except SubjectInvalid as exc:
        return int(IssueStatus.SUBJECT_INVALID), str(exc), None, None


subjects = st.one_of(
    names.map(lambda cn: [(CN, cn)]),
    st.lists(st.tuples(st.sampled_from([CN, ORG]), names), max_size=3),
)
keys = st.sampled_from([(KeyType.EC_P256, 256), (KeyType.EC_P384, 384), (KeyType.RSA, 2048)])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FQDN_PROFILES), st.lists(st.tuples(subjects, keys), max_size=12))
def test_decide_batch_short_path_is_decide_and_the_san_rule(
    profile: Profile, cases: list[tuple[list[tuple[str, str]], tuple[KeyType, int]]]
) -> None:
    kt = np.array([int(k[0]) for _, k in cases], dtype=np.uint8)
    kb = np.array([k[1] for _, k in cases], dtype=np.uint32)
    statuses, reasons, out, sans = decide_batch(profile, [s for s, _ in cases], kt, kb)
    for i, (s, (t, b)) in enumerate(cases):
        want = _one(profile, s, int(t), b)
        got_sans = None if sans is None else sans[i]
        assert (statuses[i], reasons[i], out[i], got_sans) == want, (s, t)
