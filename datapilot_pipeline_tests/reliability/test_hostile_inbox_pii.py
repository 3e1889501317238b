"""A hostile inbox full of customer PII of every customer locale: none of it reaches any exported file
(train, validation, holdout, chat, bedrock, preference) or the audit log.

Each job plants Faker values of one locale (name, street address, phone, national ID, card, IBAN, email,
IP) in sample-row values, `top_values` labels, insight text, recommendation, summary, reviewer notes and
edits."""

from __future__ import annotations

import re

import pytest

from datapilot_pipeline.lib.audit import AuditLog
from datapilot_pipeline.lib.export.pipeline import ExportOptions, SplitFractions, export_dataset
from datapilot_pipeline_tests.lib.export_fixtures import item, make_eda, make_feedback, make_insight, make_seed
from datapilot_pipeline_tests.lib.pii_corpus import ID_LABELS, LOCALES, caught, national_ids, pii_values

pytest.importorskip("faker")
JOBS_PER_LOCALE = 3


def _planted(locale: str, k: int) -> dict[str, str]:
    values = pii_values(locale, JOBS_PER_LOCALE + 1, seed=11)
    ibans = values["IBAN_CODE"] or pii_values("en_GB", JOBS_PER_LOCALE + 1, seed=11)["IBAN_CODE"]  # en_IN: none valid
    id_entity = sorted(e for e in values if e in ID_LABELS)[k % len([e for e in values if e in ID_LABELS])]
    return {"name": values["PERSON"][k], "other_name": values["PERSON"][k + 1],
            "address": values["STREET_ADDRESS"][k], "phone": values["PHONE_NUMBER"][k],
            "id": values[id_entity][k], "id_label": ID_LABELS[id_entity], "card": values["CREDIT_CARD"][k],
            "iban": ibans[k % len(ibans)], "email": values["EMAIL_ADDRESS"][k],
            "ip": values["IP_ADDRESS"][k]}


def _job(locale: str, k: int, p: dict[str, str]):
    eda = make_eda(f"crm_{locale}_{k}.csv", sample_value=f"call {p['phone']}", top_label=p["email"])
    eda["columns"]["customer_name"] = {"dtype": "category", "missing": 0, "unique": 2,
                                       "top_values": {p["name"]: 5, p["other_name"]: 3}}
    eda["columns"]["address"] = {"dtype": "category", "missing": 0, "unique": 1, "top_values": {p["address"]: 8}}
    eda["sample_rows"][0]["values"].update({"customer_name": p["name"], "address": p["address"],
                                            "phone": p["phone"], "iban": p["iban"]})
    eda["sample_rows"][1]["values"]["notes"] = f"{p['id_label']} {p['id']}, card {p['card']}"
    insights = [make_insight("i1", text=f"Row 17 was entered by {p['name']} ({p['email']}) from {p['ip']}.",
                             action=f"Call {p['phone']} and ship to {p['address']}."),
                make_insight("i2"), make_insight("i3")]
    output = {"insights": insights, "summary": f"Escalate to {p['other_name']}, IBAN {p['iban']}."}
    items = [item("i1", "approve", 5, notes=f"reviewer {p['name']} {p['phone']}"), item("i2", "approve", 5),
             item("i3", "edit", 4, edited_text=f"Ask {p['name']} ({p['id_label']} {p['id']}, card {p['card']}) "
                                               "about rows 17 and 250.",
                  edited_recommendation={"action": f"Email {p['email']} or write to {p['address']}.",
                                         "priority": "low"})]
    return make_feedback(job_id=f"job_{locale}_{k}", created_at=f"2026-11-2{k}T10:00:00Z", eda=eda, output=output,
                         items=items)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("pii_inbox")
    planted, feedback = [], []
    for locale in LOCALES:
        for k in range(JOBS_PER_LOCALE):
            p = _planted(locale, k)
            planted.append(p)
            feedback.append(_job(locale, k, p))
    targets = {"prompt-completion": out / "finetune.jsonl", "openai-chat": out / "chat.jsonl",
               "bedrock": out / "bedrock.jsonl", "preference": out / "pref.jsonl"}
    result = export_dataset(feedback, [make_seed("s1", "seed.csv", ("trend",))],
                            ExportOptions(shot_count=1, fractions=SplitFractions(0.6, 0.2, 0.2)), targets,
                            out / "holdout.jsonl")
    log = AuditLog(out / "llm_logs")
    for p in planted:
        log.record(arm="candidate", model="http://localhost:8000/v1", latency_s=0.2,
                   prompt=[{"role": "user", "content": "; ".join(f"{p['id_label'] if k == 'id' else k}: {v}"
                                                             for k, v in p.items() if k != "id_label")}],
                   response=f"Customer {p['name']} lives at {p['address']}, phone {p['phone']}.")
    files = {role: path.read_text(encoding="utf-8") for role, path in result.paths.items()}
    files["audit"] = "".join(f.read_text(encoding="utf-8") for f in (out / "llm_logs").glob("*.jsonl"))
    return planted, result, files


def test_every_split_and_format_was_written(hostile):
    _, result, files = hostile
    assert {"prompt-completion", "openai-chat", "openai-chat/validation", "bedrock", "preference", "holdout",
            "audit"} <= set(files)
    assert result.lines["holdout"] > 0 and result.lines["openai-chat/validation"] > 0
    assert result.lines["preference"] > 0


def _leaked(value: str, text: str) -> bool:
    """The value as written, its digits without separators, or (names, addresses) a word of it of 3+ letters.
    Short digit groups alone are not leaks: the files are full of their own numbers (`"std": 310.2`)."""
    if value in text:
        return True
    compact = re.sub(r"[\s.\-()/]", "", value)
    if sum(c.isdigit() for c in compact) >= 7 and compact in re.sub(r"[\s.\-()/]", "", text):
        return True
    letters = re.sub(r"\d+", " ", value)
    return any(c.isalpha() for c in letters) and not caught(letters, text)


def test_no_planted_value_in_any_file(hostile):
    planted, _, files = hostile
    leaks = [(role, key, value) for role, text in files.items() for p in planted
             for key, value in p.items() if key not in ("id_label", "email", "iban", "id") and _leaked(value, text)]
    leaks += [(role, key, value) for role, text in files.items() for p in planted
              for key, value in p.items() if key in ("email", "iban", "id") and value in text]
    assert not leaks, leaks[:20]


def test_national_id_generators_cover_every_customer_locale():
    import random

    from faker import Faker

    assert all(national_ids(Faker(loc), loc, random.Random(0)) for loc in LOCALES)
