//! Shared pieces of every write: validation, meta stamping, index extraction.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::fhir::compartment::foreign_patient_warnings;
use crate::fhir::datetime::format_instant_ms;
use crate::fhir::index::extract;
use crate::fhir::outcome::Issue;
use crate::fhir::params::Registry;
use crate::fhir::validate::check_resource;
use crate::service::{FhirService, ServiceError, ValidationMode};
use crate::store::{NewVersion, StoredResource};

/// What the client asked to get back (`Prefer: return=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// The result of a write, rendered by the HTTP layer.
#[derive(Debug, Clone)]
pub struct WriteResult {
    /// 200, 201 or 204.
    pub status: u16,
    /// The version now current (absent for deletes of nothing).
    pub resource: Option<StoredResource>,
    /// Warnings and information for the sender (e.g. profile issues in warn mode).
    pub issues: Vec<Issue>,
}

/// A validated resource ready to be stamped and stored.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub resource_type: String,
    pub value: Value,
    pub issues: Vec<Issue>,
}

/// Everything a unit of work needs to turn a resource into a stored version.
/// Cheap to clone into the write closure.
#[derive(Clone)]
pub struct Stamper {
    pub registry: Arc<Registry>,
    pub base: String,
    pub now_ms: i64,
}

impl Stamper {
    /// Sets `id` and `meta.versionId`/`meta.lastUpdated` (keeping every other
    /// meta element) and computes the index rows.
    pub fn version(
        &self,
        rt: &str,
        id: &str,
        version: i64,
        mut value: Value,
        method: &'static str,
    ) -> NewVersion {
        self.stamp(rt, id, version, &mut value, method)
    }

    /// [`Stamper::version`] that leaves the stamped resource with the caller,
    /// for callers that still need it (a notification payload, the entries of
    /// a stored message) and would otherwise clone it first.
    pub fn stamp(
        &self,
        rt: &str,
        id: &str,
        version: i64,
        value: &mut Value,
        method: &'static str,
    ) -> NewVersion {
        if let Value::Object(obj) = value {
            let mut meta = match obj.remove("meta") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            meta.insert("versionId".into(), Value::String(version.to_string()));
            meta.insert(
                "lastUpdated".into(),
                Value::String(format_instant_ms(self.now_ms)),
            );
            // resourceType, id and meta lead, as FHIR servers conventionally write them;
            // every other element keeps the order it was sent in.
            let rest = std::mem::take(obj);
            obj.insert("resourceType".into(), Value::String(rt.to_string()));
            obj.insert("id".into(), Value::String(id.to_string()));
            obj.insert("meta".into(), Value::Object(meta));
            for (k, v) in rest {
                if k != "resourceType" && k != "id" {
                    obj.insert(k, v);
                }
            }
        }
        let index = extract(&self.registry, &self.base, rt, value);
        NewVersion {
            resource_type: rt.to_string(),
            id: id.to_string(),
            version,
            last_updated_ms: self.now_ms,
            deleted: false,
            method,
            body: value.to_string(),
            encoded: None,
            index,
        }
    }

    /// A deletion marker version.
    pub fn deletion(&self, rt: &str, id: &str, version: i64) -> NewVersion {
        NewVersion {
            resource_type: rt.to_string(),
            id: id.to_string(),
            version,
            last_updated_ms: self.now_ms,
            deleted: true,
            method: "DELETE",
            body: String::new(),
            encoded: None,
            index: Vec::new(),
        }
    }
}

/// The stored form of a version just written (what a read would return).
pub fn stored(v: &NewVersion) -> StoredResource {
    StoredResource {
        resource_type: v.resource_type.clone(),
        id: v.id.clone(),
        version: v.version,
        last_updated_ms: v.last_updated_ms,
        deleted: v.deleted,
        method: v.method.to_string(),
        body: v.body.clone(),
    }
}

impl FhirService {
    pub(crate) fn stamper(&self) -> Stamper {
        Stamper {
            registry: self.registry.clone(),
            base: self.settings.base_url.clone(),
            now_ms: self.clock.now_ms(),
        }
    }

    /// Structural validation, then profile checks per the configured mode.
    pub(crate) fn prepare(
        &self,
        value: Value,
        url_type: Option<&str>,
        url_id: Option<&str>,
    ) -> Result<Prepared, ServiceError> {
        self.prepare_in(value, url_type, url_id, &|_| false)
    }

    /// [`Self::prepare`] for a write whose references to the absolute URLs
    /// `local` accepts are resolved by the write itself (a transaction's
    /// fullUrls). A patient named on another server is warned about.
    pub(crate) fn prepare_in(
        &self,
        value: Value,
        url_type: Option<&str>,
        url_id: Option<&str>,
        local: &dyn Fn(&str) -> bool,
    ) -> Result<Prepared, ServiceError> {
        let rt = check_resource(&value, url_type, url_id).map_err(ServiceError::bad)?;
        let mut issues =
            foreign_patient_warnings(self.registry(), &self.settings.base_url, &rt, &value, local);
        if self.settings.validation != ValidationMode::Off {
            let defaults = self
                .settings
                .default_profiles
                .get(&rt)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut profile = self.profiles.check(&rt, &value, defaults);
            if self.settings.validation == ValidationMode::Strict && !profile.is_empty() {
                return Err(ServiceError::Unprocessable(profile));
            }
            for i in &mut profile {
                i.severity = crate::fhir::outcome::Severity::Warning;
            }
            issues.append(&mut profile);
        }
        Ok(Prepared {
            resource_type: rt,
            value,
            issues,
        })
    }
}
