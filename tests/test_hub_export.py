"""The dataset folder a hub can take: front matter, data files, statistics and plots.

The numbers behind every table and plot are recomputed here from the Parquet rows with plain
Python, independently of the polars expressions in kgsynth.export.stats.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.config import DEFAULT_SAMPLE_QA
from kgsynth.export import DatasetError, read_dataset, read_rejects
from kgsynth.export.figures import (
    checks_figure,
    entity_types_figure,
    path_lengths_figure,
    relations_figure,
)
from kgsynth.export.hub import DATA_GLOB, data_file, read_front_matter
from kgsynth.export.rows import REJECT_SCHEMA, row_schema, rows_frame
from kgsynth.export.stats import (
    check_rates,
    dataset_stats,
    entity_types,
    path_lengths,
    relations,
)
from kgsynth.export.write import write_dataset
from kgsynth.records import Reject

SAMPLE = DEFAULT_SAMPLE_QA
PLOTS = ("path_lengths", "entity_types", "relations", "check_pass_rates", "rejects")


@pytest.fixture(scope="module")
def built(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "ds"
    args = ["build", "--qa", str(SAMPLE), "--kg", "hpo", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def rows(built: Path) -> pl.DataFrame:
    return read_dataset(built)


def meta_of(folder: Path) -> dict:
    return read_front_matter((folder / "README.md").read_text(encoding="utf-8"))


# -- front matter -------------------------------------------------------------------------------

_SCALAR = {
    pl.String: "string",
    pl.Int32: "int32",
    pl.Int64: "int64",
    pl.Float64: "float64",
    pl.Boolean: "bool",
}


def assert_feature(feature: dict | str | list, dtype: pl.DataType, where: str) -> None:
    """The YAML feature has the polars dtype's nesting, names and leaf types."""
    if isinstance(dtype, pl.Struct):
        fields = feature["struct"] if isinstance(feature, dict) else feature
        assert [f["name"] for f in fields] == [f.name for f in dtype.fields], where
        for f, pf in zip(fields, dtype.fields, strict=True):
            body = {k: v for k, v in f.items() if k != "name"}
            assert_feature(body, pf.dtype, f"{where}.{pf.name}")
    elif isinstance(dtype, pl.List):
        assert isinstance(feature, dict) and set(feature) == {"list"}, where
        inner = feature["list"]
        if isinstance(inner, str):
            inner = {"dtype": inner}
        assert_feature(inner, dtype.inner, f"{where}[]")
    elif isinstance(dtype, pl.Datetime):
        assert feature == {"dtype": f"timestamp[{dtype.time_unit}, tz={dtype.time_zone}]"}, where
    else:
        assert feature == {"dtype": _SCALAR[type(dtype)]}, where


def test_front_matter_features_match_the_parquet_columns(built: Path):
    meta = meta_of(built)
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    written = {
        "default": pl.read_parquet_schema(built / data_file()),
        "rejects": pl.read_parquet_schema(built / "rejects.parquet"),
    }
    assert list(written["default"]) == list(row_schema())  # the schema every row is written in
    assert list(written["rejects"]) == list(REJECT_SCHEMA)
    for name, schema in written.items():
        feats = infos[name]["features"]
        assert [f["name"] for f in feats] == list(schema), name
        for f in feats:
            assert_feature(
                {k: v for k, v in f.items() if k != "name"}, schema[f["name"]], f["name"]
            )


def test_front_matter_configs_point_at_the_written_files(built: Path, rows: pl.DataFrame):
    meta = meta_of(built)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["default"]["default"] is True
    (files,) = configs["default"]["data_files"]
    assert files["split"] == "train" and files["path"] == DATA_GLOB
    assert sorted(built.glob(files["path"])) == [built / data_file()]
    assert sorted(p.relative_to(built).as_posix() for p in (built / "data").iterdir()) == [
        data_file()
    ]
    (rej,) = configs["rejects"]["data_files"]
    assert (built / rej["path"]).is_file()
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    rejects = read_rejects(built)
    assert infos["default"]["splits"][0]["num_examples"] == rows.height
    assert infos["rejects"]["splits"][0]["num_examples"] == rejects.height
    assert meta["size_categories"] == ["n<1K"] and "medical" in meta["tags"]


def test_card_links_every_plot_and_reports_the_build(built: Path, rows: pl.DataFrame):
    card = (built / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "\n# kgsynth dataset\n" in card
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card)
    assert sorted(links) == sorted(f"plots/{p}.png" for p in PLOTS)
    assert all((built / link).is_file() for link in links)
    for heading in ("## Statistics", "### Per source", "### Per answer-entity type", "## Files"):
        assert heading in card
    assert f"| medqa | {rows.height} | 100.0% |" in card  # the sample's one source layout
    assert "## Duplicates" in card and "data.parquet" not in card


# -- plots ---------------------------------------------------------------------------------------


def test_plots_are_real_pngs_with_content(built: Path):
    for name in PLOTS:
        path = built / "plots" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        with Image.open(path) as im:
            assert im.width >= 600 and im.height >= 300, name
            colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is not None and len(colours) > 20, name  # bars, text, not blank


def _hops(rows: pl.DataFrame) -> Counter[int]:
    return Counter(len(p) for r in rows.to_dicts() for p in r["paths"])


def test_path_length_histogram_counts_the_paths(rows: pl.DataFrame):
    want = _hops(rows)
    assert sum(want.values()) > 0
    got = path_lengths(rows)
    assert dict(got.iter_rows()) == dict(want)
    fig = path_lengths_figure(got)
    bars = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in fig.axes[0].patches}
    assert {k: v for k, v in bars.items() if v} == dict(want)


def test_relation_and_entity_type_counts(rows: pl.DataFrame):
    rels = Counter(h["relation"] for r in rows.to_dicts() for p in r["paths"] for h in p)
    got = relations(rows)
    assert dict(got.iter_rows()) == dict(rels)
    assert got["hops"].to_list() == sorted(rels.values(), reverse=True)
    fig = relations_figure(got)
    assert sorted(p.get_width() for p in fig.axes[0].patches) == sorted(rels.values())[-15:]
    q = Counter(e["type"] for r in rows.to_dicts() for e in r["question_entities"])
    a = Counter(e["type"] for r in rows.to_dicts() for e in r["answer_entities"])
    types = entity_types(rows)
    assert {t: (qn, an) for t, qn, an in types.iter_rows()} == {t: (q[t], a[t]) for t in q | a}
    fig = entity_types_figure(types)
    widths = sorted(p.get_width() for p in fig.axes[0].patches)
    assert widths == sorted([q[t] for t in q | a] + [a[t] for t in q | a])


# -- pass rates by check, with rejects -----------------------------------------------------------


def test_check_rates_count_rejects_of_the_stage_that_ran_them(rows: pl.DataFrame):
    # a check the schema does not know yet is picked up from the struct itself
    extra = rows.head(4).with_columns(
        pl.col("checks").struct.with_fields(
            pl.Series("lm_judge", [True, False, None, True], dtype=pl.Boolean),
            pl.lit(True).alias("quality_filter"),
        )
    )
    rejects = pl.DataFrame(
        [
            {"stage": "verify", "reason": "kg_faithful+no_leakage"},
            {"stage": "verify", "reason": "answer_match"},
            {"stage": "verify", "reason": "answer_match"},
            {"stage": "quality", "reason": "quality_filter"},
            {"stage": "link", "reason": "no_answer_entity"},
        ]
    )
    got = {r["check"]: r for r in check_rates(extra, rejects).iter_rows(named=True)}
    # the three verify rejects were judged by every verify check; link rejects by none
    assert (got["kg_faithful"]["judged"], got["kg_faithful"]["passed"]) == (4 + 3, 4 + 2)
    assert (got["answer_match"]["judged"], got["answer_match"]["passed"]) == (7, 5)
    assert (got["no_leakage"]["judged"], got["no_leakage"]["passed"]) == (7, 6)
    assert (got["quality_filter"]["judged"], got["quality_filter"]["passed"]) == (5, 4)
    assert got["quality_filter"]["stages"] == "quality"
    assert (got["lm_judge"]["exported_judged"], got["lm_judge"]["passed"]) == (3, 2 + 3)
    assert "answer_unique" not in got  # null on built rows and named by no reject: not run
    fig = checks_figure(check_rates(extra, rejects))
    ok = [p.get_width() for p in fig.axes[0].patches][: len(got)]
    assert ok[::-1] == pytest.approx([100 * r["passed"] / r["judged"] for r in got.values()])


# -- edge cases ----------------------------------------------------------------------------------


def test_empty_dataset_still_writes_card_and_plots(tmp_path: Path):
    rejects = [Reject(id=f"r{i}", stage="link", reason="no_answer_entity") for i in range(3)]
    write_dataset(tmp_path, rows_frame([], "hpo", "h"), [], "# earlier\n", {})  # an earlier run
    paths = write_dataset(
        tmp_path, rows_frame([], "hpo", "h"), rejects, "# empty\n", {}, overwrite=True
    )
    assert paths["data"] == tmp_path / data_file()
    for name in PLOTS:
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
    card = (tmp_path / "README.md").read_text()
    assert "No exported rows" in card
    meta = read_front_matter(card)
    assert meta["dataset_info"][0]["splits"][0]["num_examples"] == 0
    assert read_dataset(tmp_path).height == 0 and read_rejects(tmp_path).height == 3
    stats = dataset_stats(read_dataset(tmp_path), read_rejects(tmp_path))
    assert stats.path_lengths.is_empty() and stats.checks.is_empty()


def test_read_dataset_takes_a_folder_a_file_or_an_old_layout(built: Path, tmp_path: Path):
    whole = read_dataset(built)
    assert read_dataset(built / data_file()).equals(whole)
    whole.write_parquet(tmp_path / "data.parquet")  # a folder from before data/
    assert read_dataset(tmp_path).equals(whole)
    with pytest.raises(DatasetError, match="no such dataset folder"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a kgsynth dataset folder"):
        read_dataset(tmp_path / "empty")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DatasetError, match="bad.parquet"):
        read_dataset(tmp_path / "bad.parquet")
