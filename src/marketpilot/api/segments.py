"""/v1/segments: the last `marketpilot segment` run — segments, their numbers and personas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from marketpilot.analytics.segments.service import SegmentationResult
from marketpilot.api.auth import app_settings
from marketpilot.api.paths import home_relative
from marketpilot.config import Settings
from marketpilot.errors import NotFoundError, UserError

router = APIRouter(prefix="/segments", tags=["segments"])


@router.get("")
def segments(settings: Annotated[Settings, Depends(app_settings)]) -> SegmentationResult:
    """Every segment's statistics and persona (name, description, grounded in the numbers)."""
    from pydantic import ValidationError

    path = settings.home_dir / "intel" / "segments.json"
    if not path.exists():
        raise NotFoundError("No segmentation yet.", hint="Run: marketpilot segment")
    try:
        result = SegmentationResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise UserError(
            f"intel/segments.json is not a segmentation summary ({exc.error_count()} problems).",
            hint="Run `marketpilot segment` again.",
        ) from exc
    return home_relative(result, settings.home_dir)
