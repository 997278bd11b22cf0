"""The declarative condition grammar of scheme tables, compiled once into predicates on a case.

Regional CHS-DRG schemes write every MDC entry, ADRG entry and DRG split as a condition
(``../shared/data/chs-drg-regional/README.md``, "Condition grammar")::

    expr  := conj (" or " conj)*        conj  := unary (" and " unary)*
    unary := "not " unary | "(" expr ")" | atom
    atom  := true | false | mcc | cc | codevar in (@list | {a,b}) | scalar (==|!=) token | numvar op number

One engine evaluates every split axis (MCC/CC, age, length of stay, discharge mode, ICU hours,
department, birth weight, literal code lists), so a new scheme brings new rows, not new code. A
comparison or ``in`` on a missing value is false; a list with no rows is empty. Nothing is ``eval``-ed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from casemix.errors import SchemeError

COLLECTIONS = frozenset({"any_dx", "other_dx", "any_proc", "other_proc"})   # in: at least one element listed
SCALARS = frozenset({"pdx", "main_proc", "sex", "discharge_mode", "dept"})    # in: the value is listed
NUMBERS = frozenset({"age_years", "age_days", "birth_weight_g", "los_days", "icu_hours", "trauma_sites"})
FLAGS = frozenset({"true", "false", "mcc", "cc"})
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
            "!=": operator.ne}
_TOKEN = re.compile(r"\s*(?:(?P<set>\{[^{}]*\})|(?P<ref>@[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)"
                    r"|(?P<op><=|>=|==|!=|<|>)|(?P<paren>[()])|(?P<num>-?\d+(?:\.\d+)?)(?![A-Za-z0-9_.])"
                    r"|(?P<word>[A-Za-z0-9_.+*\-]+))")

Predicate = Callable[["CaseFacts"], bool]


class ConditionError(SchemeError):
    """A condition that breaks the grammar; the message names the file, row and column."""


class CaseFacts:
    """What conditions read from one case. MCC, CC and trauma sites are worked out on first use.

    ``severity`` is the scheme's MCC/CC test: a callable (facts) → (has MCC, has CC);
    ``trauma_site`` maps MDCZ diagnoses to their body site.
    """

    __slots__ = ("pdx", "other_dx", "any_dx", "main_proc", "any_proc", "other_proc", "sex", "discharge_mode",
                 "dept", "age_years", "age_days", "birth_weight_g", "los_days", "icu_hours", "_severity",
                 "_severity_of", "_trauma_site", "_trauma_sites")

    def __init__(self, diagnoses: tuple[str, ...], procedures: tuple[str, ...], *, sex: str | None,
                 age_years: float | None, age_days: float | None, birth_weight_g: float | None,
                 los_days: float | None, discharge_mode: str | None, dept: str | None, icu_hours: float | None,
                 severity_of: Callable[[CaseFacts], tuple[bool, bool]],
                 trauma_site: Mapping[str, str]):
        self.pdx = diagnoses[0]
        self.other_dx = frozenset(diagnoses[1:])
        self.any_dx = frozenset(diagnoses)
        self.main_proc = procedures[0] if procedures else None
        self.any_proc = frozenset(procedures)
        self.other_proc = frozenset(procedures[1:])
        self.sex, self.discharge_mode, self.dept = sex, discharge_mode, dept
        self.age_years, self.age_days, self.birth_weight_g = age_years, age_days, birth_weight_g
        self.los_days, self.icu_hours = los_days, icu_hours
        self._severity: tuple[bool, bool] | None = None
        self._severity_of = severity_of
        self._trauma_site = trauma_site
        self._trauma_sites: int | None = None

    @property
    def severity(self) -> tuple[bool, bool]:
        """(has an MCC, has a CC) among the secondary diagnoses, after the principal's exclusions."""
        if self._severity is None:
            self._severity = self._severity_of(self)
        return self._severity

    @property
    def mcc(self) -> bool:
        return self.severity[0]

    @property
    def cc(self) -> bool:
        return self.severity[1]

    @property
    def trauma_sites(self) -> int:
        """Distinct MDCZ body sites among all diagnoses found in the MDCZ list."""
        if self._trauma_sites is None:
            self._trauma_sites = len({self._trauma_site[d] for d in self.any_dx if d in self._trauma_site})
        return self._trauma_sites


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: its text as written, the lists it names, and the compiled predicate."""

    text: str
    lists: tuple[str, ...]
    holds: Predicate


def parse_condition(text: str, lists: Callable[[str], frozenset[str]], where: str) -> Condition:
    """Compile ``text``; ``lists`` turns an ``@name`` reference into its codes; ``where`` prefixes errors.

    Raises :class:`ConditionError` naming ``where`` (file, row, column) and what could not be read.
    """
    parser = _Parser(text, lists, where)
    holds = parser.expr()
    if parser.at < len(parser.tokens):
        parser.fail(f"unexpected {parser.tokens[parser.at][1]!r}")
    return Condition(text, tuple(parser.named), holds)


class _Parser:
    def __init__(self, text: str, lists: Callable[[str], frozenset[str]], where: str):
        self.text, self.lists, self.where = text.strip(), lists, where
        self.named: list[str] = []
        self.tokens = self._tokens()
        self.at = 0

    def fail(self, what: str) -> None:
        raise ConditionError(f"{self.where}: {what} in {self.text!r}")

    def _tokens(self) -> list[tuple[str, str]]:
        out, at = [], 0
        while at < len(self.text):
            match = _TOKEN.match(self.text, at)
            if not match or match.end() == at:
                self.fail(f"cannot read character {at + 1}")
            assert match is not None and match.lastgroup is not None
            out.append((match.lastgroup, match[match.lastgroup]))
            at = match.end()
            while at < len(self.text) and self.text[at] == " ":
                at += 1
        if not out:
            self.fail("empty condition")
        return out

    def peek(self, value: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at][1] == value

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            self.fail("condition ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def expr(self) -> Predicate:
        items = [self.conj()]
        while self.peek("or"):
            self.at += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else (lambda f, items=tuple(items): any(p(f) for p in items))

    def conj(self) -> Predicate:
        items = [self.unary()]
        while self.peek("and"):
            self.at += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else (lambda f, items=tuple(items): all(p(f) for p in items))

    def unary(self) -> Predicate:
        if self.peek("not"):
            self.at += 1
            inner = self.unary()
            return lambda f: not inner(f)
        if self.peek("("):
            self.at += 1
            inner = self.expr()
            if not self.peek(")"):
                self.fail("missing ')'")
            self.at += 1
            return inner
        return self.atom()

    def atom(self) -> Predicate:
        kind, word = self.take()
        if kind != "word":
            self.fail(f"unexpected {word!r}")
        if word in FLAGS:
            return {"true": lambda f: True, "false": lambda f: False,
                    "mcc": lambda f: f.mcc, "cc": lambda f: f.cc}[word]
        get = operator.attrgetter(word)
        if word in COLLECTIONS or word in SCALARS:
            if self.peek("in"):
                self.at += 1
                codes = self._codes()
                if word in COLLECTIONS:
                    return lambda f: not codes.isdisjoint(get(f))
                return lambda f: get(f) in codes
            if word in SCALARS and (self.peek("==") or self.peek("!=")):
                compare = _COMPARE[self.take()[1]]
                kind, value = self.take()
                if kind not in ("word", "num"):
                    self.fail(f"{word} compared with {value!r}")
                return lambda f: get(f) is not None and compare(get(f), value)
            self.fail(f"{word} needs 'in'" + (" or a comparison" if word in SCALARS else ""))
        if word in NUMBERS:
            kind, op = self.take()
            if kind != "op":
                self.fail(f"{word} needs a comparison, not {op!r}")
            kind, number = self.take()
            if kind != "num":
                self.fail(f"{word} {op} needs a number, not {number!r}")
            compare, limit = _COMPARE[op], float(number)
            return lambda f: get(f) is not None and compare(get(f), limit)
        self.fail(f"unknown name {word!r}")
        raise AssertionError  # fail() raises

    def _codes(self) -> frozenset[str]:
        kind, value = self.take()
        if kind == "ref":
            self.named.append(value[1:])
            return self.lists(value[1:])
        if kind == "set":
            codes = frozenset(v.strip() for v in value[1:-1].split(",") if v.strip())
            if not codes:
                self.fail("empty {} set")
            return codes
        self.fail(f"expected @list or {{a,b}} after 'in', not {value!r}")
        raise AssertionError
