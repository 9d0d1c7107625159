"""The bundled CJK font: Noto Sans CJK (SIL Open Font License 1.1), installed from PyPI as
`cvttf-notosanscjk-regular`, so posters and charts show Chinese on any machine without tofu boxes.

    from marketpilot.content.fonts import cjk_font_path, use_cjk_font_in_matplotlib
    use_cjk_font_in_matplotlib()        # once, before plotting Chinese labels
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from marketpilot.errors import UserError


@cache
def cjk_font_path() -> Path:
    """Path of the bundled Noto Sans CJK OpenType font (covers simplified and traditional Chinese)."""
    try:
        import cvttf_NotoSansCJK_Regular as font_package
    except ImportError as exc:
        raise UserError(
            "The CJK font package is missing.", hint="pip install 'cvttf-notosanscjk-regular==1.0'"
        ) from exc
    path = Path(font_package.__file__).parent / "NotoSansCJKtc-Regular.otf"
    if not path.is_file():
        path = Path(font_package.get_TTF_path())
    return path


@cache
def use_cjk_font_in_matplotlib() -> str:
    """Register the font with matplotlib and put it first in the sans-serif list; returns its family name."""
    from matplotlib import font_manager, rcParams

    font_manager.fontManager.addfont(str(cjk_font_path()))
    family = font_manager.FontProperties(fname=str(cjk_font_path())).get_name()
    rcParams["font.sans-serif"] = [family, *[f for f in rcParams["font.sans-serif"] if f != family]]
    rcParams["font.family"] = "sans-serif"
    rcParams["axes.unicode_minus"] = False  # the CJK font lacks U+2212; use the ASCII hyphen
    return family


@cache
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(cjk_font_path()), lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str) -> list[str]:
    """Characters of `text` the bundled font cannot draw (they would render as tofu boxes)."""
    cmap = _cmap()
    return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})
