"""The 两库 item rules over every fee line of a batch at once, in columns (issue 12 §5, issue 14).

``ItemLibrary.check`` walks one bill line by line. Here the same rows are joined onto all the lines
of a batch: each line to the rows that cover its code (or, failing that, its first 15 characters,
as the per-claim check does), each stay's facts by visit id, and each family's breach is found with
group and window operations over (stay, row):

- age, sex, visit type, insurance type, institution level: the stay's fact against the row's value;
- ``frequency``: quantities summed per stay, row and hour / day / visit, above the row's limit;
- ``cycle``: more dated charges of the row in the stay than its limit (the window is then walked);
- ``course``: a charge ``limit`` days or more after the row's first charge in the stay;
- ``duplicate_charge``: included lines joined to the stay's main-item lines within the row's window;
- ``discount_group``: two different codes of one surgical group on one day.

Only the (stay, row) pairs found there become findings, built from their lines by the code the
per-claim check uses (``covered_findings``), so both paths give the same findings: row, lines,
amount and evidence. Quantities and money travel as their exact text and become Decimal only for
the lines of a finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from weakref import WeakKeyDictionary

import polars as pl

from casemix.audit.item_rules import (
    LEVELS,
    ClaimFacts,
    ItemFinding,
    ItemLibrary,
    ItemRule,
    age_limits,
    covered_findings,
)
from casemix.policy import AuditPolicy
from casemix.records.fees import FeeLine

LINE_SCHEMA = {"visit_id": pl.Utf8, "line_id": pl.Utf8, "code": pl.Utf8, "item_name": pl.Utf8,
               "time": pl.Datetime("us"), "quantity": pl.Utf8, "amount": pl.Utf8, "price": pl.Utf8}
"""One row per fee line, in bill order within each stay: ``code`` is the national code, else the
insurance list code (``FeeLine.code``); quantity, amount and price are the exact decimal text."""

FACT_SCHEMA = {"visit_id": pl.Utf8, "sex": pl.Int64, "age": pl.Int64, "age_days": pl.Int64, "setting": pl.Utf8,
               "insurance": pl.Utf8, "hospital_level": pl.Utf8}
"""One row per stay: the ``ClaimFacts`` the item rules read."""

FACT_FAMILIES = ("age", "sex", "visit_type", "insurance_type", "institution_level")


def fee_frame(lines: Iterable[FeeLine]) -> pl.DataFrame:
    """Fee lines as a ``LINE_SCHEMA`` frame, in the order given."""
    rows = [(x.visit_id, x.line_id, x.code, x.item_name, x.time, str(x.quantity), str(x.amount),
             None if x.price is None else str(x.price)) for x in lines]
    return pl.DataFrame(rows, schema=LINE_SCHEMA, orient="row")


def facts_frame(facts: Mapping[str, ClaimFacts]) -> pl.DataFrame:
    """Each stay's facts by visit id as a ``FACT_SCHEMA`` frame."""
    rows = [(visit, f.sex, f.age, f.age_days, f.setting, f.insurance, f.hospital_level) for visit, f in facts.items()]
    return pl.DataFrame(rows, schema=FACT_SCHEMA, orient="row")


def check_batch(library: ItemLibrary, lines: pl.DataFrame, facts: pl.DataFrame,
                policy: AuditPolicy) -> dict[str, list[ItemFinding]]:
    """Every 两库 finding of every stay in ``lines`` (``LINE_SCHEMA``) with its ``facts`` (``FACT_SCHEMA``;
    a stay without a row has no facts known), by visit id in the order stays first appear; each stay's
    findings are exactly those ``library.check`` gives for its lines, in the same order."""
    lines = lines.select(LINE_SCHEMA.keys()).with_row_index("n")
    covered, mains = _covered_and_mains(library, lines)
    pairs = pl.concat([_fact_breaches(covered, facts, policy), _frequency_breaches(covered),
                       _cycle_and_course_breaches(covered), _duplicate_breaches(library, covered, mains),
                       _discount_breaches(covered)]).unique()
    return _findings(library, lines, covered, mains, pairs, facts, policy)


# ---- joining lines to the rows that cover them ----------------------------------------------------

_TABLES: WeakKeyDictionary[ItemLibrary, tuple[pl.DataFrame, pl.DataFrame]] = WeakKeyDictionary()


def _tables(library: ItemLibrary) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The library's rows as (code → row) and (duplicate row → main code) tables, made once per library."""
    if library not in _TABLES:
        _TABLES[library] = (_rule_codes(library), _rule_mains(library))
    return _TABLES[library]


def _rule_codes(library: ItemLibrary) -> pl.DataFrame:
    rows = [(code, number, rule.family, rule.value, rule.limit, rule.hours)
            for number, rule in enumerate(library.rules) for code in rule.codes]
    return pl.DataFrame(rows, schema={"key": pl.Utf8, "rule": pl.Int64, "family": pl.Utf8, "value": pl.Utf8,
                                      "limit": pl.Int64, "hours": pl.Int64}, orient="row")


def _covered_and_mains(library: ItemLibrary, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(line, row) for every row covering a line: by the whole code where some row has it, else by 15
    characters; and the lines that are some duplicate row's main item, keyed as the per-claim check keys
    them. Both worked out once per distinct code, then joined back to the lines in one pass."""
    rules = _tables(library)[0]
    main_codes = pl.Series(sorted(library.main_codes), dtype=pl.Utf8).implode()
    code = pl.col("code").str.to_uppercase()
    short = code.str.slice(0, 15)
    keyed = lines.select(pl.col("code").drop_nulls().unique()).with_columns(
        pl.when(code.is_in(rules["key"].unique().implode())).then(code).otherwise(short).alias("key"),
        pl.when(code.is_in(main_codes)).then(code).when(short.is_in(main_codes)).then(short).alias("main"))
    keyed = keyed.filter(pl.col("key").is_in(rules["key"].implode()) | pl.col("main").is_not_null())
    known = lines.select("n", "visit_id", "code", "time", "quantity").join(keyed, on="code")
    covered = known.join(rules, on="key").with_columns(pl.col("time").dt.date().alias("day")).drop("main")
    mains = known.filter(pl.col("main").is_not_null()).select("n", "visit_id", "code", "time", "main")
    return covered, mains


# ---- the breaches, one family at a time: (visit_id, rule) ------------------------------------------

def _fact_breaches(covered: pl.DataFrame, facts: pl.DataFrame, policy: AuditPolicy) -> pl.DataFrame:
    limits = age_limits(policy)
    value = pl.col("value")
    oldest = value.replace_strict({k: most for k, (_, most) in limits.items()}, default=None, return_dtype=pl.Int64)
    age = pl.when(value == "新生儿").then(pl.coalesce("age_days", pl.when(pl.col("age") >= 1)
                                                     .then(pl.col("age") * 365))).otherwise(pl.col("age"))
    wanted_sex = value.replace_strict({"男": 1, "女": 2}, default=None, return_dtype=pl.Int64)
    needed = value.replace_strict(LEVELS, default=None, return_dtype=pl.Int64)
    level = pl.col("hospital_level").replace_strict(LEVELS, default=None, return_dtype=pl.Int64)
    family = pl.col("family")
    breach = (pl.when(family == "age").then(age > oldest)
              .when(family == "sex").then(pl.col("sex").is_in([1, 2]) & (pl.col("sex") != wanted_sex))
              .when(family == "visit_type").then((value == "住院") & (pl.col("setting") == "outpatient"))
              .when(family == "insurance_type").then(pl.col("insurance") != value)
              .otherwise(level < needed))
    pairs = covered.filter(family.is_in(FACT_FAMILIES)).select("visit_id", "rule", "family", "value").unique()
    return pairs.join(facts.select(FACT_SCHEMA.keys()), on="visit_id", how="left") \
        .filter(breach.fill_null(False)).select("visit_id", "rule")


def _frequency_breaches(covered: pl.DataFrame) -> pl.DataFrame:
    hours, time = pl.col("hours"), pl.col("time")
    period = (pl.when((hours == 0) | time.is_null()).then(pl.lit("visit"))
              .when(hours == 24).then(pl.col("day").cast(pl.Utf8))
              .when(hours == 1).then(time.dt.truncate("1h").cast(pl.Utf8))
              .otherwise(pl.concat_str(pl.col("day").cast(pl.Utf8), (time.dt.hour() // hours).cast(pl.Utf8))))
    counted = covered.filter(pl.col("family") == "frequency").group_by("visit_id", "rule", period.alias("period")) \
        .agg(pl.col("quantity").cast(pl.Float64).sum().alias("count"), pl.col("limit").first())
    over = pl.col("count") > pl.col("limit") + 0.00005         # quantities carry at most 4 decimals
    return counted.filter(over).select("visit_id", "rule")


def _cycle_and_course_breaches(covered: pl.DataFrame) -> pl.DataFrame:
    dated = covered.filter(pl.col("family").is_in(["cycle", "course"]) & pl.col("time").is_not_null())
    spans = dated.group_by("visit_id", "rule").agg(pl.len().alias("charges"), pl.col("family").first(),
                                                   pl.col("limit").first(),
                                                   (pl.col("day").max() - pl.col("day").min()).dt.total_days()
                                                   .alias("days"))
    over = pl.when(pl.col("family") == "cycle").then(pl.col("charges") > pl.col("limit")) \
        .otherwise(pl.col("days") >= pl.col("limit"))
    return spans.filter(over).select("visit_id", "rule")


def _rule_mains(library: ItemLibrary) -> pl.DataFrame:
    return pl.DataFrame([(number, code) for number, rule in enumerate(library.rules) for code in rule.main_codes],
                        schema={"rule": pl.Int64, "main": pl.Utf8}, orient="row")


def _duplicate_breaches(library: ItemLibrary, covered: pl.DataFrame, mains: pl.DataFrame) -> pl.DataFrame:
    rule_mains = _tables(library)[1]
    included = covered.filter(pl.col("family") == "duplicate_charge").select("visit_id", "rule", "hours", "time")
    paired = included.join(rule_mains, on="rule").join(
        mains.select("visit_id", "main", pl.col("time").alias("main_time")), on=["visit_id", "main"])
    hours, time, main_time = pl.col("hours"), pl.col("time"), pl.col("main_time")
    together = (pl.when(hours == 0).then(True)
                .when(time.is_null() | main_time.is_null()).then(False)
                .when(hours == 24).then(time.dt.date() == main_time.dt.date())
                .otherwise((time - main_time).abs() < pl.duration(hours=hours)))
    return paired.filter(together).select("visit_id", "rule")


def _discount_breaches(covered: pl.DataFrame) -> pl.DataFrame:
    members = covered.filter(pl.col("family") == "discount_group") \
        .with_columns(pl.col("day").cast(pl.Utf8).fill_null("visit").alias("period"))
    groups = members.group_by("visit_id", "value", "period").agg(pl.col("code").n_unique().alias("codes")) \
        .filter(pl.col("codes") >= 2)
    return members.join(groups, on=["visit_id", "value", "period"], how="semi").select("visit_id", "rule")


# ---- the findings of the breaching pairs, by the per-claim code -----------------------------------

def _findings(library: ItemLibrary, lines: pl.DataFrame, covered: pl.DataFrame, mains: pl.DataFrame,
              pairs: pl.DataFrame, facts: pl.DataFrame, policy: AuditPolicy) -> dict[str, list[ItemFinding]]:
    own = covered.join(pairs, on=["visit_id", "rule"], how="semi").select("n", "visit_id", "rule")
    visits = own["visit_id"].unique()
    wanted = pairs.join(_tables(library)[1], on="rule").select("visit_id", "main").unique()
    their_mains = mains.join(wanted, on=["visit_id", "main"], how="semi").select("n", "visit_id", "main")
    needed = pl.concat([own["n"], their_mains["n"]]).implode()
    fee_lines = _fee_lines(lines.filter(pl.col("n").is_in(needed)))
    covered_by: dict[str, dict[ItemRule, list[BillLine]]] = {}      # stays, and rows in each, as the bill meets them
    for visit, rule, numbers in own.sort("n", "rule").group_by("visit_id", "rule", maintain_order=True) \
            .agg("n").iter_rows():
        covered_by.setdefault(visit, {})[library.rules[rule]] = [fee_lines[n] for n in numbers]
    mains_by: dict[str, dict[str, list[BillLine]]] = {}
    for n, visit, main in their_mains.sort("n").iter_rows():
        mains_by.setdefault(visit, {}).setdefault(main, []).append(fee_lines[n])
    facts_by = {row[0]: ClaimFacts(*row[1:]) for row in
                facts.filter(pl.col("visit_id").is_in(visits.implode())).select(FACT_SCHEMA.keys()).iter_rows()}
    found = {}
    for visit, rows in covered_by.items():
        findings = covered_findings(rows, mains_by.get(visit, {}), facts_by.get(visit, ClaimFacts()), policy)
        if findings:
            found[visit] = findings
    return found


@dataclass(frozen=True, slots=True)
class BillLine:
    """A fee line rebuilt from the frame with what the item checks read (the ``FeeLine`` fields of that name)."""

    line_id: str
    item_code: str | None
    item_name: str | None
    time: datetime | None
    quantity: Decimal
    amount: Decimal
    price: Decimal | None
    insurance_code: None = None

    @property
    def code(self) -> str:
        return self.item_code or ""


def _fee_lines(rows: pl.DataFrame) -> dict[int, BillLine]:
    """The frame's rows back as lines, by row number."""
    return {n: BillLine(line_id, code or None, name, time, Decimal(quantity), Decimal(amount),
                        None if price is None else Decimal(price))
            for n, _, line_id, code, name, time, quantity, amount, price in rows.iter_rows()}
