//! Element-type checks of FHIR R4 resources through the typed fhir-sdk
//! (R4B) models, in a crate of its own for build time: deserializing 34
//! resource types instantiates serde's generic code for every element of
//! every one of them, which is most of the code a release build optimises.
//! Here it compiles in parallel with Tandem, and the `release` profile builds
//! it at `opt-level = 1` (the `bench` and `dist` profiles at 3).
//!
//! fhir-sdk models R4B, which is wire-compatible with R4 for the resources
//! listed here (the ones Tandem reads and derives from). Other types are only
//! checked structurally by Tandem: R4B changed some of them (e.g. the
//! Evidence and MedicinalProduct families), so a typed parse could wrongly
//! reject valid R4.

use fhir_sdk::r4b::resources as r;
use serde_json::Value;

/// The first element whose JSON type is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// FHIRPath-like location, e.g. `Patient.birthDate`.
    pub expression: String,
    /// What is wrong there, as serde reports it.
    pub message: String,
}

macro_rules! typed_check {
    ($rt:expr, $value:expr, [$($ty:ident),* $(,)?]) => {
        match $rt {
            $(stringify!($ty) => check::<r::$ty>($rt, $value),)*
            _ => Ok(()),
        }
    };
}

/// Deserializes `resource` into its typed model when there is one, reporting
/// the first element whose JSON type is wrong.
pub fn check_types(resource_type: &str, resource: &Value) -> Result<(), TypeError> {
    typed_check!(
        resource_type,
        resource,
        [
            Patient,
            Observation,
            Encounter,
            Condition,
            QuestionnaireResponse,
            Questionnaire,
            Practitioner,
            PractitionerRole,
            Organization,
            Location,
            Procedure,
            MedicationRequest,
            Medication,
            MedicationStatement,
            Immunization,
            AllergyIntolerance,
            DiagnosticReport,
            DocumentReference,
            CarePlan,
            CareTeam,
            Goal,
            ServiceRequest,
            Task,
            Flag,
            Communication,
            Consent,
            Provenance,
            Coverage,
            Group,
            Device,
            MessageHeader,
            Endpoint,
            EpisodeOfCare,
            RelatedPerson,
        ]
    )
}

/// Converts to a value tree with plain numbers. Tandem's serde_json keeps numbers
/// as written (arbitrary precision, so `2.50` round-trips), but that
/// representation confuses the buffered (untagged) deserializers the typed
/// models use for choice elements; the typed check only needs their values.
fn plain(v: &Value) -> serde_value::Value {
    use serde_value::Value as P;
    match v {
        Value::Null => P::Unit,
        Value::Bool(b) => P::Bool(*b),
        Value::Number(n) => n
            .as_u64()
            .map(P::U64)
            .or_else(|| n.as_i64().map(P::I64))
            .unwrap_or_else(|| P::F64(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => P::String(s.clone()),
        Value::Array(a) => P::Seq(a.iter().map(plain).collect()),
        Value::Object(o) => P::Map(
            o.iter()
                .map(|(k, v)| (P::String(k.clone()), plain(v)))
                .collect(),
        ),
    }
}

fn check<T: serde::de::DeserializeOwned>(rt: &str, resource: &Value) -> Result<(), TypeError> {
    let tree =
        serde_value::ValueDeserializer::<serde_value::DeserializerError>::new(plain(resource));
    match serde_path_to_error::deserialize::<_, T>(tree) {
        Ok(_) => Ok(()),
        Err(e) => {
            let path = e.path().to_string();
            let expr = if path == "." || path.is_empty() {
                rt.to_string()
            } else {
                format!("{rt}.{path}")
            };
            Err(TypeError {
                message: e.into_inner().to_string(),
                expression: expr,
            })
        }
    }
}
