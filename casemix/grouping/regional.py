"""Grouping under a regional scheme read from tables: MDC → ADRG → DRG by the rows' conditions.

Order of work (``chs-drg-regional/README.md``, "How the tables are evaluated"): MDCs are tried in
the scheme's order and an MDC whose entry condition fails is skipped. Inside an MDC the ADRG
sequence is walked: at ``QY``, a case meeting the QY condition goes to the 歧义组 ``<letter>QY``; at
an entry, when its condition holds, the first split row of its ADRG that holds gives the DRG, and
when none holds the entry either yields the ADRG code itself (``on_no_drg = adrg_code``) or is
passed over (``next_adrg``). An MDC whose sequence fails falls through to the next MDC. Nothing
left is 0000, except that a scheme with ``on_ungroupable = retry_each_other_procedure`` (Zhejiang)
first regroups a case of 2+ procedures with each later procedure alone.

MCC/CC: a secondary diagnosis in the MCC (CC) table counts when its exclusion table differs from the
principal's one (``cce``); a CC test ignores MCC codes. Every step of the trace names the table row
that decided it.
"""

from __future__ import annotations

from casemix.codes import CodeBook
from casemix.grouping.engine import Grouper
from casemix.grouping.result import UNGROUPABLE, GroupResult, Step
from casemix.policy import GroupingPolicy
from casemix.records import Case
from casemix.schemes.conditions import CaseFacts
from casemix.schemes.regional import RegionalScheme

QY_NAME = "歧义病案 (QY)"


class RegionalGrouper(Grouper):
    """A :class:`Grouper` whose rules are a regional scheme's tables (``Grouper.load`` picks it by name)."""

    def __init__(self, scheme: RegionalScheme, codebook: CodeBook, policy: GroupingPolicy,  # noqa: D107
                 memo_size: int = 500_000):
        self.scheme = scheme        # type: ignore[assignment]
        self.codebook = codebook
        self.policy = policy
        self.memo_size = memo_size
        self._memo: dict[tuple, GroupResult] = {}

    def _memo_key(self, case: Case) -> tuple:
        return (case.principal_dx, case.secondary_dx, case.procedures, case.sex, case.age, case.age_days,
                case.birth_weight_g, case.los_days, case.discharge_mode, case.department)

    def _group(self, case: Case, trace: list[Step] | None) -> GroupResult:
        notes: list[str] = []
        diagnoses = self._codes("diagnosis", (case.principal_dx, *case.secondary_dx), notes)
        procedures = self._codes("procedure", case.procedures, notes)
        facts = self._facts(case, diagnoses, procedures)
        if trace is not None:
            trace.append(Step("codes", "principal diagnosis", "医保版 ICD-10 2.0", facts.pdx,
                              self.codebook.name("diagnosis", facts.pdx)))
        scheme = self.scheme
        why = self._refused(facts)
        if why:
            if trace is not None:
                trace.append(Step("mdc", UNGROUPABLE, scheme.name, facts.pdx, why))
            return GroupResult(case.id, scheme.name, "ungroupable", UNGROUPABLE, "未入组", reason=why,
                               principal_dx=facts.pdx, trace=tuple(trace or ()), notes=tuple(notes))
        found = self._walk(case, facts, trace, notes)
        if found is not None:
            return found
        if scheme.on_ungroupable == "retry_each_other_procedure" and len(procedures) > 1:   # type: ignore[attr-defined]
            for alone in procedures[1:]:
                retry: list[Step] | None = [] if trace is not None else None
                found = self._walk(case, self._facts(case, diagnoses, (alone,)), retry, notes)
                if found is not None:
                    return self._retried(found, alone, trace, retry)
        why = f"no MDC of {scheme.name} accepts principal diagnosis {facts.pdx}" + (
            f" with procedures {', '.join(procedures)}" if procedures else " without procedures")
        return GroupResult(case.id, scheme.name, "ungroupable", UNGROUPABLE, "未入组", reason=why,
                           principal_dx=facts.pdx, trace=tuple(trace or ()), notes=tuple(notes))

    def _refused(self, facts: CaseFacts) -> str:
        """Why the scheme refuses the case before any MDC (ZD_INVALID principal, 灰码), or ""."""
        scheme = self.scheme
        if facts.pdx in scheme.invalid_principal:                            # type: ignore[attr-defined]
            return f"principal diagnosis {facts.pdx} may not be principal in {scheme.name} (ZD_INVALID)"
        gray = [f"principal diagnosis {facts.pdx}"] if facts.pdx in scheme.gray_diagnoses else []  # type: ignore
        if facts.main_proc in scheme.gray_procedures:                        # type: ignore[attr-defined]
            gray.append(f"main procedure {facts.main_proc}")
        return f"gray code (灰码, not to be used on a settlement list): {' and '.join(gray)}" if gray else ""

    def _codes(self, kind: str, given: tuple[str, ...], notes: list[str]) -> tuple[str, ...]:
        """Codes resolved to 医保版 2.0; a code the dictionary lacks is kept as written (local lists may hold it)."""
        out = []
        for i, code in enumerate(given):
            field = ("principal_dx" if i == 0 else f"secondary_dx[{i - 1}]") if kind == "diagnosis" \
                else f"procedures[{i}]"
            resolved, note = self.codebook.resolve(kind, code, field, self.policy.input_coding)   # type: ignore
            if note:
                notes.append(str(note) + ("; kept as written for the scheme's own lists" if resolved is None else ""))
            out.append(resolved or code.strip())
        return tuple(out)

    def _facts(self, case: Case, diagnoses: tuple[str, ...], procedures: tuple[str, ...]) -> CaseFacts:
        scheme = self.scheme
        return CaseFacts(
            diagnoses, procedures, sex=None if case.sex is None else str(case.sex),
            age_years=case.age, age_days=case.age_days, birth_weight_g=case.birth_weight_g or None,
            los_days=case.los_days, discharge_mode=case.discharge_mode, dept=case.department, icu_hours=None,
            severity_of=self._severity_of, trauma_site=scheme.trauma_site)   # type: ignore[attr-defined]

    def _severity_of(self, facts: CaseFacts) -> tuple[bool, bool]:
        scheme = self.scheme
        own = scheme.cce.get(facts.pdx)                                    # type: ignore[attr-defined]
        has_mcc = any(scheme.mcc[d] != own for d in facts.other_dx if d in scheme.mcc)
        has_cc = any(scheme.cc[d] != own for d in facts.other_dx if d in scheme.cc)
        return has_mcc, has_cc

    def _severity_step(self, facts: CaseFacts) -> Step:
        """Which secondary diagnoses count as MCC or CC (exclusion table differs from the principal's)."""
        scheme = self.scheme
        own = scheme.cce.get(facts.pdx)                                    # type: ignore[attr-defined]
        found = [f"{d} {label} (表 {table[d]})" for label, table in (("MCC", scheme.mcc), ("CC", scheme.cc))
                 for d in sorted(facts.other_dx) if d in table and table[d] != own]
        return Step("severity", "MCC/CC", f"{scheme.name}/mcc, cc, cce", "",
                    f"{'; '.join(found)}; principal {facts.pdx} in exclusion table {own or 'none'}")

    def _walk(self, case: Case, facts: CaseFacts, trace: list[Step] | None, notes: list[str]) -> GroupResult | None:
        scheme: RegionalScheme = self.scheme      # type: ignore[assignment]
        for mdc in scheme.mdcs:
            if not mdc.entry.holds(facts):
                continue
            if trace is not None:
                trace.append(Step("mdc", mdc.mdc, str(mdc.where), facts.pdx, f"entry holds: {mdc.entry.text}"))
            for item in mdc.sequence:
                if item == "QY":
                    assert mdc.qy is not None
                    if mdc.qy.holds(facts):
                        return self._qy(case, mdc.mdc, mdc.qy.text, str(mdc.where), facts, trace, notes)
                    continue
                entry = scheme.entries[item]
                if not entry.entry.holds(facts):
                    continue
                split = next((s for s in scheme.splits.get(entry.adrg, ()) if s.condition.holds(facts)), None)
                if split is None and entry.on_no_drg == "next_adrg":
                    continue
                if trace is not None:
                    trace.append(Step("adrg", entry.adrg, str(entry.where), "",
                                      f"{entry.rule_text}: {entry.entry.text}"))
                return self._grouped(case, entry.adrg, mdc.mdc, split, facts, trace, notes)
            if trace is not None:
                trace.append(Step("mdc", mdc.mdc, str(mdc.where), "", "no ADRG of the sequence holds: next MDC"))
        return None

    def _grouped(self, case: Case, adrg: str, mdc: str, split, facts: CaseFacts, trace: list[Step] | None,
                 notes: list[str]) -> GroupResult:
        if split is None:
            drg, name = adrg, self.scheme.drg_names.get(adrg, "")
            if trace is not None:
                trace.append(Step("drg", drg, "adrg_entry.csv", "", "no split row holds: the ADRG is the group "
                                  "(on_no_drg = adrg_code)"))
        else:
            drg, name = split.drg, split.drg_name
            if trace is not None:
                trace.append(Step("drg", drg, str(split.where), "", f"first split row that holds: "
                                  f"{split.condition.text}"))
        has_mcc, has_cc = facts.severity
        if trace is not None and (has_mcc or has_cc):
            trace.insert(-1, self._severity_step(facts))
        return GroupResult(case.id, self.scheme.name, "grouped", drg, name, mdc, adrg,
                           severity="MCC" if has_mcc else "CC" if has_cc else "none", principal_dx=facts.pdx,
                           trace=tuple(trace or ()), notes=tuple(notes))

    def _qy(self, case: Case, mdc: str, condition: str, where: str, facts: CaseFacts, trace: list[Step] | None,
            notes: list[str]) -> GroupResult:
        code = f"{mdc[-1]}QY"
        detail = f"歧义组 check of {mdc} holds: {condition}"
        if trace is not None:
            trace.append(Step("adrg", code, where, facts.main_proc or "", detail))
        return GroupResult(case.id, self.scheme.name, "qy", code, self.scheme.drg_names.get(code, QY_NAME), mdc,
                           code, reason=detail, principal_dx=facts.pdx, trace=tuple(trace or ()), notes=tuple(notes))

    def _retried(self, found: GroupResult, alone: str, trace: list[Step] | None,
                 retry: list[Step] | None) -> GroupResult:
        note = f"regrouped with procedure {alone} alone (on_ungroupable = retry_each_other_procedure)"
        steps = tuple(trace or ()) + (Step("mdc", "retry", "region.toml", alone, note),) + tuple(retry or ())
        return GroupResult(found.case_id, found.scheme, found.status, found.drg, found.drg_name, found.mdc,
                           found.adrg, found.reason, found.severity, found.principal_dx, steps,
                           found.notes + (note,))
