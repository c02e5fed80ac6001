"""The baseline file made from a full pg_dump, and the proof's comparison, on plain text."""

from __future__ import annotations

import pytest

from bazooka.postgres.baseline import parse
from tools.schema_dump import baseline_text, state_difference, statements

DUMP = """--
-- PostgreSQL database dump
--

\\restrict AbC123

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: levels; Type: TABLE; Schema: public; Owner: dydx_dev
--

CREATE TABLE public.levels (
    id integer NOT NULL,
    note text
);


ALTER TABLE public.levels OWNER TO dydx_dev;
ALTER TABLE public.kept OWNER TO "other role";
CREATE MATERIALIZED VIEW public.counts AS
 SELECT count(*) AS n
   FROM public.levels
  WITH NO DATA;
{rows}
SELECT pg_catalog.setval('public.levels_id_seq', 2, true);
COMMENT ON COLUMN public.levels.note IS 'free text';
GRANT SELECT ON TABLE public.levels TO readers;
ALTER DEFAULT PRIVILEGES FOR ROLE dydx_dev IN SCHEMA public GRANT SELECT ON TABLES  TO readers;
REFRESH MATERIALIZED VIEW public.counts;

--
-- PostgreSQL database dump complete
--

\\unrestrict AbC123
"""
ROW = (
    "INSERT INTO public.levels (id, note) VALUES (1, 'first line\n"
    "-- not a comment; SET x = 1\n\n-- migration: not a header');"
)


def test_statements_survive_rows_with_newlines_and_dashes() -> None:
    found = statements(DUMP.format(rows=ROW))
    assert ROW.removesuffix(";") in found
    assert found[0] == "SET statement_timeout = 0"
    assert not any(s.startswith(("\\", "--")) for s in found)


def test_the_baseline_keeps_rows_comments_privileges_and_drops_the_migrators_ownership() -> None:
    text = baseline_text(DUMP.format(rows=ROW), ["a.js", "b.js"], "d1g", "dydx_dev")
    body = text.split("\n", 7)[-1]
    assert ROW in text
    assert "SELECT pg_catalog.setval('public.levels_id_seq', 2, true);" in text
    assert "COMMENT ON COLUMN public.levels.note IS 'free text';" in text
    assert "GRANT SELECT ON TABLE public.levels TO readers;" in text
    assert "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES  TO readers;" in text
    assert 'ALTER TABLE public.kept OWNER TO "other role";' in text
    assert "dydx_dev" not in text and "SET statement_timeout" not in body
    # Rows exist: the views are refreshed after them, as pg_dump orders it.
    assert "WITH NO DATA;" in text and text.rstrip().endswith(
        "REFRESH MATERIALIZED VIEW public.counts;"
    )
    # The header is read up to the first statement only: the row's line is not a migration.
    parsed = parse(text)
    assert parsed.migrations == ("a.js", "b.js") and parsed.digest == "d1g"


def test_without_rows_views_are_created_populated_and_not_refreshed() -> None:
    text = baseline_text(DUMP.format(rows=""), ["a.js"], "d", "dydx_dev")
    assert "  WITH DATA;" in text and "REFRESH" not in text


def test_a_privilege_naming_the_migrating_role_cannot_be_carried() -> None:
    dump = DUMP.format(rows="REVOKE ALL ON TABLE public.levels FROM dydx_dev;")
    with pytest.raises(ValueError, match="naming dydx_dev, the role that ran it"):
        baseline_text(dump, ["a.js"], "d", "dydx_dev")


def test_the_proof_names_the_first_differing_statement() -> None:
    replay = ["CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)", "COMMENT ON TABLE t IS 'c'"]
    assert state_difference(replay, list(replay)) is None
    missing = state_difference(replay, [replay[0], replay[2]])
    assert missing == "the replay has `INSERT INTO t VALUES (1)`; the baseline has nothing there"
    changed = state_difference(replay, [*replay[:2], "COMMENT ON TABLE t IS 'd'"])
    assert changed == (
        "the replay has `COMMENT ON TABLE t IS 'c'`; the baseline has `COMMENT ON TABLE t IS 'd'`"
    )
