"""AI-generation labels on text channels: AIGC metadata carried with rendered SMS/push messages, and the
visible-label and metadata settings per channel from marketpilot.toml's [content.ai_label] tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_server import json_reply
from marketpilot.cli.app import app
from marketpilot.content.briefs import Brief
from marketpilot.content.channels import CHANNEL_SPECS, channel_specs
from marketpilot.content.generate import Variant, generate_variants
from marketpilot.content.guardrails import check_copy
from marketpilot.content.slots import CustomerSlots, render_batch, render_message
from marketpilot.embed import embed
from marketpilot.errors import UserError
from marketpilot.llm import get_client


def variant(channel: str = "sms", **extra: object) -> Variant:
    return Variant(
        text="{name}，羊毛大衣现价319元",
        angle="benefit",
        brief_key="all|P1|sms|zh",
        channel=channel,
        language="zh",
        model="qwen2.5-1.5b-instruct",
        prompt_version="3",
        **extra,
    )


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(body: str) -> Path:
        path = tmp_path / "marketpilot.toml"
        path.write_text(body, encoding="utf-8")
        monkeypatch.setenv("MARKETPILOT_CONFIG", str(path))
        return path

    return write


def test_rendered_sms_carries_aigc_metadata():
    v = variant()
    plain = render_message(v, CustomerSlots(name="王小明"), shop_name="暖冬小铺")
    rendered = render_message(v, CustomerSlots(name="王小明"), shop_name="暖冬小铺", metadata=True)
    assert rendered.text == plain == "【暖冬小铺】王小明，羊毛大衣现价319元拒收请回复R"
    meta = rendered.aigc_metadata
    assert meta["Label"] == "1" and meta["ContentProducer"] == "MarketPilot"
    assert meta["Model"] == "qwen2.5-1.5b-instruct" and meta["PromptVersion"] == "3"
    assert meta["ContentPropagator"] == "暖冬小铺"
    assert meta["ProduceTime"] == v.generated_at.isoformat(timespec="seconds")
    # copy a person wrote is not labelled as generated
    human = render_message(variant(ai_generated=False), None, metadata=True)
    assert human.aigc_metadata is None and human.text.startswith("亲，")


def test_batch_metadata_is_one_json_per_variant():
    customers = pd.DataFrame({"name": ["王小明", None], "personalise": [True, True]})
    frame = render_batch(variant("push"), customers, metadata=True, propagator="暖冬小铺")
    assert list(frame.columns) == ["text", "aigc_metadata"]
    assert frame["text"].tolist() == render_batch(variant("push"), customers).tolist()
    assert frame["text"].tolist() == ["王小明，羊毛大衣现价319元", "亲，羊毛大衣现价319元"]
    (meta,) = set(frame["aigc_metadata"])  # the same generated text for every customer: one ProduceID
    assert json.loads(meta)["Label"] == "1" and json.loads(meta)["PromptVersion"] == "3"


def test_per_channel_settings_from_the_config_file(config):
    config(
        """
llm_provider = "llamacpp"
[content.ai_label.sms]
visible = true
[content.ai_label.push]
metadata = false
"""
    )
    specs = channel_specs()
    assert specs["sms"].visible_ai_label and specs["sms"].ai_metadata
    assert not specs["push"].ai_metadata and not specs["push"].visible_ai_label
    assert specs["email_body"] == CHANNEL_SPECS["email_body"]  # untouched channels keep the defaults
    pushed = render_batch(variant("push"), pd.DataFrame({"name": ["李雷"]}), metadata=True, specs=specs)
    assert pushed["aigc_metadata"].isna().all()

    brief = Brief.model_validate({"name": "羊毛大衣", "price": 399, "promo_price": 319})
    assert not check_copy("羊毛大衣现价319元", brief, specs=specs).ok  # SMS now needs the marker
    assert check_copy("羊毛大衣现价319元（AI生成）", brief, specs=specs).ok


def test_copy_check_and_generation_follow_the_config(config, tmp_path, llm_settings, llm_server):
    config("[content.ai_label.sms]\nvisible = true\n")
    brief_file = tmp_path / "brief.json"
    brief_file.write_text(
        json.dumps({"name": "羊毛大衣", "price": 399, "promo_price": 319}), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["copy", "check", "羊毛大衣现价319元", "--brief", str(brief_file), "--json"]
    )
    assert result.exit_code == 1
    (v,) = json.loads(result.output)["violations"]
    assert v["rule"] == "platform" and "AI" in v["message"]

    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": "羊毛大衣现价319元"}]}))
    brief = Brief.model_validate({"name": "羊毛大衣", "price": 399, "promo_price": 319})
    (result_set,) = generate_variants(
        [brief],
        get_client(llm_settings),
        n=1,
        specs=channel_specs(),
        embedder=lambda t: embed(t, kind="passage"),
    )
    assert result_set.variants[0].text == "羊毛大衣现价319元（AI生成）"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[content.ai_label.fax]\nvisible = true\n", "names no channel"),
        ("[content.ai_label.sms]\nvisble = true\n", "visble"),
        ("[content.ai_label.sms]\nvisible = 'yes please'\n", "visible"),
        ("[content.ai_label\n", "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(config, body, words):
    path = config(body)
    with pytest.raises(UserError, match=words) as err:
        channel_specs()
    assert str(path) in str(err.value)


def test_no_config_file_means_the_defaults(tmp_path):
    assert channel_specs(tmp_path / "absent.toml") == CHANNEL_SPECS
