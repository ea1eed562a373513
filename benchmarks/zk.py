"""Zero-knowledge predicate proofs against Hyperledger AnonCreds, in the same run on the same machine.

For each predicate kind: median prove and verify time and proof size. AnonCreds (CL signatures) proves
`age >= 18` from a credential; we report its presentation create/verify medians and JSON size, and the
ratios for the same predicate. The issue's targets: our prove + verify at least 5× faster, our proof at
most a quarter of AnonCreds' size; stretch: a 32-bit range proof of at most 700 bytes.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from zkp import AttributeSchema, Context, Operator, Predicate, Statement, answer, commit, verify_answer

AGE = AttributeSchema.integer("age", 8)
INCOME = AttributeSchema.integer("income_cents", 48)
DAY = AttributeSchema.integer("birth_day_number", 32)
CITY = AttributeSchema.categorical("city")
FAULT = AttributeSchema.categorical("fault_code")
CODES = ("P0420", "P0300", "P0171", "P0455")

#: name → (schema, value, predicate); false ones show the cost of proving the negation.
CASES: dict[str, tuple[AttributeSchema, int | str, Predicate]] = {
    "age >= 18 (8-bit)": (AGE, 30, Predicate(Operator.GE, (18,))),
    "age >= 18 false (8-bit, proves <)": (AGE, 12, Predicate(Operator.GE, (18,))),
    "age within [18, 65] (8-bit)": (AGE, 30, Predicate(Operator.WITHIN, (18, 65))),
    "age within [18, 65] false (8-bit, proves outside)": (AGE, 70, Predicate(Operator.WITHIN, (18, 65))),
    "age == 30 (8-bit)": (AGE, 30, Predicate(Operator.EQ, (30,))),
    "age != 31 (8-bit)": (AGE, 30, Predicate(Operator.NE, (31,))),
    "day number >= 18000 (32-bit)": (DAY, 19_000, Predicate(Operator.GE, (18_000,))),
    "income within [300000.00, 1000000.00] (48-bit)": (
        INCOME,
        45_000_000,
        Predicate(Operator.WITHIN, (30_000_000, 100_000_000)),
    ),
    "city == Shanghai": (CITY, "Shanghai", Predicate(Operator.EQ, ("Shanghai",))),
    "city != Shanghai": (CITY, "Beijing", Predicate(Operator.NE, ("Shanghai",))),
    "fault code in set of 4": (FAULT, "P0300", Predicate(Operator.IN, CODES)),
    "fault code not in set of 4": (FAULT, "P0128", Predicate(Operator.NOT_IN, CODES)),
}


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _ours(iterations: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, (schema, value, predicate) in CASES.items():
        commitment, opening = commit(schema, value)
        statement = Statement(schema, commitment, predicate)
        prove_s: list[float] = []
        verify_s: list[float] = []
        for i in range(iterations + 1):  # the first round warms generator caches and is discarded
            context = Context(f"nonce-{i}", "crm-bench", "benchmark", "2030-01-01T00:00:00Z")
            proven, prove_time = _timed(lambda: answer(statement, opening, context))  # noqa: B023
            _, verify_time = _timed(lambda: verify_answer(proven, context))  # noqa: B023
            if i:
                prove_s.append(prove_time)
                verify_s.append(verify_time)
        results[name] = {
            "answer": proven.holds,
            "proven_operator": proven.proven.predicate.op.value,
            "prove_ms_median": _median_ms(prove_s),
            "verify_ms_median": _median_ms(verify_s),
            "proof_bytes": len(proven.proof),
            "answer_json_bytes": len(json.dumps(proven.to_json(), separators=(",", ":"))),
        }
    return results


def _anoncreds(iterations: int) -> dict[str, Any]:
    """Issue one AnonCreds credential with age = 30, then create and verify `age >= 18` presentations."""
    import anoncreds

    issuer, schema_id, cred_def_id = "did:example:issuer", "schema:person:1.0", "creddef:person:1.0"
    schema = anoncreds.Schema.create("person", "1.0", issuer, ["age"])
    (cred_def, cred_def_private, key_proof), setup_s = _timed(
        lambda: anoncreds.CredentialDefinition.create(schema_id, schema, issuer, "default", "CL")
    )
    offer = anoncreds.CredentialOffer.create(schema_id, cred_def_id, key_proof)
    link_secret = anoncreds.create_link_secret()
    request, metadata = anoncreds.CredentialRequest.create("holder", None, cred_def, link_secret, "ls", offer)
    credential = anoncreds.Credential.create(cred_def, cred_def_private, offer, request, {"age": "30"})
    credential = credential.process(metadata, link_secret, cred_def, None)
    schemas, cred_defs = {schema_id: schema}, {cred_def_id: cred_def}
    create_s: list[float] = []
    verify_s: list[float] = []
    size = 0
    for i in range(iterations + 1):
        pres_req = anoncreds.PresentationRequest.load(
            {
                "name": "adult",
                "version": "1.0",
                "nonce": anoncreds.generate_nonce(),
                "requested_attributes": {},
                "requested_predicates": {"adult": {"name": "age", "p_type": ">=", "p_value": 18}},
            }
        )
        present = anoncreds.PresentCredentials()
        present.add_predicates(credential, "adult")
        presentation, create_time = _timed(
            lambda: anoncreds.Presentation.create(pres_req, present, None, link_secret, schemas, cred_defs)  # noqa: B023
        )
        valid, verify_time = _timed(lambda: presentation.verify(pres_req, schemas, cred_defs))  # noqa: B023
        if not valid:
            raise RuntimeError("AnonCreds rejected its own presentation")
        size = len(presentation.to_json())
        if i:
            create_s.append(create_time)
            verify_s.append(verify_time)
    return {
        "version": anoncreds.library_version(),
        "credential_definition_setup_s": round(setup_s, 3),
        "prove_ms_median": _median_ms(create_s),
        "verify_ms_median": _median_ms(verify_s),
        "presentation_json_bytes": size,
    }


def run(*, quick: bool) -> dict[str, Any]:
    iterations = 5 if quick else 25
    ours = _ours(iterations)
    peer = _anoncreds(3 if quick else 15)
    adult = ours["age >= 18 (8-bit)"]
    ours_total = adult["prove_ms_median"] + adult["verify_ms_median"]
    peer_total = peer["prove_ms_median"] + peer["verify_ms_median"]
    range_32 = ours["day number >= 18000 (32-bit)"]["proof_bytes"]
    return {
        "iterations": iterations,
        "zkp": ours,
        "anoncreds_age_ge_18": peer,
        "age_ge_18_speedup_prove_plus_verify": round(peer_total / ours_total, 2),
        "age_ge_18_proof_size_ratio": round(adult["proof_bytes"] / peer["presentation_json_bytes"], 4),
        "age_ge_18_answer_json_size_ratio": round(adult["answer_json_bytes"] / peer["presentation_json_bytes"], 4),
        "targets": {
            "speedup_at_least_5x": peer_total / ours_total >= 5,
            "size_at_most_a_quarter": adult["answer_json_bytes"] * 4 <= peer["presentation_json_bytes"],
            "range_32_bit_at_most_700_bytes": range_32 <= 700,
        },
    }
