"""The dataset card written beside the Parquet files."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from kgsynth.config import BuildConfig
from kgsynth.export.hub import DATA_GLOB, REJECTS_FILE, data_file
from kgsynth.export.stats import DatasetStats
from kgsynth.report import BuildReport
from kgsynth.stages import Stage
from kgsynth.verify.registry import registered


def render_card(
    report: BuildReport,
    title: str,
    intro: list[str],
    source: list[str],
    notes: list[str],
    unit: str = "rows",
) -> str:
    """The body of every kgsynth dataset card (build, KG-first synthesis, re-verification):
    title and intro, the sources, counts per stage, rejects by reason, duplicates and LLM
    usage when there were any, then the flow's notes on what a row means. The writer adds
    the statistics and the file list (kgsynth.export.write)."""
    n_in = report.n_input or 1
    lines = [f"# {title}", "", *intro, "", "## Source", *source, ""]
    lines += kg_source_lines(report.kg)
    lines += ["## Counts per stage", f"| stage | {unit} | % of input |", "| --- | ---: | ---: |"]
    for stage, n in report.count_rows():
        lines.append(f"| {stage.label} | {n} | {100 * n / n_in:.1f}% |")
    lines += [
        "",
        f"Exported {report.exported} + rejected {len(report.rejects)} = "
        f"{report.exported + len(report.rejects)} (input {report.n_input}).",
        "",
        "## Rejected, by stage and reason",
        f"| stage | reason | {unit} |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {s} | {r} | {n} |" for s, r, n in report.rejected_by_reason()]
    lines += dedup_lines(report.info_of(Stage.DEDUP))
    lines += contamination_lines(report.info_of(Stage.DECONTAM))
    lines += usage_lines(report.llm_usage)
    lines += ["", *notes, ""]
    return "\n".join(lines)


def kg_source_lines(kg: dict[str, str]) -> list[str]:
    """The KG's sources (package, version, licence, counts) and derived edges, when the KG
    was assembled from several (medkg); nothing for a KG from one source."""
    if "sources" not in kg:
        return []
    lines = [
        "## KG sources",
        "| source | package | version | licence | nodes | edges |",
        "| --- | --- | --- | --- | ---: | ---: |",
    ]
    for s in json.loads(kg["sources"]):
        lines.append(
            f"| {s['source']} | {s['package']} | {s['version']} | {s['licence']} |"
            f" {s['nodes']} | {s['edges']} |"
        )
    confidence = json.loads(kg.get("relation_confidence", "{}"))
    derived = [
        (src, rel, n)
        for src, rel, n in json.loads(kg.get("edges_by_source", "[]"))
        if src.startswith("derived:")
    ]
    if derived:
        lines += ["", "Derived edges (implied by a source, not stated by it):"]
        lines += [
            f"- `{rel}` ({src}): {n} edges, confidence {confidence.get(rel, 1.0)}"
            for src, rel, n in derived
        ]
    return [*lines, ""]


def kg_line(kg: dict[str, str]) -> str:
    release = f", release {kg['release']}" if kg.get("release") else ""
    return (
        f"- KG: `{kg.get('name')}` (hash `{kg.get('hash', '')[:16]}`, {kg.get('nodes')} nodes,"
        f" {kg.get('edges')} edges{release})"
    )


def generator_line(report: BuildReport) -> str:
    gen = report.info_of(Stage.GENERATE)
    return (
        f"- Generator: `{gen.get('name')}`, model `{gen.get('model')}`,"
        f" prompt `{gen.get('prompt_version')}`"
    )


def dataset_card(report: BuildReport, cfg: BuildConfig) -> str:
    """The card of a build from QA pairs."""
    return render_card(
        report,
        "kgsynth dataset",
        [
            "Thinking-path chain-of-thought rows built by kgsynth from QA pairs and a medical"
            " KG. Every exported row passed the checks listed below; everything else is in",
            f"`{REJECTS_FILE}` with its stage and reason.",
        ],
        [
            f"- QA files: {', '.join(str(p) for p in cfg.qa_files())}",
            kg_line(report.kg),
            generator_line(report),
            f"- Linking threshold {cfg.linking.threshold}; paths: max_hops {cfg.paths.max_hops},"
            f" k {cfg.paths.k} per pair, max {cfg.paths.max_paths} per question",
        ],
        [
            "## Checks",
            *checks_lines(report, cfg),
            "",
            "QA text keeps the licence of its source dataset.",
        ],
    )


def checks_lines(report: BuildReport, cfg: BuildConfig) -> list[str]:
    """What each check that ran means (the check registry's descriptions)."""
    ran = [
        c
        for c in registered()
        if (c.run is not None and c.enabled(cfg.verify))
        or (c.judged_at in report.counts and c.judged_at is not Stage.VERIFY)
    ]
    return [f"- `{c.name}`: {c.description}." for c in ran]


def dedup_lines(dedup: dict[str, Any]) -> list[str]:
    """Duplicate questions dropped before linking (kgsynth.qa.dedup summary)."""
    if not dedup:
        return []
    if not dedup.get("enabled"):
        return ["", "## Duplicates", "Deduplication was off (`dedup.enabled = false`)."]
    lsh = dedup.get("lsh")
    how = (
        f"MinHash, {dedup['num_perm']} permutations, LSH {lsh['bands']} bands x"
        f" {lsh['rows']} rows; every candidate confirmed by its exact Jaccard"
        if lsh
        else "every pair compared exactly: a small input needs no sketches"
    )
    near = (
        f"near: Jaccard >= {dedup['threshold']} of {dedup['shingles']} ({how})"
        if dedup.get("near_enabled")
        else "near duplicates not searched (`dedup.near = false`)"
    )
    lines = [
        "",
        "## Duplicates",
        f"Of {dedup['checked']} valid questions, {dedup['exact']} were exact and "
        f"{dedup['near']} near duplicates of an earlier one and left as rejects "
        f"(`dedup/duplicate_exact`, `dedup/duplicate_near`); the first occurrence, in input "
        f"order, stays. Exact: the same question and options after Unicode (NFKC), case, "
        f"punctuation and spacing are folded (options in any order); {near}.",
    ]
    if dedup.get("examples"):
        lines += [
            "",
            "| dropped | kept | kind | Jaccard | dropped question | kept question |",
            "| --- | --- | --- | ---: | --- | --- |",
        ]
        lines += [
            f"| `{e['id']}` | `{e['kept_id']}` | {e['kind']} | {e['jaccard']:.3f} | "
            f"{_cell(e['question'])}… | {_cell(e['kept_question'])}… |"
            for e in dedup["examples"]
        ]
    if dedup.get("closest_kept"):
        pairs = ", ".join(
            f"`{p['a']}` / `{p['b']}` ({p['jaccard']:.3f})" for p in dedup["closest_kept"]
        )
        lines.append(f"\nMost similar candidates kept apart (below the threshold): {pairs}.")
    return lines


def contamination_lines(info: dict[str, Any]) -> list[str]:
    """Rows found in a benchmark (kgsynth.decontam), per benchmark file and method; nothing
    when the stage did not run (no benchmark named)."""
    if not info:
        return []
    checked, st = info["checked"], info.get("settings", {})
    meaning = {
        "ngram": f"at least {st.get('ngram_min_share')} of the row's word {st.get('ngram')}-grams"
        " (normalised question + options) in one benchmark item, boilerplate n-grams ignored",
        "minhash": f"Jaccard >= {st.get('minhash_threshold')} of {st.get('shingle')}-word"
        f" shingles with one item (MinHash, {st.get('num_perm')} bins, LSH"
        f" {st.get('lsh', {}).get('bands')} x {st.get('lsh', {}).get('rows')}, confirmed"
        " exactly), or the same normalised text",
        "kg": "the same answer entity as an item and at least"
        f" {st.get('kg_min_shared')} of the same present question findings (all of the"
        " row's, when it has fewer)",
    }

    def pct(n: int) -> str:
        return f"{100 * n / (checked or 1):.1f}%"

    lines = [
        "",
        "## Contamination",
        f"Before any text was generated, {checked} rows were checked against"
        f" {len(info.get('benchmarks', []))} benchmark file(s); {info['flagged']}"
        f" ({pct(info['flagged'])}) overlapped a benchmark item and left as rejects at stage"
        " `decontam` (reason: the first method that flagged them, in the order below).",
        "",
        *[f"- `{m}`: {meaning.get(m, m)}." for m in info.get("methods", [])],
        "",
        "| benchmark | items | method | rows flagged | % of checked |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for b in info.get("benchmarks", []):
        for m in [*info.get("methods", []), "any"]:
            n = b["flagged"].get(m, 0)
            lines.append(f"| `{_cell(b['file'])}` | {b['items']} | {m} | {n} | {pct(n)} |")
    return lines


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _shape_table(frame: pl.DataFrame, key: str, label: str, n_rows: int) -> list[str]:
    lines = [
        f"| {label} | rows | % of rows | paths / row | hops / path | question entities / row"
        " | reasoning words |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in frame.iter_rows(named=True):  # one line per source or type: a short table
        lines.append(
            f"| {r[key]} | {r['rows']} | {100 * r['rows'] / (n_rows or 1):.1f}% | "
            f"{_num(r['paths_per_row'])} | {_num(r['mean_hops'])} | "
            f"{_num(r['question_entities'])} | {_num(r['reasoning_words'], '{:.0f}')} |"
        )
    return lines


def stats_lines(stats: DatasetStats, plots: dict[str, str], top: int = 15) -> list[str]:
    """What the exported rows are made of, with the plots (name -> path from the card)."""

    def img(name: str, alt: str) -> list[str]:
        return ["", f"![{alt}]({plots[name]})"] if name in plots else []

    lines = ["", "## Statistics"]
    if stats.n_rows == 0:
        lines += ["", "No exported rows: the plots below say so; rejects are counted above."]
    else:
        lines += ["", "### Per source", ""]
        lines += _shape_table(stats.per_source, "source", "source", stats.n_rows)
        lines += ["", "### Per answer-entity type", ""]
        lines += ["A row whose answer links to entities of two types counts under both.", ""]
        lines += _shape_table(stats.per_answer_type, "answer_type", "answer type", stats.n_rows)
    lines += ["", "### KG path length"]
    if stats.path_lengths.height:
        lines += ["", "| hops | paths |", "| ---: | ---: |"]
        lines += [f"| {h} | {n} |" for h, n in stats.path_lengths.iter_rows()]
    lines += img("path_lengths", "KG path length")
    lines += ["", "### Linked entity types"]
    if stats.entity_types.height:
        lines += ["", "| type | in questions | in answers |", "| --- | ---: | ---: |"]
        lines += [f"| {t} | {q} | {a} |" for t, q, a in stats.entity_types.head(top).iter_rows()]
    lines += img("entity_types", "Linked entity types")
    lines += ["", "### Relations on KG paths"]
    if stats.relations.height:
        more = f" (top {top} of {stats.relations.height})" if stats.relations.height > top else ""
        lines += ["", f"| relation{more} | hops |", "| --- | ---: |"]
        lines += [f"| {r} | {n} |" for r, n in stats.relations.head(top).iter_rows()]
    if stats.relation_chains.height:
        chains = ", ".join(f"`{c}` ({n})" for c, n in stats.relation_chains.head(8).iter_rows())
        lines += ["", f"Commonest relation chains: {chains}."]
    lines += img("relations", "Relations on KG paths")
    lines += [
        "",
        "### Pass rate by check",
        "",
        "Over the rows each check judged: the exported rows where it is set, plus the rows",
        "rejected at the stage that runs it (a reject's reason names every check it failed,",
        "so it passed the others of its stage). Checks that did not run are left out.",
    ]
    if stats.checks.height:
        lines += ["", "| check | judged | passed | pass rate | of them exported | stage |"]
        lines += ["| --- | ---: | ---: | ---: | ---: | --- |"]
        lines += [
            f"| `{r['check']}` | {r['judged']} | {r['passed']} | "
            f"{_num(None if r['rate'] is None else 100 * r['rate'], '{:.1f}%')} | "
            f"{r['exported_judged']} | {r['stages']} |"
            for r in stats.checks.iter_rows(named=True)
        ]
    lines += img("check_pass_rates", "Pass rate by check")
    lines += ["", "### Rejected rows"]
    lines += img("rejects", "Rejected rows by stage and reason")
    return lines


def files_lines() -> list[str]:
    """The folder's files, the same for every kgsynth dataset."""
    return [
        "",
        "## Files",
        f"- `{data_file()}` (config `default`, glob `{DATA_GLOB}`): the exported rows"
        " (schema: `schemas/output_row.schema.json`; features in the front matter).",
        f"- `{REJECTS_FILE}` (config `rejects`): id, stage, reason, detail, source_file, line"
        " of every row that left.",
        "- `plots/*.png`: the plots above.",
        "- `build.json`: counts, timings and the run's config.",
        "",
        "Read it with `kgsynth inspect FOLDER`, `kgsynth.export.read_dataset(FOLDER)`, or as a"
        " hub dataset (the YAML front matter above declares both configs).",
        "",
    ]


def usage_lines(usage: dict[str, Any]) -> list[str]:
    """LLM requests, tokens and cost of this run, per step (nothing for an offline build)."""
    steps = usage.get("steps") or {}
    if not steps:
        return []

    def cost(v: float | None) -> str:
        return "n/a" if v is None else f"${v:.4f}"

    lines = [
        "",
        "## LLM usage (this run)",
        "| step | model | requests | retries | cache hits | prompt tokens | completion tokens"
        " | cost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, su in steps.items():
        lines.append(
            f"| {name} | `{su['model']}` | {su['requests']} | {su['retries']} | "
            f"{su['cache_hits']} | {su['prompt_tokens']} | {su['completion_tokens']} | "
            f"{cost(su['cost_usd'])} |"
        )
    t = usage.get("total", {})
    lines.append(
        f"| **total** | | {t.get('requests', 0)} | {t.get('retries', 0)} | "
        f"{t.get('cache_hits', 0)} | {t.get('prompt_tokens', 0)} | "
        f"{t.get('completion_tokens', 0)} | {cost(t.get('cost_usd'))} |"
    )
    prices = usage.get("prices") or {}
    if prices:
        listed = ", ".join(
            f"`{m}` ${p['input_per_1m']}/${p['output_per_1m']} per 1M input/output tokens"
            for m, p in prices.items()
        )
        lines.append(f"\nPrices (from the build config): {listed}.")
    else:
        lines.append("\nNo prices configured (`llm.prices`): cost not computed.")
    lines.append(
        "Cache hits are replies reused from the response cache: no request, no cost this run."
    )
    return lines
