//! A program's milestone catalog: the Measures in `conformance/milestones/`
//! read into [`Milestone`]s. The catalog is data — adding a milestone or a
//! program is a new Measure, not code; code only supplies the computations a
//! computed milestone names (`population`, `service::milestones`).

use serde_json::Value;

/// The extension every milestone Measure carries (building block, project
/// year, evidence kind, computation, threshold).
pub const MILESTONE_EXT: &str = "http://tandem.health/fhir/StructureDefinition/milestone";

/// Catalogs shipped with Tandem, by name.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "colorado-sim",
        include_str!("../../../conformance/milestones/colorado-sim.json"),
    ),
    (
        "maine-health-homes",
        include_str!("../../../conformance/milestones/maine-health-homes.json"),
    ),
];

/// How a milestone is evidenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// A number Tandem derives from the data, held against a threshold.
    Computed,
    /// Tandem's own configuration and activity.
    System,
    /// Configuration and activity, plus a human attestation of the rest.
    SystemAttested,
    /// Only people can show it: an attestation with its documents.
    Attested,
}

impl Evidence {
    fn parse(s: &str) -> Option<Evidence> {
        Some(match s {
            "computed" => Evidence::Computed,
            "system" => Evidence::System,
            "system+attested" => Evidence::SystemAttested,
            "attested" => Evidence::Attested,
            _ => return None,
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Evidence::Computed => "computed",
            Evidence::System => "system",
            Evidence::SystemAttested => "system+attested",
            Evidence::Attested => "attested",
        }
    }
}

/// One milestone of a program.
#[derive(Debug, Clone)]
pub struct Milestone {
    /// The program's own id, e.g. `BB7.Y1.2`.
    pub id: String,
    /// The Measure's id, e.g. `colorado-sim-BB7.Y1.2`.
    pub measure_id: String,
    pub block: u8,
    /// Project year (1, 2, …); 0 for a program goal outside the yearly rules.
    pub year: u8,
    pub evidence: Evidence,
    /// Which computation evaluates it (computed and system milestones).
    pub computation: Option<String>,
    /// The share (0–1) or count it is held against; none: any evidence meets it.
    pub threshold: Option<f64>,
    /// Lower is better (the Measure's `improvementNotation` is `decrease`,
    /// e.g. readmissions): the share is held under the threshold, and with
    /// none the milestone is met when it is tracked (a denominator exists).
    pub lower_is_better: bool,
    /// Distinct instruments that must be in use (BB7.Y1.2: two).
    pub min_instruments: Option<u8>,
    pub title: String,
    /// The Measure resource as published.
    pub measure: Value,
}

impl Milestone {
    /// An item of the attestation checklist: attested, alone or after its
    /// system evidence.
    pub fn on_checklist(&self) -> bool {
        matches!(self.evidence, Evidence::Attested | Evidence::SystemAttested)
    }
}

/// Every milestone of one program.
#[derive(Debug, Clone)]
pub struct MilestoneCatalog {
    pub name: String,
    pub milestones: Vec<Milestone>,
}

impl MilestoneCatalog {
    /// A built-in catalog by name, or a Bundle file by path (ends in `.json`).
    pub fn load(name: &str) -> Result<MilestoneCatalog, String> {
        let text = match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => t.to_string(),
            None if name.ends_with(".json") => std::fs::read_to_string(name)
                .map_err(|e| format!("cannot read milestone catalog {name}: {e}"))?,
            None => {
                let known: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown milestone catalog '{name}' (built in: {}; or a .json Bundle path)",
                    known.join(", ")
                ));
            }
        };
        let bundle: Value = serde_json::from_str(&text)
            .map_err(|e| format!("milestone catalog {name} is not JSON: {e}"))?;
        let milestones = bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| parse(&e["resource"]).map_err(|m| format!("milestone catalog {name}: {m}")))
            .collect::<Result<Vec<_>, _>>()?;
        if milestones.is_empty() {
            return Err(format!("milestone catalog {name} holds no Measures"));
        }
        Ok(MilestoneCatalog {
            name: name.to_string(),
            milestones,
        })
    }

    pub fn by_id(&self, id: &str) -> Option<&Milestone> {
        self.milestones
            .iter()
            .find(|m| m.id == id || m.measure_id == id)
    }

    /// The building blocks the catalog has milestones in.
    pub fn blocks(&self) -> std::collections::BTreeSet<u8> {
        self.milestones.iter().map(|m| m.block).collect()
    }
}

/// One Measure of a catalog, read.
fn parse(m: &Value) -> Result<Milestone, String> {
    let measure_id = m["id"].as_str().ok_or("a Measure without id")?.to_string();
    let bad = |what: &str| format!("Measure/{measure_id}: {what}");
    let ext = m["extension"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["url"] == MILESTONE_EXT))
        .ok_or_else(|| bad("no milestone extension"))?;
    let part = |name: &str| {
        ext["extension"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["url"] == name))
    };
    let int = |name: &str| {
        part(name)
            .and_then(|e| e["valueInteger"].as_u64())
            .and_then(|v| u8::try_from(v).ok())
    };
    let evidence = part("evidence")
        .and_then(|e| e["valueCode"].as_str())
        .and_then(Evidence::parse)
        .ok_or_else(|| bad("evidence must be computed, system, system+attested or attested"))?;
    let computation = part("computation")
        .and_then(|e| e["valueCode"].as_str())
        .map(str::to_string);
    if evidence != Evidence::Attested && computation.is_none() {
        return Err(bad("a computed or system milestone names its computation"));
    }
    Ok(Milestone {
        id: m["identifier"][0]["value"]
            .as_str()
            .ok_or_else(|| bad("no identifier"))?
            .to_string(),
        block: int("buildingBlock").ok_or_else(|| bad("no buildingBlock"))?,
        year: int("projectYear").ok_or_else(|| bad("no projectYear"))?,
        evidence,
        computation,
        threshold: part("threshold").and_then(|e| e["valueDecimal"].as_f64()),
        lower_is_better: m["improvementNotation"]["coding"][0]["code"] == "decrease",
        min_instruments: int("minimumInstruments"),
        title: m["description"].as_str().unwrap_or_default().to_string(),
        measure: m.clone(),
        measure_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogs_load_with_their_thresholds() {
        let co = MilestoneCatalog::load("colorado-sim").unwrap();
        assert_eq!(co.milestones.len(), 64);
        assert_eq!(co.blocks().len(), 10);
        let bb7 = co.by_id("BB7.Y1.2").unwrap();
        assert_eq!(
            (bb7.block, bb7.year, bb7.evidence),
            (7, 1, Evidence::Computed)
        );
        assert_eq!(bb7.threshold, Some(0.25));
        assert_eq!(bb7.computation.as_deref(), Some("bh-screening"));
        assert_eq!(bb7.min_instruments, Some(2));
        assert_eq!(co.by_id("BB7.Y2.1").unwrap().min_instruments, None);
        assert_eq!(
            co.by_id("colorado-sim-BB3.Y2.1").unwrap().threshold,
            Some(0.75)
        );
        let me = MilestoneCatalog::load("maine-health-homes").unwrap();
        assert!(me.milestones.iter().all(|m| m.threshold.is_none()));
        assert!(MilestoneCatalog::load("nowhere").is_err());
    }
}
