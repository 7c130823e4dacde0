"""The OpenAPI document: flask-smorest's Api with our error shape and key schemes."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from marshmallow import INCLUDE, Schema, fields

SPEC_CONFIG = {
    "API_TITLE": "Tenantgate",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class ErrorSchema(Schema):
    """Every error: ``{"error": code}`` plus fields that depend on the code."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"example": "unauthorized"})


class TenantgateApi(Api):
    ERROR_SCHEMA = ErrorSchema


def init_api(app: Flask) -> TenantgateApi:
    for key, value in SPEC_CONFIG.items():
        app.config.setdefault(key, value)
    api = TenantgateApi(app)
    api.spec.components.security_scheme(
        "AdminKey", {"type": "apiKey", "in": "header", "name": "X-Admin-Key"})
    api.spec.components.security_scheme(
        "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    return api
