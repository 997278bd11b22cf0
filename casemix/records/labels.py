"""Chinese labels of the column keys casemix writes, for spreadsheets people read.

An xlsx header is written ``中文 · key`` (Chinese first, the English key a machine reads after the
separator) and :func:`key_of` reads such a header back to its key, so a casemix workbook round-trips
while a person sees Chinese first. CSV and Parquet keep bare keys.
"""

from __future__ import annotations

import re

SEPARATOR = " · "
_LABELLED = re.compile(r"^.+ · ([A-Za-z][A-Za-z0-9_%]*)$", re.S)

LABELS = {
    # the case record
    "id": "病案号", "case_id": "病案号", "hospital_id": "医疗机构", "hospital_level": "医院等级",
    "patient_id": "人员编号", "sex": "性别", "age": "年龄", "age_days": "年龄(天)", "birth_weight_g": "新生儿出生体重",
    "department": "科室", "physician": "主诊医师", "admission_date": "入院日期", "discharge_date": "出院日期",
    "icu_start": "重症监护进入", "icu_end": "重症监护退出", "los_days": "住院天数", "discharge_mode": "离院方式",
    "principal_dx": "主要诊断", "secondary_dx": "其他诊断", "procedures": "手术操作", "total_cost": "总费用",
    "self_pay": "个人支付", "insurance_type": "险种类型",
    # grouping
    "mdc": "MDC", "adrg": "ADRG", "drg": "DRG", "drg_name": "病组名称", "status": "状态", "severity": "严重程度",
    "reason": "原因", "notes": "说明",
    # weights
    "cases": "病例数", "kept": "保留病例数", "mean_cost": "次均费用", "sd": "标准差", "cv": "变异系数", "rw": "权重",
    "base_points": "基准点数", "standard_cost": "支付标准", "source": "来源",
    # settlement
    "points": "点数", "assessment_score": "考核得分", "adjusted_points": "调整后点数", "amount": "点数金额",
    "overspend_share": "超支分担", "reserve_return": "调节金返还", "total": "清算金额", "fund_due": "基金应付",
    "prepaid": "已预付", "balance": "年终应拨", "actual_cost": "实际费用", "kind": "类型", "cost": "费用",
    "ratio": "费用比", "detail": "说明", "standard": "支付标准", "payment": "支付金额",
    "withheld": "考核扣减", "adjustment": "调整项目", "policy_key": "政策键", "fund_pool": "基金池", "pool": "基金总额",
    "reserve": "调剂金", "point_value": "点值", "mid_year_point_value": "年中调整点值", "total_paid": "清算总额",
    "folder": "目录", "credit_rating": "信用等级",
    # indicators
    "key": "单位", "period": "期间", "drg_count": "DRG组数", "total_weight": "总权重", "cmi": "CMI",
    "cost_index": "费用消耗指数", "time_index": "时间消耗指数", "cost_per_weight": "每权重费用",
    "days_per_weight": "每权重床日", "rw2_share": "RW≥2占比", "low_risk_mortality": "低风险死亡率",
    "medium_low_risk_mortality": "中低风险死亡率", "surplus": "结余", "drug_share": "药占比",
    "material_share": "耗占比",
    # QC and audit
    "rule": "规则", "category": "类别", "field": "字段", "code": "编码", "message_zh": "问题",
    "message_en": "问题(英文)", "impact": "分组影响", "title": "名称", "case_ids": "病例", "score": "分数",
    "evidence": "证据", "by": "维度", "findings": "问题数", "visit_id": "就诊ID", "family": "规则类别",
    "line_ids": "费用明细",
}


def labelled(key: str) -> str:
    """The header a person reads: ``中文 · key`` where the key has a label (``…变化`` for a ``_change``
    column of one), else the key."""
    if key in LABELS:
        return f"{LABELS[key]}{SEPARATOR}{key}"
    base = key.removesuffix("_change")
    if base != key and base in LABELS:
        return f"{LABELS[base]}变化{SEPARATOR}{key}"
    return key


def key_of(header: str) -> str:
    """The key of a ``中文 · key`` header written by :func:`labelled`; any other header as it is."""
    match = _LABELLED.match(header)
    return match[1] if match else header
