//! One patient's data as a measure sees it, and readers for the FHIR elements
//! the measures test (codes, choice[x] times, quantities).
//!
//! The record holds the JSON Tandem stored; nothing is converted up front, so
//! evaluation reads only the elements a measure touches. Times follow
//! FHIRHelpers 4.4 `ToInterval` and QICoreCommon `toInterval` (see `time`).

use chrono::NaiveDate;
use serde_json::Value;
use std::collections::HashMap;

use super::time::{Dt, Iv, years_between};
use super::valueset::ValueSets;

/// Everything one patient has, grouped by resource type.
#[derive(Debug, Clone)]
pub struct Record {
    pub patient: Value,
    by_type: HashMap<String, Vec<Value>>,
}

impl Record {
    /// Groups resources; the first `Patient` is the subject. `None` without one.
    pub fn new(resources: impl IntoIterator<Item = Value>) -> Option<Record> {
        let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
        let mut patient = None;
        for r in resources {
            let ty = r["resourceType"].as_str().unwrap_or_default().to_string();
            if ty == "Patient" && patient.is_none() {
                patient = Some(r);
            } else {
                by_type.entry(ty).or_default().push(r);
            }
        }
        Some(Record {
            patient: patient?,
            by_type,
        })
    }

    /// The patient's id.
    pub fn id(&self) -> &str {
        self.patient["id"].as_str().unwrap_or_default()
    }

    /// All resources of one type.
    pub fn all(&self, ty: &str) -> &[Value] {
        self.by_type.get(ty).map(Vec::as_slice).unwrap_or_default()
    }

    /// A resource of `ty` by id (for references such as `Observation.encounter`).
    pub fn get(&self, ty: &str, id: &str) -> Option<&Value> {
        self.all(ty).iter().find(|r| r["id"] == id)
    }

    pub fn birth_date(&self) -> Option<NaiveDate> {
        Dt::parse(self.patient["birthDate"].as_str()?).map(|d| d.naive_date())
    }

    /// CQL `AgeInYearsAt(date)`.
    pub fn age_at(&self, on: NaiveDate) -> Option<i32> {
        Some(years_between(self.birth_date()?, on))
    }

    /// The birth date as a CQL Date (for age-based onsets).
    pub fn birth_dt(&self) -> Option<Dt> {
        Dt::parse(self.patient["birthDate"].as_str()?)
    }
}

/// Whether a Condition stands as Tandem's own rules read it (the risk
/// method, the decision-aid registry): not resolved, inactive or in
/// remission (an absent clinical status stands), not refuted or entered in
/// error. Measures use QI-Core's stricter `qicore::is_active`.
pub fn condition_stands(c: &Value) -> bool {
    let status = c["clinicalStatus"]["coding"][0]["code"].as_str();
    let verification = c["verificationStatus"]["coding"][0]["code"].as_str();
    status.is_none_or(|s| matches!(s, "active" | "recurrence" | "relapse"))
        && !matches!(verification, Some("refuted" | "entered-in-error"))
}

/// `(system, code)` of every coding in a CodeableConcept (or a bare Coding).
pub fn codings(cc: &Value) -> impl Iterator<Item = (&str, &str)> {
    let list = match cc.get("coding") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        _ if cc.get("code").is_some() => vec![cc],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|c| Some((c["system"].as_str()?, c["code"].as_str()?)))
}

/// CQL `concept in "ValueSet"`: any coding is in the expansion.
pub fn in_vs(cc: &Value, vs: &ValueSets, oid: &str) -> bool {
    codings(cc).any(|(s, c)| vs.has(oid, s, c))
}

/// CQL `concept ~ code`: any coding has the system and code.
pub fn is_code(cc: &Value, system: &str, code: &str) -> bool {
    codings(cc).any(|(s, c)| s == system && c == code)
}

/// Any of a list of CodeableConcepts (e.g. `Encounter.type`) is in the set.
pub fn any_in_vs(list: &Value, vs: &ValueSets, oid: &str) -> bool {
    as_list(list).any(|cc| in_vs(cc, vs, oid))
}

/// Any of a list of CodeableConcepts has the code.
pub fn any_is_code(list: &Value, system: &str, code: &str) -> bool {
    as_list(list).any(|cc| is_code(cc, system, code))
}

/// An element that may be a single value or an array, as a list.
pub fn as_list(v: &Value) -> impl Iterator<Item = &Value> {
    match v {
        Value::Array(a) => a.iter().collect::<Vec<_>>().into_iter(),
        Value::Null => Vec::new().into_iter(),
        one => vec![one].into_iter(),
    }
}

/// The `name[x]` member of a resource: `(suffix, value)`, e.g. `("DateTime", …)`.
pub fn choice<'a>(r: &'a Value, name: &str) -> Option<(&'a str, &'a Value)> {
    r.as_object()?.iter().find_map(|(k, v)| {
        let suffix = k.strip_prefix(name)?;
        (suffix.starts_with(|c: char| c.is_ascii_uppercase())).then_some((suffix, v))
    })
}

/// FHIRHelpers `ToInterval(Period)`: `[start, end]`, or `(null, end]` when
/// the start is missing.
pub fn period(p: &Value) -> Option<Iv> {
    if !p.is_object() {
        return None;
    }
    let start = p["start"].as_str().and_then(Dt::parse);
    let end = p["end"].as_str().and_then(Dt::parse);
    Some(Iv::new(start, start.is_some(), end, true))
}

/// QICoreCommon `toInterval()` of a `name[x]` choice: a dateTime or instant is
/// a point, a Period its interval, an Age or Range of ages the year(s) the
/// patient had that age. Timing and anything else give null.
pub fn to_interval(r: &Value, name: &str, rec: &Record) -> Option<Iv> {
    let (kind, v) = choice(r, name)?;
    match kind {
        "DateTime" | "Instant" | "Date" => Some(Iv::point(Dt::parse(v.as_str()?)?)),
        "Period" => period(v),
        "Age" | "Quantity" => {
            let from = age_point(rec, v)?;
            Some(Iv::new(Some(from), true, Some(from.add_years(1)), false))
        }
        "Range" => {
            let lo = age_point(rec, &v["low"])?;
            let hi = age_point(rec, &v["high"])?;
            Some(Iv::new(Some(lo), true, Some(hi.add_years(1)), false))
        }
        _ => None,
    }
}

/// Birth date plus an age quantity (years, months, weeks or days).
fn age_point(rec: &Record, q: &Value) -> Option<Dt> {
    let birth = rec.birth_dt()?;
    let n = q["value"].as_f64()?;
    let unit = q["code"].as_str().or(q["unit"].as_str()).unwrap_or("a");
    Some(match unit {
        "a" | "year" | "years" => birth.add_years(n as i32),
        "mo" | "month" | "months" => birth.add_months(n as i32),
        "wk" | "week" | "weeks" => birth.add_days(7 * n as i64),
        "d" | "day" | "days" => birth.add_days(n as i64),
        _ => return None,
    })
}

/// QICoreCommon `latest()`: the end of the interval if it has one, else its start.
pub fn latest(iv: &Iv) -> Option<Dt> {
    iv.end().or_else(|| iv.start())
}

/// QICoreCommon `earliest()`: the start if it has one, else the end.
pub fn earliest(iv: &Iv) -> Option<Dt> {
    iv.start().or_else(|| iv.end())
}

/// A Quantity's value and its UCUM code (or unit text).
pub fn quantity(v: &Value) -> Option<(f64, &str)> {
    let value = v["value"].as_f64()?;
    let unit = v["code"].as_str().or(v["unit"].as_str()).unwrap_or("1");
    Some((value, unit))
}

/// A dateTime element as a point in time.
pub fn instant(v: &Value) -> Option<Dt> {
    Dt::parse(v.as_str()?)
}

/// The id a reference points at (`Encounter/123` → `123`), as QICoreCommon `getId`.
pub fn ref_id(reference: &Value) -> Option<&str> {
    reference["reference"].as_str()?.rsplit('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn choice_and_interval_reading() {
        let rec =
            Record::new([json!({"resourceType": "Patient", "id": "p", "birthDate": "1960-04-10"})])
                .unwrap();
        let obs = json!({"effectivePeriod": {"start": "2026-01-02", "end": "2026-01-05"}});
        let iv = to_interval(&obs, "effective", &rec).unwrap();
        assert_eq!(latest(&iv).unwrap().naive_date().to_string(), "2026-01-05");
        let onset = json!({"onsetAge": {"value": 60, "code": "a"}});
        let iv = to_interval(&onset, "onset", &rec).unwrap();
        assert_eq!(iv.start().unwrap().naive_date().to_string(), "2020-04-10");
        // "onsetString" is not a time.
        assert!(to_interval(&json!({"onsetString": "childhood"}), "onset", &rec).is_none());
        // A period without a start has an unknown start.
        let p = period(&json!({"end": "2026-03-01"})).unwrap();
        assert!(p.start().is_none() && p.end().is_some());
        assert_eq!(
            rec.age_at(NaiveDate::from_ymd_opt(2026, 4, 9).unwrap()),
            Some(65)
        );
    }
}
