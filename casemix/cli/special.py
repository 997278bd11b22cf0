"""``casemix special apply|decide|list``: special-case review (特病单议) kept in the case store."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console, reported
from casemix.cli.service import DbOption, open_store
from casemix.errors import SpecialReviewError
from casemix.grouping import Grouper
from casemix.pipelines import read_grouped, read_settlement_cases
from casemix.pipelines.special import apply_for_review, decide_review, eligible_cases, grounds_text
from casemix.policy import load_policy
from casemix.settlement import SpecialReview

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="special-case review (特病单议): apply for a case, decide, list")

CasesArgument = Annotated[Path, typer.Argument(help="the year's cases, with hospital_id and costs (as for settle)")]
HistoryOption = Annotated[Path | None, typer.Option(help="cases to learn weights from (default: CASES)")]


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _grouped(cases: Path, history: Path | None, scheme: str, data: Path | None, policy: Path | None):
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    grouped = read_settlement_cases(cases, grouper).grouped
    past = None if history is None else read_grouped(history, grouper).grouped
    return grouped, past, rules, grouper


@app.command("apply")
@reported
def apply(
    cases: CasesArgument,
    hospital: Annotated[str, typer.Option(help="the applying hospital's id (定点医疗机构代码)")],
    case: Annotated[str, typer.Option(help="the case id (病案号) applied for")],
    reason: Annotated[str, typer.Option(help="why the case needs review (申请理由)")],
    by: Annotated[str, typer.Option("--by", help="who applies")],
    attachment: Annotated[list[str] | None, typer.Option(help="an attachment's name (附件), repeat for more")] = None,
    history: HistoryOption = None,
    db: DbOption = "casemix.duckdb",
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """A hospital applies for special review of one case of CASES: checked eligible, then stored."""
    grouped, past, rules, grouper = _grouped(cases, history, scheme, data, policy)
    store = open_store(db)
    try:
        stored = apply_for_review(store, grouped, rules, grouper, hospital_id=hospital, case_id=case, reason=reason,
                                  attachments=tuple(attachment or ()), applied_by=by, history=past)
    finally:
        store.close()
    _print(f"application {stored.application_id}: case {case} of {hospital} ({grounds_text(stored.grounds)}), "
           f"{len(stored.attachments)} attachments → {db}")


def _points(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number of points", param_hint="--points") from None


@app.command("decide")
@reported
def decide(
    application: Annotated[int, typer.Argument(help="the application's number")],
    verdict: Annotated[str, typer.Option(help="approve, adjust (with --points) or deny")],
    note: Annotated[str, typer.Option(help="the reason for the decision (审核意见)")],
    by: Annotated[str, typer.Option("--by", help="who decides for the bureau")],
    points: Annotated[str | None, typer.Option(help="the points the bureau sets, for adjust")] = None,
    db: DbOption = "casemix.duckdb",
) -> None:
    """The bureau decides an application: approve, adjust the points, or deny; every decision is kept."""
    store = open_store(db)
    try:
        review = decide_review(store, application, verdict, note, by, _points(points))
    finally:
        store.close()
    decision = review.decision
    _print(f"application {application} (case {review.application.case_id} of {review.application.hospital_id}): "
           f"{decision.verdict}{'' if decision.points is None else f' to {decision.points} points'} by "
           f"{decision.decided_by} at {decision.decided_at} → {db}")


@app.command("list")
@reported
def list_reviews(
    cases: Annotated[Path | None, typer.Argument(help="also list the cases of this file that may be applied for")
                     ] = None,
    hospital: Annotated[str | None, typer.Option(help="only this hospital's")] = None,
    history: HistoryOption = None,
    db: DbOption = "casemix.duckdb",
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """The stored applications with their latest decision; with CASES, first the cases eligible to apply."""
    store = open_store(db)
    try:
        reviews = store.special_reviews(hospital)
    finally:
        store.close()
    if cases is not None:
        grouped, past, rules, grouper = _grouped(cases, history, scheme, data, policy)
        found = [(line, g) for line, g in eligible_cases(grouped, rules, grouper, past)
                 if hospital in (None, line.case.hospital_id)]
        _print(f"{len(found)} cases eligible for special review (可申请特病单议):")
        for line, grounds in found:
            _print(f"  {line.case.hospital_id} {line.case.case_id} {line.case.drg} cost {line.case.cost} "
                   f"{line.kind} {line.points} points: {grounds_text(grounds)}")
    _print(f"{len(reviews)} applications (特病单议申请):")
    for review in reviews:
        a, d = review.application, review.decision
        state = "pending 待审" if d is None else (
            f"{d.verdict}{'' if d.points is None else f' {d.points} points'} by {d.decided_by} "
            f"{d.decided_at}: {d.note}")
        _print(f"  {a.application_id} {a.hospital_id} {a.case_id} [{grounds_text(a.grounds)}] {a.reason} "
               f"(attachments: {', '.join(a.attachments) or 'none'}; by {a.applied_by} {a.applied_at}) — {state}")


def stored_reviews(db: str) -> list[SpecialReview]:
    """The special-review applications and decisions kept in the store ``db`` (a DuckDB file that must exist,
    or a PostgreSQL URL)."""
    if "://" not in db and not Path(db).is_file():
        raise SpecialReviewError(f"{db}: no such store; keep applications and decisions there with casemix special")
    store = open_store(db)
    try:
        return store.special_reviews()
    finally:
        store.close()
