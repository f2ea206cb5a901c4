"""``GET /v1/customers/{id}/collections``: the same JSON as the CLI, for audit or decide keys."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.service import Settings, create_app
from engine.service.auth import add_key
from tests.collections_world import World


def test_the_route_answers_audit_and_decide_keys_with_the_stable_json(tmp_path, engine):
    world = World(tmp_path / "db.sqlite")
    world.decide(engine, "H1", "household", "2026-01-01")
    world.send("bill_issued", "2026-01-01", bill_id="B1", amount=200.0, due="2026-01-20")
    world.close()
    keys = tmp_path / "keys.yaml"
    auditor, billing = add_key(keys, "auditor", ["audit"]), add_key(keys, "billing", ["decide"])
    admin = add_key(keys, "admin", ["admin"])
    settings = Settings.load(env={}, db=world.url, keys_file=keys)
    with TestClient(create_app(settings, engine=engine)) as client:
        url = "/v1/customers/H1/collections?as_of=2026-03-01"
        answers = [client.get(url, headers={"Authorization": f"Bearer {k}"})
                   for k in (auditor, billing, admin)]
        assert [a.status_code for a in answers] == [200, 200, 403]
        body = answers[0].json()
        assert body == answers[1].json()
        case = body["cases"][0]
        assert (body["customer_id"], case["penalty"], case["steps"][-1]["status"]) == (
            "H1", {"amount": 8.0, "days": 40}, "due")
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert set(schemas["CollectionCase"]["required"]) <= set(case)
        step = schemas["CollectionStep"]
        assert all(set(step["required"]) <= set(s) for s in case["steps"])
        assert {s["status"] for s in case["steps"]} <= set(step["properties"]["status"]["enum"])
        early = client.get("/v1/customers/H1/collections?as_of=2025-12-01",
                           headers={"Authorization": f"Bearer {auditor}"})
        assert early.status_code == 404
        assert "decide the customer first" in early.text
        bad = client.get("/v1/customers/H1/collections?as_of=March",
                         headers={"Authorization": f"Bearer {auditor}"})
        assert bad.status_code == 422
