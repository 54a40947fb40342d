//! The output directory of `tandem generate`:
//!
//! ```text
//! manifest.json                 what was generated, with which options
//! practices/<practice>.json     transaction: Organization + Practitioners
//! bundles/<practice>/<nnn>/<patient>.json   transaction per patient
//! ndjson/<Type>.ndjson          every resource, one file per type
//! notifications/<patient>-<n>.json          HIE messages, in delivery order
//! groups/<practice>.json        the payer's Da Vinci ATR attribution Group
//!                               (members by Medicaid id)
//! answers.ndjson                expected results, one line per patient
//! milestones.json               expected milestone counts per practice and period
//! program.toml                  the practices' program and enrolment (`--config`)
//! partner/compact.json          the behavioral-health partner's compact
//! partner/responses.ndjson      what the partner does with each referral
//! ```
//!
//! Files are written as patients are generated; attribution Groups are
//! streamed member by member, so nothing grows with the population.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::model::{Chart, MEDICAID_SYSTEM, Practice};
use super::{Options, Summary, fhir_out, milestones, referrals};

pub struct Writer {
    root: PathBuf,
    ndjson: BTreeMap<String, BufWriter<File>>,
    groups: Vec<(BufWriter<File>, usize)>,
    answers: BufWriter<File>,
    responses: BufWriter<File>,
    practice_ids: Vec<String>,
    practices: Vec<Practice>,
    totals: milestones::Totals,
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    Ok(BufWriter::new(File::create(path)?))
}

fn write_json(path: &Path, v: &Value) -> std::io::Result<()> {
    let mut f = create(path)?;
    serde_json::to_writer(&mut f, v)?;
    f.write_all(b"\n")?;
    f.flush()
}

impl Writer {
    pub fn create(root: &Path, practices: &[Practice]) -> std::io::Result<Writer> {
        fs::create_dir_all(root)?;
        let mut w = Writer {
            root: root.to_path_buf(),
            ndjson: BTreeMap::new(),
            groups: Vec::new(),
            answers: create(&root.join("answers.ndjson"))?,
            responses: create(&root.join("partner/responses.ndjson"))?,
            practice_ids: practices.iter().map(|p| p.id.clone()).collect(),
            practices: practices.to_vec(),
            totals: milestones::Totals::default(),
        };
        for p in practices {
            let resources = fhir_out::practice_resources(p);
            for r in &resources {
                w.ndjson_line(r)?;
            }
            write_json(
                &root.join("practices").join(format!("{}.json", p.id)),
                &crate::fhir::bundle::put_transaction(resources),
            )?;
            let mut g = create(&root.join("groups").join(format!("{}.json", p.id)))?;
            let head = json!({
                "resourceType": "Group", "id": format!("atr-{}", p.id),
                "meta": {"profile": ["http://hl7.org/fhir/us/davinci-atr/StructureDefinition/atr-group"]},
                "identifier": [{"system": "urn:tandem:generated:payer:contract", "value": p.id}],
                "active": true, "type": "person", "actual": true,
                "name": format!("Payer attribution list: {}", p.name),
                "managingEntity": {"reference": format!("Organization/{}", p.id)},
            })
            .to_string();
            // Written open-ended; `finish` closes the member array.
            g.write_all(&head.as_bytes()[..head.len() - 1])?;
            g.write_all(b",\"member\":[")?;
            w.groups.push((g, 0));
        }
        Ok(w)
    }

    fn ndjson_line(&mut self, r: &Value) -> std::io::Result<()> {
        let ty = r["resourceType"].as_str().unwrap_or("Unknown").to_string();
        if !self.ndjson.contains_key(&ty) {
            let f = create(&self.root.join("ndjson").join(format!("{ty}.ndjson")))?;
            self.ndjson.insert(ty.clone(), f);
        }
        let f = self.ndjson.get_mut(&ty).expect("opened above");
        serde_json::to_writer(&mut *f, r)?;
        f.write_all(b"\n")
    }

    pub fn patient(
        &mut self,
        c: &Chart,
        practice: &Practice,
        resources: Vec<Value>,
        messages: &[Value],
        payer_lists: &[usize],
    ) -> std::io::Result<()> {
        for r in &resources {
            self.ndjson_line(r)?;
        }
        let n: usize = c.person.id.trim_start_matches("pt-").parse().unwrap_or(0);
        let dir = self
            .root
            .join("bundles")
            .join(&practice.id)
            .join(format!("{:03}", n / 1000));
        write_json(
            &dir.join(format!("{}.json", c.person.id)),
            &crate::fhir::bundle::put_transaction(resources),
        )?;
        for (k, m) in messages.iter().enumerate() {
            write_json(
                &self
                    .root
                    .join("notifications")
                    .join(format!("{}-{k}.json", c.person.id)),
                m,
            )?;
        }
        for &list in payer_lists {
            let (g, count) = &mut self.groups[list];
            if *count > 0 {
                g.write_all(b",")?;
            }
            // As a payer knows its members: by member (Medicaid) id, never
            // by the practice's resource ids.
            let member = json!({"entity": {"identifier":
                {"system": MEDICAID_SYSTEM, "value": c.person.medicaid}}});
            serde_json::to_writer(&mut *g, &member)?;
            *count += 1;
        }
        Ok(())
    }

    pub fn answers(&mut self, line: &Value) -> std::io::Result<()> {
        if let Some(p) = line["practice"].as_str() {
            self.totals.add(p, &line["milestones"]);
        }
        serde_json::to_writer(&mut self.answers, line)?;
        self.answers.write_all(b"\n")
    }

    pub fn response(&mut self, line: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.responses, line)?;
        self.responses.write_all(b"\n")
    }

    pub fn finish(mut self, opts: &Options, summary: &Summary) -> std::io::Result<()> {
        for (g, count) in &mut self.groups {
            writeln!(g, "],\"quantity\":{count}}}")?;
            g.flush()?;
        }
        for f in self.ndjson.values_mut() {
            f.flush()?;
        }
        self.answers.flush()?;
        self.responses.flush()?;
        let stamp = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        write_json(
            &self.root.join("partner/compact.json"),
            &json!({
                "partner": referrals::compact(self.practice_ids.clone()),
                "referredAt": stamp(referrals::referred_at(opts.year)),
                "reportAt": stamp(referrals::report_at(opts.year)),
            }),
        )?;
        write_json(&self.root.join("milestones.json"), &self.totals.render())?;
        fs::write(
            self.root.join("program.toml"),
            milestones::program_toml(&self.practices, opts.year),
        )?;
        write_json(
            &self.root.join("manifest.json"),
            &json!({
                "generator": "tandem generate",
                "seed": opts.seed, "patients": opts.patients, "practices": opts.practices,
                "year": opts.year, "unassignedFraction": opts.unassigned,
                "resources": summary.resources, "notifications": summary.notifications,
                "measurementPeriod": {"start": format!("{}-01-01", opts.year), "end": format!("{}-12-31", opts.year)},
            }),
        )
    }
}
