//! Behavioral-health referrals inside the write transaction: checking every
//! referral Task change against the workflow and the parties (`guard`),
//! creating ServiceRequest + Task from positive screens or an EHR's
//! ServiceRequest (`create`), and queueing the referral package for partners
//! Tandem pushes to (`package`), with Part 2 data only under consent.
//! Partner writes are linked to the referral as `Task.output` and the
//! referring practice is notified (`feedback`).

mod create;
mod feedback;
mod guard;
mod package;
mod report;

use serde_json::Value;

use super::ServiceError;
use super::fhir_api::resource::Stamper;
use super::screening::Written;
use crate::rules::referral::compact::Partner;
use crate::rules::referral::{REFERRAL_CATEGORY, TASK_CODE_CS};
use crate::store::WriteTx;

pub use create::PositiveScreen;

/// Outbox topic of referral packages to partners.
pub const REFERRAL_TOPIC: &str = "referral";
/// Outbox topic of referral updates to the referring practice.
pub const REFERRAL_UPDATE_TOPIC: &str = "referral-update";

/// The configured partners.
#[derive(Debug, Clone, Default)]
pub struct Referrals {
    pub partners: Vec<Partner>,
}

/// Who is writing: their organization, and whether they work as a guest
/// (a partner inside the referring practice's tenant).
#[derive(Debug, Clone)]
pub struct Writer {
    pub org: String,
    pub guest: bool,
    /// The writer's role: a behavioral-health partner's writes are confined
    /// to referrals, a payer's are attribution lists.
    pub role: crate::caller::Role,
    /// The client that wrote (Provenance agents name it).
    pub client: String,
    /// The person the client wrote for (a user-level token), if any.
    pub person: Option<String>,
}

/// One unit of work's referral processing.
pub struct Pass<'a> {
    pub tx: &'a mut dyn WriteTx,
    pub st: &'a Stamper,
    pub tenant: &'a str,
    pub referrals: &'a Referrals,
    pub writer: &'a Writer,
}

impl Referrals {
    /// A partner of `tenant` by Organization id.
    pub fn partner(&self, tenant: &str, id: &str) -> Option<&Partner> {
        self.partners
            .iter()
            .find(|p| p.id == id && p.tenants.iter().any(|t| t == tenant))
    }

    pub fn by_id(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }
}

impl Pass<'_> {
    /// Everything referrals do after a unit wrote `written`, given the
    /// positive screens its derivations produced.
    pub fn run(
        &mut self,
        written: &[Written],
        positives: &[PositiveScreen],
    ) -> Result<(), ServiceError> {
        guard::check_all(self, written)?;
        for p in positives {
            self.refer_screen(p)?;
        }
        for w in written
            .iter()
            .filter(|w| w.resource_type == "ServiceRequest" && !w.deleted)
        {
            self.refer_request(w)?;
        }
        for w in written
            .iter()
            .filter(|w| w.resource_type == "Task" && !w.deleted)
        {
            self.task_changed(w)?;
        }
        // A partner's feedback is linked to (and confined to) its referrals
        // where this practice has partners. A Tandem that only receives
        // referrals has none: the referring practice pushes its package
        // there as a guest, Patient first and the Task last, one PUT each.
        if self.writer.guest
            && self.writer.role == crate::caller::Role::BhPartner
            && !self.referrals.partners.is_empty()
        {
            feedback::link_outputs(self, written)?;
        }
        Ok(())
    }
}

/// The id in an `Organization/{id}` reference.
pub fn org_of(reference: &Value) -> Option<&str> {
    reference["reference"]
        .as_str()?
        .strip_prefix("Organization/")
}

/// A referral Task: code `fulfill`.
pub fn is_referral_task(t: &Value) -> bool {
    t["code"]["coding"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["system"] == TASK_CODE_CS && c["code"] == "fulfill")
    })
}

/// A referral ServiceRequest: category "Patient referral".
pub fn is_referral_request(sr: &Value) -> bool {
    sr["category"].as_array().is_some_and(|cats| {
        cats.iter().any(|c| {
            c["coding"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["system"] == REFERRAL_CATEGORY.0 && c["code"] == REFERRAL_CATEGORY.1)
            })
        })
    })
}
