"""The API's OpenAPI docs work with no network: Swagger UI's files come from a package."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.api.app import create_app


def test_docs_page_loads_its_scripts_from_the_api_itself(tmp_path):
    client = TestClient(create_app(tmp_path))
    page = client.get("/docs")
    assert page.status_code == 200 and "Customer Radar API" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Customer Radar API"
