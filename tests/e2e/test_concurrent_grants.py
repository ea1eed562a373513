"""Issue 17, point 7: ten grants of one consent scope at once never answer 422 and never duplicate the record.

Over real HTTP against the running gateway: the grants of one customer serialise, so the first creates the
record and every other renews it; a change that still meets another process's at the same moment would answer a
retryable 409 with Retry-After, never a validation error.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import Actors

PARALLEL = 10


def test_ten_parallel_grants_of_one_scope_serialise(actors: Actors) -> None:
    username = f"racer.{uuid.uuid4().hex[:8]}"
    actors.gateway.enrol(username)
    http = actors.gateway.customer_session(username)
    agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
    body = {
        "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
        "lang": "en",
        "purposes": ["repair_prediction"],
        "categories": ["vehicle"],
    }
    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(pool.map(lambda _: http.post("/v1/me/consents", json=body), range(PARALLEL)))

    statuses = sorted(r.status_code for r in responses)
    assert 422 not in statuses and set(statuses) <= {201, 409}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["type"].endswith("/concurrent-change")
            assert response.headers["retry-after"].isdigit()
    created = [r.json() for r in responses if r.status_code == 201]
    assert [c["action"] for c in created].count("given") == 1
    assert {c["record"]["record_id"] for c in created} == {created[0]["record"]["record_id"]}
    records = http.get("/v1/me/consents").json()["records"]
    assert len([r for r in records if r["purposes"] == ["repair_prediction"]]) == 1
    history = http.get("/v1/me/consents/history").json()
    assert len(history) == len(created)  # one event per acknowledged grant, in order
