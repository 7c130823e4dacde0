"""Shapes of a tenant's policy in the admin API: ``models`` and ``budget`` (contract sec. 14).

Loaded, they are what the store keeps: a list of model names (or none: every model) and
amounts in integer micro-dollars.
"""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from .money import MAX_DECIMALS, MAX_USD, InvalidAmount, exact_micros

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
MAX_ALLOWED_MODELS = 32


class Usd(fields.Float):
    """A JSON number of USD, >= 0, at most 6 decimals; loaded as integer micro-dollars."""

    def __init__(self, **kwargs):
        metadata = {"minimum": 0, "maximum": MAX_USD, "multipleOf": 10 ** -MAX_DECIMALS,
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return exact_micros(value)
        except InvalidAmount as exc:
            raise ValidationError(str(exc)) from None


class ModelName(fields.String):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(MODEL_NAME, error=(
            "Not a model name: 1 to 128 of letters, digits and . _ : / @ + - "
            "(starting with a letter or digit).")), **kwargs)


class ModelsSchema(Schema):
    class Meta:
        unknown = RAISE

    allowed = fields.List(ModelName(), validate=validate.Length(max=MAX_ALLOWED_MODELS),
                          metadata={"description": "The only models the tenant may use; "
                                                   "omitted: every model"})

    @validates("allowed")
    def unique_models(self, allowed, **kwargs):
        if len(set(allowed)) != len(allowed):
            raise ValidationError("Models must be unique.")


class BudgetSchema(Schema):
    class Meta:
        unknown = RAISE

    daily_cap_usd = Usd(metadata={"description": "Spend allowed per UTC day; omitted: no cap"})
    max_per_request_usd = Usd(metadata={
        "description": "Largest estimate of one spend; omitted: no cap"})

    @post_load
    def as_micros(self, data, **kwargs):
        return {"daily_cap_micros": data.get("daily_cap_usd"),
                "max_request_micros": data.get("max_per_request_usd")}
