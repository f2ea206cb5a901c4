"""The OpenAPI document as a client generator reads it: every code in one enum, every answer
typed, every status listed, operation ids chosen, and the legal documents served."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import engine as engine_package
from engine.decision import Decision
from engine.errors import EngineError
from engine.explanation import AUDIENCES
from engine.language import LANGUAGES
from engine.records import SAMPLE_RECORD
from engine.service import Settings, create_app
from engine.service.auth import add_key
from engine.web.codes import ERROR_CODES

ENGINE = Path(engine_package.__file__).parent
OPERATION_IDS = {
    ("post", "/v1/decisions"): "decide", ("post", "/v1/decisions:batch"): "decideBatch",
    ("get", "/v1/decisions/{decision_id}"): "getDecision",
    ("get", "/v1/decisions/{decision_id}/explanation"): "explainDecision",
    ("get", "/v1/tables"): "getTables", ("post", "/v1/tables:reload"): "reloadTables",
    ("post", "/v1/tables:validate"): "validateTables", ("get", "/healthz"): "healthz",
    ("get", "/metrics"): "metrics", ("post", "/v1/events"): "postEvents",
    ("get", "/v1/customers/{customer_id}/events"): "getCustomerEvents",
    ("get", "/v1/customers/{customer_id}/collections"): "getCustomerCollections",
}
RESIDENTIAL = dict(SAMPLE_RECORD, customer_class="residential", monthly_kwh=420.0,
                   contracted_capacity_kva=8.0, asset_liability_ratio=None, current_ratio=None,
                   return_on_net_assets=None, loan_repayment_on_schedule_rate=None)
# Functions that put a literal code into the one error shape: (name, position of the code).
_CODE_ARGUMENT = {"error_response": 1, "error_body": 1, "_answer": 1, "_refuse": 1}


@pytest.fixture(scope="module")
def served(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    key = add_key(tmp / "keys.yaml", "ops", ["decide", "audit", "admin"])
    app = create_app(Settings.load(env={}, db=str(tmp / "log.sqlite"),
                                   keys_file=tmp / "keys.yaml"), engine=engine)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, client.get("/openapi.json").json()


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def _literal_codes() -> set[str]:
    """Codes written as literals anywhere in the engine: ``code = "..."`` in a class, and the
    code argument of every call that builds the error shape."""
    found: set[str] = set()
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                            and any(getattr(t, "id", None) == "code" for t in stmt.targets)):
                        found.add(stmt.value.value)
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                at = _CODE_ARGUMENT.get(name)
                if at is not None and len(node.args) > at and isinstance(
                        node.args[at], ast.Constant) and isinstance(node.args[at].value, str):
                    found.add(node.args[at].value)
    return found


def test_every_code_raised_anywhere_is_in_the_one_table():
    for module in pkgutil.walk_packages(engine_package.__path__, "engine."):
        importlib.import_module(module.name)
    from engine.web.errors import _STATUS_CODES

    classes = {c.code for c in _subclasses(EngineError)}
    literal = _literal_codes()
    assert "notice_not_found" in literal and "customer_not_found" in literal  # the walk sees
    missing = (classes | literal | set(_STATUS_CODES.values()) | {"http_error"}) - set(
        ERROR_CODES)
    assert not missing, f"codes answered but not in engine.web.codes.ERROR_CODES: {missing}"


def test_the_error_body_names_every_code_and_describes_every_detail(served):
    _client, document = served
    schemas = document["components"]["schemas"]
    code = schemas["ErrorBody"]["properties"]["code"]
    assert code["enum"] == list(ERROR_CODES)
    assert "`notice_not_found`: The decision's policies do not include" in code["description"]
    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == {"path", "value", "message"}
    assert {"field", "file", "line", "rule_id", "suggestion", "reason_code",
            "supported"} <= set(detail["properties"])
    assert all(p.get("description") for p in detail["properties"].values())


def test_every_operation_has_its_id_its_statuses_and_a_typed_answer(served):
    _client, document = served
    seen = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            seen[(method, path)] = operation["operationId"]
            statuses = set(operation["responses"])
            assert {"400", "405", "408", "431", "500", "503"} <= statuses, (method, path)
            if "security" in operation:
                assert {"401", "403"} <= statuses
            for status, answer in operation["responses"].items():
                assert answer.get("description"), (method, path, status)
                for content in answer.get("content", {}).values():
                    schema = content["schema"]
                    assert "$ref" in schema or schema.get("type") == "string", (
                        method, path, status, schema)
    assert seen == OPERATION_IDS
    reload = document["paths"]["/v1/tables:reload"]["post"]["responses"]
    assert "503" in reload and "tables_rejected" in reload["422"]["description"]
    customer = document["paths"]["/v1/customers/{customer_id}/events"]["get"]["responses"]
    assert "customer_not_found" in customer["404"]["description"]
    assert "decision_duplicate" in (
        document["paths"]["/v1/decisions"]["post"]["responses"]["409"]["description"])


def test_events_carry_a_discriminator_and_parameters_their_enums(served):
    _client, document = served
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    one, many = body["oneOf"]
    assert one["discriminator"]["propertyName"] == "type"
    assert one["discriminator"]["mapping"]["bill_issued"] == "#/components/schemas/BillIssued"
    assert many["items"]["anyOf"][0]["discriminator"] == one["discriminator"]
    assert many["maxItems"] == 100
    schemas = document["components"]["schemas"]
    history = schemas["CustomerHistory"]["properties"]["events"]["items"]
    assert history["discriminator"] == one["discriminator"]
    finding = schemas["Validation"]["properties"]["findings"]["items"]
    assert finding == {"$ref": "#/components/schemas/TableFinding"}
    assert set(schemas["TableFinding"]["required"]) == {"path", "file", "line", "subject",
                                                        "kind", "message"}
    parameters = {p["name"]: p["schema"] for p in document["paths"][
        "/v1/decisions/{decision_id}/explanation"]["get"]["parameters"]}
    assert parameters["lang"] == {**parameters["lang"], "type": "string",
                                  "enum": list(LANGUAGES)}
    assert "anyOf" not in parameters["lang"]
    assert parameters["audience"]["enum"] == list(AUDIENCES)
    assert {"liability-notice", "cut-warning"} <= set(parameters["audience"]["enum"])


def test_the_record_says_what_enterprises_must_supply_and_decisions_what_each_field_is(served):
    _client, document = served
    schemas = document["components"]["schemas"]
    record = schemas["CustomerRecord"]
    assert record["discriminator"]["mapping"] == {
        "commercial": "#/components/schemas/EnterpriseRecord",
        "industrial": "#/components/schemas/EnterpriseRecord",
        "public": "#/components/schemas/EnterpriseRecord",
        "residential": "#/components/schemas/ResidentialRecord"}
    enterprise, residential = schemas["EnterpriseRecord"], schemas["ResidentialRecord"]
    financial = {"asset_liability_ratio", "current_ratio", "return_on_net_assets",
                 "loan_repayment_on_schedule_rate"}
    assert financial <= set(enterprise["required"]) and not financial & set(
        residential["required"])
    assert enterprise["properties"]["current_ratio"] == {
        **enterprise["properties"]["current_ratio"], "type": "number", "minimum": 0,
        "maximum": 50}
    assert all(residential["properties"][f]["type"] == "null" for f in financial)
    assert enterprise["properties"]["customer_class"]["enum"] == [
        "commercial", "industrial", "public"]
    assert enterprise["properties"]["months_connected"]["maximum"] == 1200
    for model in ("Decision", "ScoreOutcome", "GradeOutcome", "PolicyOutcome", "RuleFired"):
        undescribed = [n for n, p in schemas[model]["properties"].items()
                       if not p.get("description")]
        assert not undescribed, (model, undescribed)
    (example,) = schemas["Decision"]["examples"]
    decision = Decision.model_validate(example)
    assert decision.customer_id == SAMPLE_RECORD["customer_id"] and decision.digest
    for model in ("TablesAnswer", "ReloadAnswer", "Health"):
        assert "tables_content_hash" in schemas[model]["properties"]


def test_a_legal_document_is_served_when_the_decision_carries_it(served):
    client, _document = served
    owing = dict(RESIDENTIAL, customer_id="C-OWES", overdue_amount=350.0,
                 overdue_bills_12m=4, max_days_overdue_12m=75)
    decided = client.post("/v1/decisions", json=owing).json()
    url = f"/v1/decisions/{decided['decision_id']}/explanation"
    warning = client.get(url, params={"audience": "cut-warning", "lang": "en"})
    assert warning.status_code == 200, warning.text
    assert "supply may be cut on" in warning.text and "Your credit grade" not in warning.text
    liability = client.get(url, params={"audience": "liability-notice", "lang": "zh-CN"})
    assert liability.status_code == 200 and liability.headers["content-language"] == "zh-CN"

    clean = client.post("/v1/decisions", json=SAMPLE_RECORD).json()
    missing = client.get(f"/v1/decisions/{clean['decision_id']}/explanation",
                         params={"audience": "cut-warning"})
    assert missing.status_code == 404
    body = missing.json()
    assert body["code"] == "notice_not_found"
    assert body["message"] == (f"decision {clean['decision_id']} carries no supply_cut_warning, "
                               "so it has no cut-warning: ask for audience customer or auditor")
    assert body["details"] == [{"path": "audience", "value": "cut-warning", "message":
                                "the decision's policies do not include supply_cut_warning"}]
    wrong = client.get(url, params={"audience": "neighbour"})
    assert wrong.status_code == 422 and wrong.json()["details"][0]["path"] == "query.audience"
