//! Post-write hooks: the seam where each capability reacts to what a unit of
//! work wrote, inside the same transaction, before it commits (so a 2xx means
//! the derived resources are committed too, and a failed write derives
//! nothing).
//!
//! Each capability registers its own hook with its own switch, so turning one
//! off never turns off another: screening (`[derivations] enabled`),
//! transitions of care (`[transitions] enabled`: held notifications filed
//! when their Patient arrives, follow-up Tasks completed by their evidence)
//! and referrals (`[referrals] enabled`: the referral Task workflow, automatic
//! referrals to configured partners, partner feedback). Hooks run in
//! registration order; an earlier hook hands results to later ones through
//! [`HookCx`] (screening's positive screens to referrals).

use std::sync::Arc;

use crate::service::ServiceError;
use crate::service::fhir_api::resource::Stamper;
use crate::service::referrals::{self, PositiveScreen, Referrals, Writer};
use crate::service::screening::{Notes, Recording, Written};
use crate::service::transitions::followup_evidence;
use crate::service::transitions::receive::{TransitionRules, Unit as TransitionUnit};
use crate::store::WriteTx;

/// What a hook works with: the open transaction and what earlier hooks left.
pub struct HookCx<'a> {
    pub tx: &'a mut dyn WriteTx,
    pub st: &'a Stamper,
    pub tenant: &'a str,
    /// Who wrote: the practice itself, or a partner as a guest.
    pub writer: &'a Writer,
    /// Warnings for the sender, keyed by the source they concern.
    pub notes: Notes,
    /// Positive, complete screens written in this unit (screening → referrals).
    pub positives: Vec<PositiveScreen>,
}

/// A capability's reaction to a unit of work's writes.
pub trait PostWriteHook: Send + Sync {
    fn name(&self) -> &'static str;
    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError>;
}

/// Transitions of care: follow-up Tasks complete when their evidence is
/// written; held HIE notifications are filed when their Patient arrives.
pub struct TransitionsHook(pub TransitionRules);

impl PostWriteHook for TransitionsHook {
    fn name(&self) -> &'static str {
        "transitions"
    }

    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        followup_evidence::complete(cx.tx, cx.st, written)?;
        if written
            .iter()
            .any(|w| w.resource_type == "Patient" && !w.deleted)
        {
            TransitionUnit {
                tx: cx.tx,
                st: cx.st,
                tenant: cx.tenant,
                rules: &self.0,
            }
            .release_held()?;
        }
        Ok(())
    }
}

/// Referrals: the Task workflow is enforced whether or not partners are
/// configured; positive screens and referral requests reach the partners
/// that accept them.
pub struct ReferralsHook(pub Arc<Referrals>);

impl PostWriteHook for ReferralsHook {
    fn name(&self) -> &'static str {
        "referrals"
    }

    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        let positives = std::mem::take(&mut cx.positives);
        referrals::Pass {
            tx: cx.tx,
            st: cx.st,
            tenant: cx.tenant,
            referrals: &self.0,
            writer: cx.writer,
        }
        .run(written, &positives)
    }
}

/// The hooks of one unit of work; cloned into the write closure.
#[derive(Clone)]
pub struct Unit {
    pub hooks: Arc<Vec<Box<dyn PostWriteHook>>>,
    pub stamper: Stamper,
    pub tenant: String,
    pub writer: Writer,
}

impl Unit {
    /// Runs `work` with its writes noted, then every hook over them in the
    /// same transaction.
    pub fn run<T>(
        &self,
        tx: &mut dyn WriteTx,
        work: impl FnOnce(&mut dyn WriteTx) -> Result<T, ServiceError>,
    ) -> Result<(T, Notes), ServiceError> {
        if self.hooks.is_empty() {
            return Ok((work(tx)?, Notes::default()));
        }
        let mut rec = Recording {
            inner: tx,
            written: Vec::new(),
            all: self.writer.guest,
        };
        let out = work(&mut rec)?;
        let written = std::mem::take(&mut rec.written);
        let mut cx = HookCx {
            tx,
            st: &self.stamper,
            tenant: &self.tenant,
            writer: &self.writer,
            notes: Notes::default(),
            positives: Vec::new(),
        };
        for hook in self.hooks.iter() {
            hook.after_write(&mut cx, &written)?;
        }
        Ok((out, cx.notes))
    }
}
