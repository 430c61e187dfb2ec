"""`kgsynth decontam DATASET --against FILE...`: which rows of a dataset overlap a benchmark.

Checks an existing dataset's exported rows (data/*.parquet) the way the `decontam` stage
checks rows during a build (kgsynth.decontam): word n-grams, MinHash near duplicates and,
with the KG the rows were linked on, the same answer entity with the same present findings.
Prints the rate per benchmark and method and the flagged rows; `--out` writes every flag
(.parquet, or .json with the summary). The dataset is only read, never changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kgsynth.cli_common import CacheDirOption, ConfigOption, err, fail

# polars, the KG and the linker load inside the command: `kgsynth --help` stays quick
if TYPE_CHECKING:
    import polars as pl

    from kgsynth.config import DecontamConfig, LinkingConfig
    from kgsynth.decontam.match import Candidates
    from kgsynth.kg.graph import KnowledgeGraph

REPORT_SUFFIXES = (".parquet", ".json")


def _settings(
    config: Path | None, against: list[Path], methods: list[str] | None
) -> DecontamConfig:
    """[decontam] of a build config file (if given), with the flags' benchmarks and methods."""
    from pydantic import ValidationError

    from kgsynth.config import DecontamConfig, read_config_file
    from kgsynth.errors import ConfigError

    table: dict[str, Any] = {}
    if config is not None:
        table = dict(read_config_file(config).get("decontam") or {})
    table |= {"enabled": True, "against": against}
    if methods:
        table["methods"] = methods
    try:
        return DecontamConfig.model_validate(table)
    except ValidationError as e:
        lines = [f"  {'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()]
        raise ConfigError("invalid decontam settings:\n" + "\n".join(lines)) from e


def _build_config(dataset: Path) -> dict[str, Any]:
    """The config the dataset was made with (build.json), or {} for a lone Parquet file."""
    from kgsynth.export.hub import SUMMARY_FILE

    f = dataset / SUMMARY_FILE
    if not f.is_file():
        return {}
    try:
        return json.loads(f.read_text(encoding="utf-8")).get("config") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}


def _candidates(rows: pl.DataFrame) -> Candidates:
    """The dataset's rows as decontamination candidates (text, present findings, answer)."""
    from kgsynth.decontam.match import Candidates
    from kgsynth.records import QARecord

    def ids(links: list[dict[str, Any]] | None, present: bool) -> list[str]:
        return sorted(
            {e["kg_id"] for e in links or [] if not present or e.get("assertion") == "present"}
        )

    records, present, answers = [], [], []
    # a dataset's rows (thousands): one QARecord each, as the stage would see them
    for r in rows.select(
        "id", "source", "question", "options", "answer", "question_entities", "answer_entities"
    ).iter_rows(named=True):
        records.append(
            QARecord(
                id=r["id"],
                source=r["source"] or "",
                question=r["question"] or "",
                options={o["letter"]: o["text"] for o in r["options"] or []},
                answer=r["answer"] or "",
            )
        )
        present.append(ids(r["question_entities"], present=True))
        answers.append(ids(r["answer_entities"], present=False))
    return Candidates.from_records(records, present, answers)


def _kg(
    spec: str | None, built: dict[str, Any], rows: pl.DataFrame, cache_dir: Path
) -> tuple[KnowledgeGraph, LinkingConfig]:
    """The KG the rows were linked on, and the linking config their build used."""
    from kgsynth.config import LinkingConfig
    from kgsynth.kg import load_kg

    name = spec or built.get("kg") or next(iter(rows["kg_name"].drop_nulls().unique()), None)
    if not name:
        fail("the KG method needs the KG the rows were linked on: name it with --kg")
    kg = load_kg(str(name), cache_dir=cache_dir)
    hashes = set(rows["kg_hash"].drop_nulls().unique().to_list())
    if hashes and kg.hash not in hashes:
        err.print(
            f"[yellow]warning:[/] KG '{name}' (hash {kg.hash[:12]}) is not the one the rows"
            f" were linked on ({', '.join(sorted(h[:12] for h in hashes))}): entity ids may"
            " differ"
        )
    linking = LinkingConfig.model_validate(built.get("linking") or {})
    return kg, linking


def _summary(
    indexes: list[Any], counts: dict[str, dict[str, int]], s: DecontamConfig, n: int
) -> Table:
    t = Table(title=f"decontamination: {n} rows checked", title_justify="left")
    for col, right in (
        ("benchmark", False),
        ("items", True),
        ("method", False),
        ("flagged", True),
        ("%", True),
    ):
        t.add_column(col, justify="right" if right else "left")
    for idx in indexes:
        for m in [*s.methods, "any"]:
            k = counts[idx.file].get(m, 0)
            t.add_row(idx.file, str(idx.n_items), m, str(k), f"{100 * k / (n or 1):.1f}%")
    return t


def decontam(
    dataset: Annotated[Path, typer.Argument(help="dataset folder (or one of its Parquet files)")],
    against: Annotated[
        list[Path],
        typer.Option("--against", "-a", help="benchmark QA file, any layout (repeatable)"),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="write every flag: .parquet, or .json with a summary"),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="ngram, minhash or kg (repeatable; default: all)"),
    ] = None,
    kg: Annotated[
        str | None, typer.Option("--kg", help="KG the rows were linked on (default: theirs)")
    ] = None,
    config: ConfigOption = None,
    cache_dir: CacheDirOption = None,
    show: Annotated[int, typer.Option("--show", min=0, help="flagged rows to list")] = 20,
) -> None:
    """Check a dataset's rows against benchmark files (n-grams, MinHash, KG); report only."""
    from kgsynth.decontam.index import load_index
    from kgsynth.decontam.match import check, rates, verdicts
    from kgsynth.defaults import DEFAULT_CACHE_DIR
    from kgsynth.errors import KGSynthError
    from kgsynth.export.hub import read_dataset

    if out is not None:
        if out.suffix not in REPORT_SUFFIXES:
            fail(f"--out {out}: use a {' or '.join(REPORT_SUFFIXES)} file")
        if dataset.is_dir() and out.resolve().is_relative_to(dataset.resolve()):
            fail(f"--out {out}: inside the dataset folder, which decontam never writes to")
    cache = (cache_dir or DEFAULT_CACHE_DIR).expanduser()
    try:
        s = _settings(config, against, method)
        rows = read_dataset(dataset)
        built = _build_config(dataset) if dataset.is_dir() else {}
        graph, linking = _kg(kg, built, rows, cache) if "kg" in s.methods else (None, None)
        indexes = [load_index(p, s, cache, graph, linking) for p in s.against]
        flags = check(_candidates(rows), indexes, s)
    except KGSynthError as e:
        fail(str(e))
    files = [i.file for i in indexes]
    counts = rates(flags, files)
    judged = verdicts(flags, files, s)
    ids = rows["id"]
    flags = flags.with_columns(ids.gather(flags["row"]).alias("id")).select(
        "id", "file", "item_id", "method", "score", "shared", "of"
    )
    console = Console()
    console.print(_summary(indexes, counts, s, rows.height))
    if judged:
        t = Table(title=f"flagged rows ({len(judged)})", title_justify="left")
        for col in ("id", "benchmark", "item", "method", "score"):
            t.add_column(col, justify="right" if col == "score" else "left")
        for v in list(judged.values())[:show]:
            t.add_row(ids[v.row], v.file, v.item_id, v.method, f"{v.score:.3f}")
        if len(judged) > show:
            t.caption = f"{len(judged) - show} more; --out writes them all"
        console.print(t)
    else:
        console.print("no row overlaps a benchmark item")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            flags.write_parquet(out)
        else:
            doc = {
                "dataset": str(dataset),
                "checked": rows.height,
                "flagged": len(judged),
                "methods": list(s.methods),
                "benchmarks": [
                    {"file": i.file, "sha256": i.content_hash, "items": i.n_items} for i in indexes
                ],
                "rates": counts,
                "flags": flags.to_dicts(),
            }
            out.write_text(json.dumps(doc, indent=1))
        console.print(f"wrote {out} ({flags.height} flags)")
