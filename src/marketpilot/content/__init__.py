"""Marketing copy: briefs, batch generation with guardrails, per-customer rendering, assets.

from marketpilot.content import Brief, generate_variants, render_message, check_copy
sets = generate_variants(briefs, client, n=5)          # one LLM call per brief
text = render_message(sets[0].variants[0], CustomerSlots(name="王小明"), shop_name="暖冬小铺")
"""

from marketpilot.content.briefs import Audience, BrandVoice, Brief, Offer, ProductFacts, load_brief
from marketpilot.content.fonts import cjk_font_path, use_cjk_font_in_matplotlib
from marketpilot.content.generate import GenerationReport, Variant, VariantSet, generate_variants, report
from marketpilot.content.guardrails import CheckResult, Violation, check_copy
from marketpilot.content.service import BriefExtras, brief_for, generate_for_product
from marketpilot.content.slots import CustomerSlots, render_batch, render_message

__all__ = [
    "Audience",
    "BrandVoice",
    "Brief",
    "BriefExtras",
    "CheckResult",
    "CustomerSlots",
    "GenerationReport",
    "Offer",
    "ProductFacts",
    "Variant",
    "VariantSet",
    "Violation",
    "brief_for",
    "check_copy",
    "cjk_font_path",
    "generate_for_product",
    "generate_variants",
    "load_brief",
    "render_batch",
    "render_message",
    "report",
    "use_cjk_font_in_matplotlib",
]
