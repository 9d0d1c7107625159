"""The Ray runners on a real local Ray (two CPUs): sentiment over a file equals the single-process
model, and copy generation spreads its briefs over workers that call an OpenAI-protocol server."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from llm_server import json_reply
from marketpilot.analytics.reviews.batch import score_file
from marketpilot.analytics.reviews.sentiment import load_model
from marketpilot.cli import app, run_app
from marketpilot.content.briefs import Brief
from marketpilot.errors import UserError
from marketpilot.scale.copy import generate_copy_ray
from marketpilot.scale.runtime import ray_session
from marketpilot.scale.sentiment import score_file_ray

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    """3,000 real Chinese reviews and 1,000 English sentences, one with a phone number."""
    zh = pd.read_csv(DATA / "reviews_zh" / "ChnSentiCorp_htl_all.csv.gz").sample(3000, random_state=0)
    en = pd.read_csv(
        DATA / "reviews_en" / "yelp_labelled.txt", sep="\t", header=None, names=["review", "label"]
    )
    frame = pd.DataFrame({"review": [*zh["review"].astype(str), *en["review"].astype(str)]})
    frame["id"] = range(len(frame))
    frame.loc[0, "review"] = "房间干净，前台电话13812345678随时响应，很满意"
    return frame


@pytest.mark.slow
def test_sentiment_on_ray_equals_the_single_process_model(ray_local, reviews, tmp_path):
    source = tmp_path / "reviews.parquet"
    reviews.to_parquet(source)
    out = tmp_path / "scored"
    summary = score_file_ray(source, "review", out, batch_size=700)
    scored = pd.read_parquet(out).sort_values("id").reset_index(drop=True)
    expected = load_model().predict(reviews["review"].tolist(), adapt=False)
    assert len(scored) == summary.rows == len(reviews) and summary.files >= 1
    assert (scored["label"] == expected["label"]).all()
    assert scored["probability"].to_numpy() == pytest.approx(expected["probability"].to_numpy())
    assert (summary.pos, summary.neg) == tuple(expected["label"].value_counts()[["pos", "neg"]])
    assert "13812345678" not in scored.loc[0, "review"]  # the written text is PII-masked
    assert not list(tmp_path.glob(".scored*"))  # no temporary directory left behind


@pytest.mark.slow
def test_gbk_csv_and_bad_input_on_ray(ray_local, reviews, tmp_path, monkeypatch, capsys):
    source = tmp_path / "reviews_gbk.csv"
    sample = reviews.iloc[1:201][["id", "review"]]
    sample.to_csv(source, index=False, encoding="gb18030")
    out = tmp_path / "scored"
    argv = ["marketpilot", "scale", "sentiment", "--input", str(source), "--text-col", "review"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out), "--json"])
    assert run_app(app) == 0
    summary = json.loads(capsys.readouterr().out)
    scored = pd.read_parquet(out).sort_values("id")
    assert summary["rows"] == 200 and scored["review"].tolist() == sample["review"].tolist()  # decoded right
    assert (
        scored["label"].tolist()
        == load_model().predict(sample["review"].tolist(), adapt=False).label.tolist()
    )

    with pytest.raises(UserError, match="already exists"):
        score_file_ray(source, "review", out)
    with pytest.raises(UserError, match="no column 'text'"):
        score_file_ray(source, "text", tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_sentiment_on_a_ray_of_one_cpu_finishes(tmp_path: Path) -> None:
    """`--num-cpus 1` (and a one-core machine by default): the scorer actor held the only CPU, the read
    task waited for it, and the command hung until killed. Its own process, as a user's run is: the
    module's two-CPU Ray would be reused otherwise."""
    import os
    import subprocess

    import marketpilot

    source = tmp_path / "reviews.csv"
    pd.DataFrame({"review": ["房间干净，前台很热情", "太差了，再也不来"]}).to_csv(source, index=False)
    out = tmp_path / "scored"
    args = ["scale", "sentiment", "--input", str(source), "--text-col", "review", "--out", str(out)]
    code = "from marketpilot.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(Path(marketpilot.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--num-cpus", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,  # it finishes in ~20 s; the hang was forever
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["rows"] == 2 and len(pd.read_parquet(out)) == 2


@pytest.mark.slow
def test_sentiment_on_ray_counts_the_rows_set_aside_as_reviews_sentiment_does(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_words = [None, "", "👍👍👍", "5星", "<br>", "此用户未填写评价内容", "https://item.jd.com/1.html"]
    foreign = ["とても良い商品です", "배송이 빠르고 좋아요"]
    texts = ["质量很好，物流很快", "太差了，用两天就坏", "Great phone, works well", *no_words, *foreign]
    source = tmp_path / "reviews.parquet"
    pd.DataFrame({"id": range(len(texts)), "review": texts}).to_parquet(source)
    _, alone = score_file(source, "review", adapt=False)
    assert (alone["no_text"], alone["other_lang"]) == (len(no_words), len(foreign))

    argv = ["marketpilot", "scale", "sentiment", "--input", str(source), "--text-col", "review", "--out"]
    monkeypatch.setattr(sys, "argv", [*argv, str(tmp_path / "json"), "--json"])
    assert run_app(app) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in summary.items() if k not in ("out", "files")} == alone
    monkeypatch.setattr(sys, "argv", [*argv, str(tmp_path / "text")])
    assert run_app(app) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith(" ".join(f"{k}={v}" for k, v in alone.items()) + " → ")

    # none set aside: no keys, as `reviews sentiment` reports it
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"review": texts[:3]}).to_parquet(plain)
    assert score_file_ray(plain, "review", tmp_path / "plain").model_dump(exclude_none=True).keys() == {
        "rows", "pos", "neg", "out", "files"
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_blank_line_of_a_one_column_csv_is_a_blank_review_on_ray_too(ray_local, tmp_path, newline):
    """Rows line up with the input's, as in `reviews sentiment`: the blank line in the middle is a
    review with no text; the file's trailing newlines are none."""
    source = tmp_path / "one_column.csv"
    lines = ["review", "质量很好，物流很快", "", "太差了，用两天就坏", "", "", ""]
    source.write_bytes(newline.join(lines).encode("gb18030"))
    scored, alone = score_file(source, "review", adapt=False)
    assert alone == {"rows": 3, "pos": 2, "neg": 1, "no_text": 1}  # P = 0.5 for no text
    summary = score_file_ray(source, "review", tmp_path / "scored")
    on_ray = pd.read_parquet(tmp_path / "scored")
    assert summary.model_dump(exclude_none=True, exclude={"out", "files"}) == alone
    assert on_ray["review"].fillna("").tolist() == scored["review"].tolist()


def _writer(request: dict) -> object:  # type: ignore[type-arg]
    """The model: one variant naming the product the prompt's facts give."""
    prompt = request["messages"][-1]["content"]
    name = re.search(r"保温杯\d+号", prompt).group(0)  # type: ignore[union-attr]
    return json_reply({"variants": [{"angle": "benefit", "text": f"{name}，冬天喝上热水"}]})


@pytest.mark.slow
def test_copy_on_ray_workers_calls_the_server_for_every_brief(
    ray_local, llm_server, home, tmp_path, monkeypatch, capsys
):
    llm_server.default = _writer
    settings = llm_server.settings(home, llm_cache=False)
    briefs = [
        Brief.model_validate({"name": f"保温杯{i}号", "price": 99 + i, "channel": "push"}) for i in range(6)
    ]
    results = generate_copy_ray(briefs, settings, n=1, workers=2, briefs_per_call=2)
    assert [r.variants[0].text for r in results] == [f"保温杯{i}号，冬天喝上热水" for i in range(6)]
    assert len(llm_server.requests) == 6

    path = tmp_path / "briefs.jsonl"
    path.write_text("".join(b.model_dump_json() + "\n" for b in briefs[:2]), encoding="utf-8")
    out = tmp_path / "variants.jsonl"
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")
    argv = ["marketpilot", "scale", "copy", "--briefs", str(path), "--out", str(out), "--n", "1", "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out) | {"out": ""} == {
        "briefs": 2, "variants": 2, "dropped": 0, "failed": 0, "out": ""
    }  # fmt: skip
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["variants"][0]["text"] for line in lines] == [
        "保温杯0号，冬天喝上热水",
        "保温杯1号，冬天喝上热水",
    ]

    path.write_text('{"name": "x"}\nnot json\n', encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [*argv[:4], str(path), *argv[5:]])
    assert run_app(app) == 2
    assert "line 2" in capsys.readouterr().err


def test_cluster_error_messages_go_to_stderr_not_the_json_on_stdout(ray_local, capsys):
    """Ray prints what the cluster publishes (a task's retry, a dead worker) on the driver's stdout;
    in CI one such line landed before `scale copy --json`'s JSON."""
    import ray
    from ray._private.utils import publish_error_to_driver

    with ray_session():
        gcs = ray._private.worker.global_worker.gcs_client
        publish_error_to_driver("test", "任务重试中 task retried", gcs)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "任务重试中" not in (err := capsys.readouterr()).err:
            time.sleep(0.2)
            assert err.out == ""
    assert "任务重试中 task retried" in err.err


@pytest.mark.slow
def test_a_gold_column_called_label_on_ray_as_in_reviews_sentiment(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The public corpora call their gold column `label`: `reviews sentiment --label-col label` keeps
    it as gold_label, and `scale sentiment` refused the same file whatever it was told."""
    source = tmp_path / "labelled.csv"
    gold = ["1", "0", "1"]
    texts = ["质量很好，物流很快", "太差了，用两天就坏", "Great phone, works well"]
    pd.DataFrame({"review": texts, "label": gold}).to_csv(source, index=False)
    for refused in (
        lambda: score_file(source, "review"),
        lambda: score_file_ray(source, "review", tmp_path / "x"),
    ):
        with pytest.raises(UserError, match="'label' would be overwritten"):
            refused()
    alone, _ = score_file(source, "review", label_col="label", adapt=False)

    argv = ["marketpilot", "scale", "sentiment", "--input", str(source), "--text-col", "review"]
    monkeypatch.setattr(sys, "argv", [*argv, "--label-col", "label", "--out", str(tmp_path / "out")])
    assert run_app(app) == 0, capsys.readouterr()
    scored = pd.read_parquet(tmp_path / "out")
    scored = scored.set_index("review").loc[texts].reset_index()
    assert list(scored.columns) == list(alone.columns)
    assert scored["gold_label"].astype(str).tolist() == gold
    assert scored["label"].tolist() == alone["label"].tolist()
