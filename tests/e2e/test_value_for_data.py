"""Value for data over real HTTP: the catalogue and offers a customer sees, and redemptions refused precisely."""

from __future__ import annotations

import uuid
from contextlib import closing

from tests.e2e.conftest import Actors


def test_the_catalogue_offers_and_refused_redemptions(actors: Actors) -> None:
    username = f"value.{uuid.uuid4().hex[:6]}"
    actors.gateway.enrol(username)
    with closing(actors.gateway.customer_session(username)) as http:
        summary = http.get("/v1/me/points", params={"lang": "en"}).json()
        assert summary["balance"] == 0 and summary["history"] == [] and summary["donations"] == []
        assert {"maintenance-voucher", "car-wash"} <= {i["id"] for i in summary["catalogue"]}
        assert [p["purpose"] for p in summary["priority_access"]] == ["repair_prediction"]
        catalog = http.get("/v1/me/catalog", params={"lang": "en"}).json()
        kinds = {p["id"]: p["value_offer"]["kinds"] for p in catalog["purposes"] if p["value_offer"]}
        assert kinds == {"joint_rnd": ["points", "donation_match"], "repair_prediction": ["priority_access"]}
        poor = http.post("/v1/me/points/redemptions", json={"item": "car-wash"})
        assert poor.status_code == 409 and poor.json()["type"].endswith("/insufficient-points")
        unknown = http.post("/v1/me/points/redemptions", json={"item": "yacht"})
        assert unknown.status_code == 422 and unknown.json()["type"].endswith("/invalid-redemption")
        assert http.get("/v1/me/points").json()["balance"] == 0
