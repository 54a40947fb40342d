//! The CapabilityStatement, generated from what is actually registered: resource
//! types, interactions, search parameters and profiles. `conformance/CapabilityStatement.json`
//! is the checked-in copy; a test fails when the two drift
//! (regenerate with `tandem capability > conformance/CapabilityStatement.json`).

use serde_json::{Value, json};

use crate::fhir::params::Registry;
use crate::fhir::profile::Profiles;
use crate::fhir::resource_types::R4_RESOURCE_TYPES;

/// The base URL written into the checked-in copy.
pub const CANONICAL_BASE: &str = "http://localhost:8080";

/// Builds the CapabilityStatement. Deterministic: no timestamps of the moment.
pub fn capability_statement(registry: &Registry, profiles: &Profiles, base_url: &str) -> Value {
    let resources: Vec<Value> = R4_RESOURCE_TYPES
        .iter()
        .map(|rt| resource_entry(registry, profiles, rt))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "id": "tandem",
        "url": "urn:tandem:CapabilityStatement/tandem",
        "name": "Tandem",
        "title": "Tandem FHIR R4 gateway for integrated primary and behavioral health care",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "Tandem",
        "kind": "instance",
        "software": {"name": "tandem", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Tandem FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": false,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                "description": "SMART Backend Services (client_credentials with a signed JWT assertion, RS384 or ES384) for systems; SMART App Launch (standalone, authorization code with PKCE S256, user/ scopes, rotating refresh tokens) for people's apps. Discovery at /.well-known/smart-configuration.",
                "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": format!("{base_url}/auth/token")},
                                  {"url": "authorize", "valueUri": format!("{base_url}/auth/authorize")},
                                  {"url": "revoke", "valueUri": format!("{base_url}/auth/revoke")}]}],
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "operation": [{"name": "process-message", "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
                "documentation": "Da Vinci Unsolicited Notifications (admit, discharge, transfer): the body is the message Bundle; idempotent on MessageHeader.id."},
                {"name": "outbox", "definition": "http://tandem.health/fhir/OperationDefinition/outbox",
                "documentation": "Admins: the tenant's outbound messages by state (pending, delivered, dead)."},
                {"name": "outbox-retry", "definition": "http://tandem.health/fhir/OperationDefinition/outbox-retry",
                "documentation": "Admins: re-queue a dead-lettered message."},
                {"name": "sweep-overdue", "definition": "http://tandem.health/fhir/OperationDefinition/sweep-overdue",
                "documentation": "Admins: mark follow-up Tasks past due as overdue now."},
                {"name": "run-feed", "definition": "http://tandem.health/fhir/OperationDefinition/run-feed",
                "documentation": "Admins: build the program submissions owed now, as the scheduler does."}],
        }],
    })
}

fn resource_entry(registry: &Registry, profiles: &Profiles, rt: &str) -> Value {
    let interactions: Vec<Value> = [
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    .iter()
    .map(|c| json!({"code": c}))
    .collect();
    let params = registry.for_type(rt);
    let search_params: Vec<Value> = [
        (
            "_id",
            "token",
            "http://hl7.org/fhir/SearchParameter/Resource-id",
        ),
        (
            "_lastUpdated",
            "date",
            "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        ),
    ]
    .iter()
    .map(|(n, t, u)| json!({"name": n, "definition": u, "type": t}))
    .chain(
        params
            .iter()
            .filter(|p| p.code != "_id" && p.code != "_lastUpdated")
            .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind.code()})),
    )
    .collect();
    let includes: Vec<Value> = params
        .iter()
        .filter(|p| p.kind == crate::fhir::params::ParamType::Reference)
        .map(|p| json!(format!("{rt}:{}", p.code)))
        .collect();
    let mut entry = json!({
        "type": rt,
        "interaction": interactions,
        "versioning": "versioned",
        "readHistory": true,
        "updateCreate": true,
        "conditionalCreate": true,
        "conditionalRead": "full-support",
        "conditionalUpdate": true,
        "conditionalDelete": "single",
        "searchInclude": includes,
        "searchParam": search_params,
    });
    let supported: Vec<&str> = profiles
        .urls()
        .filter(|u| profiles.get(u).is_some_and(|p| p.resource_type == rt))
        .collect();
    if !supported.is_empty() {
        entry["supportedProfile"] = json!(supported);
    }
    if rt == "Organization" {
        entry["operation"] = json!([{
            "name": "transitions",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-transitions",
            "documentation": "Building block 9 numbers of a practice for a period, with numerator and denominator patients.",
        }, {
            "name": "referrals",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-referrals",
            "documentation": "Building blocks 7 and 8: positive screens connected to a partner, two-way exchange within 7 days, days to first visit, referrals past agreed days, each referral's timeline.",
        }, {
            "name": "milestones",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-milestones",
            "documentation": "Every milestone of the practice's program with status, value against threshold and its evidence, for a project year or period.",
        }, {
            "name": "good-standing",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-good-standing",
            "documentation": "Good standing for a project year, per building block and overall, with the reasons.",
        }, {
            "name": "submissions",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-submissions",
            "documentation": "The practice's program submission ledger, with delivery states and receipts.",
        }, {
            "name": "attribution",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-attribution",
            "documentation": "Payer attribution lists reconciled with the panel for a month, with the patients behind each figure.",
        }, {
            "name": "attribution-review",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-attribution-review",
            "documentation": "Mark a month's reconciliation of a payer list reviewed (who, when).",
        }, {
            "name": "continuity",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-continuity",
            "documentation": "Per clinician and month, panel patients seen and of them seen by their own PCP (BB3.Y2.2), and practice-wide.",
        }, {
            "name": "risk-registry",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-risk-registry",
            "documentation": "Patients by risk tier on a day under the configured method, with each score's drivers and the resources behind them, and the care team's override where one holds.",
        }, {
            "name": "care-gap-registry",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-care-gap-registry",
            "documentation": "Care-gap episodes (DetectedIssues the risk pass keeps from the measures' gaps and due screenings) open in a period: opened, closed, closed after outreach (BB6.Y2.3).",
        }, {
            "name": "bh-registry",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-bh-registry",
            "documentation": "High-risk behavioral-health patients (SMI, SUD, PHQ-9 of 20 or more, recent BH admission) with their outreach status (BB10.Y2.2).",
        }, {
            "name": "stratify",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-stratify",
            "documentation": "Re-stratify the practice now, keeping changed strata as RiskAssessments (POST, practice users); also runs every [risk] restratify_secs.",
        }, {
            "name": "refresh-charts",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-refresh-charts",
            "documentation": "Recompute the web app's run charts (monthly rates of the integration milestones, up to 24 months) now (POST, practice users); also runs every [app] charts_refresh_secs.",
        }, {
            "name": "panel-changes",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-panel-changes",
            "documentation": "PCP assignment changes recorded in a period: who, when, from what to what, and their confirmation (BB3.Y1.3).",
        }, {
            "name": "panel-confirm",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-panel-confirm",
            "documentation": "Confirm a patient's recorded PCP assignment changes (POST, practice users).",
        }, {
            "name": "sign-off",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-sign-off",
            "documentation": "Release a held submission (POST, practice admin).",
        }, {
            "name": "amend-submission",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-amend-submission",
            "documentation": "Amend a quarter's submission; the new entry supersedes (POST, practice admin).",
        }, {
            "name": "review-attestation",
            "definition": "http://tandem.health/fhir/OperationDefinition/Organization-review-attestation",
            "documentation": "Accept or return an attested checklist item (POST, facilitator or program).",
        }]);
    }
    if rt == "Measure" {
        entry["operation"] = json!([{
            "name": "evaluate-measure",
            "definition": "http://tandem.health/fhir/OperationDefinition/Measure-evaluate-measure",
            "documentation": "DEQM individual, subject-list or summary MeasureReport for a period; measures are evaluated natively (CMS2, 69, 122, 137, 138, 139, 155, 159, 165).",
        }, {
            "name": "care-gaps",
            "definition": "http://tandem.health/fhir/OperationDefinition/Measure-care-gaps",
            "documentation": "Open (or closed) care gaps per patient: a DetectedIssue per measure group with the individual MeasureReport as evidence.",
        }]);
    }
    if rt == "Patient" {
        entry["operation"] = json!([{
            "name": "screening-status",
            "definition": "http://tandem.health/fhir/OperationDefinition/Patient-screening-status",
            "documentation": "Per instrument the last administration and its reading; per screening domain the next due date.",
        }]);
    }
    entry
}
