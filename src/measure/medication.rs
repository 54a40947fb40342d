//! CumulativeMedicationDuration `medicationRequestPeriod()` (CMD 4.1.000 and
//! 6.0.000 agree on it): the days a prescription covers, from its start date
//! for (days supply, or quantity ÷ daily dose) × (1 + refills) days.

use serde_json::Value;

use super::record::{instant, period, quantity};
use super::time::{Dt, Iv};

/// The covered interval of a MedicationRequest, or `None` when it cannot be
/// computed (no start date, or neither a supply nor a bounds end).
pub fn request_period(r: &Value) -> Option<Iv> {
    let dosage = singleton(&r["dosageInstruction"]);
    let dose_and_rate = dosage.map(|d| singleton(&d["doseAndRate"])).unwrap_or(None);
    let repeat = dosage.map(|d| &d["timing"]["repeat"]);
    let bounds = repeat.and_then(|rp| period(&rp["boundsPeriod"]));
    let start = bounds
        .and_then(|b| b.start())
        .or_else(|| instant(&r["authoredOn"]))
        .or_else(|| period(&r["dispenseRequest"]["validityPeriod"]).and_then(|p| p.start()))
        .map(|d| d.date_part())?;
    if let Some(total) = days_supplied(r, repeat, dose_and_rate) {
        let end = start.add_days(total.floor() as i64 - 1);
        return Some(Iv::closed(start, end));
    }
    let end = bounds.and_then(|b| b.end())?;
    Some(Iv::closed(start, end.date_part()))
}

fn days_supplied(r: &Value, repeat: Option<&Value>, dose_and_rate: Option<&Value>) -> Option<f64> {
    let dr = &r["dispenseRequest"];
    let refills = dr["numberOfRepeatsAllowed"].as_f64().unwrap_or(0.0);
    let supply = dr["expectedSupplyDuration"].as_object().and_then(|_| {
        let (v, unit) = quantity(&dr["expectedSupplyDuration"])?;
        Some(match unit {
            "d" | "day" | "days" => v,
            "wk" | "week" | "weeks" => v * 7.0,
            "h" | "hour" | "hours" => v / 24.0,
            _ => return None,
        })
    });
    let by_quantity = || {
        let (qty, _) = quantity(&dr["quantity"])?;
        let dose = dose_and_rate.and_then(|d| {
            d["doseRange"]["high"]["value"]
                .as_f64()
                .or(d["doseQuantity"]["value"].as_f64())
        })?;
        let per_day = repeat.map(doses_per_day).unwrap_or(1.0);
        Some(qty / (dose * per_day))
    };
    Some(supply.or_else(by_quantity)? * (1.0 + refills))
}

/// `Coalesce(ToDaily(frequency, period), Count(timeOfDay), 1.0)`.
fn doses_per_day(repeat: &Value) -> f64 {
    let freq = repeat["frequencyMax"]
        .as_f64()
        .or(repeat["frequency"].as_f64());
    let per = repeat["period"].as_f64();
    let unit = repeat["periodUnit"].as_str();
    if let (Some(f), Some(p), Some(u)) = (freq, per, unit) {
        let hours = match u {
            "h" | "hour" | "hours" => Some(1.0),
            "min" | "minute" | "minutes" => Some(1.0 / 60.0),
            "s" | "second" | "seconds" => Some(1.0 / 3600.0),
            "d" | "day" | "days" => Some(24.0),
            "wk" | "week" | "weeks" => Some(24.0 * 7.0),
            "mo" | "month" | "months" => Some(24.0 * 30.0),
            "a" | "year" | "years" => Some(24.0 * 365.0),
            _ => None,
        };
        if let Some(h) = hours {
            return f * (24.0 / p) / h;
        }
    }
    match repeat["timeOfDay"].as_array() {
        Some(t) if !t.is_empty() => t.len() as f64,
        _ => 1.0,
    }
}

fn singleton(v: &Value) -> Option<&Value> {
    match v.as_array() {
        Some(a) if a.len() == 1 => a.first(),
        _ => None,
    }
}

/// `medicationRequestPeriod()` as the published ELM uses it next to DateTime
/// intervals: the translator wraps the Date interval as
/// `Interval[ToDateTime(p.low), ToDateTime(p.high)]`, so when CMD gives null
/// the result is a closed interval with null bounds — all of time — rather
/// than null. The measure authors' test cases (and fqm-execution) rely on
/// this: an order without supply or bounds still "overlaps".
pub fn request_period_in_time(r: &Value) -> Iv {
    request_period(r).unwrap_or(Iv::new(None, true, None, true))
}

/// The first day a request covers (for sorting), when it has one.
pub fn start_of(r: &Value) -> Option<Dt> {
    request_period(r).and_then(|p| p.start())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn end_of(r: &Value) -> String {
        request_period(r)
            .unwrap()
            .end()
            .unwrap()
            .naive_date()
            .to_string()
    }

    #[test]
    fn supply_quantity_and_bounds_rules() {
        // 30 days supply, 2 refills: 90 days from the authored date.
        let r = json!({"authoredOn": "2026-01-10T09:00:00Z", "dispenseRequest": {
            "expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": 2}});
        assert_eq!(end_of(&r), "2026-04-09");
        // 60 tablets, 1 tablet twice a day: 30 days.
        let r = json!({"authoredOn": "2026-01-10", "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1}}]}],
            "dispenseRequest": {"quantity": {"value": 60}}});
        assert_eq!(end_of(&r), "2026-02-08");
        // Only a bounds period: its end.
        let r = json!({"dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {
            "start": "2026-03-01", "end": "2026-03-15"}}}}]});
        assert_eq!(end_of(&r), "2026-03-15");
        // Nothing to go on.
        assert!(request_period(&json!({"authoredOn": "2026-01-10"})).is_none());
    }
}
