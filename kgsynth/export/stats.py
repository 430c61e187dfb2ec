"""What a dataset is made of, as polars frames: the card's tables, its plots and `inspect`.

Every function takes the exported rows (kgsynth.export.rows.row_schema), in memory or as a
LazyFrame (a large build's data file, scanned: only the columns a table needs are read and
only the small aggregate is collected), and, where rejects matter, the rejects frame
(REJECT_SCHEMA); each works on an empty frame. Check names are read from the `checks` struct
itself, so a check added to the row schema is counted with no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kgsynth.stages import Stage
from kgsynth.verify.registry import judged_at

Rows = pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class DatasetStats:
    n_rows: int
    n_rejects: int
    per_source: pl.DataFrame
    per_answer_type: pl.DataFrame
    path_lengths: pl.DataFrame
    entity_types: pl.DataFrame
    relations: pl.DataFrame
    relation_chains: pl.DataFrame
    checks: pl.DataFrame
    rejects: pl.DataFrame


def path_lengths(rows: Rows) -> pl.DataFrame:
    """hops -> paths of that length, over every path of every row."""
    return (
        rows.lazy()
        .select(pl.col("paths").explode().list.len().alias("hops"))
        .drop_nulls()
        .group_by("hops")
        .len("paths")
        .sort("hops")
        .collect()
    )


def _types(rows: Rows, col: str, name: str) -> pl.LazyFrame:
    return (
        rows.lazy()
        .select(pl.col(col).explode().struct.field("type").alias("type"))
        .drop_nulls()
        .group_by("type")
        .len(name)
    )


def entity_types(rows: Rows) -> pl.DataFrame:
    """type -> linked entities of that type in questions and in answers (each link counted)."""
    q = _types(rows, "question_entities", "question")
    a = _types(rows, "answer_entities", "answer")
    return (
        q.join(a, on="type", how="full", coalesce=True)
        .with_columns(pl.col("question", "answer").fill_null(0).cast(pl.Int64))
        .sort(pl.col("question") + pl.col("answer"), "type", descending=[True, False])
        .collect()
    )


def relations(rows: Rows) -> pl.DataFrame:
    """relation -> hops using it, over every hop of every path, commonest first."""
    return (
        rows.lazy()
        .select(pl.col("paths").explode().explode().struct.field("relation"))
        .drop_nulls()
        .group_by("relation")
        .len("hops")
        .sort("hops", "relation", descending=[True, False])
        .collect()
    )


def relation_chains(rows: Rows) -> pl.DataFrame:
    """The relations of a path in walking order ("is_a / has_phenotype") -> paths."""
    return (
        rows.lazy()
        .select(
            pl.col("paths")
            .explode()
            .list.eval(pl.element().struct.field("relation"))
            .list.join(" / ")
            .alias("chain")
        )
        .filter(pl.col("chain").is_not_null() & (pl.col("chain") != ""))
        .group_by("chain")
        .len("paths")
        .sort("paths", "chain", descending=[True, False])
        .collect()
    )


def _shape() -> list[pl.Expr]:
    return [
        pl.len().alias("rows"),
        pl.col("paths").list.len().mean().alias("paths_per_row"),
        pl.col("paths").explode().list.len().mean().alias("mean_hops"),
        pl.col("question_entities").list.len().mean().alias("question_entities"),
        pl.col("reasoning").str.count_matches(r"\S+").mean().alias("reasoning_words"),
    ]


def per_source(rows: Rows) -> pl.DataFrame:
    """source -> rows, paths per row, hops per path, question entities, reasoning words."""
    return (
        rows.lazy()
        .group_by("source")
        .agg(_shape())
        .sort("rows", "source", descending=[True, False])
        .collect()
    )


def per_answer_type(rows: Rows) -> pl.DataFrame:
    """Answer-entity type -> the same shape; a row with answers of two types counts in both."""
    typed = (
        rows.lazy()
        .with_columns(
            pl.col("answer_entities")
            .list.eval(pl.element().struct.field("type"))
            .list.unique()
            .alias("answer_type")
        )
        .explode("answer_type")
    )
    return (
        typed.with_columns(pl.col("answer_type").fill_null("(none)"))
        .group_by("answer_type")
        .agg(_shape())
        .sort("rows", "answer_type", descending=[True, False])
        .collect()
    )


def check_names(rows: Rows) -> list[str]:
    """The boolean checks of the `checks` struct, in schema order (not `passed`)."""
    dtype = rows.lazy().collect_schema()["checks"]
    assert isinstance(dtype, pl.Struct)
    return [f.name for f in dtype.fields if f.dtype == pl.Boolean and f.name != "passed"]


def check_rates(rows: Rows, rejects: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per check: rows it judged, how many passed, the pass rate.

    Judged = exported rows where the check is set (not null) + rejects of the stage that ran
    it; failed = those rejects whose reason (checks joined by "+") names it. A check that is
    null on every exported row and named by no reject did not run and is left out."""
    names = check_names(rows)
    # the stage whose rejects a check judged (registry; most run at "verify", where each row
    # goes through all of them, so a row rejected there passed the checks it does not name);
    # a check named in the reasons of another stage's rejects counts that stage too
    stage_of = judged_at()
    flat = rows.lazy().select(pl.col("checks").struct.unnest()).select(names)
    exported = (
        flat.select(
            [pl.col(c).is_not_null().sum().alias(c) for c in names]
            + [pl.col(c).fill_null(False).sum().alias(f"{c}__ok") for c in names]
        )
        .collect()
        .row(0, named=True)
    )
    if rejects is None:
        rejects = pl.DataFrame(schema={"stage": pl.String, "reason": pl.String})
    rj = rejects.select("stage", pl.col("reason").str.split("+").alias("names"))
    out = []
    for c in names:
        named = rj.filter(pl.col("names").list.contains(c))
        if exported[c] == 0 and named.height == 0:
            continue
        stages = {stage_of.get(c, Stage.VERIFY).value, *named["stage"].to_list()}
        judged_rej = rj.filter(pl.col("stage").is_in(sorted(stages))).height
        judged = exported[c] + judged_rej
        passed = exported[f"{c}__ok"] + judged_rej - named.height
        out.append(
            {
                "check": c,
                "judged": judged,
                "passed": passed,
                "failed": judged - passed,
                "rate": passed / judged if judged else None,
                "exported_judged": exported[c],
                "stages": ", ".join(sorted(stages)),
            }
        )
    schema = {
        "check": pl.String,
        "judged": pl.Int64,
        "passed": pl.Int64,
        "failed": pl.Int64,
        "rate": pl.Float64,
        "exported_judged": pl.Int64,
        "stages": pl.String,
    }
    return pl.DataFrame(out, schema=schema)


def rejects_by_reason(rejects: pl.DataFrame | None) -> pl.DataFrame:
    """(stage, reason) -> rejected rows, most first."""
    if rejects is None or rejects.is_empty():
        return pl.DataFrame(schema={"stage": pl.String, "reason": pl.String, "rows": pl.UInt32})
    return (
        rejects.group_by("stage", "reason")
        .len("rows")
        .sort("rows", "stage", "reason", descending=[True, False, False])
    )


def height(rows: Rows) -> int:
    if isinstance(rows, pl.DataFrame):
        return rows.height
    return int(rows.select(pl.len()).collect().item())


def dataset_stats(rows: Rows, rejects: pl.DataFrame | None) -> DatasetStats:
    return DatasetStats(
        n_rows=height(rows),
        n_rejects=0 if rejects is None else rejects.height,
        per_source=per_source(rows),
        per_answer_type=per_answer_type(rows),
        path_lengths=path_lengths(rows),
        entity_types=entity_types(rows),
        relations=relations(rows),
        relation_chains=relation_chains(rows),
        checks=check_rates(rows, rejects),
        rejects=rejects_by_reason(rejects),
    )
