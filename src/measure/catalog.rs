//! The measures Tandem evaluates: each version's definition (which Rust
//! transcription, which content generation, which performance year) and the
//! Measure resource and value sets shipped with it in `conformance/measures/`.
//! A measure is chosen by the year its measurement period starts in; the
//! period itself can be anything.

use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use std::sync::OnceLock;

use super::Evaluate;
use super::attribution::Attribution;
use super::cms;
use super::qicore::{Libs, StatusLib, Ver};
use super::valueset::ValueSets;

/// One version of one measure.
pub struct MeasureDef {
    /// Tandem's Measure id, e.g. `CMS122-2026`.
    pub id: &'static str,
    pub cms: &'static str,
    /// Performance year the version was published for.
    pub year: i32,
    pub ver: Ver,
    pub evaluate: Evaluate,
    /// A lower score is better (CMS122: poor control is the numerator), so a
    /// care gap is being *in* the numerator. The published Measure's
    /// improvement notation cannot be trusted for this (CMS122 2026 says
    /// "increase"); the CMS specification text is followed instead.
    pub inverse: bool,
    /// The value sets (OIDs) the transcription reads.
    pub value_sets: &'static [&'static str],
    /// Transcribed from a published FHIR eCQM (CQL and the authors' MADiE
    /// test cases in `../shared/data/ecqm`), rather than written from a
    /// specification document.
    pub published_cql: bool,
    /// Whose patient a result is when a report is sliced by practitioner.
    pub attribution: Attribution,
    bundle: &'static str,
}

macro_rules! def {
    ($cms:literal, $year:literal, $ver:expr, $module:ident) => {
        def!($cms, $year, $ver, $module, true)
    };
    ($cms:literal, $year:literal, $ver:expr, $module:ident, $cql:literal) => {
        MeasureDef {
            published_cql: $cql,
            id: concat!($cms, "-", $year),
            cms: $cms,
            year: $year,
            ver: $ver,
            inverse: cms::$module::INVERSE,
            attribution: cms::$module::ATTRIBUTION,
            evaluate: cms::$module::evaluate,
            value_sets: cms::$module::VALUE_SETS,
            bundle: include_str!(concat!(
                "../../conformance/measures/",
                $cms,
                "-",
                $year,
                ".json"
            )),
        }
    };
}

static DEFS: &[MeasureDef] = &[
    def!("CMS122", 2025, Ver::Qi411, cms122),
    def!("CMS122", 2026, Ver::Qi600, cms122),
    def!("CMS165", 2025, Ver::Qi411, cms165),
    def!("CMS165", 2026, Ver::Qi600, cms165),
    def!("CMS137", 2025, Ver::Qi411, cms137),
    def!("CMS138", 2025, Ver::Qi411, cms138),
    def!("CMS139", 2025, Ver::Qi411, cms139),
    def!("CMS155", 2025, Ver::Qi411, cms155),
    def!("CMS155", 2026, Ver::Qi600, cms155),
    def!("CMS159", 2025, Ver::Qi411, cms159),
    def!("CMS159", 2026, Ver::Qi600, cms159),
    def!("CMS2", 2025, Ver::Qi411, cms2),
    def!("CMS2", 2026, Ver::Qi600, cms2),
    def!("CMS69", 2025, Ver::Qi411, cms69),
    def!("CMS69", 2026, Ver::Qi600, cms69),
    // Written from their specifications (no FHIR bundle is published); their
    // bundles hold Tandem's Measure and value sets (scripts/hand-measures.py)
    // and they read the QI-Core 6.0.0 status rules.
    def!("CMS82", 2019, Ver::Qi600, cms82, false),
    def!("NQF1448", 2025, Ver::Qi600, nqf1448, false),
    def!("NQF2152", 2019, Ver::Qi600, nqf2152, false),
    def!("NQF1799", 2019, Ver::Qi600, nqf1799, false),
];

/// The SIM measure sets (Colorado SIM guide, Appendix C, "SIM Clinical
/// Quality Measure Set"), primary and secondary CQMs: adult SIM-only sites,
/// pediatric sites, and adult sites also in CPC+ (where CMS159 may stand in
/// for CMS2 and no obesity measure is required).
pub const COHORTS: &[(&str, &[&str])] = &[
    (
        "adult",
        &[
            "CMS2", "CMS122", "CMS165", "CMS69", "CMS137", "CMS138", "NQF1799", "CMS139", "CMS82",
            "NQF2152",
        ],
    ),
    (
        "pediatric",
        &["CMS2", "NQF1448", "CMS82", "CMS155", "NQF1799"],
    ),
    (
        "cpc",
        &[
            "CMS2", "CMS159", "CMS122", "CMS165", "CMS137", "CMS138", "NQF1799", "CMS139", "CMS82",
            "NQF2152",
        ],
    ),
];

/// The measures of a SIM cohort (`adult`, `pediatric`, `cpc`).
pub fn cohort(name: &str) -> Option<&'static [&'static str]> {
    COHORTS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// Measure definitions with their resources parsed and value sets loaded.
pub struct Catalog {
    pub defs: &'static [MeasureDef],
    measures: Vec<Value>,
    /// Per definition, the expansions shipped with *that* version: the same
    /// OID expands differently from year to year, so versions never share.
    value_sets: Vec<ValueSets>,
    /// Per definition, the shared-library versions it includes.
    libs: Vec<Libs>,
}

/// The shared libraries and versions Tandem's transcriptions implement. A
/// measure including anything else is refused at start-up: its numbers
/// would silently follow another version's rules.
const IMPLEMENTED: &[(&str, &[&str])] = &[
    ("Status", &["1.8.000", "1.13.000", "1.15.000"]),
    ("Hospice", &["6.12.000", "6.15.000", "6.18.000"]),
    ("PalliativeCare", &["1.11.000", "1.15.000", "1.18.000"]),
    ("AdvancedIllnessandFrailty", &["1.16.000", "1.27.000"]),
    ("AdultOutpatientEncounters", &["4.11.000", "4.19.000"]),
    ("CumulativeMedicationDuration", &["4.1.000", "6.0.000"]),
    ("QICoreCommon", &["2.1.000", "4.0.000"]),
    ("CQMCommon", &["2.2.000"]),
    ("FHIRHelpers", &["4.4.000"]),
    ("SupplementalDataElements", &["3.5.000", "5.1.000"]),
];

/// The libraries a Measure depends on (`name`, `version`), from the
/// effective data requirements it contains (MADiE's export); empty when it
/// publishes none.
fn dependencies(measure: &Value) -> Vec<(String, String)> {
    measure["contained"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["relatedArtifact"].as_array().into_iter().flatten())
        .filter(|ra| ra["type"] == "depends-on")
        .filter_map(|ra| ra["resource"].as_str()?.split_once("/Library/"))
        .filter_map(|(_, lib)| lib.split_once('|'))
        .map(|(name, version)| (name.to_string(), version.to_string()))
        .collect()
}

/// The library versions a measure reads: from its dependencies when it
/// publishes them, else its generation's (see [`Libs::of`]). Errs naming a
/// library or version Tandem does not implement.
pub fn libs_of(id: &str, ver: Ver, measure: &Value) -> Result<Libs, String> {
    let mut libs = Libs::of(ver);
    for (name, version) in dependencies(measure) {
        let known = IMPLEMENTED
            .iter()
            .any(|(n, vs)| *n == name && vs.contains(&version.as_str()));
        if !known {
            return Err(format!(
                "{id} includes library {name} version {version}, which Tandem does not implement"
            ));
        }
        match (name.as_str(), version.as_str()) {
            ("Status", "1.15.000") => libs.status = StatusLib::FinishedOnly,
            ("Status", _) => libs.status = StatusLib::Broad,
            ("Hospice", v) => libs.hospice_verified = v == "6.18.000",
            ("PalliativeCare", v) => libs.palliative_verified = v == "1.18.000",
            _ => {}
        }
    }
    Ok(libs)
}

impl Catalog {
    /// Every measure version. [`Catalog::check`] runs at start-up, so a
    /// catalog that cannot load stops the server before anything asks here.
    pub fn get() -> &'static Catalog {
        Catalog::loaded()
            .as_ref()
            .expect("the measure catalog was checked at start-up")
    }

    /// Loads the catalog, or says why it cannot be (a shipped bundle that
    /// does not parse, value sets without expansion, a library version
    /// Tandem does not implement).
    pub fn check() -> Result<&'static Catalog, String> {
        Catalog::loaded().as_ref().map_err(Clone::clone)
    }

    fn loaded() -> &'static Result<Catalog, String> {
        static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
        CATALOG.get_or_init(Catalog::load)
    }

    fn load() -> Result<Catalog, String> {
        let mut all = ValueSets::default();
        let mut own = Vec::new();
        let mut measures = Vec::new();
        let mut libs = Vec::new();
        for def in DEFS {
            let bundle: Value =
                serde_json::from_str(def.bundle).map_err(|e| format!("{}: {e}", def.id))?;
            let mut sets = ValueSets::default();
            sets.add_bundle(&bundle);
            all.add_bundle(&bundle);
            own.push(sets);
            let measure = bundle["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| &e["resource"])
                .find(|r| r["resourceType"] == "Measure")
                .cloned()
                .ok_or_else(|| format!("{}: no Measure", def.id))?;
            libs.push(libs_of(def.id, def.ver, &measure)?);
            measures.push(measure);
        }
        for (def, sets) in DEFS.iter().zip(own.iter_mut()) {
            // A version's bundle holds every set its ELM references; sets it
            // lacks are ones only another version reads (never consulted here).
            sets.fill_from(&all);
            let missing = sets.missing(def.value_sets);
            if !missing.is_empty() {
                return Err(format!(
                    "{}: value sets without expansion: {missing:?}",
                    def.id
                ));
            }
        }
        Ok(Catalog {
            defs: DEFS,
            measures,
            value_sets: own,
            libs,
        })
    }

    /// Where a definition sits in `defs` (it is one of them: `MeasureDef`s
    /// only come from the static table).
    fn index(&self, def: &MeasureDef) -> usize {
        self.defs
            .iter()
            .position(|d| std::ptr::eq(d, def))
            .expect("a MeasureDef of the catalog")
    }

    /// The evaluation context of one patient for one measure version: its
    /// value sets and its library versions.
    pub fn context<'a>(
        &'a self,
        def: &MeasureDef,
        record: &'a super::record::Record,
        first: NaiveDate,
        last: NaiveDate,
    ) -> super::qicore::Ctx<'a> {
        super::qicore::Ctx::new(record, self.value_sets(def), first, last, def.ver)
            .with_libs(self.libs(def))
    }

    /// The shared-library versions one measure version includes.
    pub fn libs(&self, def: &MeasureDef) -> Libs {
        self.libs[self.index(def)]
    }

    /// The value sets of one measure version.
    pub fn value_sets(&self, def: &MeasureDef) -> &ValueSets {
        &self.value_sets[self.index(def)]
    }

    /// The version of `cms` for a period starting on `start`: the one
    /// published for that year, else the latest one before it.
    pub fn for_period(&self, cms: &str, start: NaiveDate) -> Option<&'static MeasureDef> {
        self.defs
            .iter()
            .filter(|d| d.cms.eq_ignore_ascii_case(cms) && d.year <= start.year())
            .max_by_key(|d| d.year)
            .or_else(|| {
                self.defs
                    .iter()
                    .filter(|d| d.cms.eq_ignore_ascii_case(cms))
                    .min_by_key(|d| d.year)
            })
    }

    /// Every measure, each in its version for a period starting on `start`.
    pub fn all_for_period(&self, start: NaiveDate) -> Vec<&'static MeasureDef> {
        self.measure_names()
            .into_iter()
            .filter_map(|n| self.for_period(n, start))
            .collect()
    }

    /// A definition by Tandem id (`CMS122-2026`).
    pub fn by_id(&self, id: &str) -> Option<&'static MeasureDef> {
        self.defs.iter().find(|d| d.id == id)
    }

    /// The definition a `url|version` canonical names (MeasureReport.measure).
    pub fn by_canonical(&self, canonical: &str) -> Option<&'static MeasureDef> {
        let (url, version) = canonical.split_once('|').unwrap_or((canonical, ""));
        self.defs.iter().find(|d| {
            let m = self.measure(d);
            m["url"] == url && (version.is_empty() || m["version"] == version)
        })
    }

    /// The published Measure resource of a definition.
    pub fn measure(&self, def: &MeasureDef) -> &Value {
        &self.measures[self.index(def)]
    }

    /// The distinct measures (CMS numbers), in catalog order.
    pub fn measure_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for d in self.defs {
            if !names.contains(&d.cms) {
                names.push(d.cms);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_reads_its_own_expansions() {
        // "Office Visit" gained SNOMED 185349003 (Encounter for check up) in
        // the 2026 expansion; a 2025 measure must not see it.
        let c = Catalog::get();
        let office = "2.16.840.1.113883.3.464.1003.101.12.1001";
        let sct = "http://snomed.info/sct";
        assert!(
            c.value_sets(c.by_id("CMS122-2026").unwrap())
                .has(office, sct, "185349003")
        );
        assert!(
            !c.value_sets(c.by_id("CMS139-2025").unwrap())
                .has(office, sct, "185349003")
        );
        assert!(
            !c.value_sets(c.by_id("CMS122-2025").unwrap())
                .has(office, sct, "185349003")
        );
    }

    #[test]
    fn versions_are_chosen_by_period_year() {
        let c = Catalog::get();
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        assert_eq!(
            c.for_period("CMS122", d(2026, 1)).unwrap().id,
            "CMS122-2026"
        );
        assert_eq!(
            c.for_period("cms122", d(2025, 4)).unwrap().id,
            "CMS122-2025"
        );
        assert_eq!(
            c.for_period("CMS122", d(2027, 1)).unwrap().id,
            "CMS122-2026"
        );
        assert_eq!(
            c.for_period("CMS122", d(2020, 1)).unwrap().id,
            "CMS122-2025"
        );
        assert!(c.for_period("CMS999", d(2026, 1)).is_none());
        assert_eq!(
            c.measure(c.by_id("CMS165-2026").unwrap())["resourceType"],
            "Measure"
        );
    }
}
