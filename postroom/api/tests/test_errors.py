"""Every error under /api/ is JSON {code, message, field?}: unknown paths, wrong
methods, bad JSON, no credentials, crashes; never an HTML page or a traceback."""

from __future__ import annotations

import pytest
from django.test import Client

from postroom.api.api import api

from .conftest import token_client

pytestmark = pytest.mark.django_db


def _is_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["message"]
    assert set(body) <= {"code", "message", "field"}
    return body


def test_no_credentials_is_a_401(db):
    _is_error(Client().get("/api/v1/conversations/"), 401, "not_authenticated")


def test_an_unknown_path_is_a_json_404(reader):
    _is_error(token_client(reader).get("/api/v1/nothing-here/"), 404, "not_found")
    _is_error(Client().get("/api/v2/"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(reader):
    response = token_client(reader).delete("/api/v1/users/")
    _is_error(response, 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_400(sales, replier):
    response = token_client(replier).client.post(
        "/api/v1/crm/leads/",
        "{not json",
        content_type="application/json",
        headers={"Authorization": token_client(replier).headers["Authorization"]},
    )
    _is_error(response, 400, "bad_json")


def test_a_nul_character_is_invalid_input_not_a_database_error(replier):
    response = token_client(replier).post("/api/v1/crm/leads/", {"title": "a\x00b"})
    assert _is_error(response, 422, "invalid")["field"] == "title"


def test_a_huge_id_is_not_a_crash(reader):
    response = token_client(reader).get(f"/api/v1/conversations/{10**30}")
    assert response.status_code in (404, 422)
    assert response.json()["code"] in ("not_found", "invalid")


def test_a_crash_is_a_json_500_without_a_traceback(reader, monkeypatch):
    from postroom.api.endpoints import people

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(people, "_departments_by_group", boom)
    response = token_client(reader).get("/api/v1/users/me")
    body = _is_error(response, 500, "server_error")
    assert "secret detail" not in body["message"] and "Traceback" not in response.content.decode()


def test_the_document_is_openapi_3_1_and_served_without_login(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == set(api.get_openapi_schema(path_params={})["paths"])


def test_the_docs_page_loads_its_assets_from_postroom_itself(db):
    page = Client().get("/api/v1/docs/").content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
