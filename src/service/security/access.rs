//! Access enforcement inside the service: every interaction is authorised
//! against the caller's grant, every resource leaving Tandem passes the
//! visibility screen (scope restrictions, partner shared set, sensitive labels
//! and consent), and every interaction is audited.

use std::collections::HashSet;

use serde_json::Value;

use crate::auth::audit::patients_of;
use crate::auth::consent::{Disclosure, verdict};
use crate::auth::policy::{
    ACTIVE_REFERRAL_STATUSES, Denial, Interaction, authorize, matches_restrictions,
    sensitive_labels, shared_refs,
};
use crate::caller::scopes::Allowance;
use crate::fhir::outcome::Issue;
use crate::fhir::query::parse as parse_query;
use crate::service::fhir_api::bundle_entry::{Method, Op};
use crate::service::fhir_api::crud::not_found;
use crate::service::referrals::is_referral_task;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, StoredResource};

impl From<Denial> for ServiceError {
    fn from(d: Denial) -> Self {
        match d {
            Denial::Forbidden(m) => ServiceError::Forbidden(Issue::error("forbidden", m)),
            Denial::Immutable(m) => {
                ServiceError::MethodNotAllowed(Issue::error("not-supported", m))
            }
        }
    }
}

/// What a guest (BH partner) may see inside a practice's tenant.
pub(crate) struct Guest {
    /// What the practice's open referrals to the partner share with it.
    shared: HashSet<String>,
    /// What the partner created here itself (`Type/id`).
    authored: HashSet<String>,
    /// Consents of the patients shared or written about.
    consents: Vec<Value>,
    org: String,
}

/// The visibility screen of one request.
pub(crate) struct Viewer {
    guest: Option<Guest>,
    now_ms: i64,
    /// Admins also see held messages (notifications for patients the
    /// practice does not know): they are not the practice's records.
    admin: bool,
}

/// A consent decision taken while screening (audited).
pub(crate) struct ConsentDecision {
    pub resource: String,
    pub patient: Vec<String>,
    pub consent: Option<String>,
    pub permit: bool,
}

impl FhirService {
    /// Authorises `i` on `rt` for the caller, auditing a refusal.
    pub(crate) fn allow(
        &self,
        ctx: &AccessContext,
        rt: &str,
        i: Interaction,
    ) -> Result<Allowance, ServiceError> {
        let mut a = authorize(&ctx.grant, rt, i);
        if ctx.guest
            && a.is_ok()
            && matches!(i, Interaction::HistoryType | Interaction::HistorySystem)
        {
            a = Err(Denial::Forbidden(
                "Partner clients read history per resource, not per type or system.".into(),
            ));
        }
        let write = matches!(
            i,
            Interaction::Create | Interaction::Update | Interaction::Delete
        );
        if ctx.guest && a.is_ok() && write {
            // What a partner writes must never widen what it sees or change
            // how the practice's data is read: a Consent is the practice's
            // record of the patient's permission (a recipient naming itself
            // would unlock 42 CFR Part 2 data), and a Questionnaire would be
            // used to score the practice's responses.
            let why = match rt {
                "Consent" => Some(
                    "Partner clients cannot write Consent: only the practice records a \
                     patient's consent to share (42 CFR Part 2).",
                ),
                "Questionnaire" => Some(
                    "Partner clients cannot write Questionnaire: the practice's responses are \
                     scored only by Tandem's instruments or the practice's own Questionnaires.",
                ),
                _ => None,
            };
            if let Some(why) = why {
                a = Err(Denial::Forbidden(why.into()));
            }
        }
        a.map_err(|d| {
            self.audit_refusal(ctx, i, rt);
            d.into()
        })
    }

    /// Conditional interactions match over the whole tenant, so a guest
    /// could probe for resources it may not see: refused.
    pub(crate) fn no_guest_conditionals(&self, ctx: &AccessContext) -> Result<(), ServiceError> {
        if ctx.guest {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Partner clients cannot use conditional interactions; address resources by id.",
            )));
        }
        Ok(())
    }

    /// Builds the screen for this request: for guests, the set open referrals
    /// share with the partner and the consents of those patients.
    pub(crate) async fn viewer(&self, ctx: &AccessContext) -> Result<Viewer, ServiceError> {
        let now_ms = self.clock.now_ms();
        let admin = ctx.grant.role.is_admin();
        if !ctx.guest {
            return Ok(Viewer {
                guest: None,
                now_ms,
                admin,
            });
        }
        let org = ctx.grant.org.clone();
        // Only referral Tasks the practice made count: a partner cannot create
        // a referral Task it owns (the workflow lets only the requester
        // create one), so what it writes never widens what it sees.
        let tasks: Vec<Value> = self
            .find_values(
                ctx,
                "Task",
                &[
                    ("owner", format!("Organization/{org}")),
                    ("status", ACTIVE_REFERRAL_STATUSES.join(",")),
                ],
            )
            .await?
            .into_iter()
            .filter(is_referral_task)
            .collect();
        let focus: Vec<String> = tasks
            .iter()
            .filter_map(|t| t["focus"]["reference"].as_str())
            .filter_map(|r| r.strip_prefix("ServiceRequest/"))
            .map(str::to_string)
            .collect();
        let requests = if focus.is_empty() {
            Vec::new()
        } else {
            self.find_values(ctx, "ServiceRequest", &[("_id", focus.join(","))])
                .await?
        };
        let shared = shared_refs(&tasks, &requests);
        let authored: HashSet<String> = self
            .store
            .authored(&ctx.tenant, &ctx.client_id)
            .await?
            .into_iter()
            .collect();
        let patients: Vec<&str> = shared
            .iter()
            .chain(&authored)
            .filter(|r| r.starts_with("Patient/"))
            .map(String::as_str)
            .collect();
        let consents = if patients.is_empty() {
            Vec::new()
        } else {
            self.find_values(ctx, "Consent", &[("patient", patients.join(","))])
                .await?
        };
        Ok(Viewer {
            guest: Some(Guest {
                shared,
                authored,
                consents,
                org,
            }),
            now_ms,
            admin,
        })
    }

    /// Live resources of `rt` matching `pairs` (from committed data, no access
    /// screening: callers have authorized the use), parsed; at most 100,000.
    pub(crate) async fn find_values(
        &self,
        ctx: &AccessContext,
        rt: &str,
        pairs: &[(&str, String)],
    ) -> Result<Vec<Value>, ServiceError> {
        self.find_map(ctx, rt, pairs, Some).await
    }

    /// As [`Self::find_values`], keeping only what `keep` takes from each
    /// resource: one parsed resource at a time, so a whole practice's
    /// results never sit in memory as JSON trees at once.
    pub(crate) async fn find_map<T>(
        &self,
        ctx: &AccessContext,
        rt: &str,
        pairs: &[(&str, String)],
        mut keep: impl FnMut(Value) -> Option<T>,
    ) -> Result<Vec<T>, ServiceError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let q = parse_query(&self.registry, &self.settings.base_url, rt, &pairs)
            .map_err(|e| ServiceError::Internal(e.0))?;
        let found = self.store.find(ctx, q, 100_000).await?;
        Ok(found
            .iter()
            .filter_map(|r| keep(serde_json::from_str(&r.body).ok()?))
            .collect())
    }

    /// Whether `r` may be shown under `allowance`; consent decisions taken
    /// on the way are pushed to `decisions`.
    pub(crate) fn visible(
        &self,
        viewer: &Viewer,
        allowance: &Allowance,
        r: &StoredResource,
        decisions: &mut Vec<ConsentDecision>,
    ) -> bool {
        if r.deleted {
            return viewer.guest.is_none() || viewer.shares(r);
        }
        if r.resource_type == "Bundle" && !viewer.admin && is_held(&r.body) {
            return false;
        }
        let needs_body = viewer.guest.is_some() || !matches!(allowance, Allowance::All);
        if !needs_body {
            return true;
        }
        let Ok(v) = serde_json::from_str::<Value>(&r.body) else {
            return false;
        };
        if !matches_restrictions(
            &self.registry,
            &self.settings.base_url,
            &r.resource_type,
            &v,
            allowance,
        ) {
            return false;
        }
        match &viewer.guest {
            None => true,
            Some(g) => viewer.shares(r) && g.labels_permit(r, &v, viewer.now_ms, decisions),
        }
    }
}

impl Viewer {
    fn shares(&self, r: &StoredResource) -> bool {
        self.guest.as_ref().is_none_or(|g| {
            let key = format!("{}/{}", r.resource_type, r.id);
            g.shared.contains(&key) || g.authored.contains(&key)
        })
    }

    /// Whether a guest may change `r` (which it can see): what it created
    /// itself, and the referral Tasks it owns (their workflow is checked
    /// when the write commits). The practice's other records are read-only
    /// to it: changing them would make the partner their author.
    fn guest_may_change(&self, r: &StoredResource) -> bool {
        let Some(g) = &self.guest else {
            return true;
        };
        if g.authored
            .contains(&format!("{}/{}", r.resource_type, r.id))
        {
            return true;
        }
        r.resource_type == "Task"
            && serde_json::from_str::<Value>(&r.body).is_ok_and(|t| {
                is_referral_task(&t)
                    && t["owner"]["reference"].as_str()
                        == Some(format!("Organization/{}", g.org).as_str())
            })
    }
}

impl Guest {
    /// Sensitive data needs an active consent naming the partner.
    fn labels_permit(
        &self,
        r: &StoredResource,
        v: &Value,
        now_ms: i64,
        decisions: &mut Vec<ConsentDecision>,
    ) -> bool {
        let labels = sensitive_labels(v);
        if labels.is_empty() {
            return true;
        }
        let patients = patients_of(&r.resource_type, &r.id, v);
        let theirs: Vec<Value> = self
            .consents
            .iter()
            .filter(|c| {
                c["patient"]["reference"]
                    .as_str()
                    .is_some_and(|p| patients.iter().any(|x| x == p))
            })
            .cloned()
            .collect();
        let d = Disclosure {
            org: &self.org,
            resource_type: &r.resource_type,
            id: &r.id,
            resource: v,
            labels: &labels,
            now_ms,
        };
        let (permit, deciding) = verdict(&theirs, &d);
        decisions.push(ConsentDecision {
            resource: format!("{}/{}", r.resource_type, r.id),
            patient: patients,
            consent: deciding
                .and_then(|c| c["id"].as_str())
                .map(|id| format!("Consent/{id}")),
            permit,
        });
        permit
    }
}

impl FhirService {
    /// Applies the visibility screen to one resource and audits the read.
    pub(crate) async fn screen_one(
        &self,
        ctx: &AccessContext,
        allowance: &Allowance,
        found: Option<StoredResource>,
        i: Interaction,
        rt: &str,
        id: &str,
    ) -> Result<StoredResource, ServiceError> {
        let viewer = self.viewer(ctx).await?;
        let mut decisions = Vec::new();
        let shown = found.filter(|r| self.visible(&viewer, allowance, r, &mut decisions));
        self.audit_consents(ctx, decisions);
        match shown {
            Some(r) => {
                self.audit_read(ctx, i, rt, &[&r], None);
                Ok(r)
            }
            None => {
                self.audit_read(ctx, i, rt, &[], None);
                Err(not_found(rt, id))
            }
        }
    }

    /// A restricted scope (`?param=value`) lets a client write only resources
    /// matching it.
    pub(crate) fn check_body(
        &self,
        ctx: &AccessContext,
        allowance: &Allowance,
        rt: &str,
        v: &Value,
    ) -> Result<(), ServiceError> {
        if matches_restrictions(&self.registry, &self.settings.base_url, rt, v, allowance) {
            return Ok(());
        }
        self.audit_refusal(ctx, Interaction::Create, rt);
        Err(ServiceError::Forbidden(Issue::error(
            "forbidden",
            format!(
                "The granted {rt} scopes are restricted and this resource does not match them."
            ),
        )))
    }

    pub(crate) fn require_unrestricted(
        &self,
        allowance: &Allowance,
        rt: &str,
    ) -> Result<(), ServiceError> {
        match allowance {
            Allowance::All => Ok(()),
            _ => Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!("Restricted {rt} scopes allow writes by id to matching resources only."),
            ))),
        }
    }

    /// A guest may change only resources it can see (404 otherwise); a
    /// restricted scope only resources matching it.
    pub(crate) async fn guest_may_touch(
        &self,
        ctx: &AccessContext,
        allowance: &Allowance,
        i: Interaction,
        rt: &str,
        id: &str,
    ) -> Result<(), ServiceError> {
        if !ctx.guest && matches!(allowance, Allowance::All) {
            return Ok(());
        }
        let Some(current) = self.store.read(ctx, rt, id).await? else {
            return Ok(());
        };
        let viewer = self.viewer(ctx).await?;
        let mut decisions = Vec::new();
        let ok = self.visible(&viewer, allowance, &current, &mut decisions);
        self.audit_consents(ctx, decisions);
        if !ok {
            return Err(not_found(rt, id));
        }
        if !viewer.guest_may_change(&current) {
            self.audit_refusal(ctx, i, rt);
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!(
                    "{rt}/{id} is the practice's record: a partner changes only what it created \
                     and the referral Tasks it owns."
                ),
            )));
        }
        Ok(())
    }
}

impl FhirService {
    /// Authorises one Bundle entry as if it were sent alone. With partner or
    /// restricted access, a transaction may create and update (each update
    /// then checked by [`Self::may_update_entries`]); reads and deletes go
    /// as direct requests, where their answers are screened.
    pub(crate) fn allow_entry(
        &self,
        ctx: &AccessContext,
        op: &Op,
        transaction: bool,
    ) -> Result<Allowance, ServiceError> {
        let rt = &op.resource_type;
        let i = match (op.method, &op.id) {
            (Method::Get, Some(_)) => Interaction::Read,
            (Method::Get, None) => Interaction::Search,
            (Method::Post, _) => Interaction::Create,
            (Method::Put, _) => Interaction::Update,
            (Method::Delete, _) => Interaction::Delete,
        };
        let allowance = self.allow(ctx, rt, i)?;
        if op.cond.is_some() || op.if_none_exist.is_some() {
            self.no_guest_conditionals(ctx)?;
        }
        let unscreened = ctx.guest || !matches!(allowance, Allowance::All);
        let by_id_update = transaction && op.method == Method::Put && op.id.is_some();
        if unscreened && op.method != Method::Post && !by_id_update {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!(
                    "With restricted or partner access, send {rt} reads and deletes as direct \
                     requests, and updates alone or in a transaction."
                ),
            )));
        }
        if let Some(p) = &op.prepared {
            self.check_body(ctx, &allowance, rt, &p.value)?;
        }
        Ok(allowance)
    }

    /// A transaction's updates by a partner or a restricted client: each
    /// must be one it could make alone ([`Self::guest_may_touch`]).
    pub(crate) async fn may_update_entries(
        &self,
        ctx: &AccessContext,
        ops: &[Op],
        allowances: &[Allowance],
    ) -> Result<(), ServiceError> {
        for (i, (op, allowance)) in ops.iter().zip(allowances).enumerate() {
            if let (Method::Put, Some(id)) = (op.method, &op.id) {
                self.guest_may_touch(ctx, allowance, Interaction::Update, &op.resource_type, id)
                    .await
                    .map_err(|e| crate::service::fhir_api::bundle::at_entry(i, e))?;
            }
        }
        Ok(())
    }
}

/// Whether a stored Bundle is a held message (tag check without parsing
/// unless the tag's code system appears at all).
fn is_held(body: &str) -> bool {
    use crate::service::transitions::receive::MESSAGE_TAG;
    body.contains(MESSAGE_TAG)
        && serde_json::from_str::<Value>(body).is_ok_and(|v| {
            v["meta"]["tag"].as_array().is_some_and(|tags| {
                tags.iter()
                    .any(|t| t["system"] == MESSAGE_TAG && t["code"] == "held")
            })
        })
}
