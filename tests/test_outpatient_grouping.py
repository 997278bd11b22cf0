"""APG grouping pinned on hand-made visits: the worked examples E1–E3 of shared/docs/OUTPATIENT.md §3.5 (their
points and expected costs are the document's, not this code's), each mechanism exercised on its own, and the
packaged starter scheme loading and grouping every line of a visit."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from casemix.errors import SchemeError
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.visits import Visit, visit_frames
from casemix.policy import OutpatientPolicy
from casemix.records.fees import FeeLine

# §3.5's table: APG, type, base points, standard cost (M = ¥200, so 100 points = ¥200 and ¥2 per pass-through point)
APG_LIST = """apg,name,name_en,type,family,base_points,standard_cost,pricing,discount_class,units
V-J-ARI,急性呼吸道感染就诊,ARI visit,visit,V,60,120,points,,line
V-K,消化系统就诊,digestive visit,visit,V,50,100,points,,line
V-L,皮肤就诊,skin visit,visit,V,45,90,points,,line
V-EMG,急诊就诊,emergency visit,visit,V,80,160,points,,line
V-OTHER,其他就诊,other visit,visit,V,50,100,points,,line
A-VISIT,诊查,consultation,incidental,A,0,0,packaged,,line
A-LAB-R,常规检验,routine lab,ancillary,A,0,0,packaged,,line
A-XR,X线,plain X-ray,ancillary,A,0,0,packaged,,line
A-ANES,麻醉,anaesthesia,ancillary,A,0,0,packaged,,line
I-MINOR,换药,dressing,incidental,I,0,0,packaged,,line
P-GI-1,诊断性消化内镜,diagnostic GI endoscopy,procedure,P-GI,250,500,points,SP,line
P-GI-2,治疗性消化内镜,therapeutic GI endoscopy,procedure,P-GI,420,840,points,SP,line
A-PATH,组织病理,histopathology,ancillary,A-PATH,70,140,points,ANC,line
A-CT,CT,CT,ancillary,A-IMG,120,240,points,ANC,line
A-MRI,MRI,MRI,ancillary,A-IMG,250,500,points,ANC,line
P-SKIN-1,皮肤小切除,minor skin excision,procedure,P-SKIN,80,160,points,SP,line
P-WOUND,清创缝合,debridement and suture,procedure,P-WOUND,60,120,points,SP,line
D-DRUG,药品,drugs,drug,D,0,0,packaged,,line
M-CLIP,止血夹,haemoclips,consumable,M,0,0,pass_through,,line
UNASSIGNED,未分组,unassigned,unassigned,U,0,0,packaged,,line
"""
ITEM_APG = """code_pattern,apg,levelled
001102,A-VISIT,
001103,A-VISIT,
0025,A-LAB-R,
002101,A-XR,
002102,A-MRI,
002103,A-CT,
003301,A-ANES,
0031090200,P-GI-1,
0031090300,P-GI-2,
0027,A-PATH,
003316,P-SKIN-1,
001205,P-WOUND,
001206,I-MINOR,
X,D-DRUG,
C02,M-CLIP,
"""
SCHEME_TOML = """[scheme]
name = "worked-examples"
title = "OUTPATIENT.md §3.5 worked examples"
status = "starter"
point_scale = 100
reference_mean_cost = 200.00
level_price_bands = [100.0, 500.0]
emergency_med_types = ["13"]
emergency_apg = "V-EMG"
default_visit_apg = "V-OTHER"
unassigned_apg = "UNASSIGNED"
two_lib_pairs = "nhsa-rule-libraries/b7_item_duplicate_charge.csv"
"""
TABLES = {
    "apg_list.csv": APG_LIST,
    "item_apg.csv": ITEM_APG,
    "dx_visit_apg.csv": "dx_pattern,apg\nJ0,V-J-ARI\nK,V-K\nL,V-L\n",
    "consolidation.csv": "apg,into\nP-GI-1,P-GI-2\n",
    "packaging.csv": "apg,when\ntype:visit,type:procedure\n",
    "discounts.csv": "discount_class,rank,factor\nSP,1,1.0\nSP,2,0.5\nSAME,1,1.0\nSAME,2,0.5\nANC,1,1.0\nANC,2,0.85\n",
}


def write_scheme(folder: Path, **replace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scheme.toml").write_text(SCHEME_TOML, encoding="utf-8")
    for name, text in (TABLES | replace).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def grouper(tmp_path_factory, data_dir):
    scheme = load_scheme(write_scheme(tmp_path_factory.mktemp("scheme")))
    return ApgGrouper(scheme, OutpatientPolicy(), data_dir)


def visit(
    visit_id: str, level: str, dx: str, lines: list[tuple[str, str] | tuple[str, str, str]], med_type: str = "11"
) -> Visit:
    fee_lines = tuple(
        FeeLine(
            line_id=f"{visit_id}-{n}",
            visit_id=visit_id,
            item_code=code,
            amount=Decimal(amount),
            quantity=Decimal(rest[0]) if rest else Decimal(1),
        )
        for n, (code, amount, *rest) in enumerate(lines, 1)
    )
    return Visit(
        id=visit_id,
        patient_id="P1",
        hospital_id=f"H-{level}",
        hospital_level=level,
        visit_date=date(2026, 3, 2),
        med_type=med_type,
        diagnoses=(dx,),
        total_cost=sum((line.amount for line in fee_lines), Decimal(0)),
        lines=fee_lines,
    )


def group(grouper: ApgGrouper, *visits: Visit):
    return grouper.group(*visit_frames(visits))


def points_of(grouped, visit_id: str) -> dict:
    return grouped.visits.filter(pl.col("visit_id") == visit_id).row(0, named=True)


def actions(grouped, visit_id: str) -> list[tuple[str, str, float]]:
    lines = grouped.lines.filter(pl.col("visit_id") == visit_id).sort("line_no")
    return list(zip(lines["apg"], lines["action"], lines["factor"]))


E1 = visit(
    "E1",
    "二级",
    "J06.900",
    [
        ("001102000010000", "10"),
        ("002502010010000", "20"),
        ("002503010010000", "30"),
        ("002101010010000", "45"),
        ("XJ01CAA001", "81"),
    ],
)
E2 = visit(
    "E2",
    "三级",
    "K63.500",
    [
        ("001102000010000", "25"),
        ("003109020010000", "300"),
        ("003109030010000", "450"),
        ("003301010010000", "280"),
        ("002703010010000", "180"),
        ("C020101052000001", "300", "2"),
        ("XA02BC01", "45"),
    ],
)
E3 = visit(
    "E3",
    "一级",
    "L72.100",
    [
        ("001103000010000", "10"),
        ("003316010010000", "125"),
        ("003316010020000", "125"),
        ("001205000010000", "90"),
        ("001206000010000", "20"),
        ("XD06AX01", "50"),
    ],
)


def test_e1_a_respiratory_visit_packages_labs_x_ray_and_drugs(grouper):
    grouped = group(grouper, E1)
    result = points_of(grouped, "E1")
    assert (result["main_apg"], result["points"], result["expected_cost"], result["kind"]) == (
        "V-J-ARI",
        60,
        120,
        "normal",
    )
    assert [a for _, a, _ in actions(grouped, "E1")] == ["paid"] + ["packaged"] * 5


def test_e2_consolidates_the_diagnostic_endoscopy_bundles_the_visit_and_passes_clips_through(grouper):
    grouped = group(grouper, E2)
    result = points_of(grouped, "E2")
    assert result["points"] == pytest.approx(689) and result["expected_cost"] == 1280
    assert result["main_apg"] == "P-GI-2" and result["apgs"] == "P-GI-2|M-CLIP|A-PATH"
    by_apg = {apg: action for apg, action, _ in actions(grouped, "E2")}
    assert by_apg == {
        "V-K": "packaged",
        "A-VISIT": "packaged",
        "P-GI-1": "consolidated",
        "P-GI-2": "paid",
        "A-ANES": "packaged",
        "A-PATH": "paid",
        "M-CLIP": "pass_through",
        "D-DRUG": "packaged",
    }


def test_e3_discounts_the_second_procedure_and_the_repeated_apg(grouper):
    grouped = group(grouper, E3)
    result = points_of(grouped, "E3")
    assert result["points"] == pytest.approx(135) and result["expected_cost"] == 300
    procedures = [(apg, factor) for apg, action, factor in actions(grouped, "E3") if apg.startswith("P-")]
    assert procedures == [("P-SKIN-1", 1.0), ("P-SKIN-1", 0.5), ("P-WOUND", 0.5)]
    explained = "\n".join(grouped.explain("E3"))
    assert "discounts.csv row 2: SP rank 2 × 0.5" in explained and "discounts.csv row 2: SP rank 3 × 0.5" in explained
    assert "APG points × k = 0.90 → 135.0000" in explained
    assert "packaging.csv row 1: type:visit packaged when type:procedure is paid" in explained


def test_visits_group_the_same_alone_or_in_a_batch(grouper):
    batch = group(grouper, E1, E2, E3).visits.sort("visit_id")
    alone = pl.concat([group(grouper, v).visits for v in (E1, E2, E3)])
    assert batch.select("visit_id", "points").equals(alone.select("visit_id", "points"))


def test_a_coded_procedure_takes_the_procedure_map_over_the_item_map(data_dir):
    import csv

    with (data_dir / "icd" / "icd9cm3_yibao_v2_procedures.csv").open(encoding="utf-8-sig") as f:
        polypectomy = next(r["code"] for r in csv.DictReader(f) if r["code"].startswith("45.42"))
    line = FeeLine(line_id="p1", visit_id="PX", item_code="003109030090000", procedure_code=polypectomy,
                   amount=Decimal("80"))     # ¥80 would be level 1 by price; the coded procedure says P-GI-2
    coded = Visit(id="PX", patient_id="P", hospital_id="H", hospital_level="二级", visit_date=date(2026, 3, 2),
                  diagnoses=("K63.500",), total_cost=Decimal("80"), lines=(line,))
    grouped = ApgGrouper(load_scheme("apg-starter"), OutpatientPolicy(), data_dir).group(*visit_frames([coded]))
    row = grouped.with_rules().filter(pl.col("line_no") == 1).row(0, named=True)
    assert row["apg"] == "P-GI-2" and row["rule"].startswith("procedure_apg.csv row 5: 454 (oprn_oprt_code)")


def test_a_year_split_into_batches_groups_as_one(grouper, data_dir):
    visits = (E1, E2, E3, visit("U2", "二级", "S01.000", [("HOSP-OWN-9", "100")], med_type="13"))
    whole = group(grouper, *visits)
    split = ApgGrouper(grouper.scheme, grouper.policy, data_dir, batch_size=1).group(*visit_frames(visits))
    assert split.visits.sort("visit_id").equals(whole.visits.sort("visit_id"))
    assert split.lines.height == whole.lines.height


def test_second_ancillary_takes_the_ancillary_discount(grouper):
    grouped = group(grouper, visit("A2", "二级", "R51.x00", [("002102010010000", "600"), ("002103010010000", "300")]))
    assert sorted(actions(grouped, "A2"))[:2] == [("A-CT", "discounted", 0.85), ("A-MRI", "paid", 1.0)]
    assert points_of(grouped, "A2")["points"] == pytest.approx(50 + 250 + 120 * 0.85)


def test_an_included_item_billed_with_its_main_item_is_packaged_by_the_b7_row(grouper, data_dir):
    import csv

    with (data_dir / "nhsa-rule-libraries" / "b7_item_duplicate_charge.csv").open(encoding="utf-8-sig") as f:
        first = next(csv.DictReader(f))
    grouped = group(grouper, visit("B7", "二级", "J06.900", [(first["主项编码"], "50"), (first["从项编码"], "20")]))
    lines = grouped.with_rules().filter(pl.col("line_no") == 2).row(0, named=True)
    assert lines["action"] == "packaged" and f"两库 b7 row 1: included in {first['主项编码']}" in lines["rule"]


def test_unknown_codes_are_unassigned_and_emergencies_take_the_emergency_visit(grouper):
    grouped = group(grouper, visit("U1", "二级", "S01.000", [("HOSP-OWN-9", "100")], med_type="13"))
    result = points_of(grouped, "U1")
    assert (result["main_apg"], result["points"]) == ("V-EMG", 80)
    assert "1 line(s) UNASSIGNED" in result["reason"]
    assert actions(grouped, "U1")[1] == ("UNASSIGNED", "unassigned", 0.0)


def test_outliers_follow_the_policy_ratios(grouper):
    grouped = group(
        grouper,
        visit("HI", "二级", "J06.900", [("001102000010000", "500")]),
        visit("LO", "二级", "J06.900", [("001102000010000", "12")]),
    )
    assert points_of(grouped, "HI")["kind"] == "high"
    assert points_of(grouped, "HI")["points"] == pytest.approx(60 * (1 + 500 / 120 - 3))
    assert points_of(grouped, "LO")["points"] == pytest.approx(60 * 12 / 120)


def test_a_scheme_naming_an_unknown_apg_is_refused_with_file_and_row(tmp_path):
    folder = write_scheme(tmp_path / "bad", **{"consolidation.csv": "apg,into\nP-GI-1,P-GI-9\n"})
    with pytest.raises(SchemeError, match=r"consolidation.csv row 1: into 'P-GI-9' is not in apg_list.csv"):
        load_scheme(folder)


def test_a_discount_class_without_rows_is_refused(tmp_path):
    folder = write_scheme(tmp_path / "disc", **{"discounts.csv": "discount_class,rank,factor\nSP,1,1.0\nSP,2,0.5\n"})
    with pytest.raises(SchemeError, match=r"apg_list.csv row 13 \(A-PATH\): discount class 'ANC' is not in discounts"):
        load_scheme(folder)


def test_a_consolidation_cycle_is_refused(tmp_path):
    folder = write_scheme(tmp_path / "cycle", **{"consolidation.csv": "apg,into\nP-GI-1,P-GI-2\nP-GI-2,P-GI-1\n"})
    with pytest.raises(SchemeError, match="cycle"):
        load_scheme(folder)


def test_the_starter_scheme_is_labelled_and_groups_real_national_codes(data_dir):
    scheme = load_scheme("apg-starter")
    assert scheme.status == "starter" and "not an official table" in scheme.title
    grouped = ApgGrouper(scheme, OutpatientPolicy(), data_dir).group(*visit_frames([E2]))
    apgs = grouped.lines.sort("line_no")["apg"].to_list()
    assert apgs == ["V-K", "A-VISIT", "P-GI-2", "P-GI-2", "A-ANES", "A-PATH", "M-HV", "D-WM"]
    assert grouped.with_rules()["rule"].str.contains("item_apg.csv row").sum() == 7
    visit_line = grouped.with_rules().filter(pl.col("line_no") == 0).row(0, named=True)
    assert visit_line["action"] == "packaged" and "dx_visit_apg.csv row" in visit_line["rule"]
