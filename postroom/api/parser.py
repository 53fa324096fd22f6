"""The API's request parser: JSON bodies and query strings, refusing text no database
column can hold (a NUL character, a lone surrogate) as invalid input instead of letting
PostgreSQL fail on it with a 500."""

from __future__ import annotations

import json

from ninja.parser import Parser

from .errors import ApiError


def _check(value, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(422, f"{where}: text may not contain NUL characters", field=where)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, f"{where}: text is not valid Unicode", field=where) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, where)
            _check(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            _check(item, where)


class CheckedParser(Parser):
    def parse_body(self, request):
        if not request.body:
            return {}
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON", code="bad_json") from None
        _check(data, "")
        return data

    def parse_querydict(self, data, list_fields, request):
        result = super().parse_querydict(data, list_fields, request)
        _check(result, "")
        return result
