"""Invariants of the retention plan: erasure entries name exactly what they erased, and a consent never outlives
the shortest period of its purposes nor its own end, and decisions read it as ended from that instant on."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.retention.enforcer import _ranges
from gateway.retention.plan import lapse_at
from policies import CollectionMethod, ConsentRecord, ConsentStatus, GivenBy, RecordKind, in_force, load_taxonomy

TAXONOMY = load_taxonomy()
PURPOSES = sorted(TAXONOMY.purposes)
START = datetime(2026, 1, 1, tzinfo=UTC)


@given(st.sets(st.integers(min_value=0, max_value=5000), max_size=300))
def test_ranges_name_exactly_the_erased_entries_in_order(indices: set[int]) -> None:
    runs = _ranges(sorted(indices))
    named = [i for first, last in runs for i in range(first, last + 1)]
    assert named == sorted(indices)
    assert all(later[0] > earlier[1] + 1 for earlier, later in itertools.pairwise(runs))


def _record(purposes: list[str], given_at: datetime, valid_until: datetime | None) -> ConsentRecord:
    return ConsentRecord(
        record_id="r",
        subject_id="s",
        controller="acme-motors",
        kind=RecordKind.CONSENT,
        purposes=tuple(purposes),
        categories=("vehicle",),
        recipients=("any",),
        jurisdiction="CN",
        legal_basis="consent",
        notice=None,
        method=CollectionMethod.PORTAL,
        given_by=GivenBy.SUBJECT,
        separate=False,
        cross_border=False,
        purpose_revisions={},
        status=ConsentStatus.GIVEN,
        valid_from=given_at,
        valid_until=valid_until,
        event_time=given_at,
    )


@given(
    st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3, unique=True),
    st.integers(min_value=0, max_value=4000),
    st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
    st.integers(min_value=0, max_value=400),
)
def test_a_consent_lapses_at_its_shortest_period_or_its_own_end(
    purposes: list[str], offset: int, own_end: int | None, renewed_after: int
) -> None:
    given_at = START + timedelta(days=offset)
    until = None if own_end is None else given_at + timedelta(days=own_end)
    record = _record(purposes, given_at, until)
    found = lapse_at(TAXONOMY, record)
    assert found is not None
    periods = [TAXONOMY.purposes[p].retention["consent"].days for p in purposes]
    expected = min([given_at + timedelta(days=d) for d in periods] + ([until] if until else []))
    assert found[0] == expected and found[1] in purposes
    # a renewal restarts the period from the renewal, never shortens it
    renewed = replace(record, status=ConsentStatus.RENEWED, event_time=given_at + timedelta(days=renewed_after))
    later = lapse_at(TAXONOMY, renewed)
    assert later is not None and later[0] >= found[0]


@given(
    st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
    st.integers(min_value=0, max_value=6000),
    st.sampled_from(list(RecordKind)),
    st.sampled_from(list(ConsentStatus)),
)
def test_decisions_read_a_consent_as_in_force_exactly_until_the_sweep_would_lapse_it(
    purposes: list[str], own_end: int | None, later: int, kind: RecordKind, status: ConsentStatus
) -> None:
    until = None if own_end is None else START + timedelta(days=own_end)
    record = replace(_record(purposes, START, until), kind=kind, status=status)
    seen = in_force(TAXONOMY, record)
    at = START + timedelta(days=later)
    lapse = lapse_at(TAXONOMY, record)
    if kind is RecordKind.CONSENT and status in (ConsentStatus.GIVEN, ConsentStatus.RENEWED):
        assert lapse is not None
        assert seen.active_at(at) == (at < lapse[0])
        assert seen.status_at(at) == (ConsentStatus.EXPIRED if at >= lapse[0] else status)
    else:  # an objection, opt-out or restriction never lapses into releasing data; ended records stay as they are
        assert seen == record
