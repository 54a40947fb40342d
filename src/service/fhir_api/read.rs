//! Read and vread: authorised, screened (scope restrictions, partner shared
//! set, consent) and audited; withheld resources answer 404, not 403.

use crate::auth::policy::Interaction;
use crate::fhir::outcome::Issue;
use crate::service::fhir_api::crud::not_found;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, StoredResource};

impl FhirService {
    /// The current version; 404 when never created or not visible to the
    /// caller (not 403: existence is not disclosed), 410 when deleted.
    pub async fn read(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
    ) -> Result<StoredResource, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Read)?;
        if rt == "AuditEvent" {
            return self.read_audit(ctx, id).await;
        }
        let mut found = self.store.read(ctx, rt, id).await?;
        if found.is_none() && rt == "Measure" {
            found = crate::service::measures::operations::catalog_measure(id);
        }
        let r = self
            .screen_one(ctx, &allowance, found, Interaction::Read, rt, id)
            .await?;
        if r.deleted {
            return Err(ServiceError::Gone(Issue::error(
                "deleted",
                format!("{rt}/{id} was deleted (version {}).", r.version),
            )));
        }
        Ok(r)
    }

    pub async fn vread(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
        vid: &str,
    ) -> Result<StoredResource, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Vread)?;
        let Ok(v) = vid.parse::<i64>() else {
            return Err(not_found(rt, &format!("{id}/_history/{vid}")));
        };
        if rt == "AuditEvent" && v == 1 {
            return self.read_audit(ctx, id).await;
        }
        let found = self.store.vread(ctx, rt, id, v).await?;
        let r = self
            .screen_one(
                ctx,
                &allowance,
                found,
                Interaction::Vread,
                rt,
                &format!("{id}/_history/{vid}"),
            )
            .await?;
        if r.deleted {
            return Err(ServiceError::Gone(Issue::error(
                "deleted",
                format!("Version {vid} of {rt}/{id} is a deletion."),
            )));
        }
        Ok(r)
    }
}
