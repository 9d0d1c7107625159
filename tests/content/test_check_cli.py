"""`marketpilot copy check`: guardrails only, the documented JSON shape, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from marketpilot.cli.app import app


def write_brief(tmp_path, **extra):
    brief = {
        "name": "羊毛双面呢大衣",
        "price": 399,
        "promo_price": 319,
        "currency": "CNY",
        "attributes": {"面料": "100%羊毛"},
        "language": "zh",
    } | extra
    path = tmp_path / "brief.json"
    path.write_text(json.dumps(brief, ensure_ascii=False), encoding="utf-8")
    return path


def test_check_json_shape_and_exit_code(tmp_path):
    brief = write_brief(tmp_path)
    result = CliRunner().invoke(
        app, ["copy", "check", "限时5折！原价399现价299", "--brief", str(brief), "--json"]
    )
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["ok"] is False
    assert [(v["rule"], v["span"], v["text"]) for v in payload["violations"]] == [
        ("platform", [0, 2], "限时"),
        ("facts", [2, 4], "5折"),
        ("facts", [10, 15], "现价299"),
    ]
    assert all(set(v) == {"rule", "span", "text", "message", "suggestion"} for v in payload["violations"])


def test_clean_copy_passes(tmp_path):
    brief = write_brief(tmp_path, offer={"deadline": "2025-11-11"})
    result = CliRunner().invoke(
        app, ["copy", "check", "原价399现价319，11月11日截止", "--brief", str(brief), "--json"]
    )
    assert result.exit_code == 0
    assert json.loads(result.output) == {"ok": True, "violations": []}


def test_empty_copy_fails_and_a_folder_is_not_a_brief(tmp_path):
    brief = write_brief(tmp_path)
    for text in ("", "  \n "):
        result = CliRunner().invoke(app, ["copy", "check", text, "--brief", str(brief), "--json"])
        assert result.exit_code == 1
        assert [v["message"] for v in json.loads(result.output)["violations"]] == ["the copy is empty"]
    result = CliRunner().invoke(app, ["copy", "check", "原价399现价319", "--brief", str(tmp_path)])
    assert result.exit_code != 0 and "is a folder" in str(result.exception)
    # 满50减300 gives the goods away: a typo the brief refuses before any copy is checked against it.
    brief = write_brief(tmp_path, offer={"coupon_threshold": 50, "coupon_amount": 300})
    result = CliRunner().invoke(app, ["copy", "check", "满50减300", "--brief", str(brief)])
    assert result.exit_code != 0 and "must be below the threshold" in str(result.exception)


def test_channel_override_applies_its_limits(tmp_path):
    brief = write_brief(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "copy",
            "check",
            "羊毛双面呢大衣现价319元" * 3,
            "--brief",
            str(brief),
            "--channel",
            "email_subject",
            "--json",
        ],
    )
    assert [v["rule"] for v in json.loads(result.output)["violations"]] == ["length"]


def test_bad_brief_names_the_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "x", "price": -3, "discount": "abc"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["copy", "check", "x", "--brief", str(path)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "product.price" in message and "product.discount" in message and "bad.json" in message


def test_gbk_and_bom_brief_files(tmp_path):
    body = json.dumps({"name": "保温杯", "price": 89}, ensure_ascii=False)
    for name, data in (("bom.json", "\ufeff".encode() + body.encode()), ("gbk.json", body.encode("gbk"))):
        path = tmp_path / name
        path.write_bytes(data)
        result = CliRunner().invoke(app, ["copy", "check", "保温杯89元", "--brief", str(path), "--json"])
        assert result.exit_code == 0 and json.loads(result.output)["ok"] is True, name


def test_unlabelled_wrong_price_fails_the_check(tmp_path):
    brief = write_brief(tmp_path)
    result = CliRunner().invoke(
        app, ["copy", "check", "羊毛大衣299，冬季必备", "--brief", str(brief), "--json"]
    )
    assert result.exit_code == 1
    (violation,) = json.loads(result.output)["violations"]
    assert (violation["rule"], violation["span"], violation["text"]) == ("facts", [4, 7], "299")
    assert violation["message"] == "unverified number 299: not in the brief"


def test_a_phrase_flagged_twice_is_printed_once_per_rule(tmp_path):
    # 最 is an absolute claim (广告法) and 最佳 is on this brand's forbidden list, and the copy says it
    # twice: four findings, one line per phrase, each phrase quoted once, with its positions.
    brief = write_brief(tmp_path, brand={"forbidden_words": ["最佳"]})
    result = CliRunner().invoke(app, ["copy", "check", "最佳大衣，现价319，最佳之选", "--brief", str(brief)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # the console wraps at 80 columns off a terminal
    assert "ad_law [0:1, 11:12] “最” ×2: absolute/superlative claim (广告法第九条) → " in said, result.output
    assert "brand [0:2, 11:13] “最佳” ×2: on the brand's forbidden list → " in said, result.output
    assert said.count("广告法第九条") == 1 and said.count("forbidden list") == 1, result.output
    assert said.endswith("4 violation(s)"), result.output
