"""The load service: read → validate everything → pseudonymise → write all tables in one transaction.

Staging happens in temporary tables of an in-memory DuckDB connection (spilling to a temporary
folder when large), so nothing is materialised in Python and a rejected load touches no file of the
home, not even a fresh home's database files. Only when every check has passed are the store's files
attached to that connection and written, in one transaction. Writes are upserts by natural key, so
loading the same file twice leaves the same rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
from pydantic import BaseModel, Field

from marketpilot.config import Settings
from marketpilot.data.consistency import (
    currency_warnings,
    drop_stale_lines,
    order_warnings,
    plausible_times,
    reference_warnings,
    replaced_warning,
    status_warnings,
    time_warnings,
)
from marketpilot.data.mapping import (
    PII_FIELDS,
    ColumnRule,
    Mapping,
    TableMapping,
    auto_mapping,
    compile_table,
    day_first_of,
    load_mapping,
)
from marketpilot.data.readers import LINE, ROW, Source, open_source
from marketpilot.data.schema import TABLES
from marketpilot.data.store import Store
from marketpilot.data.validate import Check, Problem, duplicate_keys, ident, run_checks
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.pseudonymise import (
    EMAIL_RE,
    PHONE_RE,
    contact_kind_sql,
    is_personal_sql,
    pseudonym_sql,
)

# Write order: parents before children (there are no FK constraints, but readers see a consistent order).
TABLE_ORDER = ("customers", "customer_pii", "products", "orders", "order_items", "events", "reviews")
PII_PREFIX = "__pii_"


class LoadReport(BaseModel):
    """What a load did. `--json` prints the first four fields."""

    table: str
    rows_loaded: int
    rows_rejected: int
    warnings: list[str] = Field(default_factory=list)
    tables: dict[str, int] = Field(default_factory=dict, description="rows written per table")
    source: str = ""
    encoding: str | None = None

    def public(self) -> dict[str, object]:
        return self.model_dump(include={"table", "rows_loaded", "rows_rejected", "warnings"})


@dataclass
class Plan:
    """Staged temp tables (canonical name → temp table), ready to write."""

    stages: dict[str, str]
    rows_total: int
    rows_rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    # Per table: whether its customer ids are declared personal (true), opaque (false) or unsaid.
    personal_ids: dict[str, bool | None] = field(default_factory=dict)


def load_file(
    settings: Settings,
    path: Path | str,
    table: str = "auto",
    *,
    preset: str | None = None,
    mapping: Path | str | Mapping | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load one export file. `table` is a canonical table, or `auto` for presets/multi-table mappings
    (with a preset, naming one of its tables loads only that table). `progress(what is happening)`
    as the load goes: reading (with the rows read so far), checking, writing."""
    from marketpilot.data.presets import get_preset

    path = Path(path)
    say = progress or (lambda _: None)
    if preset and mapping:
        raise UserError("Give either --preset or --mapping, not both.")
    with (
        tempfile.TemporaryDirectory(prefix="marketpilot-load-") as spill,
        duckdb.connect(config={"temp_directory": spill}) as con,
    ):
        if preset:
            chosen = get_preset(preset)
            source = chosen.open(con, path)
            say(f"Checking {path.name}…")
            plan = chosen.stage(con, source)
            plan.stages = _only(plan.stages, table, f"preset '{preset}'")
        else:
            spec_map = load_mapping(Path(mapping)) if isinstance(mapping, str | Path) else mapping
            source = open_source(
                con,
                path,
                encoding=spec_map.encoding if spec_map else "auto",
                delimiter=spec_map.delimiter if spec_map else None,
                sheet=spec_map.sheet if spec_map else None,
                progress=lambda rows: say(f"Reading {path.name}: {rows:,} rows"),
            )
            say(f"Checking {path.name}…")
            plan = stage_mapped(
                con, source, table, spec_map, spec_map.currency if spec_map else None, settings
            )
        plan.warnings[:0] = source.notes
        plan.warnings += protect_personal_data(con, plan, settings.secret())
        say(f"Writing {plan.rows_total - plan.rows_rejected:,} rows to the store…")
        with Store.attach(settings, con) as store, store.transaction():
            written: dict[str, int] = {}
            for name in TABLE_ORDER:
                if name not in plan.stages:
                    continue
                stage = plan.stages[name]
                if not TABLES[name].private:
                    plan.warnings += replaced_warning(con, name, stage, store.qualified(name))
                if name == "order_items":
                    plan.warnings += drop_stale_lines(con, stage)
                # Personal fields arrive from several exports (orders with 收货人, a CRM with e-mails):
                # a load adds to what the private table knows of a customer instead of blanking it.
                written[name] = store.upsert(name, con.table(stage), merge=TABLES[name].private)
            plan.warnings += reference_warnings(con, plan.stages)
            plan.warnings += order_warnings(con, plan.stages)
            plan.warnings += time_warnings(con, plan.stages)
    analytic = [t for t in written if not TABLES[t].private]
    return LoadReport(
        table=",".join(analytic) or ",".join(written),
        rows_loaded=plan.rows_total - plan.rows_rejected,
        rows_rejected=plan.rows_rejected,
        warnings=plan.warnings,
        tables=written,
        source=str(path),
        encoding=source.encoding,
    )


def _only(stages: dict[str, str], table: str, what: str) -> dict[str, str]:
    if table in ("auto", "all"):
        return stages
    if table not in stages:
        raise UserError(
            f"{what} does not fill table '{table}'.", hint=f"Use 'auto' or one of {', '.join(stages)}."
        )
    return {table: stages[table]}


def stage_mapped(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    table: str,
    mapping: Mapping | None,
    currency: str | None,
    settings: Settings,
) -> Plan:
    """Stage one or more tables from a mapping, or one table by matching headers to column names."""
    warnings: list[str] = []
    if mapping is None:
        if table in ("auto", "all"):
            raise UserError(
                "Name the table to load (e.g. `marketpilot load orders FILE`).", hint="Or use --preset."
            )
        spec = TABLES.get(table)
        if spec is None:
            raise UserError(f"Unknown table '{table}'.", hint=f"Tables: {', '.join(TABLES)}")
        tmap = auto_mapping(spec, source)
        warnings += _recognise_contact_columns(con, source, table, tmap)
        tables = {table: tmap}
    else:
        tables = dict(mapping.tables) if table in ("auto", "all") else {table: _pick(mapping, table)}
    source, notes = _whole_number_ids(con, source, tables)
    warnings += notes
    events = tables.get("events")
    # (with none of the event's columns recognised there is nothing to key; the missing columns are named)
    if events is not None and "event_id" not in events.columns and _mapped_sources(events):
        tables["events"] = events = events.model_copy(deep=True)  # the id is added to a copy
        source = _derive_event_ids(con, source, events, settings.secret())
        warnings.append(
            "events: no event_id column; each row's id is derived from its customer, product, type "
            "and time, so loading the same rows again adds nothing"
        )
    problems: list[str] = []
    stages: dict[str, str] = {}
    cur = currency or settings.currency
    for name, tmap in tables.items():
        tmap = tables[name] = _with_date_orders(con, source, name, tmap)
        selects, checks, missing = compile_table(name, tmap, source, currency=cur)
        if missing:
            problems += missing
            continue
        problems += [str(p) for p in run_checks(con, source.view, checks)]
        stages[name] = _stage(con, name, tmap, source, selects)
        if tmap.duplicates == "first":
            warnings += _disagreeing_rows(con, name, source, selects)
    for name, stage in stages.items():
        problems += [str(p) for p in _stage_problems(con, name, stage, tables[name])]
    rows = source.count(con)
    if rows == 0:
        problems.append("no data rows: the file has a header but nothing under it")
    if problems:
        for temp in stages.values():
            con.execute(f"DROP TABLE IF EXISTS {ident(temp)}")
        raise ValidationFailed(
            problems, source=str(source.path), hint="Nothing was written; fix the file or mapping."
        )
    if "orders" in stages and "status" in tables["orders"].columns:
        warnings += status_warnings(con, stages["orders"])
    for name, stage in stages.items():
        rule = tables[name].columns.get("currency")
        if rule is not None and rule.source is not None:  # a column gives each row's currency
            warnings += currency_warnings(con, name, stage)
    if mapping is None:  # say what was matched by name, and what not, so a wrong guess is visible
        for name, tmap in tables.items():
            mapped = ", ".join(
                f"{r.source}→{c}"
                for c, r in tmap.columns.items()
                if r.source and not r.source.startswith("__")
            )
            used = {r.source for r in tmap.columns.values()}
            unused = [c for c in source.columns if c not in used and not c.startswith("__")]
            if unused:
                more = f" and {len(unused) - 12} more" if len(unused) > 12 else ""
                listed = ", ".join(unused[:12]) + more
                warnings.insert(
                    0, f"{name}: columns not loaded: {listed} (name them in a --mapping file to load them)"
                )
            warnings.insert(0, f"{name}: columns matched by name: {mapped}")
    personal = {n: t.columns["customer_id"].personal for n, t in tables.items() if "customer_id" in t.columns}
    return Plan(stages=stages, rows_total=rows, warnings=warnings, personal_ids=personal)


EVENT_KEY = "__event_id"
_DECIMAL_WHOLE = r"^\s*[0-9]+\.0+\s*$"


def _whole_number_ids(
    con: duckdb.DuckDBPyConnection, source: Source, tables: dict[str, TableMapping]
) -> tuple[Source, list[str]]:
    """`source` with id columns that a spreadsheet or pandas wrote as decimals (17850.0: a number
    column with gaps becomes float) read as the whole numbers they are, so that the customer 17850 of
    one export is the customer 17850.0 of another (and no account name to pseudonymise). Decided per
    column: only when every id in it is such a number."""
    columns = {
        r.source
        for tmap in tables.values()
        for name, r in tmap.columns.items()
        if name.endswith("_id") and r.source is not None and not r.source.startswith("__")
    }
    fixed: dict[str, str] = {}
    notes: list[str] = []
    for column in sorted(c for c in columns if c in source.types):
        c, kind = ident(column), source.types[column]
        if kind == "VARCHAR":
            whole = f"regexp_matches({c}, '{_DECIMAL_WHOLE}')"
            rewrite = f"CASE WHEN {whole} THEN regexp_extract({c}, '[0-9]+') ELSE {c} END"
        elif kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
            whole = f"isfinite({c}) AND {c} = trunc({c})"
            rewrite = f"CAST(CAST({c} AS HUGEINT) AS VARCHAR)"
        else:
            continue
        filled = f"{c} IS NOT NULL AND trim(CAST({c} AS VARCHAR)) <> ''"
        ids, whole_ids, written, read = con.execute(
            f"SELECT count(*) FILTER (WHERE {filled}), count(*) FILTER (WHERE {filled} AND {whole}), "
            f"arg_min(CAST({c} AS VARCHAR), {ROW}) FILTER (WHERE {filled} AND {whole}), "
            f"arg_min({rewrite}, {ROW}) FILTER (WHERE {filled} AND {whole}) FROM {ident(source.view)}"
        ).fetchall()[0]
        if ids and ids == whole_ids:
            fixed[column] = rewrite
            notes.append(
                f"column '{column}': ids written as decimals ('{written}') read as whole numbers ('{read}')"
            )
    if not fixed:
        return source, notes
    view = f"{source.view}_ids"
    replaced = ", ".join(f"{rewrite} AS {ident(column)}" for column, rewrite in fixed.items())
    body = f"SELECT * REPLACE ({replaced}) FROM {ident(source.view)}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {body}")
    types = {**source.types, **dict.fromkeys(fixed, "VARCHAR")}
    return replace(source, view=view, types=types), notes


def _with_date_orders(
    con: duckdb.DuckDBPyConnection, source: Source, table: str, tmap: TableMapping
) -> TableMapping:
    """`tmap` with `day_first` decided over the whole column for each text date column that leaves
    it open (`mapping.day_first_of`)."""
    decided = {}
    for col in TABLES[table].columns:
        rule = tmap.columns.get(col.name)
        if (
            col.type not in ("TIMESTAMP", "DATE") or rule is None or rule.source is None
            or rule.format or rule.day_first is not None or source.types.get(rule.source) != "VARCHAR"
        ):  # fmt: skip
            continue
        day_first = day_first_of(
            con, ident(source.view), ident(rule.source), ROW, column_name=rule.source, source=str(source.path)
        )
        if day_first is not None:
            decided[col.name] = rule.model_copy(update={"day_first": day_first})
    return tmap.model_copy(update={"columns": tmap.columns | decided}) if decided else tmap


def _mapped_sources(tmap: TableMapping) -> list[str]:
    """The file's columns the mapping reads (not the derived `__` ones)."""
    return [r.source for r in tmap.columns.values() if r.source is not None and not r.source.startswith("__")]


def _derive_event_ids(
    con: duckdb.DuckDBPyConnection, source: Source, tmap: TableMapping, secret: bytes
) -> Source:
    """`source` with an id per event: a keyed hash of the row's content (the customer id in it may be
    a phone number, so no plain hash) and, for identical rows, their order among themselves."""
    fields = [f"coalesce(CAST({ident(name)} AS VARCHAR), '')" for name in _mapped_sources(tmap)]
    content = f"concat_ws('|', {', '.join(fields)})"
    nth = f"row_number() OVER (PARTITION BY {content} ORDER BY {ROW})"
    key = "'e_' || substr(" + pseudonym_sql(f"{content} || '#' || CAST({nth} AS VARCHAR)", secret) + ", 3)"
    view = f"{source.view}_keyed"
    keyed = f"SELECT *, {key} AS {EVENT_KEY} FROM {ident(source.view)}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {keyed}")
    tmap.columns["event_id"] = ColumnRule(source=EVENT_KEY)
    return replace(
        source, view=view, columns=(*source.columns, EVENT_KEY), types={**source.types, EVENT_KEY: "VARCHAR"}
    )


def _pick(mapping: Mapping, table: str) -> TableMapping:
    if table not in mapping.tables:
        raise UserError(f"The mapping has no table '{table}'.", hint=f"It maps: {', '.join(mapping.tables)}.")
    return mapping.tables[table]


def _stage(
    con: duckdb.DuckDBPyConnection, name: str, tmap: TableMapping, source: Source, selects: list[str]
) -> str:
    temp = f"stage_{name}"
    body = f"SELECT {', '.join(selects)} FROM {ident(source.view)}"
    if tmap.duplicates == "first":
        key = TABLES[name].key
        cols = [s.rsplit(" AS ", 1)[-1] for s in selects[1:]]
        aggs = ", ".join(
            f"arg_min({c}, {ROW}) FILTER (WHERE {c} IS NOT NULL) AS {c}"
            for c in cols
            if c.strip('"') not in key
        )
        keys = ", ".join(ident(k) for k in key)
        body = f"SELECT min({ROW}) AS {ROW}, {keys}, {aggs} FROM ({body}) GROUP BY {keys}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(temp)} AS {body}")
    return temp


def _disagreeing_rows(
    con: duckdb.DuckDBPyConnection, name: str, source: Source, selects: list[str]
) -> list[str]:
    """Keys whose rows give different values for a column (`duplicates: first` keeps the first):
    repeated order fields should agree, so a difference is an id shared by two orders, or a price or
    title that changed between exports, and is named rather than silently settled."""
    key = TABLES[name].key
    cols = [
        c
        for c in (s.rsplit(" AS ", 1)[-1] for s in selects)
        if c.strip('"') not in (*key, ROW, LINE) and not c.strip('"').startswith(PII_PREFIX)
    ]
    if not cols:
        return []
    differs = [f"CASE WHEN count(DISTINCT {c}) > 1 THEN '{c.strip(chr(34))}' END" for c in cols]
    keys = ", ".join(ident(k) for k in key)
    # Customer ids are not pseudonymised yet here and may be e-mails or phones: rows name those keys.
    shown = "''" if "customer_id" in key else f"concat_ws(' / ', {keys}) || ' '"
    body = f"SELECT {', '.join(selects)} FROM {ident(source.view)}"
    n, examples = con.execute(
        f"SELECT count(*), list({shown} || '(rows ' || array_to_string(row_list, ', ') "
        f"|| ': ' || cols || ')' ORDER BY first)[1:3] FROM ("
        f"SELECT {keys}, min({ROW}) AS first, list({ROW} ORDER BY {ROW})[1:5] AS row_list, "
        f"concat_ws(', ', {', '.join(differs)}) AS cols "  # concat_ws skips the NULLs: agreeing columns
        f"FROM ({body}) GROUP BY {keys}) WHERE cols <> ''"
    ).fetchall()[0]
    if not n:
        return []
    return [
        f"{name}: {n} {' + '.join(key)}(s) have rows that disagree (e.g. {'; '.join(examples)}): "
        "the first non-empty value of each column was kept"
    ]


def _stage_problems(
    con: duckdb.DuckDBPyConnection, name: str, stage: str, tmap: TableMapping
) -> list[Problem]:
    """Duplicate keys, (for `duplicates: first`) required values missing on every row of a key, and
    order times outside the plausible range."""
    spec = TABLES[name]
    # An order dated 1970 (a zero Unix time) or 2099 (a typo) would move every customer's recency,
    # which is measured from the latest purchase. (Other times only warn: see consistency.py.)
    earliest, latest = plausible_times()
    checks = [
        Check(
            _label(tmap, c),
            f"NOT ({ident(c)} BETWEEN DATE '{earliest}' AND DATE '{latest}')",
            ident(c),
            f"a time between {earliest} and {latest} (the order time drives recency)",
        )
        for c in ("ordered_at",)
        if c in spec.column_names and c in tmap.columns
    ]
    if tmap.duplicates == "error":
        return duplicate_keys(con, stage, spec.key) + run_checks(con, stage, checks)
    checks += [
        Check(_label(tmap, c), f"{ident(c)} IS NULL", "NULL", f"a value ('{c}' is required)")
        for c in spec.required
        if c in tmap.columns
    ]
    return run_checks(con, stage, checks)


def _label(tmap: TableMapping, column: str) -> str:
    """The file's column a canonical column comes from, as messages name it."""
    return tmap.columns[column].source or column


def _recognise_contact_columns(
    con: duckdb.DuckDBPyConnection, source: Source, table: str, tmap: TableMapping
) -> list[str]:
    """Unmapped columns whose values are mostly e-mail addresses / phone numbers are personal data too."""
    if "customer_id" not in tmap.columns or TABLES[table].private:
        return []
    used = {r.source for r in tmap.columns.values()}
    warnings = []
    for col in source.columns:
        if col in used or source.types[col] != "VARCHAR":
            continue
        c = ident(col)
        share_email, share_phone = con.execute(
            f"SELECT avg(regexp_matches({c}, '{EMAIL_RE}')::INT), "
            f"avg(regexp_matches({c}, '{PHONE_RE}')::INT) "
            f"FROM (SELECT trim({c}) AS {c} FROM {ident(source.view)} WHERE {c} IS NOT NULL LIMIT 1000)"
        ).fetchall()[0]
        for kind, share in (("email", share_email), ("phone", share_phone)):
            if share is not None and share >= 0.8 and kind not in tmap.columns and col not in used:
                tmap.columns[kind] = ColumnRule(source=col)
                used.add(col)
                warnings.append(
                    f"column '{col}' holds {kind} values: kept only in the private customer_pii table"
                )
    return warnings


def protect_personal_data(con: duckdb.DuckDBPyConnection, plan: Plan, secret: bytes) -> list[str]:
    """Move personal columns out of the staged analytics tables into a staged `customer_pii`, and replace
    personal customer ids (e-mails, phones, account names; see `is_personal_sql`) by keyed pseudonyms
    everywhere, the original kept only as customer_pii.source_id."""
    warnings: list[str] = []
    pii_tables: list[str] = []
    for name, stage in list(plan.stages.items()):
        spec = TABLES[name]
        if "customer_id" not in spec.column_names:
            continue
        columns = [r[0] for r in con.execute(f"DESCRIBE {ident(stage)}").fetchall()]
        # An analytics table carries personal columns as __pii_*; a contacts export loaded into
        # customer_pii has them under their own names and takes the same keys as every other table.
        prefix = "" if spec.private else PII_PREFIX
        pii_cols = [c for c in columns if c.startswith(PII_PREFIX)]
        if "customer_id" not in columns:  # optional here (reviews): no customer to keep personal data for
            if pii_cols:
                exclude = ", ".join(ident(c) for c in pii_cols)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {ident(stage + '_safe')} AS "
                    f"SELECT * EXCLUDE ({exclude}) FROM {ident(stage)}"
                )
                plan.stages[name] = stage + "_safe"
                kinds = ", ".join(c.removeprefix(PII_PREFIX) for c in pii_cols)
                warnings.append(f"{name}: personal columns ({kinds}) dropped: no customer id to keep them by")
            continue
        cid = ident("customer_id")
        personal = is_personal_sql(cid, plan.personal_ids.get(name))
        n_personal = con.execute(
            # Distinct ids first: a 10M-row table has far fewer customers to run the patterns on.
            f"SELECT count(*) FILTER (WHERE {personal}) "
            f"FROM (SELECT DISTINCT customer_id FROM {ident(stage)})"
        ).fetchall()[0][0]
        if not spec.private and not pii_cols and not n_personal:
            continue
        pseudo = f"CASE WHEN {personal} THEN {pseudonym_sql(cid, secret)} ELSE {cid} END"
        kind = contact_kind_sql(cid)
        fields = []
        for f in PII_FIELDS:
            own = ident(prefix + f) if prefix + f in columns else "NULL"
            from_id = f"CASE WHEN {kind} = '{f}' THEN {cid} END" if f in ("email", "phone") else "NULL"
            fields.append(f"coalesce({own}, {from_id}) AS {f}")
        source_id = f"CASE WHEN {personal} THEN {cid} END"
        if "source_id" in columns:
            source_id = f"coalesce({ident('source_id')}, {source_id})"
        keep = " OR ".join([personal, *(f"{ident(c)} IS NOT NULL" for c in pii_cols)])
        order = ROW if ROW in columns else "0"  # presets' aggregated stages have no row order
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {ident(stage + '_pii')} AS "
            f"SELECT {order} AS {ROW}, {pseudo} AS customer_id, {source_id} AS source_id, "
            f"{', '.join(fields)} "
            f"FROM {ident(stage)} {'' if spec.private else 'WHERE ' + keep}"
        )
        pii_tables.append(ident(stage + "_pii"))
        if spec.private:
            del plan.stages[name]  # merged with the other tables' personal fields below
        else:
            exclude = f"EXCLUDE ({', '.join(ident(c) for c in pii_cols)})" if pii_cols else ""
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {ident(stage + '_safe')} AS "
                f"SELECT * {exclude} REPLACE ({pseudo} AS customer_id) FROM {ident(stage)}"
            )
            plan.stages[name] = stage + "_safe"
        con.execute(f"DROP TABLE {ident(stage)}")
        if n_personal:
            warnings.append(
                f"{name}: {n_personal} customer id(s) are personal (e-mail addresses, phone numbers or "
                "account names); replaced by keyed pseudonyms (originals only in the private "
                "customer_pii table)"
            )
        if pii_cols and not spec.private:
            kinds = ", ".join(c.removeprefix(PII_PREFIX) for c in pii_cols)
            warnings.append(
                f"{name}: personal columns ({kinds}) stored only in the private customer_pii table"
            )
    if pii_tables:
        latest = ", ".join(
            f"arg_max({c}, {ROW}) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in (*PII_FIELDS, "source_id")
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE stage_customer_pii_all AS SELECT customer_id, {latest} "
            f"FROM ({' UNION ALL BY NAME '.join(f'SELECT * FROM {t}' for t in pii_tables)}) "
            "GROUP BY customer_id"
        )
        for temp in pii_tables:
            con.execute(f"DROP TABLE {temp}")
        plan.stages["customer_pii"] = "stage_customer_pii_all"
    return warnings
