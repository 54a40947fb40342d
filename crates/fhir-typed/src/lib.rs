//! Element-type checks of FHIR R4 resources through the typed fhir-sdk
//! (R4B) models, in a crate of its own for build time: deserializing 34
//! resource types instantiates serde's generic code for every element of
//! every one of them, the largest unit of a release build. Here it compiles
//! in parallel with Tandem, once per type: the deserializer is not wrapped to
//! track the path (`serde_path_to_error` multiplied the instantiations and
//! took 177 s of build instead of 32 at opt-level 0). A failure, which is
//! rare, is located afterwards instead ([`locate`]). The `release` profile
//! builds this crate at opt-level 0 (7 min 13 s at 1), `bench` and `dist`
//! at 3.
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
            $(stringify!($ty) => check::<r::$ty>($value),)*
            _ => Ok(()),
        }
    };
}

/// Deserializes `resource` into its typed model when there is one, reporting
/// the first element whose JSON type is wrong.
pub fn check_types(resource_type: &str, resource: &Value) -> Result<(), TypeError> {
    let Err(message) = run(resource_type, resource) else {
        return Ok(());
    };
    let path = locate(resource_type, resource, &message);
    Err(TypeError {
        expression: format!("{resource_type}{path}"),
        message,
    })
}

/// Finds the element the error `message` comes from: the child whose
/// removal makes that error go away, level by level. Serde reports the
/// first wrong element as it reads, and a missing required element only
/// after reading everything, so removing an innocent sibling never hides
/// the error. Returns a FHIRPath suffix such as `.name[0].given[1]`.
pub fn locate(resource_type: &str, resource: &Value, message: &str) -> String {
    let mut pointer = String::new();
    let mut path = String::new();
    while let Some(node) = resource.pointer(&pointer) {
        let children: Vec<(String, String)> = match node {
            Value::Object(o) => o
                .keys()
                .filter(|k| !(pointer.is_empty() && *k == "resourceType"))
                .map(|k| (k.replace('~', "~0").replace('/', "~1"), format!(".{k}")))
                .collect(),
            Value::Array(a) => (0..a.len())
                .map(|i| (i.to_string(), format!("[{i}]")))
                .collect(),
            _ => break,
        };
        let culprit = children.into_iter().find(|(key, _)| {
            let mut probe = resource.clone();
            remove(&mut probe, &pointer, key);
            run(resource_type, &probe).err().as_deref() != Some(message)
        });
        match culprit {
            Some((key, step)) => {
                pointer = format!("{pointer}/{key}");
                path.push_str(&step);
            }
            None => break,
        }
    }
    path
}

/// Removes child `key` (an escaped pointer token) of the node at `pointer`.
fn remove(root: &mut Value, pointer: &str, key: &str) {
    let key = key.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(pointer) {
        Some(Value::Object(o)) => {
            o.shift_remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The typed parse itself: the error message, if any.
fn run(resource_type: &str, resource: &Value) -> Result<(), String> {
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

fn check<T: serde::de::DeserializeOwned>(resource: &Value) -> Result<(), String> {
    let tree =
        serde_value::ValueDeserializer::<serde_value::DeserializerError>::new(plain(resource));
    T::deserialize(tree).map(|_| ()).map_err(|e| e.to_string())
}
