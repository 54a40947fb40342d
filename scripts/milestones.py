#!/usr/bin/env python3
"""Writes conformance/milestones/<program>.json: each program's milestone
catalog as a collection Bundle of FHIR Measures (computed milestones with
proportion scoring, system ones as cohort, attested ones with the DEQM
"attestation" scoring). The JSON files are the catalog Tandem loads; this
script is only how they were typed in, from ../shared/reference/milestones.md
(Colorado SIM Cohort 2, Appendix A) and the Maine Health Homes documents.
Run from the repository root: python3 scripts/milestones.py"""
import json

EXT = "http://tandem.health/fhir/StructureDefinition/milestone"
SCORING = "http://terminology.hl7.org/CodeSystem/measure-scoring"
POP = "http://terminology.hl7.org/CodeSystem/measure-population"

# id, building block, project year (0: program goal), evidence, computation, threshold, title
COLORADO = [
    ("BB1.Y1.1", 1, 1, "computed", "attributed-lives", 150, "Practice establishes agreement(s) with payer(s) covering at least 150 patients."),
    ("BB1.Y1.2", 1, 1, "attested", None, None, "Practice has completed an annual budget that includes SIM revenue and planned expenses."),
    ("BB1.Y1.3", 1, 1, "attested", None, None, "Practice develops a quality improvement (QI) team and meets monthly."),
    ("BB1.Y1.4", 1, 1, "attested", None, None, "Practice leadership team is present at meetings and clinical champion attends SIM Collaborative Learning Sessions."),
    ("BB1.Y1.5", 1, 1, "attested", None, None, "Practice has vision for behavioral health integration, and has identified a pathway for behavioral health transformation that is signed by leadership."),
    ("BB1.Y2.1", 1, 2, "attested", None, None, "Leadership allocates appropriate resources to complete QI work."),
    ("BB1.Y2.2", 1, 2, "attested", None, None, "Practice designs plan to evaluate impact of value-based payment agreements."),
    ("BB2.Y1.1", 2, 1, "computed", "cqm-submissions", 1.0, "Practice successfully submits CQMs quarterly."),
    ("BB2.Y1.2", 2, 1, "attested", None, None, "Practice reviews data with PF/CHITA quarterly."),
    ("BB2.Y1.3", 2, 1, "attested", None, None, "Practice begins using model for improvement and has identified opportunities for improvement using CQM data."),
    ("BB2.Y1.4", 2, 1, "attested", None, None, "Practice begins using a data aggregation tool provided by SIM to review cost and utilization data."),
    ("BB2.Y2.1", 2, 2, "attested", None, None, "Practice reviews CQM data to inform rapid cycle improvement processes."),
    ("BB2.Y2.2", 2, 2, "system", "provider-cqm-reports", None, "Practice develops processes for providing performance feedback to providers, including CQM, cost, and utilization data."),
    ("BB2.Y2.3", 2, 2, "attested", None, None, "Practice conducts regular PDSA/QI activities on identified CQMs."),
    ("BB3.Y1.1", 3, 1, "computed", "empanelment", 0.75, "Practice has assessed patient panel and assigned PCPs/care teams to 75% of patient population."),
    ("BB3.Y1.2", 3, 1, "computed", "attribution-reconciled", None, "Practice reviews payer attribution lists monthly."),
    ("BB3.Y1.3", 3, 1, "system", "pcp-assignment-validation", None, "Practice designs and implements processes for validating PCP/care team assignment with patients."),
    ("BB3.Y2.1", 3, 2, "computed", "empanelment", 0.75, "Practice maintains 75% empanelment of patients with provider/care teams."),
    ("BB3.Y2.2", 3, 2, "computed", "continuity", 0.75, "Practice develops policies to support empanelment, including definitions, changing PCPs, assigning new patients, and ensuring continuous coverage."),
    ("BB4.Y1.1", 4, 1, "attested", None, None, "Practice uses established tool to assess baseline team relationships."),
    ("BB4.Y1.2", 4, 1, "attested", None, None, "Practice has written job descriptions, including clear roles and responsibilities."),
    ("BB4.Y1.3", 4, 1, "attested", None, None, "Practice identifies and implements a team-based care strategy (team huddle, collaborative care planning)."),
    ("BB4.Y2.1", 4, 2, "attested", None, None, "Practice reevaluates team relationship using tool from Year 1."),
    ("BB4.Y2.2", 4, 2, "attested", None, None, "Practice develops protocols for shared workflows for three quality measures (with at least one behavioral health measure)."),
    ("BB4.Y2.3", 4, 2, "attested", None, None, "Practice reviews roles/responsibilities for team-based care activities to ensure accountability for various tasks assigned."),
    ("BB5.Y1.1", 5, 1, "attested", None, None, "Practice evaluates patient population to identify one preference-sensitive condition that is appropriate for decision aids or self-management support tools."),
    ("BB5.Y1.2", 5, 1, "attested", None, None, "Practice identifies and selects evidence-based decision aids or self-management support tools for identified conditions."),
    ("BB5.Y1.3", 5, 1, "attested", None, None, "Practice has established a Patient and Family Advisory Council (PFAC) that meets at least quarterly."),
    ("BB5.Y2.1", 5, 2, "computed", "decision-aids", None, "Practice identifies patients and families eligible for selected decision aids or self-management support tools."),
    ("BB5.Y2.2", 5, 2, "computed", "decision-aids", None, "Practice implements decision aids or self-management support tools and establishes protocol and workflow for use."),
    ("BB5.Y2.3", 5, 2, "computed", "decision-aids", None, "Confirm practice development of workflow."),
    ("BB5.Y2.4", 5, 2, "attested", None, None, "Practice uses PFAC to evaluate care experience."),
    ("BB6.Y1.1", 6, 1, "system", "risk-method", None, "Practice identifies, documents a risk stratification methodology (adult)."),
    ("BB6.Y1.2", 6, 1, "system", "care-gap-strategy", None, "Practice identifies strategy to identify care gaps."),
    ("BB6.Y2.1", 6, 2, "computed", "risk-stratified", 0.75, "75% of empaneled patients are risk-stratified (adult)."),
    ("BB6.Y2.2", 6, 2, "computed", "high-risk-care-plans", 0.75, "75% of high-risk patients/families have a documented care plan."),
    ("BB6.Y2.3", 6, 2, "computed", "care-gaps-managed", None, "Practice implements proactive care gap management and tracks outcomes."),
    ("BB6.Y2.4", 6, 2, "attested", None, None, "Practice embeds care plan template in EHR."),
    ("BB7.Y1.1", 7, 1, "system", "bh-resources", None, "Practice identifies behavioral health resources for patients/families, including support from SIM participating health plans and Regional Health Connectors (RHCs)."),
    ("BB7.Y1.2", 7, 1, "computed", "bh-screening", 0.25, "Practice identifies a screening tool for reporting on at least two behavioral health screening measures; at least 25% of patients are screened."),
    ("BB7.Y1.3", 7, 1, "system", "screen-to-referral", None, "Practice has documented process for connecting patients/families with behavioral health resources (from screening), including standing orders and/or protocols and follow-up."),
    ("BB7.Y2.1", 7, 2, "computed", "bh-screening", 0.50, "50% of patients are screened for behavioral health conditions."),
    ("BB7.Y2.2", 7, 2, "attested", None, None, "Practice performs an assessment of community resources to assist patients with social needs (such as food, housing, transportation)."),
    ("BB7.Y2.3", 7, 2, "computed", "bh-connected", 0.50, "50% of patients identified with behavioral health need are connected to resources."),
    ("BB7.GOAL", 7, 0, "computed", "bh-screening", 0.90, "Goal: 90% of appropriate patients are screened for behavioral health conditions."),
    ("BB8.Y1.1", 8, 1, "attested", None, None, "Practice representative has EHR access available 24 hours, 7 days per week."),
    ("BB8.Y1.2", 8, 1, "system+attested", "referral-pathways", None, "Practice performs assessment of referral pathways and available after-hours support for behavioral health."),
    ("BB8.Y1.3", 8, 1, "system", "partner-exchange", None, "Practice identifies data sources and technology needed for bi-directional data sharing."),
    ("BB8.Y2.1", 8, 2, "system+attested", "care-compact", None, "Practice establishes a collaborative agreement with at least one behavioral health provider."),
    ("BB8.Y2.2", 8, 2, "system", "exchange-in-use", None, "Practice develops plan for bi-directional data sharing with behavioral health provider."),
    ("BB8.GOAL", 8, 0, "computed", "two-way-exchange", None, "Goal: clinical data is shared both ways with behavioral health partners within 7 days."),
    ("BB9.Y1.1", 9, 1, "computed", "total-cost", None, "Practice can identify total cost of care for patient panel, and subset of patients with behavioral health conditions."),
    ("BB9.Y1.2", 9, 1, "system", "transitions-policy", None, "Practice identifies and implements policy and procedures that include timely follow-up for emergency department (ED) and hospital admissions."),
    ("BB9.Y2.1", 9, 2, "computed", "discharge-contact", 0.50, "Practice contacts 50% of patients within 7 days of hospitalization or ED visit, including medication reconciliation."),
    ("BB9.Y2.2", 9, 2, "computed", "total-cost", None, "Practice identifies cost drivers for patients with behavioral health condition(s) and incorporates in QI processes."),
    ("BB9.Y2.3", 9, 2, "computed", "transition-measures", None, "Practice creates and reports a measurement to assess impact and guide improvement on ED notification timeliness, medication reconciliation, admission notification and information exchange, or referral information exchange."),
    ("BB9.GOAL", 9, 0, "computed", "total-cost", None, "Goal: reduced total cost of care compared with non-SIM practices."),
    ("BB10.Y1.1", 10, 1, "computed", "referrals-made", None, "Practice uses referral pathway identified for behavioral health needs."),
    ("BB10.Y1.2", 10, 1, "system", "outcome-measures", None, "Practice develops a plan to systematically measure and track patient behavioral health outcomes."),
    ("BB10.Y1.3", 10, 1, "computed", "bh-care-plan-actions", None, "Practice develops care plans that include patient actions to manage behavioral health conditions."),
    ("BB10.Y2.1", 10, 2, "computed", "bh-outcomes", None, "Practice systematically measures and tracks patient behavioral health outcomes."),
    ("BB10.Y2.2", 10, 2, "computed", "bh-high-risk-registry", None, "Practice documents and implements protocols to identify and manage care for high-risk behavioral health populations."),
    ("BB10.Y2.3", 10, 2, "attested", None, None, "Practice identifies and implements at least two opportunities to adjust its protocols to improve behavioral health status of patients."),
    ("BB10.Y2.4", 10, 2, "attested", None, None, "Practice demonstrates advanced access to behavioral health services."),
]

# Maine Health Homes / Behavioral Health Homes learning collaboratives
# (2016 documents 000-003). The documents name the goals (core expectations,
# required screenings, fewer avoidable readmissions, communication between
# providers) but set no numeric targets: the computed ones carry none, and
# the core expectations stay attested.
MAINE = [
    ("HH.CORE", 1, 1, "attested", None, None, "Health Home / Behavioral Health Home core expectations (MaineCare Benefits Manual Ch. 2 Sec. 91 and 92) are implemented."),
    ("HH.SCREEN", 2, 1, "computed", "bh-screening", None, "Health Home required screenings are performed."),
    ("HH.FOLLOWUP", 3, 1, "computed", "discharge-contact", None, "Timely follow-up after discharge (contact within 7 days)."),
    ("HH.READMIT", 3, 1, "computed", "readmissions-30d", None, "30-day readmissions, all causes, tracked to reduce avoidable readmissions."),
    ("HH.READMIT-MH", 3, 1, "computed", "readmissions-30d-mental-health", None, "30-day readmissions after mental-health stays, tracked."),
    ("BHH.COORD", 4, 1, "computed", "two-way-exchange", None, "Behavioral Health Home and partnering primary-care practices coordinate care: referrals and records both ways."),
]

BLOCKS_CO = {1: "Engaged leadership", 2: "Data drives change", 3: "Empanelment", 4: "Team-based care",
             5: "Partnership with patients", 6: "Risk stratification and population management",
             7: "Behavioral health screening and linkage", 8: "Prompt access, including behavioral health",
             9: "Care coordination", 10: "Integrated behavioral health"}
BLOCKS_ME = {1: "Core expectations", 2: "Required screenings", 3: "Care transitions and readmissions",
             4: "Coordination between Behavioral Health Homes and primary care"}


def measure(program, version, blocks, row):
    mid, bb, year, evidence, computation, threshold, title = row
    scoring = {"computed": "proportion", "system": "cohort", "system+attested": "cohort",
               "attested": "attestation"}[evidence]
    if computation in ("attributed-lives", "referrals-made"):
        scoring = "cohort"
    ext = [{"url": "buildingBlock", "valueInteger": bb},
           {"url": "buildingBlockTitle", "valueString": blocks[bb]},
           {"url": "projectYear", "valueInteger": year},
           {"url": "evidence", "valueCode": evidence}]
    if computation:
        ext.append({"url": "computation", "valueCode": computation})
    if threshold is not None:
        ext.append({"url": "threshold", "valueDecimal": threshold})
    if mid == "BB7.Y1.2":  # "at least two behavioral health screening measures"
        ext.append({"url": "minimumInstruments", "valueInteger": 2})
    rid = f"{program}-{mid}"
    m = {
        "resourceType": "Measure", "id": rid,
        "extension": [{"url": EXT, "extension": ext}],
        "url": f"http://tandem.health/fhir/Measure/{rid}", "version": version,
        "identifier": [{"system": f"http://tandem.health/fhir/milestones/{program}", "value": mid}],
        "name": rid.replace("-", "_").replace(".", "_"), "title": f"{mid} {title}",
        "status": "active", "experimental": False, "publisher": "Tandem",
        "description": title,
        "scoring": {"coding": [{"system": SCORING, "code": scoring}]},
        "topic": [{"text": f"Building block {bb}: {blocks[bb]}"}],
    }
    if scoring == "proportion":
        # Readmissions: lower is better (tracked; met when there are stays to track).
        notation = "decrease" if computation and computation.startswith("readmissions") else "increase"
        m["improvementNotation"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation", "code": notation}]}
        m["group"] = [{"population": [
            {"code": {"coding": [{"system": POP, "code": c}]}, "description": d}
            for c, d in [("initial-population", "Patients the milestone is about"),
                         ("denominator", "Patients the milestone is about"),
                         ("numerator", "Patients meeting it")]]}]
    elif scoring == "cohort":
        m["group"] = [{"population": [{"code": {"coding": [{"system": POP, "code": "initial-population"}]},
                                       "description": "Evidence counted"}]}]
    return m


def bundle(program, version, blocks, rows):
    return {"resourceType": "Bundle", "id": program, "type": "collection",
            "entry": [{"fullUrl": f"http://tandem.health/fhir/Measure/{program}-{r[0]}",
                       "resource": measure(program, version, blocks, r)} for r in rows]}


for program, version, blocks, rows in [("colorado-sim", "2017", BLOCKS_CO, COLORADO),
                                       ("maine-health-homes", "2016", BLOCKS_ME, MAINE)]:
    with open(f"conformance/milestones/{program}.json", "w") as f:
        json.dump(bundle(program, version, blocks, rows), f, indent=1, ensure_ascii=False)
        f.write("\n")
