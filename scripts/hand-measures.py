#!/usr/bin/env python3
"""Writes conformance/measures/ bundles for the SIM measures that have no
published FHIR eCQM bundle (CMS82, NQF 1448, NQF 2152, NQF 1799): a Measure
(groups, populations, stratifiers, the specification it follows) and the
ValueSets Tandem defines for codes the shipped VSAC expansions do not cover.

Encounter, hospice and limited-life-expectancy codes are *not* repeated here:
the measures name the VSAC value sets shipped with the eCQM bundles by OID.
Every code below is listed with the source it was taken from; a code that
could not be confirmed against a primary source is left out rather than
guessed (the README of the measure says which).

Run from the repository root: python3 scripts/hand-measures.py"""
import json, os

BASE = "http://tandem.health/fhir"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
POP = "http://terminology.hl7.org/CodeSystem/measure-population"


def value_set(name, title, source, codes):
    return {
        "resourceType": "ValueSet",
        "id": name,
        "url": f"{BASE}/ValueSet/{name}",
        "version": "1",
        "name": name.replace("-", "_"),
        "title": title,
        "status": "active",
        "description": source,
        "expansion": {
            "timestamp": "2026-11-24T00:00:00Z",
            "contains": [dict(system=s, code=c, **({"display": d} if d else {})) for s, c, d in codes],
        },
    }


def population(code, description):
    return {"code": {"coding": [{"system": POP, "code": code}]}, "description": description}


def group(gid, description, pops, strata=()):
    g = {"id": gid, "description": description, "population": [population(c, d) for c, d in pops]}
    if strata:
        g["stratifier"] = [{"id": f"{gid}-strat-{i + 1}", "code": {"text": t}} for i, t in enumerate(strata)]
    return g


def measure(mid, title, description, spec_url, spec_label, groups, inverse=False):
    return {
        "resourceType": "Measure",
        "id": mid,
        "url": f"{BASE}/Measure/{mid}",
        "version": mid.rsplit("-", 1)[1],
        "name": mid.replace("-", "_"),
        "title": title,
        "status": "active",
        "description": description,
        "relatedArtifact": [{"type": "documentation", "label": spec_label, "url": spec_url}],
        "scoring": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-scoring", "code": "proportion"}]},
        "improvementNotation": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
            "code": "decrease" if inverse else "increase"}]},
        "group": groups,
    }


def write(mid, resources):
    bundle = {"resourceType": "Bundle", "id": mid, "type": "collection",
              "entry": [{"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}
    dest = os.path.join("conformance", "measures", f"{mid}.json")
    with open(dest, "w") as f:
        json.dump(bundle, f, indent=1)
        f.write("\n")
    print(dest)


# --- CMS82v7 Maternal Depression Screening (NCQA; eCQM 2019, last published) ---
write("CMS82-2019", [
    measure(
        "CMS82-2019", "Maternal Depression Screening",
        "The percentage of children who turned 6 months of age during the measurement year, who had a "
        "face-to-face visit between the clinician and the child during the child's first 6 months, and who "
        "had a maternal depression screening for the mother at least once between 0 and 6 months of life.",
        "https://ecqi.healthit.gov/sites/default/files/ecqm/measures/CMS82v7.html", "CMS82v7 (eCQM 7.1.000)",
        [group("cms82", "Children turning 6 months in the period", [
            ("initial-population", "Qualifying encounter before 6 months of age and turns 6 months during the period"),
            ("denominator", "Equals the initial population"),
            ("numerator", "Maternal depression screening or care documented at 6 months of age or younger"),
        ])]),
    value_set(
        "tandem-maternal-depression-screening", "Maternal depression screening documented in the child's record",
        "Stands in for CMS82's SNOMED CT direct reference codes 'Maternal postpartum depression screening' and "
        "'Maternal postpartum depression care', whose concept ids could not be confirmed here. CPT 96161 "
        "(caregiver-focused health risk assessment, billed on the infant's claim: AAP / Medical Home Portal "
        "coding guidance); EPDS panel 71354-5 and total 99046-5 (../shared/reference/specs.md section 6).",
        [(CPT, "96161", "Administration of caregiver-focused health risk assessment instrument"),
         (LOINC, "71354-5", "Edinburgh Postnatal Depression Scale [EPDS]"),
         (LOINC, "99046-5", "Edinburgh Postnatal Depression Scale [EPDS] total score")]),
])

# --- NQF 1448 / Child Core Set DEV-CH: Developmental Screening in the First Three Years of Life ---
ages = [("1", "first"), ("2", "second"), ("3", "third")]
write("NQF1448-2025", [
    measure(
        "NQF1448-2025", "Developmental Screening in the First Three Years of Life",
        "Percentage of children screened for risk of developmental, behavioral and social delays using a "
        "standardized screening tool in the 12 months preceding or on their first, second, or third birthday. "
        "Four rates: by the first, second and third birthday, and all three combined.",
        "https://www.medicaid.gov/medicaid/quality-of-care/downloads/medicaid-and-chip-child-core-set-manual.pdf",
        "NQF 1448 (OHSU); CMS Child Core Set DEV-CH technical specification",
        [group(f"age-{n}", f"Children who turn {n} in the period", [
            ("initial-population", f"Children whose {w} birthday falls in the period"),
            ("denominator", "Equals the initial population"),
            ("denominator-exclusion", "Hospice services in the period"),
            ("numerator", f"Standardized developmental screen in the 12 months preceding or on the {w} birthday"),
        ]) for n, w in ages] + [group("total", "Children who turn 1, 2 or 3 in the period", [
            ("initial-population", "Children whose first, second or third birthday falls in the period"),
            ("denominator", "Equals the initial population"),
            ("denominator-exclusion", "Hospice services in the period"),
            ("numerator", "Screened in the 12 months preceding or on that birthday"),
        ])]),
    value_set(
        "tandem-developmental-screening", "Developmental screening with a standardized instrument",
        "CPT 96110, the code DEV-CH counts (Child Core Set technical specification, DEV-CH numerator).",
        [(CPT, "96110", "Developmental screening, with scoring and documentation, per standardized instrument")]),
])

# --- NQF 2152 / MIPS 431: Unhealthy Alcohol Use: Screening & Brief Counseling (PCPI) ---
write("NQF2152-2019", [
    measure(
        "NQF2152-2019", "Preventive Care and Screening: Unhealthy Alcohol Use: Screening & Brief Counseling",
        "Percentage of patients aged 18 years and older who were screened for unhealthy alcohol use using a "
        "systematic screening method at least once within the last 12 months AND who received brief counseling "
        "if identified as an unhealthy alcohol user.",
        "https://qpp.cms.gov/docs/QPP_quality_measure_specifications/CQM-Measures/2019_Measure_431_MIPSCQM.pdf",
        "NQF 2152 (PCPI); MIPS Quality ID 431, 2019 specification",
        [group("nqf2152", "Adults with two visits or one preventive visit", [
            ("initial-population", "Aged 18 or older, two visits or one preventive visit in the period"),
            ("denominator", "Equals the initial population"),
            ("denominator-exclusion", "Hospice services in the period"),
            ("numerator", "Screened in the last 12 months with a systematic method and, if positive, counseled"),
            ("denominator-exception", "Medical reason for not screening: limited life expectancy"),
        ])]),
    value_set(
        "tandem-alcohol-screening", "Systematic unhealthy alcohol use screening totals",
        "AUDIT-C total 75626-2 (positive: 4 or more for men, 3 or more for women) and AUDIT total 75624-7 "
        "(positive: 8 or more): ../shared/reference/specs.md section 6 (LOINC 75626-2 and 75624-7 descriptions).",
        [(LOINC, "75626-2", "Total score [AUDIT-C]"), (LOINC, "75624-7", "Total score [AUDIT]")]),
    value_set(
        "tandem-alcohol-brief-counseling", "Brief counseling for unhealthy alcohol use",
        "CPT 99408/99409 (alcohol and/or substance abuse structured screening and brief intervention) and "
        "HCPCS G0443 (brief face-to-face behavioral counseling for alcohol misuse), as in the MIPS 431 coding; "
        "SNOMED CT 24165007 Alcoholism counseling and 413473000 Counseling about alcohol consumption.",
        [(CPT, "99408", "Alcohol and/or substance abuse structured screening and brief intervention, 15 to 30 minutes"),
         (CPT, "99409", "Alcohol and/or substance abuse structured screening and brief intervention, over 30 minutes"),
         (HCPCS, "G0443", "Brief face-to-face behavioral counseling for alcohol misuse, 15 minutes"),
         (SCT, "24165007", "Alcoholism counseling (procedure)"),
         (SCT, "413473000", "Counseling about alcohol consumption (procedure)")]),
])

# --- NQF 1799: Medication Management for People With Asthma (NCQA HEDIS MMA, last specified MY2019) ---
asthma_icd = ["J45.20", "J45.21", "J45.22", "J45.30", "J45.31", "J45.32", "J45.40", "J45.41", "J45.42",
              "J45.50", "J45.51", "J45.52", "J45.901", "J45.902", "J45.909", "J45.990", "J45.991", "J45.998"]
excl_icd = ["J43.0", "J43.1", "J43.2", "J43.8", "J43.9", "J44.0", "J44.1", "J44.9", "J41.0", "J41.1", "J41.8",
            "J68.4", "E84.0", "E84.11", "E84.19", "E84.8", "E84.9", "J96.00", "J96.01", "J96.02", "J96.20",
            "J96.21", "J96.22"]
write("NQF1799-2019", [
    measure(
        "NQF1799-2019", "Medication Management for People With Asthma",
        "Percentage of patients 5-64 years of age during the measurement period who were identified as having "
        "persistent asthma and were dispensed appropriate asthma controller medications that they remained on "
        "for at least 50% (rate 1) and 75% (rate 2) of their treatment period.",
        "https://www.qualityforum.org/QPS/1799", "NQF 1799 (NCQA HEDIS MMA, MY2019)",
        [group(f"pdc-{p}", f"Controller medication covers at least {p}% of the treatment period", [
            ("initial-population", "Aged 5-64 at the end of the period with persistent asthma in the period and the year before"),
            ("denominator", "Equals the initial population"),
            ("denominator-exclusion", "COPD, emphysema, chronic bronchitis, chemical respiratory conditions, cystic fibrosis or "
                                      "acute respiratory failure on or before the end of the period; no controller dispensed "
                                      "in the period; hospice"),
            ("numerator", f"Proportion of days covered by controller medication of {p}% or more"),
        ], ["5-11", "12-18", "19-50", "51-64"]) for p in (50, 75)]),
    value_set(
        "tandem-asthma", "Asthma",
        "ICD-10-CM J45 codes of the HEDIS Asthma value set and SNOMED CT asthma disorders.",
        [(ICD10, c, None) for c in asthma_icd] + [
            (SCT, "195967001", "Asthma (disorder)"), (SCT, "233678006", "Childhood asthma (disorder)"),
            (SCT, "426979002", "Mild persistent asthma (disorder)"),
            (SCT, "427295004", "Moderate persistent asthma (disorder)"),
            (SCT, "426656000", "Severe persistent asthma (disorder)"), (SCT, "389145006", "Allergic asthma (disorder)")]),
    value_set(
        "tandem-asthma-exclusions", "Respiratory conditions excluding a patient from NQF 1799",
        "HEDIS MMA required exclusions: emphysema, COPD, obstructive chronic bronchitis, chronic respiratory "
        "conditions due to fumes or vapors, cystic fibrosis, acute respiratory failure.",
        [(ICD10, c, None) for c in excl_icd] + [
            (SCT, "13645005", "Chronic obstructive lung disease (disorder)"),
            (SCT, "87433001", "Pulmonary emphysema (disorder)"),
            (SCT, "185086009", "Chronic obstructive bronchitis (disorder)"),
            (SCT, "190905008", "Cystic fibrosis (disorder)"),
            (SCT, "65710008", "Acute respiratory failure (disorder)")]),
    value_set(
        "tandem-asthma-controller", "Asthma controller medications (clinical drugs seen in practice data)",
        "RxNorm clinical drugs whose ingredients are on the HEDIS Asthma Controller Medications list, as found in "
        "the Synthea samples of ../shared/data. Other products are recognised by ingredient name (see nqf1799.rs).",
        [(RXNORM, "895994", "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler"),
         (RXNORM, "896209", "60 ACTUAT Fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT Dry Powder Inhaler"),
         (RXNORM, "351109", "budesonide 0.25 MG/ML Inhalation Suspension")]),
    value_set(
        "tandem-asthma-reliever", "Asthma reliever medications (clinical drugs seen in practice data)",
        "RxNorm short-acting inhaled beta-2 agonists (HEDIS Asthma Reliever Medications) found in the Synthea "
        "samples of ../shared/data; others are recognised by ingredient name.",
        [(RXNORM, "2123111", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
         (RXNORM, "351137", "albuterol 0.21 MG/ML Inhalation Solution")]),
])
