"""Generation logic against the local OpenAI-protocol server: one call per brief, repair, drop, dedupe,
and no personal data in any request."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_server import Reply, json_reply
from marketpilot.cli.app import app
from marketpilot.content.briefs import Brief
from marketpilot.content.channels import rendered_specs
from marketpilot.content.generate import ANGLE_NAMES, DraftVariant, Variant, generate_variants, report
from marketpilot.content.slots import CustomerSlots, render_batch, render_message
from marketpilot.data import Store
from marketpilot.embed import embed
from marketpilot.llm import get_client


def passage(texts: list[str]):
    return embed(texts, kind="passage")


def coat(segment: str = "高价值", channel: str = "sms") -> Brief:
    return Brief.model_validate(
        {
            "product": {"product_id": f"P-{segment}", "name": "羊毛大衣", "price": 399, "promo_price": 319},
            "audience": {"segment": segment, "persona": "注重品质的职场女性"},
            "brand": {"shop_name": "暖冬小铺"},
            "offer": {"deadline": "2025-11-11"},
            "channel": channel,
        }
    )


def variants(*texts: str, angle: str = "benefit"):
    return json_reply({"variants": [{"angle": angle, "text": t} for t in texts]})


def test_one_llm_call_per_brief_whatever_the_audience_size(llm_settings, llm_server):
    briefs = [coat(segment) for segment in ("高价值", "沉睡", "新客")]
    replies = {
        "高价值": variants("{name}，羊毛大衣现价319元，轻暖过冬", "原价399现价319，11月11日截止"),
        "沉睡": variants("好久不见，{name}！羊毛大衣8折", "你关注的{last_category}上新了，羊毛大衣现价319元"),
        "新客": variants("新客专享：羊毛大衣现价319元", "羊毛大衣轻盈保暖，通勤约会都合适"),
    }

    def by_segment(request):  # requests run concurrently: answer by content, not by arrival order
        prompt = request["messages"][-1]["content"]
        return next(reply for segment, reply in replies.items() if f"人群：{segment}" in prompt)

    llm_server.default = by_segment
    sets = generate_variants(briefs, get_client(llm_settings), n=2, embedder=passage)
    assert len(llm_server.requests) == 3
    assert [s.llm_calls for s in sets] == [1, 1, 1]
    assert all(len(s.variants) == 2 and not s.dropped for s in sets)
    assert report(sets).llm_calls == 3
    # the facts reach the prompt; the persona is the segment's, never a customer's
    prompt = llm_server.requests[0]["messages"][-1]["content"]
    assert "319" in prompt and "注重品质的职场女性" in prompt


def test_failing_variant_is_repaired_with_the_violation_named(llm_settings, llm_server):
    llm_server.script(
        variants("{name}，羊毛大衣现价319元，轻暖过冬", "最后一天！原价399现价299"),
        variants("最后一天！原价399现价319", angle="scarcity"),
    )
    (result,) = generate_variants([coat()], get_client(llm_settings), n=2, embedder=passage)
    assert len(llm_server.requests) == 2 and result.llm_calls == 2
    repair_prompt = llm_server.requests[1]["messages"][-1]["content"]
    assert "现价299" in repair_prompt and "319" in repair_prompt
    assert [v.text for v in result.variants] == [
        "{name}，羊毛大衣现价319元，轻暖过冬",
        "最后一天！原价399现价319",
    ]
    assert [v.repaired for v in result.variants] == [False, True]
    assert result.fixed == 1 and result.dropped == []


def test_variant_still_failing_after_bounded_repair_is_dropped_with_reasons(llm_settings, llm_server):
    llm_server.script(
        variants("羊毛大衣现价319元", "全网最低！现价299元"),
        variants("全网最低！现价289元"),
        variants("should never be requested"),
    )
    client = get_client(llm_settings)
    (result,) = generate_variants([coat()], client, n=2, max_repairs=1, max_topups=0, embedder=passage)
    assert len(llm_server.requests) == 2  # the repair loop is bounded
    assert [v.text for v in result.variants] == ["羊毛大衣现价319元"]
    (dropped,) = result.dropped
    assert dropped.reason == "guardrails" and "全网最低" in dropped.detail and "289" in dropped.detail
    assert result.missing == 1
    assert result.shortfall == "asked for 2, got 1: 1 draft failed the guardrails"
    summary = report([result])
    assert summary.drop_reasons == {"guardrails": 1} and summary.missing == 1
    assert set(summary.violation_rules) == {"ad_law", "facts"}


def test_near_duplicates_are_dropped_by_embedding_similarity(llm_settings, llm_server):
    llm_server.script(
        variants(
            "羊毛大衣现价319元，轻盈保暖，通勤约会都好看",
            "羊毛大衣现价319元，轻盈保暖，通勤约会都很好看",
            "11月11日截止：原价399的羊毛大衣，现价319元",
        )
    )
    (result,) = generate_variants([coat()], get_client(llm_settings), n=3, max_topups=0, embedder=passage)
    assert len(result.variants) == 2
    (dropped,) = result.dropped
    assert dropped.reason == "near_duplicate" and "很好看" in dropped.text
    assert result.shortfall == "asked for 3, got 2: 1 near-duplicate dropped"


def test_a_brief_short_of_n_is_topped_up_with_the_texts_it_has(llm_settings, llm_server):
    """The model wrote 1 of 3: one top-up call asks for the 2 missing ones with the angles not yet used
    and the text already written; a brief that got all 3 at once makes no extra call."""
    first = "{name}，羊毛大衣现价319元，轻暖过冬"
    topped = ["11月11日截止：原价399的羊毛大衣，现价319元", "老顾客都在回购的羊毛大衣，现价319元"]

    def answer(request):  # requests run concurrently: answer by content, not by arrival order
        prompt = request["messages"][-1]["content"]
        if "人群：新客" in prompt:
            return variants(
                "羊毛大衣现价319元，轻盈保暖", "原价399现价319，11月11日截止", "通勤约会都合适的羊毛大衣"
            )
        if "已经写好的文案" in prompt:
            return variants(*topped, angle="海报主打温暖")  # the angles asked for are kept
        return variants(first)

    llm_server.default = answer
    sets = generate_variants([coat(), coat("新客")], get_client(llm_settings), n=3, embedder=passage)
    assert [s.llm_calls for s in sets] == [2, 1] and len(llm_server.requests) == 3
    assert report(sets).llm_calls == 3 and report(sets).missing == 0
    short, full = sets
    assert [v.text for v in short.variants] == [first, *topped]
    assert [v.angle for v in short.variants] == ["benefit", "scarcity", "social_proof"]
    assert short.missing == 0 and short.shortfall is None and len(full.variants) == 3
    assert [v.prompt_version for v in short.variants] == ["8", "8", "8"]
    (topup,) = [r["messages"][-1]["content"] for r in llm_server.requests if "已经写好的文案" in str(r)]
    assert "人群：高价值" in topup and f"- {first}" in topup and "请再写 2 条新文案" in topup
    asked = topup.split("请再写")[1]
    assert ANGLE_NAMES["zh"]["scarcity"] in asked and ANGLE_NAMES["zh"]["social_proof"] in asked
    assert ANGLE_NAMES["zh"]["benefit"] not in asked


def test_top_ups_that_only_repeat_end_in_a_stated_shortfall(llm_settings, llm_server):
    """A model that keeps rewording the text it has: two top-ups (a new seed each), both dropped as
    near-duplicates of it, and the result says it is one short and why."""
    kept = "羊毛大衣现价319元，轻盈保暖，通勤约会都好看"
    llm_server.script(variants(kept))
    llm_server.default = lambda request: variants("羊毛大衣现价319元，轻盈保暖，通勤约会都很好看")
    client = get_client(llm_settings)
    (result,) = generate_variants([coat()], client, n=2, seed=7, max_topups=2, embedder=passage)
    assert len(llm_server.requests) == 3 and result.llm_calls == 3
    assert [r["seed"] for r in llm_server.requests] == [7, 8, 9]
    assert all(f"- {kept}" in r["messages"][-1]["content"] for r in llm_server.requests[1:])
    assert [v.text for v in result.variants] == [kept]
    assert [d.reason for d in result.dropped] == ["near_duplicate", "near_duplicate"]
    assert result.missing == 1
    assert result.shortfall == (
        "asked for 2, got 1 after 2 top-up calls: the model wrote 3 of the 4 asked for; "
        "2 near-duplicates dropped"
    )


def test_a_brief_left_with_nothing_is_topped_up_beside_one_that_is_done(llm_settings, llm_server):
    """Both of 沉睡's drafts fail the guardrails, repaired or not; its top-up (no texts to list yet)
    brings one, while 高价值, done on the first call, is asked nothing more."""
    asked: list[str] = []

    def answer(request):
        prompt = request["messages"][-1]["content"]
        if "电商文案审校" in request["messages"][0]["content"]:
            return variants("全网最低！现价289元")
        if "人群：高价值" in prompt:
            return variants("{name}，羊毛大衣现价319元，轻暖过冬")
        asked.append(prompt)
        return variants("全网最低！现价299元") if len(asked) == 1 else variants("羊毛大衣现价319元，好久不见")

    llm_server.default = answer
    sets = generate_variants([coat(), coat("沉睡")], get_client(llm_settings), n=1, embedder=passage)
    assert [s.llm_calls for s in sets] == [1, 3]  # 沉睡: first call, repair, top-up
    assert [[v.text for v in s.variants] for s in sets] == [
        ["{name}，羊毛大衣现价319元，轻暖过冬"],
        ["羊毛大衣现价319元，好久不见"],
    ]
    assert [d.reason for d in sets[1].dropped] == ["guardrails"] and sets[1].missing == 0
    assert len(asked) == 2 and "已经写好的文案" not in asked[1]


def test_a_failed_top_up_keeps_what_the_brief_has_and_says_why(llm_settings, llm_server):
    llm_server.script(variants("羊毛大衣现价319元，轻暖过冬"), Reply(status=400))
    (result,) = generate_variants([coat()], get_client(llm_settings), n=3, embedder=passage)
    assert len(llm_server.requests) == 2 and result.llm_calls == 2  # no second top-up after a failure
    assert [v.text for v in result.variants] == ["羊毛大衣现价319元，轻暖过冬"] and result.error is None
    assert result.missing == 2 and result.shortfall is not None
    assert result.shortfall.startswith("asked for 3, got 1 after 1 top-up call: the model wrote 1 of the 3")
    assert "a top-up call failed" in result.shortfall


def test_cli_warns_when_it_got_fewer_variants_than_asked(llm_server, home):
    with Store.open(home) as store:
        store.upsert(
            "products",
            pd.DataFrame(
                {"product_id": ["P1"], "name": ["羊毛大衣"], "price_minor": [39900], "currency": ["CNY"]}
            ),
        )
    kept = "羊毛大衣399元，轻盈保暖，通勤约会都好看"
    llm_server.script(variants(kept))
    llm_server.default = lambda request: variants("羊毛大衣399元，轻盈保暖，通勤约会都很好看")
    result = CliRunner().invoke(app, ["copy", "generate", "--product", "P1", "--n", "2"])
    assert result.exit_code == 0, result.output
    assert kept in result.stdout and "1 variant, 0 fixed, 1 dropped, 2 LLM calls" in result.stdout
    assert "warning: asked for 2, got 1 after 1 top-up call:" in result.stderr
    assert "1 near-duplicate dropped" in result.stderr

    llm_server.script(variants(kept))
    result = CliRunner().invoke(app, ["copy", "generate", "--product", "P1", "--n", "2", "--json"])
    payload = json.loads(result.stdout)
    assert payload["missing"] == 1 and payload["shortfall"].startswith("asked for 2, got 1")


def test_visible_ai_label_added_where_the_channel_requires_it(llm_settings, llm_server):
    llm_server.script(variants("羊毛大衣现价319元", angle="海报主打温暖"))
    (result,) = generate_variants([coat(channel="banner")], get_client(llm_settings), n=1, embedder=passage)
    assert result.variants[0].text == "羊毛大衣现价319元（AI生成）"
    assert result.variants[0].angle == "benefit"  # the angle asked for, not the model's own wording


def test_a_push_the_model_writes_on_one_line_gets_its_title_line(llm_settings, llm_server):
    one_line = "羊毛大衣限时特惠！原价399元，现价319元，11月11日截止，轻暖过冬就选它"
    llm_server.script(variants(one_line))
    (result,) = generate_variants([coat(channel="push")], get_client(llm_settings), n=1, embedder=passage)
    # was dropped: the whole line was read as a 68-wide title (the limit is 40)
    assert [v.text for v in result.variants] == [
        "羊毛大衣限时特惠！原价399元，现价319元\n11月11日截止，轻暖过冬就选它"
    ]
    assert result.llm_calls == 1 and not result.dropped


def test_slots_filled_at_render_time_and_fallback_for_opt_out():
    brief = coat()
    variant = Variant(
        text="{name}，你看过的{last_category}有新款：{rec_items}",
        angle="benefit",
        brief_key=brief.key,
        channel="sms",
        language="zh",
    )
    alice = CustomerSlots(name="王小明", last_category="大衣", rec_items=["羊毛大衣", "羊绒围巾"])
    assert (
        render_message(variant, alice, shop_name="暖冬小铺")
        == "【暖冬小铺】王小明，你看过的大衣有新款：羊毛大衣、羊绒围巾拒收请回复R"
    )
    opted_out = alice.model_copy(update={"personalise": False})
    assert render_message(variant, opted_out) == "亲，你看过的心仪好物有新款：店铺精选拒收请回复R"
    customers = pd.DataFrame(
        {
            "name": ["王小明", None, "李雷"],
            "last_category": ["大衣", "围巾", None],
            "rec_items": [["羊毛大衣", "羊绒围巾"], ["手套"], []],
            "personalise": [True, True, False],
        }
    )
    batch = render_batch(variant, customers)
    assert batch.tolist() == [
        "王小明，你看过的大衣有新款：羊毛大衣、羊绒围巾",
        "亲，你看过的围巾有新款：手套",
        "亲，你看过的心仪好物有新款：店铺精选",
    ]


@pytest.mark.slow
def test_cli_generate_uses_store_facts_and_segment_persona(llm_server, home):
    """Real segmentation output (intel/segments.json) on a sample shop feeds the persona to the prompt."""
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.config import get_settings
    from marketpilot.content.numbers import fmt_amount
    from marketpilot.content.service import product_facts, segment_persona
    from marketpilot.data.sample import make_sample
    from marketpilot.errors import NotFoundError

    settings = get_settings(home)
    make_sample(settings, customers=300, seed=1)
    segmentation = run_segmentation(settings, personas=False, report=False)
    with Store.open(settings, read_only=True) as store:
        pid = str(store.query("SELECT product_id FROM products ORDER BY product_id LIMIT 1").iloc[0, 0])
    product = product_facts(settings, pid)
    price = f"{fmt_amount(product.price)}元"
    persona = segmentation.segments[0].persona
    assert persona.segment == 1 and persona.description

    llm_server.script(variants(f"{{name}}，{product.name}现价{price}", f"{product.name}{price}，冬天也暖"))
    args = ["copy", "generate", "--product", pid, "--segment", "1", "--channel", "sms", "--n", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [v["text"] for v in payload["variants"]] == [
        f"{{name}}，{product.name}现价{price}",
        f"{product.name}{price}，冬天也暖",
    ]
    prompt = llm_server.requests[0]["messages"][-1]["content"]
    assert price in prompt and persona.description in prompt and persona.name in prompt

    # the persona name finds the segment too; "all" has none; an unknown one lists the known ones
    assert segment_persona(settings, persona.name) == segment_persona(settings, "1")
    assert segment_persona(settings, "all") is None
    # NotFoundError, as python-api.md promises for an unknown segment (the API answers 404)
    with pytest.raises(NotFoundError, match="No segment '沉睡'") as err:
        segment_persona(settings, "沉睡")
    assert persona.name in (err.value.hint or "")


def test_no_persona_before_segmentation_has_run(home):
    from marketpilot.config import get_settings
    from marketpilot.content.service import segment_persona

    assert segment_persona(get_settings(home), "1") is None


def test_a_persona_name_two_segments_share_is_refused_naming_their_numbers(llm_server, home):
    """A segmentation saved before names were made unique can hold one name twice: `copy generate`
    picked the first; now it refuses before any LLM call, and the numbers still pick one."""
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.config import get_settings
    from marketpilot.content.service import segment_persona
    from marketpilot.data.sample import make_sample
    from marketpilot.errors import UserError

    settings = get_settings(home)
    make_sample(settings, customers=300, seed=1)
    run_segmentation(settings, k=3, personas=False, report=False)
    path = settings.path("intel", "segments.json")
    summary = json.loads(path.read_text(encoding="utf-8"))
    for profile in summary["segments"][::2]:  # segments 1 and 3, as the model once named them
        profile["persona"]["name"] = "高频忠实老客"
    path.write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    with Store.open(settings, read_only=True) as store:
        pid = str(store.query("SELECT product_id FROM products ORDER BY product_id LIMIT 1").iloc[0, 0])

    args = ["copy", "generate", "--product", pid, "--segment", "高频忠实老客", "--channel", "sms"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and llm_server.requests == []
    assert isinstance(result.exception, UserError) and "Segments 1, 3" in str(result.exception)
    with pytest.raises(UserError, match=r"Segments 1, 3 .* are all named '高频忠实老客'") as err:
        segment_persona(settings, "高频忠实老客")
    assert "1 or 3 (--segment 1)" in (err.value.hint or "")
    descriptions = [p["persona"]["description"] for p in summary["segments"]]
    assert segment_persona(settings, "3") == f"高频忠实老客：{descriptions[2]}"
    assert segment_persona(settings, summary["segments"][1]["persona"]["name"]).endswith(descriptions[1])


def test_cli_generate_unknown_product_is_a_clear_error(llm_server, home):
    Store.open(home).close()
    result = CliRunner().invoke(app, ["copy", "generate", "--product", "NOPE"])
    assert result.exit_code != 0
    assert "NOPE" in str(result.exception or result.output)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_prompts_render_in_both_languages(lang):
    from marketpilot.content.generate import repair_request, variants_request

    brief = coat().model_copy(update={"language": lang})
    request = variants_request(brief, 3, temperature=0.9, top_p=0.95, seed=None)
    assert request.prompt.name == "copy_variants" and request.prompt.language == lang
    assert "399" in request.messages[-1].content
    assert repair_request(brief, [], seed=None).prompt.name == "copy_repair"
    topup = variants_request(
        brief, 1, temperature=0.9, top_p=0.95, seed=None, angles=["scarcity"], existing=["羊毛大衣现价319元"]
    )
    assert "- 羊毛大衣现价319元" in topup.messages[-1].content
    assert ANGLE_NAMES[lang]["scarcity"] in topup.messages[-1].content
    assert "- 羊毛大衣现价319元" not in request.messages[-1].content


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_banner_prompts_ask_for_a_short_headline_in_characters(lang):
    """A banner (the demo's poster) is a headline of at most 16 Chinese characters (width 32). Asked for
    “文案” with the limit only among the system rules, the embedded 1.5B model wrote banner drafts of
    25–60 characters, customer-review-like ones among them (“…物流也很快。一定会回购！”), and its repairs
    stayed as long: the banner prompts now ask for a headline, state the limit where the model writes,
    show the form on other products, and the repair gives each text's length in characters."""
    from marketpilot.content.generate import repair_request, variants_request
    from marketpilot.content.guardrails import check_copy

    banner = coat(channel="banner").model_copy(update={"language": lang})
    sms = coat().model_copy(update={"language": lang})
    limit = "16 个字" if lang == "zh" else "32 characters"
    asked = "请写 3 条海报标题" if lang == "zh" else "Write 3 poster headlines"
    request = variants_request(banner, 3, temperature=0.9, top_p=0.95, seed=None)
    system, user = request.messages[0].content, request.messages[-1].content
    assert request.prompt.version == ("8" if lang == "zh" else "6")
    assert limit in system and asked in user and limit in user.split(asked)[1]
    assert ("顾客评价" in system) if lang == "zh" else ("customer review" in system)
    if lang == "zh":  # the short name and the characters left for the selling point
        assert "以商品简称“羊毛大衣”开头" in system and "不超过 9 个字的卖点" in user
    # the examples are headlines the banner's guardrails pass on their own products' briefs
    examples = [line.split("：" if lang == "zh" else ": ", 1)[1] for line in user.splitlines()[-2:]]
    for example in examples:
        plain = Brief.model_validate({"name": example, "channel": "banner", "language": lang})
        assert check_copy(example, plain, "banner", specs=rendered_specs("banner")).ok, example
    # review-insight selling points on one line to pick from (as five lines, all five were listed)
    points = ["价格", "客服", "外观"] if lang == "zh" else ["price", "service", "look"]
    product = banner.product.model_copy(update={"selling_points": points})
    for brief, one_line in ((banner, True), (sms, False)):
        with_points = brief.model_copy(update={"product": product})
        text = variants_request(with_points, 3, temperature=0.9, top_p=0.95, seed=None).messages[-1].content
        merged = (
            "卖点（标题只挑一个）：价格、客服、外观"
            if lang == "zh"
            else "(pick one per headline): price, service, look"
        )
        assert (merged in text) is one_line and (text.count(points[1]) == 1)
    # other channels keep their wording
    other = variants_request(sms, 3, temperature=0.9, top_p=0.95, seed=None).messages
    assert asked not in other[-1].content and limit not in other[0].content.replace("不超过 47 个字", "")

    long = "暮色森林宽松卫衣，温暖又舒适，为您的夏日增添一抹温暖。"
    failing = check_copy(long, banner, "banner", specs=rendered_specs("banner")).violations
    repair = repair_request(banner, [(DraftVariant(angle="benefit", text=long), failing)], seed=None)
    text = repair.messages[-1].content
    assert (
        repair.prompt.version == ("4" if lang == "zh" else "3") and f"{len(long)}" in text and limit in text
    )
    assert ("海报标题" in text) if lang == "zh" else ("poster headline" in text)
    plain_repair = repair_request(sms, [(DraftVariant(angle="benefit", text=long), failing)], seed=None)
    assert f"{len(long)}" not in plain_repair.messages[-1].content  # other channels' repairs as before
    assert ("海报标题" not in plain_repair.messages[-1].content) and "poster headline" not in str(
        plain_repair.messages
    )


def test_a_headline_names_the_product_by_its_first_two_words_without_specs():
    """The demo shop's catalogue names: the words holding digits (3段, SPF30) and the attribute values
    (灰色) are left out; a name leaving under six characters of the 16 for a selling point is shortened
    further or not given. English briefs and other channels get none."""
    from marketpilot.content.generate import headline_name

    def short(name: str, **attributes: str) -> str | None:
        return headline_name(
            Brief.model_validate({"name": name, "attributes": attributes, "channel": "banner"})
        )

    assert short("暮色森林 宽松卫衣 灰色", 颜色="灰色") == "暮色森林宽松卫衣"
    assert short("童心 防胀气奶粉 3段 800g") == "童心防胀气奶粉"
    assert short("雪颜 补水防晒霜 SPF30 60ml") == "雪颜补水防晒霜"
    assert short("羊毛双面呢大衣") == "羊毛双面呢大衣"
    assert short("北极光户外科技 加厚防风保暖冲锋衣") == "加厚防风保暖冲锋衣"
    assert short("一二三四五六七八九十一") is None
    english = Brief.model_validate({"name": "Wool coat", "channel": "banner", "language": "en"})
    assert headline_name(english) is None and headline_name(coat()) is None


def test_a_poster_needing_one_headline_is_topped_up_only_when_none_passes(llm_settings, llm_server):
    """`enough=1`: one passing headline of the 3 asked for makes no top-up; none passing (even
    repaired) makes one top-up call asking for all 3 again, and its passing headline is kept."""
    client = get_client(llm_settings)
    long = "羊毛大衣现价319元，轻盈保暖，通勤约会都好看，冬天就穿它出门"
    llm_server.script(variants("羊毛大衣现价319元", long, long + "吧"), variants(long, long))
    (one,) = generate_variants(
        [coat(channel="banner")],
        client,
        n=3,
        max_topups=1,
        enough=1,
        embedder=passage,
        specs=rendered_specs("banner"),
    )
    assert [v.text for v in one.variants] == ["羊毛大衣现价319元"] and one.llm_calls == 2
    assert one.missing == 2 and one.shortfall.startswith("asked for 3, got 1:")

    llm_server.requests.clear()
    llm_server.script(
        variants(long, long + "吧"), variants(long, long + "吧"), variants("轻暖羊毛大衣，现价319元", long)
    )
    llm_server.default = lambda request: variants(long)
    (topped,) = generate_variants(
        [coat(channel="banner")],
        client,
        n=3,
        max_topups=1,
        enough=1,
        embedder=passage,
        specs=rendered_specs("banner"),
    )
    assert [v.text for v in topped.variants] == ["轻暖羊毛大衣，现价319元"]
    assert topped.llm_calls == 4 and len(llm_server.requests) == 4
    topup = llm_server.requests[2]["messages"][-1]["content"]
    assert "请写 3 条海报标题" in topup  # nothing kept to list: all 3 asked for again
    assert topped.shortfall.startswith("asked for 3, got 1 after 1 top-up call:")


def test_angles_take_turns_and_follow_the_brief():
    from marketpilot.content.generate import angles_for, missing_angles

    plain = Brief.model_validate({"name": "羊毛大衣", "price": 399})
    assert angles_for(plain, 3) == ["benefit", "social_proof", "benefit"]
    # scarcity only with something scarce in the brief: a deadline, a limit or stock on hand
    for extra in ({"offer": {"deadline": "2025-11-11"}}, {"offer": {"limit": 100}}, {"stock": 20}):
        brief = Brief.model_validate({"name": "羊毛大衣", "price": 399} | extra)
        assert angles_for(brief, 3) == ["benefit", "scarcity", "social_proof"], extra
    sold_out = Brief.model_validate({"name": "羊毛大衣", "price": 399, "stock": 0})
    assert "scarcity" not in angles_for(sold_out, 6)
    # a seasonal hook only with a season
    seasonal = Brief.model_validate({"name": "羊毛大衣", "price": 399, "season": "双11"})
    assert angles_for(seasonal, 4) == ["benefit", "social_proof", "seasonal", "benefit"]
    both = Brief.model_validate(
        {"name": "羊毛大衣", "price": 399, "season": "双11", "offer": {"deadline": "2025-11-11"}}
    )
    assert angles_for(both, 5) == ["benefit", "scarcity", "social_proof", "seasonal", "benefit"]
    # a top-up asks for the angles the kept variants do not use yet, then the plan's next turns
    scarce = Brief.model_validate({"name": "羊毛大衣", "price": 399, "offer": {"limit": 100}})
    assert missing_angles(scarce, 3, ["benefit"], 2) == ["scarcity", "social_proof"]
    assert missing_angles(scarce, 3, ["benefit", "benefit"], 1) == ["scarcity"]
    assert missing_angles(plain, 3, ["seasonal"], 2) == ["benefit", "social_proof"]


def test_prompt_asks_for_the_angles_and_states_the_offer():
    from marketpilot.content.generate import ANGLE_NAMES, variants_request

    brief = Brief.model_validate(
        {
            "name": "羊毛袜",
            "price": 39,
            "season": "双11",
            "offer": {"buy_n": 2, "nth_discount": "半价", "starts": "2025-11-09", "deadline": "2025-11-11"},
        }
    )
    prompt = variants_request(brief, 4, temperature=0.9, top_p=0.95, seed=None).messages[-1].content
    for angle in ("benefit", "scarcity", "social_proof", "seasonal"):
        assert ANGLE_NAMES["zh"][angle] in prompt
    assert "第2件半价" in prompt and "活动天数：3天" in prompt and "节日：双11" in prompt


def test_personal_data_in_the_catalogue_never_reaches_the_prompt(llm_settings, llm_server):
    """A product's attributes and selling points are the shop's text, but can carry a person's phone
    or e-mail (客服 138…, a quoted buyer): the prompt gets them masked, the prices untouched."""
    brief = coat().model_copy(deep=True)
    brief.product.attributes = {"客服": "13812345678", "材质": "羊毛"}
    brief.product.selling_points = ["买家 zhang@example.com 说：很暖和"]
    llm_server.script(variants("羊毛大衣现价319元，轻暖过冬"))
    generate_variants([brief], get_client(llm_settings), n=1, embedder=passage)
    prompt = json.dumps(llm_server.requests[0]["messages"], ensure_ascii=False)
    assert "13812345678" not in prompt and "zhang@example.com" not in prompt
    assert "客服：[电话]" in prompt and "[邮箱]" in prompt and "319" in prompt and "材质：羊毛" in prompt
