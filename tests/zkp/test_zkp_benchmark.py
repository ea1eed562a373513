"""The `zk` benchmark measures what it claims: every template answers as expected and fully verifies, the
evidence is that of a log of a million entries, and AnonCreds really creates and verifies its presentation."""

from __future__ import annotations

import base64

from benchmarks import zk


def test_every_template_answers_fully_verified_with_the_evidence_of_a_large_log() -> None:
    results = zk._ours(1)
    assert set(results) == set(zk.CASES)
    for name, figures in results.items():
        assert figures["answer"] is ("false" not in name), name
        assert figures["prove_ms_median"] > 0 and figures["full_verify_ms_median"] > 0
        assert figures["answer_with_evidence_bytes"] > figures["proof_bytes"] > 0
    assert results["income within false (48-bit, proves outside)"]["proven_operator"] == "outside"
    assert results["fault code in {P0420, P0300} false (set of up to 8)"]["proven_operator"] == "not in"


def test_the_evidence_path_is_as_long_as_a_real_log_of_that_size_needs() -> None:
    log = zk._Log(zk.datetime.now(zk.UTC).replace(microsecond=0))
    schema, value, _ = zk.CASES[zk.ADULT]
    now = log.now
    held = zk.issue_statement(
        log.source_signer,
        attribute=schema,
        schema_version=1,
        subject=zk.SUBJECT,
        subject_salt=zk.new_subject_salt(),
        value=value,
        seq=1,
        issued_at=now - zk.timedelta(hours=1),
        valid_until=now + zk.timedelta(hours=1),
    )
    evidence = log.evidence(held).to_json()
    path = base64.urlsafe_b64decode(evidence["inclusion_proof"] + "=")
    assert len(path) // 32 >= (zk.LOG_SIZE - 1).bit_length()
    assert f"\n{zk.LOG_SIZE}\n" in evidence["checkpoint"]


def test_anoncreds_peer_creates_and_verifies_an_age_predicate_presentation() -> None:
    peer = zk._anoncreds(1)
    assert peer["version"].startswith("0.2")
    assert peer["presentation_json_bytes"] > 4 * 1000
    assert peer["prove_ms_median"] > 0 and peer["verify_ms_median"] > 0
