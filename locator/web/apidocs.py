"""Developer documentation: the generated OpenAPI document and a human page rendered from it."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, render_template, request
from pydantic import BaseModel, ConfigDict

from locator.web.http import cacheable
from locator.web.limits import EXEMPT_ENDPOINTS
from locator.web.models import EmptyQuery
from locator.web.openapi import JSON, build_openapi, operation
from locator.web.params import parse_query

bp = Blueprint("apidocs", __name__)
API_VERSION = "1.0.0"
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"


class OpenAPIDocument(BaseModel):
    """An OpenAPI 3.0 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, built once per app from the declared views."""
    doc = current_app.extensions.get("openapi")
    if doc is None:
        doc = build_openapi(
            current_app,
            title="驿站地图 API · Wenzhou rider stations",
            version=API_VERSION,
            unlimited=(*EXEMPT_ENDPOINTS, "apidocs.docs"),
        )
        current_app.extensions["openapi"] = doc
    return doc


def openapi_media_type() -> str:
    """The OpenAPI media type when the client asks for it (OGC /req/oas30/oas-impl), else JSON."""
    best = request.accept_mimetypes.best_match([JSON, OPENAPI_MEDIA_TYPE], default=JSON)
    return OPENAPI_MEDIA_TYPE if best == OPENAPI_MEDIA_TYPE else JSON


@bp.get("/api/v1/openapi.json")
@operation(
    "OpenAPI 文档 The OpenAPI document",
    tag="docs",
    ok={JSON: OpenAPIDocument, OPENAPI_MEDIA_TYPE: OpenAPIDocument},
    cacheable=True,
    description="This API's OpenAPI 3.0 document, generated from the code. JSON by default; "
    f"`{OPENAPI_MEDIA_TYPE}` when the Accept header asks for it.",
)
@cacheable(lambda: 0, openapi_media_type)
def openapi_json():
    """This API's OpenAPI 3.0 document, generated from the code."""
    parse_query(EmptyQuery)
    # Keys keep their order (jsonify would sort them): the first 200 media type is the default answer.
    body = json.dumps(openapi_document(), ensure_ascii=False, indent=None, separators=(",", ":"))
    return current_app.response_class(body, content_type=openapi_media_type())


def _schema_text(schema: dict[str, Any]) -> str:
    """A short human description of a parameter schema."""
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return _schema_text(schema.get("items", {})) + "（可重复 repeatable）"
    text = schema.get("type", "string")
    bounds = []
    if "minimum" in schema:
        bounds.append(f"≥ {schema['minimum']:g}")
    if "maximum" in schema:
        bounds.append(f"≤ {schema['maximum']:g}")
    if "maxLength" in schema:
        bounds.append(f"最长 {schema['maxLength']}")
    if "pattern" in schema:
        bounds.append(f"pattern {schema['pattern']}")
    if "default" in schema and schema["default"] not in (None, []):
        bounds.append(f"默认 default {schema['default']}")
    return text + (" (" + ", ".join(bounds) + ")" if bounds else "")


@bp.get("/api/docs")
def docs():
    """The API documentation page (Chinese), rendered on the server from the OpenAPI document."""
    doc = openapi_document()
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            ops.append({"path": path, "method": method.upper(), **op})
    return render_template("apidocs/docs.html", doc=doc, ops=ops, schema_text=_schema_text)
