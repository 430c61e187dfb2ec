"""Smoke test of the real Neo4j test server (tests/neo4j_server.py): no mock, no skip."""

from __future__ import annotations

import os
import uuid

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError
from neo4j_server import Neo4jConnection


def test_server_answers_cypher(neo4j_server: Neo4jConnection) -> None:
    uri = os.environ["KGSYNTH_NEO4J_URI"]
    auth = (os.environ["KGSYNTH_NEO4J_USER"], os.environ["KGSYNTH_NEO4J_PASSWORD"])
    assert (uri, auth) == (neo4j_server.uri, neo4j_server.auth)
    tag = uuid.uuid4().hex
    with GraphDatabase.driver(uri, auth=auth) as driver:
        driver.verify_connectivity()
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert records[0]["one"] == 1

        driver.execute_query(
            "CREATE (:SmokeTest {tag: $tag, name: 'fever'})",
            tag=tag,
            database_=neo4j_server.database,
        )
        records, _, _ = driver.execute_query(
            "MATCH (n:SmokeTest {tag: $tag}) RETURN n.name AS name",
            tag=tag,
            database_=neo4j_server.database,
        )
        assert [r["name"] for r in records] == ["fever"]

        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS v, edition"
        )
        assert records[0]["v"].startswith("5.")
        assert records[0]["edition"] == "community"
        assert driver.get_server_info().agent.startswith("Neo4j/5.")
        assert neo4j_server.version.startswith("5.")

        driver.execute_query(
            "MATCH (n:SmokeTest {tag: $tag}) DELETE n", tag=tag, database_=neo4j_server.database
        )


def test_server_rejects_a_wrong_password(neo4j_server: Neo4jConnection) -> None:
    auth = (neo4j_server.user, "not-the-password")
    with GraphDatabase.driver(neo4j_server.uri, auth=auth) as driver:
        with pytest.raises(AuthError):
            driver.verify_connectivity()
