"""`kgsynth view DATASET`: the read-only web viewer, over HTTP and in a real headless browser.

The dataset is the sample build, copied and changed where a test needs it: 120 rows (the 30
built, then 3 copies with new ids, so there are three pages), three rows whose `claims` check
failed and two where it did not run (a filter to one check has something to find), and a
first row whose question and reasoning hold `<script>` and an image that would run code if
they were not escaped.

The browser is Debian's chromium driven by its chromedriver through selenium (no browser
download; `.ci/run` installs the package when it is missing). Set KGSYNTH_VIEW_SCREENSHOT
to a path to keep the row page's screenshot (docs/view-row.png is made that way).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest
from markupsafe import escape
from starlette.testclient import TestClient
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.config import DEFAULT_SAMPLE_QA
from kgsynth.export.hub import data_file
from kgsynth.view.app import bind, create_app, make_server
from kgsynth.view.card import render_card
from kgsynth.view.dataset import PAGE_SIZE, RowQuery, ViewDataset, literal_pattern
from kgsynth.view.rowpage import row_view

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCRIPT = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
FAILED_CLAIMS = (1, 4, 7)  # rows whose `claims` check the copy marks failed
UNSET_CLAIMS = (2, 5)  # rows where it did not run
COPIES = 3
runner = CliRunner()


# -- the dataset -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("view") / "built"
    args = ["build", "--qa", str(DEFAULT_SAMPLE_QA), "--kg", "hpo", "--out", str(out)]
    res = runner.invoke(app, [*args, "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def ds(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built dataset with more rows, failed checks and hostile text (see the docstring)."""
    out = tmp_path_factory.mktemp("view") / "ds"
    shutil.copytree(built, out)
    f = out / data_file()
    rows = pl.read_parquet(f)
    copies = [rows.with_columns(pl.col("id") + f"-copy{k}") for k in range(1, COPIES + 1)]
    rows = pl.concat([rows, *copies]).with_row_index("_i")
    first = pl.col("_i") == 0
    rows = rows.with_columns(
        pl.when(first).then(pl.col("question") + " " + SCRIPT).otherwise(pl.col("question")),
        pl.when(first).then(pl.col("reasoning") + "\n" + SCRIPT).otherwise(pl.col("reasoning")),
        pl.col("checks").struct.with_fields(
            pl.when(pl.col("_i").is_in(FAILED_CLAIMS))
            .then(False)
            .when(pl.col("_i").is_in(UNSET_CLAIMS))
            .then(None)
            .otherwise(pl.field("claims"))
            .alias("claims")
        ),
    ).drop("_i")
    rows.write_parquet(f)
    return out


@pytest.fixture(scope="module")
def rows(ds: Path) -> pl.DataFrame:
    return pl.read_parquet(ds / data_file())


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `folder`: size, mtime and sha256 (the viewer must change none)."""
    return {
        str(p.relative_to(folder)): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- bad input: refused before the server starts ----------------------------------------------


def _corrupt(ds: Path, tmp: Path, how: str) -> Path:
    target = tmp / "bad"
    shutil.copytree(ds, target)
    data = target / data_file()
    if how == "not-a-dataset":
        shutil.rmtree(target)
        target.mkdir()
        (target / "notes.txt").write_text("mine\n")
    elif how == "summary-not-json":
        (target / "build.json").write_text('{"counts": {\n  "input": 3,,\n}')
    elif how == "missing-data":
        data.unlink()
    elif how == "missing-rejects":
        (target / "rejects.parquet").unlink()
    elif how == "garbage-parquet":
        data.write_bytes(b"PAR1 this is not a parquet file at all PAR1")
    elif how == "truncated-parquet":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "corrupt-rejects":
        (target / "rejects.parquet").write_bytes(b"\x00" * 64)
    elif how == "listed-outside":
        text = (target / "build.json").read_text()
        (target / "build.json").write_text(
            text.replace('"kgsynth_files": [', '"kgsynth_files": ["../elsewhere.parquet", ')
        )
    elif how == "wrong-column-type":
        pl.read_parquet(data).with_columns(pl.lit(1).alias("paths")).write_parquet(data)
    else:  # pragma: no cover - a typo in the parameters
        raise AssertionError(how)
    return target


@pytest.mark.parametrize(
    ("how", "expect"),
    [
        ("not-a-dataset", r"bad: not a kgsynth dataset folder \(no build\.json"),
        ("summary-not-json", r"build\.json: line 2, column 14: not JSON"),
        ("missing-data", r"train-00000-of-00001\.parquet: missing \(listed in .*build\.json\)"),
        ("missing-rejects", r"rejects\.parquet: missing \(listed in"),
        ("garbage-parquet", r"train-00000-of-00001\.parquet: cannot read as Parquet"),
        ("truncated-parquet", r"train-00000-of-00001\.parquet: cannot read as Parquet"),
        ("corrupt-rejects", r"rejects\.parquet: cannot read as Parquet"),
        ("listed-outside", r"lists '\.\./elsewhere\.parquet', a path outside the dataset"),
        ("wrong-column-type", r"train-00000-of-00001\.parquet: column 'paths' has type Int32"),
    ],
)
def test_bad_dataset_is_refused_before_the_server_starts(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, expect: str
):
    bad = _corrupt(ds, tmp_path, how)
    before = snapshot(bad)

    def no_server(*args: Any) -> None:
        raise AssertionError("the server started on a bad dataset")

    monkeypatch.setattr("kgsynth.view.app.make_server", no_server)
    res = runner.invoke(app, ["view", str(bad), "--port", "0"], env={"COLUMNS": "400"})
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: "), res.output
    assert re.search(expect, " ".join(res.output.split())), res.output
    assert snapshot(bad) == before  # refusing writes nothing either


@pytest.mark.parametrize("what", ["missing", "file"])
def test_a_path_that_is_no_folder_is_refused(ds: Path, tmp_path: Path, what: str):
    path = tmp_path / "nothing" if what == "missing" else ds / data_file()
    res = runner.invoke(app, ["view", str(path)], env={"COLUMNS": "400"})
    assert res.exit_code == 2, res.output
    said = " ".join(res.output.split())
    assert str(path) in said
    assert ("no such dataset folder" if what == "missing" else "is a file") in said


def test_a_taken_port_is_refused(ds: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("kgsynth.view.app.make_server", lambda *a: pytest.fail("served"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        res = runner.invoke(app, ["view", str(ds), "--port", str(port)])
    assert res.exit_code == 2, res.output
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in res.output


def test_the_command_serves_on_localhost_until_interrupted(ds: Path):
    before = snapshot(ds)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgsynth.cli", "view", str(ds), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its processes, the row index's child too, share its sid
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), (url, proc.stderr)
        import httpx

        got = httpx.get(url + "rows", timeout=30)
        assert got.status_code == 200
        assert f">{rows_count(ds)}</strong>" in got.text
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    assert snapshot(ds) == before
    left = [p for p in psutil.process_iter() if _session(p) == proc.pid]
    assert not left, left


def _session(p: psutil.Process) -> int | None:
    try:
        return os.getsid(p.pid)
    except OSError:
        return None


def rows_count(ds: Path) -> int:
    return pl.scan_parquet(ds / data_file()).select(pl.len()).collect().item()


# -- the pages over HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(ds: Path) -> TestClient:
    return TestClient(create_app(ViewDataset(ds)), base_url="http://127.0.0.1")


def listed(page: str) -> tuple[int, list[str]]:
    """The count a rows or rejects page states, and the ids it lists."""
    m = re.search(r'id="n-match">(\d+)<', page)
    assert m, page
    return int(m.group(1)), [html.unescape(x) for x in re.findall(r'<tr data-id="([^"]*)"', page)]


def _hops(rows: pl.DataFrame) -> pl.Series:
    return rows["paths"].list.eval(pl.element().list.len())


def _relations(rows: pl.DataFrame) -> pl.Series:
    return rows["paths"].list.eval(
        pl.element().list.explode(keep_nulls=False, empty_as_null=False).struct.field("relation")
    )


def test_filters_select_the_rows_polars_selects(client: TestClient, rows: pl.DataFrame):
    margin = rows["evidence"].struct.field("margin")
    lo, hi = float(margin.quantile(0.25)), float(margin.quantile(0.75))
    relation = _relations(rows).explode().drop_nulls().value_counts(sort=True)[-1, 0]
    claims = rows["checks"].struct.field("claims")
    atypes = rows["answer_entities"].list.eval(pl.element().struct.field("type"))
    cases: list[tuple[dict[str, Any], pl.Series]] = [
        ({"source": "medqa"}, rows["source"] == "medqa"),
        ({"source": "nope"}, rows["source"] == "nope"),
        ({"atype": "gene"}, atypes.list.contains("gene")),
        ({"check": "claims:fail"}, claims == False),  # noqa: E712 - a polars mask
        ({"check": "claims:pass"}, claims == True),  # noqa: E712
        ({"check": "claims:unset"}, claims.is_null()),
        ({"mmin": lo, "mmax": hi}, (margin >= lo) & (margin <= hi)),
        ({"hops": 2}, _hops(rows).list.contains(2)),
        ({"rel": relation}, _relations(rows).list.contains(relation)),
        (
            {"check": "claims:pass", "atype": "disease", "hops": 1},
            (claims == True)  # noqa: E712
            & atypes.list.contains("disease")
            & _hops(rows).list.contains(1),
        ),
    ]
    for params, mask in cases:
        want = rows.filter(mask.fill_null(False))["id"].to_list()
        if "source" not in params:  # the sample has one source: all rows or none
            assert 0 < len(want) < rows.height, (params, len(want))
        total, ids = listed(client.get("/rows", params=params).text)
        assert total == len(want), params
        assert ids == want[:PAGE_SIZE], params


def test_search_is_literal_and_ignores_case(client: TestClient, rows: pl.DataFrame):
    word = "ARACHNODACTYLY"
    text = pl.concat_str(
        "id",
        "question",
        "answer",
        "reasoning",
        "conclusion",
        pl.col("options").list.eval(pl.element().struct.field("text")).list.join(" "),
        separator="\n",
    )
    want = rows.filter(text.str.to_lowercase().str.contains(word.lower(), literal=True))
    assert 0 < want.height < rows.height
    total, ids = listed(client.get("/rows", params={"q": word}).text)
    assert (total, ids) == (want.height, want["id"].to_list()[:PAGE_SIZE])
    # regex characters are text: "(" is no error, "." matches a dot only
    assert listed(client.get("/rows", params={"q": "(Zq"}).text)[0] == 0
    assert listed(client.get("/rows", params={"q": "y.o"}).text)[0] == 0
    assert re.search(literal_pattern("a.b (c)"), "A.B (C)")
    assert not re.search(literal_pattern("a.b"), "axb")
    # search and a filter together: both hold
    total, _ = listed(client.get("/rows", params={"q": word, "check": "claims:fail"}).text)
    fail = want.filter(pl.col("checks").struct.field("claims") == False)  # noqa: E712
    assert total == fail.height


def test_pages_follow_each_other(client: TestClient, rows: pl.DataFrame):
    assert rows.height > PAGE_SIZE * 2
    seen: list[str] = []
    for page in (1, 2, 3):
        total, ids = listed(client.get("/rows", params={"page": page}).text)
        assert total == rows.height
        seen += ids
    assert seen == rows["id"].to_list()[: 3 * PAGE_SIZE]
    first = client.get("/rows").text
    assert 'href="/rows?page=2"' in first and "page 1 of 3" in first


def test_pages_before_the_index_are_the_pages_after(ds: Path):
    data = ViewDataset(ds)
    queries = [RowQuery(page=2), RowQuery(text="arachnodactyly"), RowQuery(text="x", page=9)]
    before = [data.rows_page(q) for q in queries]
    assert not any(p.indexed for p in before) and not data.index_ready()
    data.index()
    for q, old in zip(queries, before, strict=True):
        new = data.rows_page(q)
        assert new.indexed and new.total == old.total, q
        assert [r | {"margin": None} for r in new.rows] == old.rows, q
    assert any(r["margin"] is not None for r in data.rows_page(queries[0]).rows)


def test_bad_queries_get_a_clear_400(client: TestClient):
    for params, said in [
        ({"mmin": "abc"}, "mmin: &#39;abc&#39; is not a number"),
        ({"hops": "-1"}, "hops: -1 is below 0"),
        ({"check": "claims"}, "check: &#39;claims&#39; is not NAME:pass|fail|unset"),
        ({"check": "nope:pass"}, "check: no check &#39;nope&#39; in this dataset"),
        ({"page": "x"}, "page: &#39;x&#39; is not a whole number"),
    ]:
        got = client.get("/rows", params=params)
        assert got.status_code == 400 and said in got.text, (params, got.text[-300:])


def test_row_page_escapes_the_rows_text(client: TestClient, rows: pl.DataFrame):
    first = rows.row(0, named=True)
    page = client.get("/row", params={"id": first["id"]})
    assert page.status_code == 200
    assert "<script>document.title" not in page.text and "<img src=x" not in page.text
    assert str(escape(SCRIPT)) in page.text
    # the graph's JSON sits in a script element: no `<` in it can close that element
    data = re.search(r'id="graph-data">(.*?)</script>', page.text, re.S)
    assert data and "<" not in data.group(1)
    gold = next(o for o in first["options"] if o["letter"] == first["answer_idx"])
    assert re.search(
        rf'class="option gold" data-letter="{gold["letter"]}">.*?{re.escape(gold["text"])}',
        page.text,
        re.S,
    )


def test_reasoning_marks_each_cited_hop_and_flags_a_foreign_one(rows: pl.DataFrame):
    from kgsynth.export.rows import path_of
    from kgsynth.paths.format import format_path

    row = next(r for r in rows.iter_rows(named=True) if max(map(len, r["paths"])) > 1)
    q_ids = {e["kg_id"] for e in row["question_entities"]}
    lines = [f"{i}. {format_path(path_of(p, q_ids))}" for i, p in enumerate(row["paths"], 1)]
    foreign = "Marfan syndrome -[treats]-> Ectopia lentis"
    text = "Finding reasoning paths:\n" + "\n".join([*lines, foreign]) + "\nConclusion: x"
    view = row_view(row | {"reasoning": text}, [])
    edges = {(e["source"], e["relation"], e["target"]): e["id"] for e in view["graph"]["edges"]}
    marked = [[s for s in line if s["kind"] == "hop"] for line in view["reasoning"]]
    for path, hops in zip(row["paths"], marked[1:], strict=False):
        want = [edges[(h["head_id"], h["relation"], h["tail_id"])] for h in path]
        assert [s["edge"] for s in hops] == want
    assert [s["edge"] for s in marked[len(lines) + 1]] == [None]  # not one of the row's hops
    assert marked[0] == [] and marked[-1] == []


def test_only_own_plots_and_files_are_served(client: TestClient, ds: Path):
    png = client.get("/plots/path_lengths.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == (ds / "plots" / "path_lengths.png").read_bytes()
    for url in ("/plots/..%2Fbuild.json", "/plots/build.json", "/static/../dataset.py", "/x"):
        assert client.get(url).status_code == 404, url
    assert client.get("/row", params={"id": "nope"}).status_code == 404
    assert client.get("/reject", params={"n": "99999"}).status_code == 404


def test_every_response_forbids_outside_content_and_writes(client: TestClient):
    for url in ("/", "/rows", "/static/row.js", "/plots/path_lengths.png", "/nope"):
        headers = client.get(url).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy, url
        assert headers["x-content-type-options"] == "nosniff"
    assert client.post("/rows").status_code == 405
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_rejects_are_listed_by_stage_and_reason(client: TestClient, ds: Path):
    rejects = pl.read_parquet(ds / "rejects.parquet")
    stage, reason = rejects.row(0, named=True)["stage"], rejects.row(0, named=True)["reason"]
    page = client.get("/rejects", params={"stage": stage, "reason": reason}).text
    total, ids = listed(page)
    want = rejects.filter((pl.col("stage") == stage) & (pl.col("reason") == reason))
    assert (total, ids) == (want.height, want["id"].to_list())
    one = client.get("/reject", params={"n": 0}).text
    assert str(escape(rejects["detail"][0])) in one


def test_card_keeps_no_html_and_no_outside_image():
    card = (
        "---\npretty_name: x\n---\n# Title\n\n<script>alert(1)</script>\n\n"
        "![plot](plots/a.png) ![far](https://example.com/x.png) ![other](plots/b.png)"
    )
    out = render_card(card, {"a.png"})
    assert "<h1>Title</h1>" in out and "pretty_name" not in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert '<img src="plots/a.png"' in out
    assert "example.com" not in out and "plots/b.png" not in out
    assert "[image: far]" in out


def test_the_viewer_writes_nothing(client: TestClient, ds: Path, rows: pl.DataFrame):
    before = snapshot(ds)
    for url in ("/", "/rows?q=syndrome", "/rejects", "/reject?n=0", "/plots/rejects.png"):
        assert client.get(url).status_code == 200, url
    assert client.get("/row", params={"id": rows["id"][5]}).status_code == 200
    assert snapshot(ds) == before


# -- a real browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(ds: Path) -> Iterator[str]:
    data = ViewDataset(ds)
    data.start_index()
    sock = bind(0)
    srv = make_server(data)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium "
            "chromium-driver (.ci/run installs them)"
        )
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never looks for a driver online
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver: Any, script: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = driver.execute_script(script)
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)


def _no_errors(driver: Any, base: str) -> None:
    """Nothing logged as an error (a blocked inline script or style, a failed request) and
    every resource the page loaded came from the viewer itself."""
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(u.startswith(base + "/") for u in loaded), loaded


def test_browser_summary_filter_row_graph_and_reject(
    browser: Any, server: str, rows: pl.DataFrame, ds: Path, tmp_path: Path
):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    before = snapshot(ds)
    d = browser
    d.get(server + "/")
    assert d.find_element(By.ID, "n-rows").text == str(rows.height)
    assert d.find_element(By.CSS_SELECTOR, "#card h1").text == "kgsynth dataset"
    plots = d.find_elements(By.CSS_SELECTOR, "#card img")
    assert len(plots) >= 4
    _wait(d, "return [...document.images].every(i => i.complete)")
    assert all(d.execute_script("return arguments[0].naturalWidth", img) > 100 for img in plots)
    _no_errors(d, server)

    # the rows table, filtered to the rows whose `claims` check failed
    d.find_element(By.ID, "nav-rows").click()
    Select(d.find_element(By.ID, "f-check")).select_by_value("claims:fail")
    d.find_element(By.ID, "f-submit").click()
    _wait(d, "return location.search.includes('check=claims')")
    want = [rows["id"][i] for i in FAILED_CLAIMS]
    assert d.find_element(By.ID, "n-match").text == str(len(want))
    shown = [
        tr.get_attribute("data-id") for tr in d.find_elements(By.CSS_SELECTOR, "#rows tr[data-id]")
    ]
    assert shown == want
    assert all("claims" in td.text for td in d.find_elements(By.CSS_SELECTOR, "#rows .bad"))
    _no_errors(d, server)

    # a row: its graph holds the row's nodes and edges, each node in its role
    d.find_element(By.LINK_TEXT, want[0]).click()
    _wait(d, "return document.getElementById('graph').dataset.ready === '1'")
    row = rows.row(int(FAILED_CLAIMS[0]), named=True)
    assert d.find_element(By.ID, "row-id").text.startswith(row["id"])
    graph = d.execute_script(
        "const cy = window.kgsynthGraph;"
        "return {nodes: cy.nodes().map(n => [n.id(), n.data('role'), n.visible()]),"
        " edges: cy.edges().map(e => [e.data('source'), e.data('relation'), e.data('target'),"
        " e.id(), e.visible()])};"
    )
    roles = {n: role for n, role, _ in graph["nodes"]}
    assert all(visible for *_, visible in graph["nodes"])
    edges = {(s, r, t): i for s, r, t, i, _ in graph["edges"]}
    hops = [h for path in row["paths"] for h in path]
    assert hops
    for h in hops:
        assert (h["head_id"], h["relation"], h["tail_id"]) in edges, h
        assert h["head_id"] in roles and h["tail_id"] in roles
    answer_ids = {e["kg_id"] for e in row["answer_entities"]}
    finding_ids = {e["kg_id"] for e in row["question_entities"]} - answer_ids
    distractor_ids = {
        i
        for o in row["evidence"]["options"]
        if o["letter"] != row["answer_idx"]
        for i in o["kg_ids"]
    } - answer_ids
    assert distractor_ids
    assert all(roles[i] == "answer" for i in answer_ids)
    assert all(roles[i] == "finding" for i in finding_ids)
    assert all(roles[i] == "distractor" for i in distractor_ids)
    between = {i for h in hops for i in (h["head_id"], h["tail_id"])} - answer_ids - finding_ids
    assert all(roles[i] == "intermediate" for i in between - distractor_ids)
    # the reasoning's path lines mark each hop they cite, tied to that edge of the graph
    marks = d.find_elements(By.CSS_SELECTOR, "#reasoning mark.hop[data-edge]")
    assert len(marks) >= len(row["paths"])
    assert not d.find_elements(By.CSS_SELECTOR, "#reasoning mark.hop-missing")
    edge = marks[0].get_attribute("data-edge")
    assert edge in edges.values()
    ActionChains(d).move_to_element(marks[0]).perform()
    _wait(d, f"return window.kgsynthGraph.getElementById('{edge}').hasClass('hl')")
    # hiding the wrong options' evidence keeps the paths and hides the distractors
    toggle = d.find_element(By.ID, "show-distractors")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)
    toggle.click()
    assert not toggle.is_selected()
    hidden = set(
        _wait(
            d,
            "const h = window.kgsynthGraph.nodes().filter(n => !n.visible()).map(n => n.id());"
            "return h.length ? h : null",
        )
    )
    assert hidden >= distractor_ids - {h["head_id"] for h in hops} - {h["tail_id"] for h in hops}
    assert d.execute_script("return window.kgsynthGraph.edges('.path').every(e => e.visible())")
    toggle.click()
    _wait(d, "return window.kgsynthGraph.nodes().every(n => n.visible())")
    shot = Path(os.environ.get("KGSYNTH_VIEW_SCREENSHOT") or tmp_path / "row.png")
    d.get(server + "/row?id=" + rows["id"][10])  # 2-hop paths, a graph small enough to read
    _wait(d, "return document.getElementById('graph').dataset.ready === '1'")
    assert d.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    _no_errors(d, server)

    # a reject, reached from the rejects page by its stage and reason
    d.find_element(By.ID, "nav-rejects").click()
    rejects = pl.read_parquet(ds / "rejects.parquet")
    first = rejects.row(0, named=True)
    d.find_element(By.CSS_SELECTOR, "#reject-counts").find_element(
        By.LINK_TEXT, first["reason"]
    ).click()
    _wait(d, "return location.search.includes('reason=')")
    d.find_element(By.LINK_TEXT, first["id"]).click()
    assert d.find_element(By.ID, "reject-stage").text == first["stage"]
    assert d.find_element(By.ID, "reject-reason").text == first["reason"]
    assert d.find_element(By.ID, "reject-detail").text == first["detail"]
    _no_errors(d, server)
    assert snapshot(ds) == before


def test_browser_runs_no_script_from_a_row(browser: Any, server: str, rows: pl.DataFrame):
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/row?id=" + rows["id"][0])
    _wait(d, "return document.getElementById('graph').dataset.ready === '1'")
    time.sleep(0.3)  # an injected onerror would have fired by now
    assert d.title != "pwned" and "pwned" not in d.execute_script("return document.title")
    question = d.find_element(By.CSS_SELECTOR, "#question .question").text
    assert "<script>document.title='pwned'</script>" in question
    assert not d.find_elements(By.CSS_SELECTOR, "main img")
    _no_errors(d, server)
