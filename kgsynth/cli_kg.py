"""`kgsynth kg`: look into a KG: what it holds, and how two of its nodes are connected."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kgsynth.cli_common import CacheDirOption, KgOption, err, fail
from kgsynth.defaults import DEFAULT_CACHE_DIR
from kgsynth.errors import KGSynthError

# polars, numpy and the KG engine load inside the commands: `kgsynth --help` stays quick
if TYPE_CHECKING:
    from kgsynth.kg import KnowledgeGraph

kg_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()


def _load(spec: str, cache_dir: Path | None) -> tuple[KnowledgeGraph, float]:
    from kgsynth.kg import load_kg

    start = time.perf_counter()
    kg = load_kg(spec, cache_dir=(cache_dir or DEFAULT_CACHE_DIR).expanduser())
    return kg, time.perf_counter() - start


@kg_app.command()
def stats(kg: KgOption = "hpo", cache_dir: CacheDirOption = None) -> None:
    """Nodes by type, edges by relation (head type -> tail type), degrees and KG metadata."""
    try:
        graph, seconds = _load(kg, cache_dir)
    except KGSynthError as e:
        fail(str(e))
    out.print(_info_table(graph, seconds))
    if "sources" in graph.meta:
        out.print(_sources_table(graph))
    out.print(_types_table(graph))
    out.print(_relations_table(graph))
    out.print(_degree_table(graph))


def _info_table(kg: KnowledgeGraph, seconds: float) -> Table:
    t = Table(title=f"KG {escape(kg.name)}", show_header=False)
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    rows = [
        ("name", kg.name),
        ("hash", kg.hash[:16]),
        ("nodes", f"{kg.n_nodes:,}"),
        ("edges", f"{kg.n_edges:,}"),
        ("relations", str(len(kg.relations))),
        *sorted(kg.meta.items()),
        ("load time", f"{seconds:.2f} s"),
    ]
    for key, value in rows:
        t.add_row(escape(key), escape(value))
    return t


def _sources_table(kg: KnowledgeGraph) -> Table:
    """An assembled KG's parts: package, version, licence and counts of each source."""
    import json

    t = Table(title="sources")
    for col in ("source", "package", "version", "licence", "nodes", "edges"):
        t.add_column(col, justify="right" if col in ("nodes", "edges") else "left")
    for s in json.loads(kg.meta["sources"]):
        t.add_row(
            *(escape(str(s[k])) for k in ("source", "package", "version", "licence")),
            f"{s['nodes']:,}",
            f"{s['edges']:,}",
        )
    return t


def _types_table(kg: KnowledgeGraph) -> Table:
    from kgsynth.kg.stats import node_types

    t = Table(title="nodes by type")
    t.add_column("type")
    t.add_column("nodes", justify="right")
    t.add_column("%", justify="right")
    n = max(kg.n_nodes, 1)
    for node_type, count in node_types(kg).iter_rows():
        t.add_row(escape(node_type), f"{count:,}", f"{100 * count / n:.1f}")
    return t


def _relations_table(kg: KnowledgeGraph) -> Table:
    from kgsynth.kg.stats import relation_types

    t = Table(title="edges by relation")
    t.add_column("relation")
    t.add_column("head type → tail type")
    t.add_column("edges", justify="right")
    t.add_column("%", justify="right")
    n = max(kg.n_edges, 1)
    for rel, head, tail, count in relation_types(kg).iter_rows():
        t.add_row(escape(rel), escape(f"{head} → {tail}"), f"{count:,}", f"{100 * count / n:.1f}")
    return t


def _degree_table(kg: KnowledgeGraph) -> Table:
    from kgsynth.kg.stats import degree_summary

    d = degree_summary(kg)
    t = Table(title="degree (edges per node, both ends)")
    for col in ("mean", "median", "p99", "max", "max at"):
        t.add_column(col, justify="left" if col == "max at" else "right")
    t.add_row(f"{d.mean:.2f}", f"{d.median:g}", f"{d.p99:g}", f"{d.max:,}", escape(d.max_node))
    return t


@kg_app.command()
def paths(
    a: Annotated[str, typer.Argument(help="start node: KG id or exact name (any case)")],
    b: Annotated[str, typer.Argument(help="end node: KG id or exact name (any case)")],
    kg: KgOption = "hpo",
    max_hops: Annotated[int, typer.Option("--max-hops", min=1)] = 3,
    k: Annotated[int, typer.Option(min=1, help="paths shown (with --k-shortest: the k)")] = 5,
    simple: Annotated[
        bool,
        typer.Option(
            "--simple",
            help="every simple path of at most --max-hops hops (not only the shortest), "
            "shortest first, then by node order; counted up to --count-limit",
        ),
    ] = False,
    k_shortest: Annotated[
        bool,
        typer.Option(
            "--k-shortest",
            help="the --k shortest simple paths (Yen), shortest first, then by node order",
        ),
    ] = False,
    hub_penalty: Annotated[
        float,
        typer.Option(
            "--hub-penalty",
            min=0.0,
            help="shortest paths rank by the sum of hub_penalty * log1p(degree) over their "
            "intermediate nodes (as [paths] hub_penalty in a build)",
        ),
    ] = 1.0,
    count_limit: Annotated[int, typer.Option(min=1, help="--simple stops counting here")] = 100_000,
    cache_dir: CacheDirOption = None,
) -> None:
    """The k best shortest paths from A to B (fewest hops, then fewest hub nodes), or with
    --simple / --k-shortest, simple paths that may be longer than the shortest.

    Exit status: 0 paths found, 1 no path within --max-hops, 2 error.
    """
    from kgsynth.kg.lookup import find_node
    from kgsynth.paths.format import format_path
    from kgsynth.paths.search import shortest_paths
    from kgsynth.paths.simple import k_shortest_paths, simple_paths

    if simple and k_shortest:
        fail("--simple and --k-shortest are different searches: give one of them")
    if not math.isfinite(hub_penalty):
        fail(f"--hub-penalty must be a finite number, got {hub_penalty}")
    try:
        graph, _ = _load(kg, cache_dir)
        s, t = find_node(graph, a), find_node(graph, b)
    except KGSynthError as e:
        fail(str(e))
    if s == t:
        fail(f"'{a}' and '{b}' are the same node ({graph.ids[s]})")
    ends = f"{_label(graph, s)} and {_label(graph, t)}"
    within = f"{max_hops} {'hop' if max_hops == 1 else 'hops'}"
    if simple:
        res = simple_paths(
            graph,
            s,
            t,
            max_hops=max_hops,
            cap=k,
            count_limit=count_limit,
            hub_penalty=hub_penalty,
        )
        n = f"{res.count:,}" if res.exact else f"at least {res.count:,}"
        head = f"{n} simple {_plural(res.count, 'path')} of at most {within} between {ends}; "
        head += f"showing {len(res.paths)}:"
    elif k_shortest:
        res = k_shortest_paths(graph, s, t, k, max_hops=max_hops, hub_penalty=hub_penalty)
        if not res.exact:
            head = f"the {_plural(res.count, 'shortest simple path', n=True)}"
        else:  # fewer than k exist: these are all of them
            head = "the only simple path" if res.count == 1 else f"all {res.count:,} simple paths"
        head += f" of at most {within} between {ends}, shortest first:"
    else:
        res = shortest_paths(graph, s, t, max_hops=max_hops, cap=k, hub_penalty=hub_penalty)
        head = f"{res.count:,} shortest {_plural(res.count, 'path')} of "
        head += f"{_plural(res.length or 0, 'hop', n=True)} between {ends}; "
        head += f"showing {len(res.paths)}:"
    if not res.count:
        out.print(f"no path between {ends} within {within}", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(head, markup=False, highlight=False, soft_wrap=True)
    for p in res.paths:
        # one path a line, never wrapped or read as markup: names may hold [brackets]
        out.print(format_path(p.to_kgpath(graph)), markup=False, highlight=False, soft_wrap=True)


def _plural(count: int, word: str, *, n: bool = False) -> str:
    """`word` or `words` for `count`, with the count in front when `n`."""
    w = word if count == 1 else f"{word}s"
    return f"{count:,} {w}" if n else w


def _label(kg: KnowledgeGraph, i: int) -> str:
    return f"{kg.names[i]} ({kg.ids[i]})"


@kg_app.command()
def push(
    kg: KgOption = "hpo",
    to: Annotated[
        str | None,
        typer.Option(help="bolt:// or neo4j:// URI [default: $KGSYNTH_NEO4J_URI]"),
    ] = None,
    database: Annotated[str | None, typer.Option(help="[default: $KGSYNTH_NEO4J_DATABASE]")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 20_000,
    name: Annotated[
        str | None, typer.Option(help="the name to store it under [default: the KG's name]")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="overwrite a different KG stored under that name, or re-push"
        ),
    ] = False,
    cache_dir: CacheDirOption = None,
) -> None:
    """Import a KG into Neo4j in batches, under a name bound to its content hash.

    A name that holds a KG with another content hash (say, another folder's kg.csv) is
    refused unless --replace; the same content again is a no-op. The user and password come
    from KGSYNTH_NEO4J_USER / KGSYNTH_NEO4J_PASSWORD, never from flags, so they stay out of
    shell history and logs.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from kgsynth.kg.neo4j_store import push_kg

    try:
        graph, _ = _load(kg, cache_dir)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("push rows", total=graph.n_nodes + graph.n_edges)
            report = push_kg(
                graph,
                uri=to,
                database=database,
                batch_size=batch_size,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                name=name,
                replace=replace,
            )
    except KGSynthError as e:
        fail(str(e))
    counts = f"{report.nodes:,} nodes, {report.relationships:,} relationships"
    if report.unchanged:
        line = f"KG {report.kg} is already in Neo4j with the same content: {counts}; "
        line += f"nothing pushed (hash {report.hash[:12]})"
    else:
        line = f"pushed KG {report.kg}: {counts} in {report.seconds:.1f} s "
        line += f"(hash {report.hash[:12]})"
    out.print(line, markup=False, highlight=False, soft_wrap=True)
