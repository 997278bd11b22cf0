"""The CHS-DRG grouper: codes → MDC → ADRG → DRG, each step with the table and code that decided it.

Order of work (DOMAIN.md §1.3–1.6): resolve codes to 医保版 2.0; refuse principal diagnoses the
scheme lists as invalid; try pre-MDC (MDCA) by its procedure rules; then MDCP (newborn or infant
with a newborn principal diagnosis), MDCY (HIV in any diagnosis), MDCZ (principal and another
diagnosis in two different trauma sites), MDCM/MDCN (sex-checked), the rest by principal
diagnosis. Within the MDC the ADRGs are tried in the scheme's order; before the first medical
ADRG, a case still carrying an operating-room procedure goes to xQY. The DRG suffix comes from
MCC/CC among the secondary diagnoses after the principal diagnosis' exclusion tables.

Where the tables leave a reading open (CC in 1/5 splits, QY, 包含全部手术, newborn entry to MDCP,
gray codes), the scheme's conventions decide (``casemix/schemes/conventions.py``: the scheme TOML's
default unless the policy overrides it), and the trace names the convention that did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from casemix.codes import CodeBook, load_codebook
from casemix.datadir import resolve_data_dir
from casemix.errors import SchemeError
from casemix.grouping.result import UNGROUPABLE, GroupResult, Step
from casemix.policy import GroupingPolicy, load_policy
from casemix.records import Case, Rejection
from casemix.schemes import SCHEMES, Adrg, CodeList, Role, Scheme, load_scheme
from casemix.schemes.chs_drg import MEDICAL
from casemix.schemes.chs_drg_30 import NAME as CHS_DRG_30
from casemix.schemes.chs_drg_30 import load_chs_drg_30
from casemix.schemes.conventions import resolve as resolve_conventions
from casemix.schemes.regional import REGIONAL_FOLDER, find_regional, load_regional, regional_names

QY_NAME = "与主要诊断无关的手术 (QY)"


@dataclass(frozen=True, slots=True)
class _Facts:
    """The resolved codes and demographics the rules look at."""

    pdx: str
    other_dx: frozenset[str]
    all_dx: frozenset[str]
    procedures: tuple[str, ...]
    main_procs: frozenset[str]
    all_procs: frozenset[str]
    or_procs: tuple[str, ...]
    sex: int | None
    age_days: int | None
    birth_weight_g: float | None


class Grouper:
    """Groups cases under one scheme, one code book and one policy.

    Unexplained results are memoised on what grouping reads (codes as given, sex, age band, birth
    weight for newborns): a city's year repeats the same simple cases thousands of times.
    """

    def __init__(self, scheme: Scheme, codebook: CodeBook, policy: GroupingPolicy, memo_size: int = 500_000):
        self.scheme = scheme
        self.codebook = codebook
        self.policy = policy
        self.memo_size = memo_size      # 0 turns memoisation off
        self._memo: dict[tuple, GroupResult] = {}
        self._extensions: dict[str, list[str]] | None = None
        self._by_stem: dict[str, list[str]] | None = None
        self._mdcy = _mdc_codes(scheme, "MDCY")
        self.conventions = resolve_conventions(scheme.name, scheme.conventions, policy)
        self._candidates = {mdc: _CandidateIndex(adrgs) for mdc, adrgs in scheme.adrgs_by_mdc.items()}

    @classmethod
    def load(cls, scheme: str = "chs-drg-2.0", data_dir: str | Path | None = None,
             policy: str | Path | GroupingPolicy | None = None) -> Grouper:
        """A grouper for ``scheme``: a national scheme (``chs-drg-2.0``, ``chs-drg-1.1``, the ``chs-drg-3.0``
        preview), a regional scheme of ``<data>/chs-drg-regional`` by name (``zhejiang_2022``), or a scheme
        folder in that layout.

        Raises ``SchemeError`` for an unknown name or a folder that breaks the layout (file, line, column).
        """
        root = resolve_data_dir(data_dir)
        grouping = policy if isinstance(policy, GroupingPolicy) else load_policy(policy).grouping
        if scheme == CHS_DRG_30:
            from casemix.grouping.regional import RegionalGrouper  # it subclasses Grouper

            return RegionalGrouper(load_chs_drg_30(root), load_codebook(root), grouping)
        if scheme not in SCHEMES:
            folder = find_regional(scheme, root)
            if folder is None:
                raise SchemeError(f"unknown scheme {scheme!r}: choose one of {', '.join(SCHEMES)}, {CHS_DRG_30}, "
                                  "a region of "
                                  f"{root / REGIONAL_FOLDER} ({', '.join(regional_names(root))}) or a scheme folder")
            from casemix.grouping.regional import RegionalGrouper  # it subclasses Grouper

            name = scheme if folder.parent == root / REGIONAL_FOLDER else None
            return RegionalGrouper(load_regional(folder, name), load_codebook(root), grouping)
        return cls(load_scheme(scheme, root), load_codebook(root), grouping)

    # ---- public API -------------------------------------------------------------------------

    def group(self, case: Case | Rejection, explain: bool = True) -> GroupResult:
        """Group one case. ``explain=False`` skips the trace (batch speed); regroup to explain."""
        if isinstance(case, Rejection):
            return GroupResult(case.record_id or f"row{case.row_number}", self.scheme.name, "rejected",
                               reason=str(case))
        if explain:
            return self._group(case, [])
        if not self.memo_size:
            return self._group(case, None)
        key = self._memo_key(case)
        known = self._memo.get(key)
        if known is None:
            if len(self._memo) >= self.memo_size:
                self._memo.clear()
            known = self._memo[key] = self._group(case, None)
        if known.case_id == case.id:
            return known
        return GroupResult(case.id, known.scheme, known.status, known.drg, known.drg_name, known.mdc, known.adrg,
                           known.reason, known.severity, known.principal_dx, known.trace, known.notes)

    def _memo_key(self, case: Case) -> tuple:
        age_days = case.age_in_days
        if age_days is None:
            band = "unknown0" if case.age == 0 else "unknown"
        elif age_days <= self.policy.newborn_max_age_days:
            band = "newborn"
        elif age_days <= self.policy.infant_max_age_days:
            band = "infant"
        else:
            band = "older"
        weight = case.birth_weight_g if band == "newborn" else None
        return case.principal_dx, case.secondary_dx, case.procedures, case.sex, band, weight

    def _group(self, case: Case, trace: list[Step] | None) -> GroupResult:
        notes: list[str] = []
        facts = self._facts(case, trace, notes)
        if facts is None:
            return self._ungroupable(case, trace, notes, f"principal diagnosis {case.principal_dx!r} is not "
                                     "a 医保版 2.0 code and has no crosswalk entry", pdx="")
        if facts.pdx in self.scheme.invalid_principal:
            if trace is not None:
                trace.append(Step("mdc", UNGROUPABLE, self._table("zd_invalid.csv"), facts.pdx,
                                  "listed as not allowed as principal diagnosis"))
            return self._ungroupable(case, trace, notes, f"principal diagnosis {facts.pdx} "
                                     f"({self.codebook.name('diagnosis', facts.pdx)}) may not be principal "
                                     "in this scheme (ZD_INVALID)", facts.pdx)
        gray = self._gray(facts, trace, notes)
        if gray and self.conventions.gray_codes == "refuse":
            return self._ungroupable(case, trace, notes, gray, facts.pdx)
        adrg = self._pre_mdc(facts, trace)
        if adrg is None:
            mdc, why = self._mdc(facts, trace)
            if mdc is None:
                return self._ungroupable(case, trace, notes, why, facts.pdx)
            adrg, why = self._adrg(mdc, facts, trace)
            if adrg is None:
                return self._ungroupable(case, trace, notes, why, facts.pdx, mdc=mdc)
            if adrg == "QY":
                return self._qy(case, mdc, facts, trace, notes)
        return self._split(case, adrg, facts, trace, notes)

    # ---- codes ------------------------------------------------------------------------------

    def _facts(self, case: Case, trace: list[Step] | None, notes: list[str]) -> _Facts | None:
        mode = self.policy.input_coding
        resolve = self.codebook.resolve
        pdx, note = resolve("diagnosis", case.principal_dx, "principal_dx", mode)
        if note:
            notes.append(str(note))
        if pdx is None:
            return None
        others: list[str] = []
        for i, given in enumerate(case.secondary_dx):
            code, note = resolve("diagnosis", given, f"secondary_dx[{i}]", mode)
            if note:
                notes.append(str(note))
            if code is not None and code != pdx and code not in others:
                others.append(code)
        procedures: list[str] = []
        for i, given in enumerate(case.procedures):
            code, note = resolve("procedure", given, f"procedures[{i}]", mode)
            if note:
                notes.append(str(note))
            if code is not None and code not in procedures:
                procedures.append(code)
        if self.policy.main_procedure == "any":
            main = frozenset(procedures)
        else:
            main = frozenset(procedures[:1])
        age_days = case.age_in_days
        if case.age == 0 and case.age_days is None:
            notes.append("age_days: required when age is 0; newborn rules not applied")
        if age_days is not None and age_days <= self.policy.newborn_max_age_days and case.birth_weight_g is None:
            notes.append("birth_weight_g: missing for a newborn; birth-weight ADRGs cannot be assessed")
        if trace is not None:
            trace.append(Step("codes", "principal diagnosis", "医保版 ICD-10 2.0", pdx,
                              self.codebook.name("diagnosis", pdx)))
            for code in procedures:
                if code in self.scheme.not_or:
                    trace.append(Step("codes", "not an OR procedure", "schemes/or_exceptions.csv", code,
                                      self.scheme.not_or[code]))
        return _Facts(
            pdx=pdx, other_dx=frozenset(others), all_dx=frozenset(others) | {pdx},
            procedures=tuple(procedures), main_procs=main, all_procs=frozenset(procedures),
            or_procs=tuple(p for p in procedures if p in self.scheme.or_procedures),
            sex=case.sex, age_days=age_days, birth_weight_g=case.birth_weight_g,
        )

    def _gray(self, facts: _Facts, trace: list[Step] | None, notes: list[str]) -> str:
        """A 灰码 principal diagnosis or main procedure, described; "" when there is none (issue 17 1g)."""
        scheme = self.scheme
        found: list[tuple[str, str]] = []
        if facts.pdx in scheme.gray_diagnoses:
            found.append((facts.pdx, f"principal diagnosis {facts.pdx}{self._hint(facts.pdx)}"))
        main = facts.procedures[0] if facts.procedures else ""
        if main in scheme.gray_procedures:
            found.append((main, f"main procedure {main}{self._procedure_hint(main)}"))
        if not found:
            return ""
        text = (f"gray code (灰码, not to be used on a settlement list): {' and '.join(t for _, t in found)} "
                f"({self.conventions.why('gray_codes')})")
        if trace is not None:
            trace.append(Step("codes", "gray code", "icd/yb2.0_gray_*.csv", found[0][0], text))
        if self.conventions.gray_codes == "note":
            notes.append(text)
        return text

    # ---- MDC --------------------------------------------------------------------------------

    def _pre_mdc(self, facts: _Facts, trace: list[Step] | None) -> Adrg | None:
        if not facts.procedures:        # every pre-MDC rule needs a procedure
            return None
        for adrg in self._candidates["MDCA"].adrgs_for(facts):
            if self._enters(adrg, facts):
                if trace is not None:
                    trace.append(Step("mdc", "MDCA", self._table("adrg_codes.csv"), adrg.code,
                                      f"pre-MDC: entry rule of {adrg.code} {adrg.name} holds"))
                    trace.append(self._adrg_step(adrg, facts))
                return adrg
        return None

    def _mdc(self, facts: _Facts, trace: list[Step] | None) -> tuple[str | None, str]:
        scheme, policy = self.scheme, self.policy
        candidates = scheme.dx_mdcs.get(facts.pdx, ())
        table = self._table("mdc_principal_dx.csv")
        refused: list[str] = []
        newborn_code = self._newborn_list_code(facts)
        if newborn_code:
            if trace is not None:
                trace.append(Step("mdc", "MDCP", self._table("adrg_codes.csv"), newborn_code,
                                  f"newborn ({facts.age_days} days) with {newborn_code} in an MDCP 主要诊断或其他诊断 "
                                  f"list; {self.conventions.why('newborn_mdcp_entry')}"))
            return "MDCP", ""
        if "MDCP" in candidates:
            if facts.age_days is not None and facts.age_days <= policy.infant_max_age_days:
                if trace is not None:
                    trace.append(Step("mdc", "MDCP", table, facts.pdx,
                                      f"newborn-list principal diagnosis, age {facts.age_days} days"))
                return "MDCP", ""
            refused.append(f"MDCP needs age ≤ {policy.infant_max_age_days} days, "
                           f"{'age in days is unknown' if facts.age_days is None else 'the patient is older'}")
        hiv = self._mdcy & facts.all_dx
        if hiv:
            code = facts.pdx if facts.pdx in hiv else min(hiv)
            if trace is not None:
                trace.append(Step("mdc", "MDCY", table, code, "HIV diagnosis (principal or other)"))
            return "MDCY", ""
        for mdc in candidates:
            if mdc == "MDCP":
                continue
            if mdc == "MDCZ":
                other = self._second_trauma_site(facts)
                if other:
                    if trace is not None:
                        trace.append(Step("mdc", "MDCZ", table, facts.pdx, f"trauma in ≥2 body sites: "
                                          f"principal in {other[0]}, {other[1]} in {other[2]}"))
                    return "MDCZ", ""
                continue
            if (mdc == "MDCM" and facts.sex != 1) or (mdc == "MDCN" and facts.sex != 2):
                refused.append(f"{mdc} needs sex {'1 (male)' if mdc == 'MDCM' else '2 (female)'}, "
                               f"case has {facts.sex}")
                continue
            if trace is not None:
                added = scheme.added_principal_dx.get(facts.pdx)
                why = f" (added by the scheme TOML: {added[1]})" if added and added[0] == mdc else ""
                trace.append(Step("mdc", mdc, table, facts.pdx, f"principal diagnosis in the {mdc} list{why}"))
            return mdc, ""
        if refused:
            return None, f"principal diagnosis {facts.pdx}: " + "; ".join(refused)
        return None, f"principal diagnosis {facts.pdx} is in no MDC principal-diagnosis list" + self._hint(facts.pdx)

    def _newborn_list_code(self, facts: _Facts) -> str:
        """Under newborn_mdcp_entry = any-mdcp-list: a newborn's diagnosis listed by an MDCP ADRG as
        主要诊断或其他诊断 (2.0 PS1–PS4: P07), principal first; "" otherwise (issue 17 1f)."""
        if self.conventions.newborn_mdcp_entry != "any-mdcp-list" or facts.age_days is None \
                or facts.age_days > self.policy.newborn_max_age_days:
            return ""
        listed = self.scheme.mdcp_any_dx
        if facts.pdx in listed:
            return facts.pdx
        return next((code for code in sorted(facts.other_dx) if code in listed), "")

    def _procedure_hint(self, code: str) -> str:
        """Dictionary codes of the same subcategory that are not gray (74.1x00 → 74.1x01 …)."""
        if self._by_stem is None:
            by_stem: dict[str, list[str]] = {}
            for known in sorted(self.codebook.names["procedure"]):
                if known not in self.scheme.gray_procedures:
                    by_stem.setdefault(known[:5], []).append(known)
            self._by_stem = by_stem
        found = [c for c in self._by_stem.get(code[:5], ()) if c != code]
        return f"; codes to use instead: {', '.join(found[:3])}{' …' if len(found) > 3 else ''}" if found else ""

    def _hint(self, code: str) -> str:
        """Name the extension codes a coder could have meant (J96.900 → J96.900x001 …)."""
        if self._extensions is None:
            extensions: dict[str, list[str]] = {}
            for listed in self.scheme.dx_mdcs:
                if len(listed) > 7 and listed[7] == "x":       # A00.000x001: base A00.000
                    extensions.setdefault(listed[:7], []).append(listed)
            self._extensions = {base: sorted(codes) for base, codes in extensions.items()}
        found = self._extensions.get(code)
        if not found:
            return ""
        return f"; listed extension codes: {', '.join(found[:3])}{' …' if len(found) > 3 else ''}"

    def _second_trauma_site(self, facts: _Facts) -> tuple[str, str, str] | None:
        """(principal's site, other trauma dx, its site) for two different body sites, else None."""
        sites = self.scheme.trauma_sites
        principal_sites = sites.get(facts.pdx, frozenset())
        for code in sorted(facts.other_dx):
            for site in sorted(sites.get(code, ())):
                elsewhere = principal_sites - {site}
                if elsewhere:
                    return min(elsewhere), code, site
        return None

    # ---- ADRG -------------------------------------------------------------------------------

    def _adrg(self, mdc: str, facts: _Facts, trace: list[Step] | None) -> tuple[Adrg | str | None, str]:
        checked_qy = False
        for adrg in self._candidates[mdc].adrgs_for(facts):
            if adrg.partition == MEDICAL and not checked_qy:
                checked_qy = True
                if self._unrelated_or_procedure(mdc, facts, trace):
                    return "QY", ""
                facts = replace(facts, or_procs=())     # ignored from here on (policy "medical")
            if self._enters(adrg, facts):
                if trace is not None:
                    trace.append(self._adrg_step(adrg, facts))
                return adrg, ""
        if not checked_qy and self._unrelated_or_procedure(mdc, facts, trace):
            return "QY", ""
        return None, f"no ADRG of {mdc} accepts principal diagnosis {facts.pdx}" + (
            f" with procedures {', '.join(facts.procedures)}" if facts.procedures else " without procedures")

    def _unrelated_or_procedure(self, mdc: str, facts: _Facts, trace: list[Step] | None) -> bool:
        """True when the case must leave the MDC's ADRGs as QY (or 0000) for an unrelated OR procedure."""
        if not facts.or_procs:
            return False
        if self.conventions.unrelated_or_procedure == "medical":
            if trace is not None:
                trace.append(Step("adrg", "medical", "convention", facts.or_procs[0],
                                  "operating-room procedure enters no surgical ADRG; ignored: "
                                  + self.conventions.why("unrelated_or_procedure")))
            return False
        return True

    def _enters(self, adrg: Adrg, facts: _Facts) -> bool:
        if adrg.age is not None and not self._age_fits(adrg.age, facts.age_days):
            return False
        if adrg.birth_weight_g is not None:
            low, high = adrg.birth_weight_g
            if facts.birth_weight_g is None or not low <= facts.birth_weight_g < high:
                return False
        rule = adrg.rule
        if rule.needs_or_procedure and not self._all_procedures_code(facts):
            return False
        if rule.needs_no_or_procedure and self._has_listed_procedure(facts):
            return False
        if not rule.alternatives:
            return True
        return any(all(any(_hit(code_list, facts) for code_list in term) for term in alternative)
                   for alternative in rule.alternatives)

    def _all_procedures_code(self, facts: _Facts) -> str:
        """The procedure that satisfies "包含全部手术(或操作)" under all_procedures_entry (issue 17 1b), or ""."""
        how = self.conventions.all_procedures_entry
        if how == "or-procedures":
            return facts.or_procs[0] if facts.or_procs else ""
        mains = [p for p in facts.procedures if p in facts.main_procs]
        if how == "listed":
            return next((p for p in mains if p in self.scheme.all_procedures_list), "")
        return next((p for p in mains if p not in self.scheme.invalid_main_procedure), "")

    def _has_listed_procedure(self, facts: _Facts) -> bool:
        """For "且无手术": any procedure in the scheme's list ("listed"), else any OR procedure."""
        if self.conventions.all_procedures_entry == "listed":
            return not self.scheme.all_procedures_list.isdisjoint(facts.all_procs)
        return bool(facts.or_procs)

    def _age_fits(self, band: str, age_days: int | None) -> bool:
        if age_days is None:
            return False
        if band == "newborn":
            return age_days <= self.policy.newborn_max_age_days
        return self.policy.newborn_max_age_days < age_days <= self.policy.infant_max_age_days

    def _adrg_step(self, adrg: Adrg, facts: _Facts) -> Step:
        evidence = _evidence(adrg, facts)
        extra = []
        if adrg.age:
            extra.append(f"age {facts.age_days} days fits {adrg.age}")
        if adrg.birth_weight_g:
            extra.append(f"birth weight {facts.birth_weight_g:g} g in [{adrg.birth_weight_g[0]:g}, "
                         f"{adrg.birth_weight_g[1]:g})")
        if adrg.rule.needs_or_procedure:
            extra.append(f"procedure {self._all_procedures_code(facts)} (包含全部手术或操作; "
                         f"{self.conventions.why('all_procedures_entry')})")
        if adrg.rule.needs_no_or_procedure:
            extra.append(f"no listed procedure (且无手术; {self.conventions.why('all_procedures_entry')})")
        detail = "; ".join([f"{role} {code} ∈ {name}" for role, code, name in evidence] + extra)
        return Step("adrg", adrg.code, self._table("adrg_codes.csv"),
                    evidence[0][1] if evidence else "", f"{adrg.name}: {detail}")

    # ---- DRG --------------------------------------------------------------------------------

    def _split(self, case: Case, adrg: Adrg, facts: _Facts, trace: list[Step] | None, notes: list[str]) -> GroupResult:
        has_mcc, has_cc = self._severity(facts, trace)
        suffixes = adrg.suffixes
        if suffixes == {"9"}:
            suffix, why = "9", "not split (9)"
        elif "1" in suffixes and has_mcc:
            suffix, why = "1", "with MCC (1)"
        elif "1" in suffixes and "3" not in suffixes and has_cc:
            counts = self.conventions.cc_counts_for_suffix_1
            suffix = "1" if counts else "5"
            why = (f"{'CC counts for suffix 1' if counts else 'CC only, x5'} in a 1/5 split "
                   f"({self.conventions.why('cc_counts_for_suffix_1')})")
        elif "3" in suffixes and (has_mcc or has_cc):
            suffix, why = "3", "with CC (3)" if has_cc and not has_mcc else "with MCC, split 3/5 (3)"
        else:
            suffix, why = "5", "without (5)"
        drg, name = adrg.drgs[suffix]
        if trace is not None:
            trace.append(Step("drg", drg, self._table("drg_list.csv"), "",
                              f"{adrg.code} splits {'/'.join(sorted(suffixes))}: {why}"))
        severity = "MCC" if has_mcc else "CC" if has_cc else "none"
        return GroupResult(case.id, self.scheme.name, "grouped", drg, name, adrg.mdc, adrg.code,
                           severity=severity, principal_dx=facts.pdx, trace=tuple(trace or ()), notes=tuple(notes))

    def _severity(self, facts: _Facts, trace: list[Step] | None) -> tuple[bool, bool]:
        scheme = self.scheme
        has_mcc = has_cc = False
        for code in sorted(facts.other_dx):
            for label, table in (("MCC", scheme.mcc), ("CC", scheme.cc)):
                exclusion = table.get(code)
                if exclusion is None:
                    continue
                source = f"{scheme.severity_tables}/{label.lower()}.csv"
                if facts.pdx in scheme.exclusions.get(exclusion, ()):
                    if trace is not None:
                        trace.append(Step("severity", f"{label} excluded", source, code,
                                          f"principal {facts.pdx} is in exclusion table 表7-{exclusion}"))
                else:
                    if trace is not None:
                        trace.append(Step("severity", label, source, code,
                                          f"{self.codebook.name('diagnosis', code)} (exclusion table 表7-{exclusion} "
                                          "does not hold the principal)"))
                    has_mcc = has_mcc or label == "MCC"
                    has_cc = has_cc or label == "CC"
                break
        return has_mcc, has_cc

    # ---- endings ----------------------------------------------------------------------------

    def _qy(self, case: Case, mdc: str, facts: _Facts, trace: list[Step] | None, notes: list[str]) -> GroupResult:
        detail = (f"operating-room procedure(s) {', '.join(facts.or_procs)} enter no surgical ADRG of {mdc} "
                  f"(OR list: {self.scheme.or_procedures_source})") + self._as_main_hint(mdc, facts)
        code = f"{mdc[-1]}QY"
        if self.conventions.unrelated_or_procedure == "ungroupable":
            if trace is not None:
                trace.append(Step("adrg", UNGROUPABLE, "convention", facts.or_procs[0],
                                  detail + "; " + self.conventions.why("unrelated_or_procedure")))
            return self._ungroupable(case, trace, notes, detail, facts.pdx, mdc=mdc)
        if trace is not None:
            trace.append(Step("adrg", code, self._table("adrg_codes.csv"), facts.or_procs[0],
                              detail + "; " + self.conventions.why("unrelated_or_procedure")))
        return GroupResult(case.id, self.scheme.name, "qy", code, QY_NAME, mdc, code, reason=detail,
                           principal_dx=facts.pdx, trace=tuple(trace or ()), notes=tuple(notes))

    def _as_main_hint(self, mdc: str, facts: _Facts) -> str:
        """When an OR procedure listed after the main one would enter a surgical ADRG as main, say so."""
        if self.policy.main_procedure == "any" or len(facts.procedures) < 2:
            return ""
        as_main = replace(facts, main_procs=frozenset(facts.or_procs))
        for adrg in self._candidates[mdc].adrgs_for(as_main):
            if adrg.partition != MEDICAL and self._enters(adrg, as_main):
                return f"; listed as the main procedure, {facts.or_procs[0]} would enter {adrg.code} {adrg.name}"
        return ""

    def _ungroupable(self, case: Case, trace: list[Step] | None, notes: list[str], reason: str, pdx: str,
                     mdc: str = "") -> GroupResult:
        return GroupResult(case.id, self.scheme.name, "ungroupable", UNGROUPABLE, "未入组", mdc, "",
                           reason=reason, principal_dx=pdx, trace=tuple(trace or ()), notes=tuple(notes))

    def _table(self, file: str) -> str:
        return f"{self.scheme.name}/{file}"


class _CandidateIndex:
    """Which ADRGs of one MDC can possibly hold for a case, in check order.

    Every alternative of an entry rule needs all its terms, so each alternative needs at least one
    code of its smallest term. An ADRG whose every alternative lacks such a code cannot hold and is
    skipped; the rest are still checked in full. This turns ~20 rule checks per case into ~2.
    """

    def __init__(self, adrgs: tuple[Adrg, ...]):
        self.adrgs = adrgs
        self.always: list[int] = []
        self.by_code: dict[str, list[int]] = {}
        for position, adrg in enumerate(adrgs):
            alternatives = adrg.rule.alternatives
            if not alternatives:
                self.always.append(position)
                continue
            for alternative in alternatives:
                smallest = min(alternative, key=lambda term: sum(len(cl.codes) for cl in term))
                for code in {code for code_list in smallest for code in code_list.codes}:
                    self.by_code.setdefault(code, []).append(position)

    def adrgs_for(self, facts: _Facts) -> list[Adrg]:
        by_code = self.by_code
        positions = set(self.always)
        for code in (facts.pdx, *facts.other_dx, *facts.procedures):
            hits = by_code.get(code)
            if hits:
                positions.update(hits)
        return [self.adrgs[p] for p in sorted(positions)]


def _mdc_codes(scheme: Scheme, mdc: str) -> frozenset[str]:
    return frozenset(code for code, mdcs in scheme.dx_mdcs.items() if mdc in mdcs)


def _hit(code_list: CodeList, facts: _Facts) -> bool:
    role, codes = code_list.role, code_list.codes
    if role is Role.PRINCIPAL_DX:
        return facts.pdx in codes
    if role is Role.MAIN_PROC:
        return not codes.isdisjoint(facts.main_procs)
    if role is Role.ANY_PROC:
        return not codes.isdisjoint(facts.all_procs)
    if role is Role.OTHER_DX:
        return not codes.isdisjoint(facts.other_dx)
    return not codes.isdisjoint(facts.all_dx)


def _evidence(adrg: Adrg, facts: _Facts) -> list[tuple[str, str, str]]:
    """For the alternative that held: (role, matching code, list name) per term."""
    pools = {Role.PRINCIPAL_DX: (facts.pdx,), Role.OTHER_DX: sorted(facts.other_dx),
             Role.ANY_DX: (facts.pdx, *sorted(facts.other_dx)),
             Role.MAIN_PROC: [p for p in facts.procedures if p in facts.main_procs],
             Role.ANY_PROC: facts.procedures}
    for alternative in adrg.rule.alternatives:
        found = []
        for term in alternative:
            hit = next(((cl.role.value, code, f"{adrg.code} {cl.name}") for cl in term
                        for code in pools[cl.role] if code in cl.codes), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return []
