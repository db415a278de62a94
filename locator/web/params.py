"""Query-parameter parsing for every view: strict, with a 400 that names the parameter."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import TypeVar, get_origin

from flask import request
from pydantic import BaseModel, ValidationError

from locator.web.problems import bad_parameter, parameter_zh

BBOX_ZH = "范围应是四个数：最小经度,最小纬度,最大经度,最大纬度。"
# What a pydantic check means, in Chinese (the constraint's numbers come from its context).
_VALIDATION_ZH = {
    "int_parsing": "应是整数",
    "int_from_float": "应是整数",
    "float_parsing": "应是数字",
    "finite_number": "应是有限的数字",
    "bool_parsing": "应是 true 或 false",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_too_short": "至少需要 {min_length} 个字符",
    "too_long": "最多 {max_length} 个",
    "literal_error": "只能是 {expected}",
    "enum": "只能是 {expected}",
    "missing": "不能省略",
    "string_pattern_mismatch": "格式不对",
}


def _validation_zh(name: str, err: dict) -> str:
    """A pydantic error as a Chinese sentence naming the parameter."""
    text = _VALIDATION_ZH.get(err.get("type", ""), "的值不符合要求")
    try:
        text = text.format(**(err.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        text = "的值不符合要求"
    return f"参数{parameter_zh(name)}{text}。"


QueryModel = TypeVar("QueryModel", bound=BaseModel)


def _raw(name: str) -> str | None:
    value = request.args.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def get_int(name: str, lo: int, hi: int, *, default: int, clamp: bool = False) -> int:
    """A whole number within [lo, hi] (or clamped into it)."""
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name, f"{raw!r} is not a whole number", f"参数{parameter_zh(name)}应是整数。") from None
    if clamp:
        return max(lo, min(hi, value))
    if not lo <= value <= hi:
        raise bad_parameter(name, f"must be between {lo} and {hi}", f"参数{parameter_zh(name)}应在 {lo}～{hi} 之间。")
    return value


def get_bool(name: str, default: bool = False) -> bool:
    """true/false, 1/0, yes/no."""
    raw = _raw(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise bad_parameter(name, f"{raw!r} is not true or false", f"参数{parameter_zh(name)}应是 true 或 false。")


def get_choices(name: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """Repeatable (or comma-separated) values, each from `allowed`."""
    allowed = list(allowed)
    values: list[str] = []
    for raw in request.args.getlist(name):
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            if part not in allowed:
                raise bad_parameter(
                    name,
                    f"unknown value {part!r}; allowed: {', '.join(allowed)}",
                    f"参数{parameter_zh(name)}没有“{part}”这个值：可用 {'、'.join(allowed)}。",
                )
            if part not in values:
                values.append(part)
    return tuple(values)


@lru_cache(maxsize=64)
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, f in model.model_fields.items() if get_origin(f.annotation) is list)


def parse_query(model: type[QueryModel]) -> QueryModel:
    """Validate the query string against a pydantic model; 400 naming the first parameter at fault.

    Empty values count as absent; list fields take repeated and comma-separated values.
    Parameters the model does not declare are refused (400), so typos never pass silently.
    """
    data: dict[str, object] = {}
    fields = model.model_fields
    list_fields = _list_fields(model)
    for name in request.args:
        values = [v.strip() for v in request.args.getlist(name)]
        field = fields.get(name)
        if name in list_fields:
            parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
            if parts:
                data[name] = list(dict.fromkeys(parts))
        else:
            present = [v for v in values if v]
            if len(present) > 1:
                raise bad_parameter(name, "may be given only once", f"参数{parameter_zh(name)}只能出现一次。")
            if present or field is None:
                data[name] = present[0] if present else ""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = str(err["loc"][0]) if err["loc"] else "query"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            raise bad_parameter(
                name,
                f"unknown parameter; this operation accepts: {allowed}",
                f"不认识参数“{name}”：这里可用的参数有 {'、'.join(model.model_fields)}。",
            ) from None
        raise bad_parameter(name, err["msg"], _validation_zh(name, err)) from None


def parse_bbox(name: str, raw: str | None, *, antimeridian: bool = False) -> tuple[float, float, float, float] | None:
    """minLng,minLat,maxLng,maxLat (or with min/max heights: 6 numbers, heights ignored).

    With `antimeridian` (OGC API – Features), a west edge greater than the east edge is a box that
    crosses the antimeridian, as the standard defines; it is returned as given (x0 > x1).
    """
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise bad_parameter(name, "needs four numbers: minLng,minLat,maxLng,maxLat", BBOX_ZH)
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise bad_parameter(name, "needs four numbers: minLng,minLat,maxLng,maxLat", BBOX_ZH) from None
    if not all(math.isfinite(v) for v in numbers):
        raise bad_parameter(name, "must be finite numbers", BBOX_ZH)
    if len(numbers) == 6:
        x0, y0, z0, x1, y1, z1 = numbers
        if z0 > z1:
            raise bad_parameter(
                name, "is inverted: the minimum height exceeds the maximum", "范围的最小高度大于最大高度。"
            )
    else:
        x0, y0, x1, y1 = numbers
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise bad_parameter(
            name,
            "longitudes must lie in -180..180 and latitudes in -90..90",
            "范围的经度应在 -180～180、纬度应在 -90～90 之间。",
        )
    if (x0 > x1 and not antimeridian) or y0 > y1:
        raise bad_parameter(name, "is inverted: the minimum exceeds the maximum", "范围的最小值大于最大值。")
    return (x0, y0, x1, y1)
