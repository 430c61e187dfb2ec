"""The KG format registry: a format defined here, in the test, is read like a built-in one.

"pairs" is a toy format, a text file of `a -> b` lines: registering it is all it takes for
load_kg, the cache, sniffing of plain paths, the error messages and the CLI to know it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import InputError, UnknownKGError
from kgsynth.kg import KnowledgeGraph, load_kg, registry
from kgsynth.kg.registry import FileHead, KGFormat, KGSource, register_format

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


# -- the toy format: everything a new format module would hold -----------------------------


def load_pairs(src: KGSource) -> KnowledgeGraph:
    lines = src.files[0].read_text(encoding="utf-8").splitlines()
    rows = [tuple(p.strip() for p in ln.split("->")) for ln in lines if ln.strip()]
    edges = pl.DataFrame(rows, schema=["head", "tail"], orient="row").with_columns(
        pl.lit("linked_to").alias("relation")
    )
    ids = pl.concat([edges["head"], edges["tail"]]).unique(maintain_order=True)
    nodes = pl.DataFrame({"id": ids, "name": ids, "type": "entity"})
    meta = {"source": str(src.files[0]), "format": "pairs"}
    return KnowledgeGraph.from_frames(src.name, nodes, edges, meta, source=str(src.files[0]))


def is_pairs(head: FileHead) -> bool:
    return " -> " in head.first_line


PAIRS = KGFormat("pairs", load_pairs, "`a -> b` lines", sniff=is_pairs, example="pairs:FILE")


@pytest.fixture
def pairs_format() -> Iterator[KGFormat]:
    register_format(PAIRS)
    yield PAIRS
    registry.unregister_format("pairs")


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy-v2.txt"
    path.write_text("Seizure -> Fever\nFever -> Ataxia\nSeizure -> Ataxia\n", encoding="utf-8")
    return path


def test_a_registered_format_loads_through_load_kg_and_the_cache(
    pairs_format: KGFormat, pairs_file: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    kg = load_kg(f"pairs:{pairs_file}", cache_dir=cache)
    assert (kg.name, kg.n_nodes, kg.n_edges) == ("toy-v2", 3, 3)
    assert kg.has_edge("Fever", "linked_to", "Ataxia")
    assert kg.meta["format"] == "pairs" and kg.meta["release"] == "v2"

    def no_rebuild(src: KGSource) -> KnowledgeGraph:
        raise AssertionError("rebuilt although cached")

    register_format(dataclasses.replace(pairs_format, load=no_rebuild), replace=True)
    assert load_kg(f"pairs:{pairs_file}", cache_dir=cache).hash == kg.hash
    # the same file read as another format is cached apart: triples would fail to read it
    with pytest.raises(InputError, match="missing column"):
        load_kg(f"triples:{pairs_file}", cache_dir=cache)


def test_a_registered_format_is_sniffed(pairs_format: KGFormat, pairs_file: Path) -> None:
    assert load_kg(str(pairs_file)).meta["format"] == "pairs"
    assert load_kg(str(pairs_file.parent)).name == "toy-v2"  # the one KG in the folder


def test_without_the_registration_the_file_is_not_a_pairs_file(pairs_file: Path) -> None:
    with pytest.raises(UnknownKGError) as err:
        load_kg(f"pairs:{pairs_file}")
    assert "unknown KG format 'pairs'" in str(err.value)
    with pytest.raises(InputError, match="triples file is missing column"):
        load_kg(str(pairs_file))  # sniffed as the fallback, triples


def test_a_registered_format_through_the_cli(
    pairs_format: KGFormat, pairs_file: Path, tmp_path: Path
) -> None:
    args = ["kg", "stats", "--kg", f"pairs:{pairs_file}", "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "KG toy-v2" in out and "pairs" in out and "linked_to" in out
    result = runner.invoke(app, ["kg", "stats", "--kg", f"nosuch:{pairs_file}"])
    assert result.exit_code == 2
    assert "unknown KG format 'nosuch'" in flat(result.output)


def test_unknown_format_prefix_lists_the_registered_formats(
    pairs_format: KGFormat, pairs_file: Path
) -> None:
    with pytest.raises(UnknownKGError) as err:
        load_kg(f"nosuch:{pairs_file}")
    msg = str(err.value)
    assert "unknown KG format 'nosuch'" in msg
    for name in ("hetionet", "hetionet-json", "kgx", "primekg", "triples", "pairs", "hpo"):
        assert name in msg, name
    assert "`a -> b` lines" in msg  # what plain files may hold: every sniffed format's help
    with pytest.raises(UnknownKGError, match="'hpo' is a built-in KG and takes no path"):
        load_kg(f"hpo:{pairs_file}")


def test_a_builtin_kg_is_one_registration(pairs_file: Path, tmp_path: Path) -> None:
    import kgsynth.kg

    toy = KGFormat(
        "toykg",
        lambda src: load_pairs(KGSource("pairs", src.files, src.name)),
        "a toy built-in KG",
        files=(),
        source_files=lambda: [pairs_file],
    )
    register_format(toy)
    try:
        kg = load_kg("toykg", cache_dir=tmp_path / "c")
        assert (kg.name, kg.n_edges) == ("toykg", 3)
        assert "release" not in kg.meta  # a built-in's source file names are no release
        assert "toykg" in kgsynth.kg.BUILTIN_KGS
        assert "'toykg'" in registry.kg_option_help()
    finally:
        registry.unregister_format("toykg")
    assert "toykg" not in kgsynth.kg.BUILTIN_KGS


def test_registration_is_checked() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_format(KGFormat("kgx", load_pairs, "again"))
    with pytest.raises(ValueError, match="must match"):
        KGFormat("a:b", load_pairs, "a colon")
    with pytest.raises(ValueError, match="0, 1 or 2"):
        KGFormat("three", load_pairs, "three files", files=("a", "b", "c"))
    with pytest.raises(ValueError, match="source_files"):
        KGFormat("nofiles", load_pairs, "a built-in without files", files=())


def test_builtin_formats_and_the_help_come_from_the_registry() -> None:
    names = [f.name for f in registry.formats()]
    assert names[:7] == [
        "hetionet-json",
        "hetionet",
        "hpo",
        "kgx",
        "medkg",
        "primekg",
        "triples",
    ]
    assert registry.builtin_names() == ("hpo", "medkg")
    assert [f.name for f in registry.file_formats()][-1] == "triples"  # the fallback, last
    assert [f.name for f in registry.select("hetionet")] == ["hetionet-json", "hetionet"]
    result = runner.invoke(app, ["synth-kg", "--help"])
    assert result.exit_code == 0
    shown = flat(result.output.replace("│", " "))  # rich's panel border, at each line
    assert "FORMAT one of hetionet, hetionet-json, kgx, primekg, triples" in shown


def test_importing_the_registry_is_light_and_acyclic() -> None:
    """Any import order registers the built-ins in the same order, without numpy (the CLI
    builds its --help from the registry)."""
    code = (
        "import sys; import kgsynth.kg.formats.kgx; import kgsynth.cli_common;"
        "from kgsynth.kg import registry;"
        "print([f.name for f in registry.formats()], 'numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        "['hetionet-json', 'hetionet', 'hpo', 'kgx', 'medkg', 'primekg', 'triples'] False"
    )
