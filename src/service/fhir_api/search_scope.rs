//! Searches under restricted scopes answer only over what the scopes permit.
//!
//! Filtering the page after the query is not enough: a total, `_summary=
//! count`, a `_has` clause or a chain is computed in the query over every
//! resource, so a client allowed only vital-sign Observations could count
//! laboratory results, or find patients by a Condition code with no
//! Condition scope at all. So:
//! * one scope restriction on the searched type (`Observation.rs?category=
//!   vital-signs`) becomes part of the query, and totals are exact;
//! * several (OR-ed) restrictions cannot join the AND of a query: the page
//!   is screened, no total is given and `_summary=count` is refused;
//! * a chain or `_has` looks into other types: each needs unrestricted
//!   search on that type, or the search is refused (403);
//! * included resources are screened per type (`search::screen_page`).

use crate::auth::policy::{Interaction, authorize};
use crate::caller::scopes::Allowance;
use crate::fhir::outcome::Issue;
use crate::fhir::query::{Clause, SearchQuery, Summary, Target, parse_client};
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

impl FhirService {
    /// Limits `q` to what `allowance` permits; returns whether the query's
    /// total now counts only permitted resources.
    pub(crate) fn scope_query(
        &self,
        ctx: &AccessContext,
        rt: &str,
        allowance: &Allowance,
        q: &mut SearchQuery,
    ) -> Result<bool, ServiceError> {
        for clause in &q.clauses {
            self.joins_allowed(ctx, rt, clause)?;
        }
        let Allowance::Matching(restrictions) = allowance else {
            return Ok(true);
        };
        if let [only] = restrictions.as_slice() {
            let limit = parse_client(&self.registry, &self.settings.base_url, rt, only)
                .map_err(|e| ServiceError::Internal(format!("scope restriction: {}", e.0)))?;
            q.clauses.extend(limit.clauses);
            return Ok(true);
        }
        if q.summary == Summary::Count {
            self.audit_refusal(ctx, Interaction::Search, rt);
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!(
                    "The granted {rt} scopes allow several restricted subsets, which a count \
                     cannot be limited to; search without _summary=count (no total is given)."
                ),
            )));
        }
        Ok(false)
    }

    /// A chain or `_has` in `clause` may look only into types the caller
    /// may search without restriction.
    fn joins_allowed(
        &self,
        ctx: &AccessContext,
        rt: &str,
        clause: &Clause,
    ) -> Result<(), ServiceError> {
        let (looked_into, inner): (Vec<&str>, Vec<&Clause>) = match &clause.target {
            Target::Chain { links, .. } => {
                links.iter().map(|(t, c)| (t.as_str(), c.as_ref())).unzip()
            }
            Target::Has {
                source_type, inner, ..
            } => (vec![source_type.as_str()], vec![inner.as_ref()]),
            _ => return Ok(()),
        };
        for t in looked_into {
            let why = match authorize(&ctx.grant, t, Interaction::Search) {
                Ok(Allowance::All) => continue,
                Ok(_) => format!(
                    "The granted {t} scopes are restricted, and a chained or _has search over \
                     {t} cannot be limited to them; search {t} directly."
                ),
                Err(_) => format!(
                    "This {rt} search looks into {t} (a chain or _has), which the granted \
                     scopes do not allow searching."
                ),
            };
            self.audit_refusal(ctx, Interaction::Search, rt);
            return Err(ServiceError::Forbidden(Issue::error("forbidden", why)));
        }
        for c in inner {
            self.joins_allowed(ctx, rt, c)?;
        }
        Ok(())
    }
}
