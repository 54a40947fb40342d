//! The risk capability's post-write hook: a care team's tier override is
//! checked inside the write that carries it, so one Tandem cannot apply
//! (no performer, reason or expiry; a tier the method does not have) is
//! refused whole with 422 and nothing is stored. The RiskAssessments Tandem
//! keeps itself are not the sender's to write or change.

use std::sync::Arc;

use serde_json::Value;

use crate::fhir::outcome::Issue;
use crate::rules::risk::Method;
use crate::rules::risk::overrides::{is_derived, read, standing, states_tier};
use crate::service::ServiceError;
use crate::service::hooks::{HookCx, PostWriteHook};
use crate::service::screening::Written;

pub struct RiskHook(pub Arc<Method>);

fn refused(m: String) -> ServiceError {
    ServiceError::Unprocessable(vec![Issue::error("business-rule", m)])
}

impl PostWriteHook for RiskHook {
    fn name(&self) -> &'static str {
        "risk"
    }

    fn after_write(&self, _cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        for w in written
            .iter()
            .filter(|w| w.resource_type == "RiskAssessment")
        {
            let parse = |body: &str| serde_json::from_str::<Value>(body).ok();
            let ra = (!w.deleted).then(|| parse(&w.body)).flatten();
            let was_tandems = w
                .previous
                .as_deref()
                .and_then(parse)
                .is_some_and(|v| is_derived(&v));
            if was_tandems || ra.as_ref().is_some_and(is_derived) {
                return Err(refused(format!(
                    "RiskAssessment/{}: the risk-stratification tag marks the assessments Tandem \
                     keeps itself from the method; a care team states its tier as an override, a \
                     RiskAssessment of its own with performer, reasonCode and \
                     prediction.whenPeriod.end.",
                    w.id
                )));
            }
            if let Some(ra) = ra.filter(|ra| states_tier(ra) && standing(ra)) {
                read(&ra, &self.0)
                    .map_err(|m| refused(format!("RiskAssessment/{}: {m}.", w.id)))?;
            }
        }
        Ok(())
    }
}
