"""The canonical schema model, the drift diff and the shipped data, on plain data (no server)."""

from __future__ import annotations

from typing import Any

from bazooka.postgres import drift
from bazooka.postgres.baseline import bundled_baseline, parse
from bazooka.postgres.migrations_source import bundled
from bazooka.postgres.schema_model import Objects, canonical, unqualified, without_bookkeeping
from bazooka.postgres.schema_steps import SchemaModel, bundled_model, migrations_digest
from bazooka.postgres.verify import SchemaReport, render_text

ORDERS_VIEW_15 = (
    ' SELECT pnl_intervals.id,\n    pnl_intervals."subaccountId"\n   FROM ( SELECT pnl_ticks.id '
    "FROM pnl_ticks WHERE (pnl_ticks.address)::text = 'dydx1.x'::text) pnl_intervals\n"
    "  WHERE (pnl_intervals.r = 1);"
)
# The same stored query as PostgreSQL 16 prints it (fewer qualifiers, other indentation).
ORDERS_VIEW_16 = (
    ' SELECT id,\n "subaccountId"\n FROM ( SELECT pnl_ticks.id '
    "FROM pnl_ticks WHERE (pnl_ticks.address)::text = 'dydx1.x'::text) pnl_intervals\n"
    "  WHERE (r = 1);"
)


def document(**overrides: Any) -> dict[str, Any]:
    """A catalog document like the reader's: one table, two columns, an index, a check, a view."""
    doc: dict[str, Any] = {
        "relations": [
            {
                "name": "orders",
                "relkind": "r",
                "persistence": "p",
                "options": None,
                "rls": False,
                "force_rls": False,
                "populated": True,
                "partition_bound": None,
                "partition_key": None,
                "parents": None,
                "view": None,
            },
            {
                "name": "daily",
                "relkind": "m",
                "persistence": "p",
                "options": None,
                "rls": False,
                "force_rls": False,
                "populated": True,
                "partition_bound": None,
                "partition_key": None,
                "parents": None,
                "view": ORDERS_VIEW_15,
            },
        ],
        "columns": [
            {
                "relation": "orders",
                "name": "id",
                "type": "uuid",
                "not_null": True,
                "default": None,
                "identity": "",
                "generated": "",
                "collation": None,
            },
            {
                "relation": "orders",
                "name": "note",
                "type": "character varying(255)",
                "not_null": False,
                "default": "NULL::character varying",
                "identity": "",
                "generated": "",
                "collation": None,
            },
        ],
        "constraints": [
            {
                "relation": "orders",
                "name": "orders_status_check",
                "type": "c",
                "definition": "CHECK ((status = ANY (ARRAY['OPEN'::text])))  NOT VALID",
                "validated": False,
            }
        ],
        "indexes": [
            {
                "relation": "orders",
                "name": "orders_pkey",
                "definition": "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)",
                "unique": True,
                "valid": True,
            }
        ],
        "extensions": [{"name": "plpgsql", "schema": "pg_catalog", "version": "1.0"}],
    }
    doc.update(overrides)
    return doc


def test_canonical_form_of_catalog_rows() -> None:
    objects = canonical(document())
    assert objects[("table", "orders")] == {"kind": "table", "columns": ["id", "note"]}
    assert objects[("column", "orders.id")] == {"type": "uuid", "not_null": True}
    # DEFAULT NULL, with or without a cast, inserts NULL: it is no default.
    assert objects[("column", "orders.note")] == {"type": "character varying(255)"}
    assert objects[("constraint", "orders.orders_status_check")] == {
        "type": "check",
        "definition": "CHECK ((status = ANY (ARRAY['OPEN'::text])))",
        "not_valid": True,
    }
    assert objects[("index", "orders_pkey")] == {
        "table": "orders",
        "unique": True,
        "definition": "USING btree (id)",
    }
    assert objects[("extension", "plpgsql")] == {"schema": "pg_catalog"}


def test_server_version_noise_is_not_drift() -> None:
    """Catalog order, pretty-printing and PostgreSQL 16's unqualified view columns."""
    pg15 = canonical(document())
    doc16 = document()
    doc16["relations"] = list(reversed(doc16["relations"]))
    doc16["relations"][0] = {**doc16["relations"][0], "view": ORDERS_VIEW_16}
    doc16["columns"] = [doc16["columns"][0], {**doc16["columns"][1], "default": "NULL"}]
    assert drift.diff(pg15, canonical(doc16)) == []


def test_qualifiers_are_removed_outside_string_literals_only() -> None:
    assert unqualified('a.x = "T".y AND public.t.z') == "x = y AND z"
    assert unqualified("a.x = 'b.c'") == "x = 'b.c'"
    assert unqualified("1.5 + a.b") == "1.5 + b"


def test_diff_names_missing_unexpected_and_changed_objects() -> None:
    expected = canonical(document())
    doc = document()
    doc["indexes"] = [
        {**doc["indexes"][0], "name": "orders_pkey", "valid": False},
        {
            "relation": "orders",
            "name": "orders_extra",
            "definition": "CREATE INDEX orders_extra ON public.orders USING btree (note)",
            "unique": False,
            "valid": True,
        },
    ]
    doc["constraints"] = []
    doc["relations"][1] = {**doc["relations"][1], "populated": False}
    live = canonical(doc)
    found = {(d.object, d.status): d for d in drift.diff(expected, live)}
    assert set(found) == {
        ("constraint orders.orders_status_check", "missing"),
        ("index orders_pkey", "changed"),
        ("index orders_extra", "unexpected"),
        ("materialized view daily", "changed"),
    }
    assert found[("index orders_pkey", "changed")].fields == ("invalid",)
    assert "INVALID" in found[("index orders_pkey", "changed")].note
    assert "not populated" in found[("materialized view daily", "changed")].note


def test_column_order_is_compared_on_common_columns_only() -> None:
    expected = canonical(document())
    doc = document()
    added = {**doc["columns"][0], "name": "extra", "not_null": False}
    doc["columns"] = [added, *doc["columns"]]
    differences = drift.diff(expected, canonical(doc))
    assert [(d.object, d.status) for d in differences] == [("column orders.extra", "unexpected")]
    doc["columns"] = list(reversed(document()["columns"]))
    differences = drift.diff(expected, canonical(doc))
    assert [(d.object, d.fields) for d in differences] == [("table orders", ("columns",))]


def test_parts_of_a_missing_table_are_counted_not_listed() -> None:
    expected = canonical(document())
    doc = document(columns=[], constraints=[], indexes=[])
    doc["relations"] = doc["relations"][1:]
    differences = drift.diff(expected, canonical(doc))
    assert [(d.object, d.status) for d in differences] == [("table orders", "missing")]
    assert differences[0].parts == {"column": 2, "constraint": 1, "index": 1}


def test_model_keeps_each_definition_once_with_its_step_ranges() -> None:
    a: Objects = {("table", "t"): {"kind": "table", "columns": ["x"]}}
    b: Objects = {("table", "t"): {"kind": "table", "columns": ["x", "y"]}}
    c: Objects = {**b, ("index", "i"): {"table": "t", "definition": "USING btree (y)"}}
    up: list[Objects] = [{}, a, b, c]
    down: list[Objects] = [{}, a, {**a, ("index", "i"): c[("index", "i")]}, c]  # not an inverse
    model = SchemaModel.from_walks(["m1", "m2", "m3"], "d", "PostgreSQL 15", up, down)
    for step in range(4):
        assert model.state(step, "up") == up[step]
        assert model.state(step, "down") == down[step]
    assert len(model.entries) == 3  # t(x), t(x, y), i: each once
    again = SchemaModel.from_json(model.to_json())
    assert again == model
    assert model.to_gzip() == again.to_gzip()  # reproducible bytes


def test_shipped_model_and_baseline_are_not_stale() -> None:
    """Regenerate with tools/update_snapshots.py when a migration is added or changed."""
    known = bundled()
    digest = migrations_digest(known)
    names = tuple(m.name for m in known)
    model = bundled_model()
    assert model.migrations == names and model.digest == digest
    baseline = bundled_baseline()
    assert baseline.migrations == names and baseline.digest == digest
    assert baseline.covers(known) and not baseline.covers(known[:-1])
    assert model.state(0, "up") == {("extension", "plpgsql"): {"schema": "pg_catalog"}}
    final = model.state(len(known), "up")
    assert final == model.state(len(known), "down")
    kinds = [kind for kind, _ in final]
    assert (kinds.count("table"), kinds.count("index"), kinds.count("materialized view")) == (
        34,
        106,
        2,
    )
    assert without_bookkeeping(final) == final


def test_a_baseline_file_without_its_header_is_refused() -> None:
    try:
        parse("CREATE TABLE x (y int);")
    except Exception as exc:  # noqa: BLE001 - the message is what matters
        assert "header" in str(exc)
    else:
        raise AssertionError("parse accepted a headerless baseline")


def test_text_report_shows_expected_and_live_side_by_side() -> None:
    expected = canonical(document())
    doc = document()
    doc["columns"] = [{**doc["columns"][0], "type": "text", "not_null": False}, doc["columns"][1]]
    differences = tuple(drift.diff(expected, canonical(doc)))
    report = SchemaReport(113, "x.js", "up", differences, len(expected), len(expected))
    assert not report.ok
    assert report.headline().startswith("DRIFT against step 113 (x.js) as migrated up: 1 changed")
    text = render_text(report)
    assert "CHANGED    column orders.id" in text
    assert "not_null  yes       no" in text
    assert "type      uuid      text" in text
    assert report.to_dict()["differences"][0]["fields"] == ["not_null", "type"]


def test_a_missing_and_an_unexpected_object_with_one_definition_look_renamed() -> None:
    expected = canonical(document())
    doc = document()
    doc["indexes"] = [{**doc["indexes"][0], "name": "orders_id_idx"}]
    differences = drift.diff(expected, canonical(doc))
    assert [(d.object, d.status, d.renamed) for d in differences] == [
        ("index orders_id_idx", "unexpected", "orders_pkey"),
        ("index orders_pkey", "missing", "orders_id_idx"),
    ]
    assert differences[1].note == "renamed? now orders_id_idx"
    assert differences[0].to_dict()["renamed"] == "orders_pkey"


def _deployed(**changes: Any) -> dict[str, Any]:
    """The test document with comments and privileges on its table, column and schema."""
    doc = document()
    doc["relations"][0] = {
        **doc["relations"][0],
        "comment": "orders",
        "grants": ["readers SELECT"],
        "revokes": None,
    }
    doc["columns"][0] = {**doc["columns"][0], "comment": "the id", "grants": ["readers UPDATE"]}
    doc["schema_grants"] = ["readers USAGE"]
    doc["default_privileges"] = [
        {"role": "(migrator)", "schema": "public", "objects": "r", "entries": ["readers SELECT"]}
    ]
    for key, value in changes.items():
        doc[key] = value
    return doc


def test_comments_and_privileges_are_attributes_and_objects_of_the_model() -> None:
    model = canonical(_deployed())
    assert model[("table", "orders")]["comment"] == "orders"
    assert model[("table", "orders")]["privileges"] == ["readers SELECT"]
    assert "privileges_revoked" not in model[("table", "orders")]
    assert model[("column", "orders.id")]["privileges"] == ["readers UPDATE"]
    assert model[("schema", "public")] == {"privileges": ["readers USAGE"]}
    assert model[("default privileges", "for (migrator) on tables in schema public")] == {
        "privileges": ["readers SELECT"]
    }
    # Without any, the model is what it was: nothing added to any object.
    assert canonical(document()) == {
        key: {k: v for k, v in attrs.items() if k not in ("comment", "privileges")}
        for key, attrs in model.items()
        if key[0] not in ("schema", "default privileges")
    }


def test_a_missing_or_changed_comment_is_drift_an_added_one_information() -> None:
    expected = canonical(_deployed())
    doc = _deployed()
    doc["relations"][0] = {**doc["relations"][0], "comment": None}
    doc["columns"][0] = {**doc["columns"][0], "comment": "renamed id"}
    doc["columns"][1] = {**doc["columns"][1], "comment": "added by hand"}
    live = canonical(doc)
    differences = drift.diff(expected, live)
    assert [(d.object, d.fields, d.note) for d in differences] == [
        ("table orders", ("comment",), "comment missing"),
        ("column orders.id", ("comment",), "comment changed"),
    ]
    assert drift.information(expected, live) == [
        "column orders.note: a comment the migrations did not write"
    ]


def test_a_lacking_privilege_is_drift_an_extra_one_information() -> None:
    expected = canonical(_deployed())
    doc = _deployed(schema_grants=None, default_privileges=None)
    doc["relations"][0] = {
        **doc["relations"][0],
        "grants": ["readers INSERT", "readers SELECT"],
        "revokes": ["(owner) TRUNCATE"],
    }
    doc["columns"][0] = {**doc["columns"][0], "grants": None}
    live = canonical(doc)
    found = {d.object: d for d in drift.diff(expected, live)}
    assert set(found) == {
        "schema public",
        "default privileges for (migrator) on tables in schema public",
        "table orders",
        "column orders.id",
    }
    assert found["table orders"].fields == ("privileges_revoked",)
    assert found["table orders"].note == "lacks (owner) TRUNCATE"
    assert found["column orders.id"].note == "lacks readers UPDATE"
    assert found["schema public"].status == "changed" and found["schema public"].live == {}
    assert drift.information(expected, live) == [
        "table orders: readers INSERT (not granted by the migrations)"
    ]
    # Grants beyond the migrations' on the schema and by default: information only.
    extra = canonical(
        _deployed(
            schema_grants=["readers USAGE", "ops USAGE"],
            default_privileges=[
                {"role": "ops", "schema": None, "objects": "S", "entries": ["readers USAGE"]}
            ],
        )
    )
    assert [d.object for d in drift.diff(expected, extra)] == [
        "default privileges for (migrator) on tables in schema public"
    ]
    assert drift.information(expected, extra) == [
        "schema public: ops USAGE (not granted by the migrations)",
        "default privileges for ops on sequences: readers USAGE (not granted by the migrations)",
    ]
    report = SchemaReport(1, "x.js", "up", (), 3, 3, information=("table t: ro SELECT (x)",))
    assert report.ok and report.to_dict()["information"] == ["table t: ro SELECT (x)"]
    assert "information, not drift" in report.headline()
    assert "information: table t: ro SELECT (x)" in render_text(report)
    assert "information" not in SchemaReport(1, "x.js", "up", (), 3, 3).to_dict()
