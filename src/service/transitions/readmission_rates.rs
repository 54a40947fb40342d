//! Maine's readmission milestones (HH.READMIT, HH.READMIT-MH): all-cause
//! 30-day readmissions after the hospital stays discharged in a period,
//! overall and after stays for a mental-health or substance-use reason (the
//! risk method's reading of an encounter's reason, `rules::risk::facts`),
//! from the Encounters `$process-message` files (`rules::toc_numbers`).

use serde_json::Value;

use crate::measure::milestone::standing::Finding;
use crate::rules::risk::facts::behavioral_reason;
use crate::rules::toc_numbers::{Stay, readmissions};
use crate::rules::transitions::HOSPITAL_CLASSES;
use crate::service::transitions::readmit::time;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

fn stay(e: &Value) -> Option<Stay> {
    let time = |p: &str| time(e, p);
    if matches!(e["status"].as_str(), Some("entered-in-error" | "cancelled")) {
        return None;
    }
    Some(Stay {
        id: format!("Encounter/{}", e["id"].as_str()?),
        patient: e["subject"]["reference"].as_str()?.to_string(),
        class: e["class"]["code"].as_str()?.to_string(),
        admitted_ms: time("/period/start")?,
        discharged_ms: time("/period/end"),
        behavioral: behavioral_reason(e),
    })
}

impl FhirService {
    /// The readmission ratio of the stays discharged in `[start, end)`
    /// (lower is better; the milestone is met when it is tracked).
    pub(crate) async fn readmission_finding(
        &self,
        ctx: &AccessContext,
        (start, end): (i64, i64),
        behavioral_only: bool,
    ) -> Result<Finding, ServiceError> {
        let stays = self
            .find_map(
                ctx,
                "Encounter",
                &[("class", HOSPITAL_CLASSES.join(","))],
                |e| stay(&e),
            )
            .await?;
        let r = readmissions(&stays, start, end, behavioral_only);
        Ok(Finding::Ratio {
            numerator: r.numerator,
            denominator: r.denominator,
            also: None,
        })
    }
}
