//! Readmission Flags, whichever order the HIE's messages arrive in: an
//! admission within 30 days of a hospital or ED discharge gets a Flag
//! (`readmission-30d`, naming the prior stay), both when the admission
//! arrives after the discharge and when the discharge arrives late, after
//! the admission. One Flag per admission (its id is derived from the
//! admitting Encounter), so the two paths never count one twice.

use serde_json::{Value, json};

use crate::fhir::datetime::{format_instant_ms, parse_range};
use crate::fhir::id::derived;
use crate::rules::transitions::{HOSPITAL_CLASSES, is_readmission, readmission_window_start};
use crate::service::managed::create_once;
use crate::service::transitions::receive::{TOC_CS, Unit};
use crate::store::StoreError;

/// The instant (epoch ms, start of its range) at `pointer` in `v`.
pub(super) fn time(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(parse_range)
        .map(|r| r.start)
}

fn hospital(e: &Value) -> bool {
    e["class"]["code"]
        .as_str()
        .is_some_and(|c| HOSPITAL_CLASSES.contains(&c))
}

impl Unit<'_> {
    /// A Flag when this admission follows a discharge by at most 30 days.
    pub(super) fn readmission(
        &mut self,
        enc: &Value,
        enc_id: &str,
        pid: &str,
    ) -> Result<(), StoreError> {
        let Some(start) = time(enc, "/period/start") else {
            return Ok(());
        };
        // Only stays that ended inside the window and before this admission
        // (`eb`: the whole period before it): a patient's whole history would
        // be read and parsed on the writer thread for every admission.
        let prior = self.find(
            "Encounter",
            vec![
                ("subject".into(), format!("Patient/{pid}")),
                ("status".into(), "finished".into()),
                (
                    "date".into(),
                    format!("ge{}", format_instant_ms(readmission_window_start(start))),
                ),
                ("date".into(), format!("eb{}", format_instant_ms(start))),
            ],
            200,
        )?;
        let hit = prior.iter().find(|p| {
            p["id"].as_str() != Some(enc_id)
                && hospital(p)
                && time(p, "/period/end").is_some_and(|end| is_readmission(end, start))
        });
        if let Some(prior) = hit {
            let prior_id = prior["id"].as_str().unwrap_or_default().to_string();
            self.flag(enc, enc_id, &prior_id, pid)?;
        }
        Ok(())
    }

    /// On a hospital or ED discharge: the hospital or ED admissions already
    /// on file that began within 30 days after it (this discharge message
    /// came late) are readmissions too.
    pub(super) fn readmitted_after(
        &mut self,
        enc: &Value,
        enc_id: &str,
        pid: &str,
    ) -> Result<(), StoreError> {
        let Some(end) = time(enc, "/period/end").filter(|_| hospital(enc)) else {
            return Ok(());
        };
        let later = self.find(
            "Encounter",
            vec![
                ("subject".into(), format!("Patient/{pid}")),
                ("date".into(), format!("ge{}", format_instant_ms(end))),
                (
                    "date".into(),
                    format!("le{}", format_instant_ms(end + 30 * 86_400_000)),
                ),
            ],
            200,
        )?;
        for l in later {
            let Some(id) = l["id"].as_str().filter(|id| *id != enc_id) else {
                continue;
            };
            // An admission, not an office visit the EHR recorded meanwhile.
            if l["status"] != "entered-in-error"
                && hospital(&l)
                && time(&l, "/period/start").is_some_and(|start| is_readmission(end, start))
            {
                let id = id.to_string();
                self.flag(&l, &id, enc_id, pid)?;
            }
        }
        Ok(())
    }

    /// The readmission Flag of the admission `enc_id`, once.
    fn flag(
        &mut self,
        enc: &Value,
        enc_id: &str,
        prior_id: &str,
        pid: &str,
    ) -> Result<(), StoreError> {
        let id = derived("readm", enc_id);
        let flag = json!({
            "resourceType": "Flag", "id": id,
            "meta": { "tag": [{ "system": TOC_CS, "code": "readmission" }] },
            "status": "active",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical" }] }],
            "code": { "coding": [{ "system": TOC_CS, "code": "readmission-30d" }], "text": "Readmitted within 30 days of a discharge" },
            "subject": { "reference": format!("Patient/{pid}") },
            "period": { "start": enc["period"]["start"] },
            "encounter": { "reference": format!("Encounter/{enc_id}") },
            "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/flag-detail", "valueReference": { "reference": format!("Encounter/{prior_id}") } }],
        });
        create_once(self.tx, self.st, "Flag", &id, flag)?;
        Ok(())
    }
}
