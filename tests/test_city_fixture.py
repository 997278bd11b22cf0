"""The synthetic city for a given seed and size is fixed: the audit's measured precision and recall
(`casemix audit-precision --seed 11/12/13`) and many tests are built on it, so making the generator faster
must not move one byte. The reference files were written before that work, by the generator as it was then
(commit 29d1c72; tests/fixtures/city-before/make.py says how), not by the code under test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from casemix.datadir import resolve_data_dir
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import CITY_CHUNK, FORK_FROM_STAYS, synthetic_city, write_synthetic_city

FIXTURES = Path(__file__).parent / "fixtures" / "city-before"


@pytest.fixture(scope="module")
def sample():
    return read_cases(resolve_data_dir() / "samples" / "cases_13239_with_cost.csv")[0]


def test_the_city_written_stay_by_stay_is_the_file_written_before(sample, tmp_path):
    made = tmp_path / "city.csv"
    assert write_synthetic_city(made, sample, hospitals=12, cases=500, seed=11) == (500, 12)
    assert made.read_bytes() == (FIXTURES / "city-500-seed11.csv").read_bytes()


def test_a_city_of_many_readmissions_is_the_one_made_before(sample, tmp_path):
    """A third of the stays readmissions, so every readmission rule (planned, postoperative, staged,
    acquired, same condition; chronic conditions carried) draws from the stream."""
    made = write_cases(tmp_path / "city.csv",
                       synthetic_city(sample, hospitals=7, cases=400, seed=12, readmission_share=0.35))
    assert made.read_bytes() == (FIXTURES / "city-400-seed12-readmitted.csv").read_bytes()


def test_a_city_drawn_in_a_process_of_its_own_is_the_one_written_before(sample, tmp_path):
    """60,000 stays (over FORK_FROM_STAYS: drawn in a forked process, priced and written here, in chunks): the
    sha256 of the file `write_synthetic_city` wrote for this seed and size on commit 29d1c72, before the change."""
    assert FORK_FROM_STAYS <= 60_000 and CITY_CHUNK < 60_000
    made, told = tmp_path / "city.csv", []
    assert write_synthetic_city(made, sample, hospitals=100, cases=60_000, seed=12,
                                progress=lambda done, total: told.append((done, total))) == (60_000, 100)
    assert told[-1] == (60_000, 60_000) and [done for done, _ in told] == sorted({done for done, _ in told})
    assert hashlib.sha256(made.read_bytes()).hexdigest() == \
        "93a5525b3630dae8874084d2d0552ea4e630b82cdebd08671f9ac35514844cec"
