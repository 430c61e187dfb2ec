"""Neo4j backend: push a KnowledgeGraph into Neo4j, and answer shortest-path queries there.

Graph model (chosen so that no runtime text ever has to be spliced into Cypher):

* Nodes: one label `:Entity`, properties `kg` (the KG's name), `id`, `name`, `type`,
  `synonyms`. No per-type labels: labels cannot be query parameters, and the engine never
  needs them; `type` is a plain (parameterisable) property.
* Keys: a uniqueness constraint on `(Entity.kg, Entity.id)`, not on `id` alone, so several
  KGs (or several test KGs) whose ids overlap can live in one database; every query is
  scoped by `$kg`. A range index on `Entity.name` serves look-ups by name. There is
  deliberately no index on `kg` alone: on a fresh database (index statistics not sampled
  yet) the planner preferred it for `{kg, id}` look-ups and filtered every node of the KG
  per row (a 500 s push instead of 20 s); look-ups by (kg, id) also carry index hints.
* Relationships: one type `:REL` with a `relation` property, stored in the KG's own
  orientation (head -> tail). Relation names are arbitrary strings ("is a", "drug_protein",
  anything a triples file holds); as relationship types they would need escaping and a
  lossy sanitising map, while as a property they stay verbatim and parameterised.
* `:KGInfo {kg}` records the pushed KG's content hash (`KnowledgeGraph.hash`), a digest of
  everything pushed (`digest`: the hash and the synonyms, which the hash leaves out) and
  counts. A push sets `hash` and `complete = false` at its start and completes the record
  only at its end, so an interrupted push is visible as `complete = false`.

Identity: the name (`kg`, by default the KG's own name, e.g. a file's stem) only addresses
a KG; what it holds is identified by its content hash. A push under a name that holds a KG
with another hash is refused (`Neo4jKGConflict`) unless `replace=True` (`kgsynth kg push
--replace`): two files that share a stem no longer silently overwrite each other. Pushing
the same content again (same hash and digest, completed) is a no-op that writes nothing but
a claim timestamp; the same hash with another digest, or an interrupted push of it, is pushed
again. `Neo4jKG(..., expect_hash=...)` lets a reader insist on the KG it was built against.

Idempotence: nodes are MERGEd on (kg, id) and their properties SET, so node identity (and
anything a user attached to the nodes) survives a re-push; nodes of that KG that are no
longer in it are deleted. Relationships are not MERGEd: MERGE of a relationship scans the
existing relationships of its end nodes, which is slow below hubs. Instead the push deletes
the KG's `:REL` relationships in batches and CREATEs them again, so after any number of
pushes the database holds exactly the KG's edges (the same counts). Readers that query
during a push may see a partial graph; `KGInfo.complete` tells them.

Credentials come from the environment (KGSYNTH_NEO4J_*); the password lives only in
`Neo4jSettings.password` (hidden from repr) and in the driver's auth token, and no log line
or error message written here contains it (the driver masks it in its own debug logs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, LiteralString, cast
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import polars as pl
from neo4j import Driver, GraphDatabase, ManagedTransaction, Record
from neo4j.exceptions import AuthError, ConfigurationError, ServiceUnavailable

from kgsynth.errors import ConfigError, KGSynthError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.records import Hop, KGPath

log = logging.getLogger(__name__)

ENV_URI = "KGSYNTH_NEO4J_URI"
ENV_USER = "KGSYNTH_NEO4J_USER"
ENV_PASSWORD = "KGSYNTH_NEO4J_PASSWORD"
ENV_DATABASE = "KGSYNTH_NEO4J_DATABASE"
DEFAULT_URI = "bolt://localhost:7687"
DEFAULT_USER = "neo4j"
DEFAULT_DATABASE = "neo4j"
DEFAULT_BATCH_SIZE = 20_000
MAX_HOPS = 10  # the largest bound formatted into a variable-length pattern

_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")

Progress = Callable[[int, int], None]


class Neo4jStoreError(KGSynthError):
    """The Neo4j server could not be reached or refused an operation."""


class Neo4jKGConflict(KGSynthError):
    """The KG name in Neo4j holds a KG with another content hash than the one at hand."""


# -- settings -------------------------------------------------------------------------------


def redact_uri(uri: str) -> str:
    """The URI without any user:password@ part, for logs and messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable uri>"
    if "@" not in parts.netloc:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Neo4jSettings:
    """Where and as whom to connect. The password is excluded from repr/str."""

    uri: str
    user: str
    password: str = field(repr=False)
    database: str

    @classmethod
    def from_env(
        cls,
        uri: str | None = None,
        database: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Neo4jSettings:
        """Settings from KGSYNTH_NEO4J_*; `uri` / `database` arguments override the env."""
        env = os.environ if env is None else env
        password = env.get(ENV_PASSWORD)
        if not password:
            raise ConfigError(
                f"{ENV_PASSWORD} is not set: the Neo4j password must come from the environment "
                f"(with {ENV_USER}, default '{DEFAULT_USER}', and {ENV_URI})"
            )
        return cls(
            uri=uri or env.get(ENV_URI) or DEFAULT_URI,
            user=env.get(ENV_USER) or DEFAULT_USER,
            password=password,
            database=database or env.get(ENV_DATABASE) or DEFAULT_DATABASE,
        )

    def __post_init__(self) -> None:
        scheme = self.uri.partition("://")[0].lower()
        if "://" not in self.uri or scheme not in _SCHEMES:
            raise ConfigError(
                f"Neo4j URI '{self.display_uri}' must start with one of "
                + ", ".join(f"{s}://" for s in _SCHEMES)
            )

    @property
    def display_uri(self) -> str:
        return redact_uri(self.uri)

    def describe(self) -> str:
        """Safe for logs: no password."""
        return f"{self.display_uri} (database '{self.database}', user '{self.user}')"

    def connect(self) -> Driver:
        """An open driver whose connectivity and credentials have been checked.

        Driver errors are re-raised as kgsynth errors that name the URI and the env
        variables, never the password.
        """
        try:
            driver = GraphDatabase.driver(
                self.uri,
                auth=(self.user, self.password),
                # "constraint already exists" and similar notes would flood INFO logs
                notifications_min_severity="WARNING",
            )
        except (ConfigurationError, ValueError) as exc:
            # the driver's message may quote the URI, user info included
            detail = str(exc).replace(self.uri, self.display_uri).replace(self.password, "***")
            raise ConfigError(f"invalid Neo4j URI '{self.display_uri}': {detail}") from None
        try:
            driver.verify_connectivity()
        except AuthError:
            driver.close()
            # `from None`: the driver's exception chain carries nothing the user needs
            raise ConfigError(
                f"Neo4j at {self.display_uri} rejected user '{self.user}': check "
                f"{ENV_USER} and {ENV_PASSWORD}"
            ) from None
        except (ServiceUnavailable, OSError) as exc:
            driver.close()
            raise Neo4jStoreError(
                f"cannot reach Neo4j at {self.display_uri}: {type(exc).__name__}"
            ) from None
        return driver


def neo4j_settings(uri: str | None = None, database: str | None = None) -> Neo4jSettings:
    return Neo4jSettings.from_env(uri=uri, database=database)


# -- Cypher ---------------------------------------------------------------------------------
# Every query below is a constant; values travel as parameters. The only text that varies is
# the hop bound of the path queries, chosen from _PATH_QUERIES by a validated int.
# `USING INDEX` pins (kg, id) look-ups to the unique index whatever the planner's statistics
# say.

SCHEMA: tuple[LiteralString, ...] = (
    "CREATE CONSTRAINT kgsynth_entity_key IF NOT EXISTS "
    "FOR (n:Entity) REQUIRE (n.kg, n.id) IS UNIQUE",
    "CREATE INDEX kgsynth_entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)",
    "CREATE CONSTRAINT kgsynth_kginfo_kg IF NOT EXISTS FOR (k:KGInfo) REQUIRE k.kg IS UNIQUE",
)

Q_AWAIT_INDEXES: LiteralString = "CALL db.awaitIndexes(300)"

# The SET write-locks the record before it is read back, so two pushes under one name take
# turns deciding whether the name is theirs (see _claim).
Q_INFO_CLAIM: LiteralString = """
MERGE (k:KGInfo {kg: $kg})
SET k.claimed_at = datetime()
WITH k
RETURN properties(k) AS info
"""

Q_INFO_START: LiteralString = """
MATCH (k:KGInfo {kg: $kg})
SET k.complete = false, k.hash = $hash, k.digest = null, k.started_at = datetime()
"""

Q_INFO_DONE: LiteralString = """
MATCH (k:KGInfo {kg: $kg})
SET k.complete = true, k.hash = $hash, k.digest = $digest, k.nodes = $nodes,
    k.relationships = $relationships, k.relations = $relations, k.pushed_at = datetime()
"""

Q_INFO: LiteralString = "MATCH (k:KGInfo {kg: $kg}) RETURN properties(k) AS info"

# The nodes of one KG. `n.id IS NOT NULL` (always true) lets the planner answer it with a
# prefix seek on the (kg, id) index.
_IN_KG: LiteralString = "MATCH (n:Entity) WHERE n.kg = $kg AND n.id IS NOT NULL\n"

Q_NODE_IDS: LiteralString = _IN_KG + "RETURN n.id AS id"

Q_DELETE_NODES: LiteralString = """
UNWIND $ids AS id
MATCH (n:Entity {kg: $kg, id: id}) USING INDEX n:Entity(kg, id)
DETACH DELETE n
"""

# Parallel lists instead of a list of maps: smaller Bolt messages, no per-row dict in Python.
Q_MERGE_NODES: LiteralString = """
UNWIND range(0, size($ids) - 1) AS i
MERGE (n:Entity {kg: $kg, id: $ids[i]})
SET n.name = $names[i], n.type = $types[i], n.synonyms = $synonyms[i]
"""

# LIMIT + loop keeps each delete transaction small (the server's heap is bounded)
Q_DELETE_RELS: LiteralString = (
    _IN_KG
    + """
MATCH (n)-[r:REL]->()
WITH r LIMIT $batch
DELETE r
RETURN count(*) AS deleted
"""
)

# relation names travel once per batch ($relations) and are picked by small int ids
Q_CREATE_RELS: LiteralString = """
UNWIND range(0, size($heads) - 1) AS i
MATCH (a:Entity {kg: $kg, id: $heads[i]}) USING INDEX a:Entity(kg, id)
MATCH (b:Entity {kg: $kg, id: $tails[i]}) USING INDEX b:Entity(kg, id)
CREATE (a)-[:REL {relation: $relations[$rels[i]]}]->(b)
"""

Q_NODE_COUNT: LiteralString = _IN_KG + "RETURN count(n) AS n"

# COUNT { } on a bound node is answered from the node's degree store, no expansion
Q_REL_COUNT: LiteralString = _IN_KG + "RETURN sum(COUNT { (n)-[:REL]->() }) AS n"

Q_TYPE_COUNTS: LiteralString = (
    _IN_KG
    + """
RETURN n.type AS key, count(*) AS n ORDER BY key
"""
)

Q_RELATION_COUNTS: LiteralString = (
    _IN_KG
    + """
MATCH (n)-[r:REL]->()
RETURN r.relation AS key, count(*) AS n ORDER BY key
"""
)

# allShortestPaths takes its hop bound as a literal only; {hops} is filled from range(1, 11).
_PATH_MATCH = """
MATCH (a:Entity {{kg: $kg, id: $source}}), (b:Entity {{kg: $kg, id: $target}})
USING INDEX a:Entity(kg, id) USING INDEX b:Entity(kg, id)
MATCH p = allShortestPaths((a)-[:REL*..{hops}]-(b))
"""

# $count_limit caps enumeration for hub pairs (the count is then a lower bound)
_COUNT_TAIL = """
WITH p LIMIT $count_limit
RETURN count(p) AS n
"""

# Ranked like the in-memory engine: summed log(1 + degree) of the intermediate nodes, then
# node ids; relation and orientation make the order of parallel-edge variants deterministic.
_PATHS_TAIL = """
WITH p, reduce(c = 0.0, d IN [n IN nodes(p)[1..-1] | COUNT { (n)-[:REL]-() }]
               | c + log(1.0 + d)) AS cost
ORDER BY cost, [n IN nodes(p) | n.id], [r IN relationships(p) | r.relation],
         [r IN relationships(p) | startNode(r).id]
LIMIT $limit
RETURN cost,
       [r IN relationships(p) |
        [startNode(r).id, startNode(r).name, r.relation, endNode(r).id, endNode(r).name]]
       AS hops
"""

# Built once at import from constants and the ints 1..MAX_HOPS, hence safe to treat as
# literal query text (the driver's typing asks for LiteralString).
_COUNT_QUERIES: dict[int, LiteralString] = {
    n: cast(LiteralString, _PATH_MATCH.format(hops=n) + _COUNT_TAIL) for n in range(1, MAX_HOPS + 1)
}
_PATH_QUERIES: dict[int, LiteralString] = {
    n: cast(LiteralString, _PATH_MATCH.format(hops=n) + _PATHS_TAIL) for n in range(1, MAX_HOPS + 1)
}


def _hop_bound(max_hops: object) -> int:
    # bool is an int subclass; True must not mean "1 hop"
    if isinstance(max_hops, bool) or not isinstance(max_hops, int | np.integer):
        raise ConfigError(f"max_hops must be an int 1..{MAX_HOPS}, got {type(max_hops).__name__}")
    hops = int(max_hops)
    if not 1 <= hops <= MAX_HOPS:
        raise ConfigError(f"max_hops must be 1..{MAX_HOPS}, got {hops}")
    return hops


def _int_arg(name: str, value: object, minimum: int = 1) -> int:
    # numpy ints are welcome (they come out of arrays); bools and floats are mistakes
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


# -- push -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushReport:
    kg: str  # the name it is stored under
    nodes: int  # :Entity nodes of this KG in the database after the push
    relationships: int  # :REL relationships of this KG after the push
    seconds: float
    hash: str = ""  # the KG's content hash, as KGInfo records it
    unchanged: bool = False  # the same content was there already: nothing was written


def _write(tx: ManagedTransaction, query: LiteralString, params: dict[str, Any]) -> Any:
    return tx.run(query, params).consume()


def _single_int(tx: ManagedTransaction, query: LiteralString, params: dict[str, Any]) -> int:
    record = tx.run(query, params).single(strict=True)
    return int(record[0])


def _read_all(tx: ManagedTransaction, query: LiteralString, params: dict[str, Any]) -> list[Record]:
    return list(tx.run(query, params))


@contextmanager
def _phase(what: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    log.debug("push: %s took %.2f s", what, time.perf_counter() - t0)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _node_columns(kg: KnowledgeGraph) -> dict[str, list[Any]]:
    """Node property columns as Python lists (polars does the conversion in bulk)."""
    # Neo4j stores no nulls: a null synonym list becomes [], a null name or type ""
    nodes = kg.nodes.select(
        pl.col("id").alias("ids"),
        pl.col("name").fill_null("").alias("names"),
        pl.col("type").fill_null("").alias("types"),
        pl.col("synonyms").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    return {col: nodes[col].to_list() for col in nodes.columns}


def _edge_columns(kg: KnowledgeGraph) -> tuple[list[str], list[int], list[str]]:
    """Head ids, relation ids, tail ids of every directed edge, by numpy fancy indexing."""
    edges = kg.edge_frame()
    ids = np.asarray(kg.ids, dtype=object)
    heads = ids[edges["head"].to_numpy()].tolist()
    tails = ids[edges["tail"].to_numpy()].tolist()
    return heads, edges["rel"].cast(pl.Int64).to_list(), tails


def push_digest(kg: KnowledgeGraph, node_cols: dict[str, list[Any]]) -> str:
    """sha256 of what a push stores beyond `kg.hash`: each node's synonyms (in id order)."""
    d = hashlib.sha256(kg.hash.encode())
    for node_id, synonyms in zip(node_cols["ids"], node_cols["synonyms"], strict=True):
        d.update(b"\x1d" + node_id.encode() + b"\x1e" + "\x1f".join(synonyms).encode())
    return d.hexdigest()


def _short(h: object) -> str:
    return str(h)[:12] if h else "none recorded"


def _claim(
    tx: ManagedTransaction, name: str, kg_hash: str, digest: str, replace: bool
) -> dict[str, Any] | None:
    """Take the name for a push of `kg_hash`: None to go ahead (the push is started), or the
    stored KGInfo when it already holds this very content. Raises Neo4jKGConflict when the
    name holds another KG and `replace` is off (the transaction, claim included, is undone).
    """
    info = dict(tx.run(Q_INFO_CLAIM, {"kg": name}).single(strict=True)["info"])
    existed = "started_at" in info  # a record the MERGE just made holds kg and claimed_at
    same = info.get("hash") == kg_hash
    if existed and same and info.get("complete") is True and info.get("digest") == digest:
        if not replace:
            return info
    elif existed and not same and not replace:
        state = "" if info.get("complete") is True else ", an incomplete push"
        raise Neo4jKGConflict(
            f"Neo4j already holds a different KG under the name '{name}' (content hash "
            f"{_short(info.get('hash'))}{state}; this KG's hash is {_short(kg_hash)}): push "
            "this one under another name (--name), or overwrite that one (--replace)"
        )
    tx.run(Q_INFO_START, {"kg": name, "hash": kg_hash}).consume()
    return None


def push_kg(
    kg: KnowledgeGraph,
    uri: str | None = None,
    database: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    *,
    name: str | None = None,
    replace: bool = False,
) -> PushReport:
    """Import `kg` into Neo4j under `name` (default `kg.name`).

    A name is bound to the content hash of the KG pushed under it: a KG with another hash is
    refused with Neo4jKGConflict unless `replace` (then it replaces that KG's copy); the same
    content again is a no-op (`PushReport.unchanged`, counts as stored) unless `replace`.
    `uri` / `database` override KGSYNTH_NEO4J_URI / KGSYNTH_NEO4J_DATABASE; the user and
    password always come from the environment. `progress(done, total)` is called after each
    batch, counting node rows then relationship rows (total = nodes + edges of `kg`).
    """
    batch = _int_arg("batch_size", batch_size)
    settings = neo4j_settings(uri, database)
    t0 = time.perf_counter()
    name = name or kg.name
    node_cols = _node_columns(kg)
    digest = push_digest(kg, node_cols)
    heads, rels, tails = _edge_columns(kg)
    n_nodes, n_edges = len(node_cols["ids"]), len(heads)
    total = n_nodes + n_edges
    log.info(
        "pushing KG '%s' (%d nodes, %d edges) to %s", name, n_nodes, n_edges, settings.describe()
    )
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(done, total)

    with settings.connect() as driver, driver.session(database=settings.database) as session:
        with _phase("schema"):
            for query in SCHEMA:
                session.execute_write(_write, query, {})
            session.run(Q_AWAIT_INDEXES).consume()  # MERGE must find the unique index online
        stored = session.execute_write(_claim, name, kg.hash, digest, replace)
        if stored is not None:
            log.info("KG '%s' (hash %s) is already in Neo4j: nothing pushed", name, kg.hash[:12])
            return PushReport(
                kg=name,
                nodes=int(stored.get("nodes", 0)),
                relationships=int(stored.get("relationships", 0)),
                seconds=time.perf_counter() - t0,
                hash=kg.hash,
                unchanged=True,
            )

        # Old relationships go first, in batches: a DETACH DELETE of a hub node would pull
        # all its relationships into one transaction (and past the server's memory limit).
        with _phase("delete relationships"):
            removed = 0
            while deleted := session.execute_write(
                _single_int, Q_DELETE_RELS, {"kg": name, "batch": batch}
            ):
                removed += deleted
        if removed:
            log.info("deleted %d relationships of KG '%s' before reloading", removed, name)

        with _phase("delete stale nodes"):  # nodes of an earlier version of this KG
            present = session.execute_read(_read_all, Q_NODE_IDS, {"kg": name})
            stale = sorted({r["id"] for r in present} - set(node_cols["ids"]))
            for part in _chunks(len(stale), batch):
                session.execute_write(_write, Q_DELETE_NODES, {"kg": name, "ids": stale[part]})
        if stale:
            log.info("deleted %d stale nodes of KG '%s'", len(stale), name)

        with _phase("merge nodes"):
            for part in _chunks(n_nodes, batch):
                params = {"kg": name, **{col: vals[part] for col, vals in node_cols.items()}}
                session.execute_write(_write, Q_MERGE_NODES, params)
                advance(part.stop - part.start)

        with _phase("create relationships"):
            for part in _chunks(n_edges, batch):
                params = {
                    "kg": name,
                    "heads": heads[part],
                    "tails": tails[part],
                    "rels": rels[part],
                    "relations": kg.relations,
                }
                session.execute_write(_write, Q_CREATE_RELS, params)
                advance(part.stop - part.start)

        # read back rather than trust the batch sizes: the report states what is stored
        nodes = session.execute_read(_single_int, Q_NODE_COUNT, {"kg": name})
        relationships = session.execute_read(_single_int, Q_REL_COUNT, {"kg": name})
        info = {"hash": kg.hash, "digest": digest, "nodes": nodes, "relationships": relationships}
        session.execute_write(_write, Q_INFO_DONE, {"kg": name, "relations": kg.relations, **info})
    seconds = time.perf_counter() - t0
    log.info(
        "pushed KG '%s': %d nodes, %d relationships in %.1f s", name, nodes, relationships, seconds
    )
    return PushReport(
        kg=name, nodes=nodes, relationships=relationships, seconds=seconds, hash=kg.hash
    )


# -- queries --------------------------------------------------------------------------------


class Neo4jKG:
    """A KG pushed by `push_kg`, queried in Cypher; scoped to one KG name.

    With `expect_hash`, the name must hold a completed push of the KG with that content hash
    (Neo4jKGConflict otherwise): a reader built against one KG never queries another that was
    pushed under the same name since. `hash` is the content hash stored for the name.
    """

    def __init__(
        self,
        kg: str,
        uri: str | None = None,
        database: str | None = None,
        *,
        settings: Neo4jSettings | None = None,
        expect_hash: str | None = None,
    ) -> None:
        self.kg = kg
        self.settings = settings or neo4j_settings(uri, database)
        self._driver = self.settings.connect()
        if expect_hash is not None:
            info = self.info() or {}
            if info.get("hash") != expect_hash or info.get("complete") is not True:
                self.close()
                found = "no KG" if not info else f"content hash {_short(info.get('hash'))}"
                if info and info.get("complete") is not True:
                    found += " (an incomplete push)"
                raise Neo4jKGConflict(
                    f"Neo4j KG '{kg}' holds {found}, not the KG with content hash "
                    f"{_short(expect_hash)}"
                )

    def __repr__(self) -> str:
        return f"Neo4jKG(kg={self.kg!r}, {self.settings.describe()})"

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> Neo4jKG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, query: LiteralString, **params: Any) -> list[Record]:
        with self._driver.session(database=self.settings.database) as session:
            return session.execute_read(_read_all, query, {"kg": self.kg, **params})

    # -- sizes ------------------------------------------------------------------------------
    def node_count(self) -> int:
        return int(self._read(Q_NODE_COUNT)[0]["n"])

    def relationship_count(self) -> int:
        return int(self._read(Q_REL_COUNT)[0]["n"] or 0)

    def info(self) -> dict[str, Any] | None:
        """The KGInfo record of the last push (hash, counts, complete), or None."""
        rows = self._read(Q_INFO)
        return dict(rows[0]["info"]) if rows else None

    @property
    def hash(self) -> str | None:
        """The content hash of the KG stored under this name (None: none was pushed)."""
        return (self.info() or {}).get("hash")

    def stats(self) -> dict[str, Any]:
        """Node and relationship counts, in total and by node type / relation."""
        types = {r["key"]: int(r["n"]) for r in self._read(Q_TYPE_COUNTS)}
        relations = {r["key"]: int(r["n"]) for r in self._read(Q_RELATION_COUNTS)}
        return {
            "kg": self.kg,
            "nodes": sum(types.values()),
            "relationships": sum(relations.values()),
            "types": types,
            "relations": relations,
        }

    # -- paths ------------------------------------------------------------------------------
    def shortest_paths(
        self,
        source_id: str,
        target_id: str,
        max_hops: int = 3,
        limit: int = 100,
        *,
        count_limit: int | None = None,
    ) -> tuple[int, list[KGPath]]:
        """(number of shortest paths, the best `limit` of them) between two node ids.

        A path here is a sequence of *relationships*: two nodes joined by two relations give
        two paths (the in-memory engine counts node paths). Paths come best first, ranked
        like the in-memory engine (hub-aware cost, then node ids); hops keep the KG's
        orientation. No path within `max_hops`, an unknown id or source == target give
        (0, []). With `count_limit`, counting stops there (the count is a lower bound).
        """
        hops = _hop_bound(max_hops)
        top = _int_arg("limit", limit, minimum=0)  # 0: count only
        cap = 2**62 if count_limit is None else _int_arg("count_limit", count_limit)
        if source_id == target_id:  # allShortestPaths rejects equal end nodes
            return 0, []
        params = {"kg": self.kg, "source": source_id, "target": target_id}

        def work(tx: ManagedTransaction) -> tuple[int, list[Record]]:
            n = tx.run(_COUNT_QUERIES[hops], params, count_limit=cap).single(strict=True)["n"]
            rows = list(tx.run(_PATH_QUERIES[hops], params, limit=top)) if n and top else []
            return int(n), rows

        with self._driver.session(database=self.settings.database) as session:
            count, rows = session.execute_read(work)
        paths = [
            KGPath(
                start_id=source_id,
                end_id=target_id,
                hops=[
                    Hop(head_id=h, head_name=hn, relation=r, tail_id=t, tail_name=tn)
                    for h, hn, r, t, tn in row["hops"]
                ],
                score=float(row["cost"]),
            )
            for row in rows
        ]
        return count, paths
