//! `tandem generate`: a deterministic synthetic population of primary-care
//! and behavioral-health patients with known answers.
//!
//! Each patient is drawn from its own seeded stream (`dice`), rendered to
//! FHIR (`fhir_out`, `notifications`) and written out before the next one is
//! drawn, so memory stays bounded whatever the population size, and the same
//! seed gives byte-identical files. The answers file (`answers`) is computed
//! from the generator's own model, independently of Tandem's derivations.

pub mod answers;
pub mod chart;
pub mod dice;
pub mod fhir_out;
pub mod instruments;
pub mod milestones;
pub mod model;
pub mod notifications;
pub mod people;
pub mod referrals;
pub mod risk;
mod writer;

use std::path::PathBuf;

use dice::Dice;
use writer::Writer;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub patients: usize,
    pub practices: usize,
    pub seed: u64,
    pub out: PathBuf,
    /// The last of the three years of data (and the measure year answered).
    pub year: i32,
    /// Share of patients with no PCP (`generalPractitioner`).
    pub unassigned: f64,
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub patients: usize,
    pub resources: u64,
    pub notifications: u64,
}

/// Generates the population into `opts.out`; `progress` is told each
/// patient written.
pub fn run(opts: &Options, mut progress: impl FnMut(usize)) -> std::io::Result<Summary> {
    if opts.practices == 0 || opts.patients == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--patients and --practices must be at least 1",
        ));
    }
    let practices = people::practices(opts.practices, opts.seed);
    let span = chart::Span::ending(opts.year);
    let mut w = Writer::create(&opts.out, &practices)?;
    let mut summary = Summary::default();
    for i in 0..opts.patients {
        let Drawn {
            chart: c,
            resources,
            messages,
            payer_lists,
        } = draw(opts, &practices, &span, i);
        let practice = &practices[c.person.practice];
        summary.resources += resources.len() as u64;
        summary.notifications += messages.len() as u64;
        w.patient(&c, practice, resources, &messages, &payer_lists)?;
        let script = referrals::script(opts.seed, i, &c);
        let mut line = answers::answers(&c, practice, opts.year);
        line["referral"] = referrals::expected(&c, opts.year, script.as_ref());
        line["milestones"] = milestones::patient(&c, opts.year);
        // The payer lists the patient is on, from the draw itself: the
        // attribution answers are built from these, never by Tandem's rules.
        line["attribution"] = serde_json::json!({
            "medicaid": c.person.medicaid,
            "lists": payer_lists.iter().map(|&k| practices[k].id.clone()).collect::<Vec<_>>(),
            "empaneled": c.person.pcp.is_some(),
        });
        line["continuity"] = continuity(&c, practice);
        line["risk"] = risk::expected(&c, span.last);
        w.answers(&line)?;
        if let Some(s) = &script {
            w.response(&referrals::response_line(&c.person.id, s))?;
        }
        summary.patients += 1;
        progress(i + 1);
    }
    w.finish(opts, &summary)?;
    Ok(summary)
}

/// Continuity answers from the draw: the patient's PCP and, for each
/// month with a visit, whether one of that month's visits was with them.
fn continuity(c: &model::Chart, practice: &model::Practice) -> serde_json::Value {
    let Some(pcp) = c.person.pcp else {
        return serde_json::Value::Null;
    };
    let mut months = serde_json::Map::new();
    for v in &c.visits {
        let own = months
            .entry(v.day.format("%Y-%m").to_string())
            .or_insert(serde_json::Value::Bool(false));
        if v.provider == pcp {
            *own = serde_json::Value::Bool(true);
        }
    }
    serde_json::json!({
        "pcp": format!("Practitioner/{}", practice.providers[pcp]),
        "months": months,
    })
}

/// Patient `i` of a run, fully drawn.
pub struct Drawn {
    pub chart: model::Chart,
    pub resources: Vec<serde_json::Value>,
    pub messages: Vec<serde_json::Value>,
    pub payer_lists: Vec<usize>,
}

/// Draws patient `i` alone (the benchmarks make populations in memory this
/// way): the same patient `run` writes for the same options.
pub fn draw(opts: &Options, practices: &[model::Practice], span: &chart::Span, i: usize) -> Drawn {
    let mut d = Dice::new(opts.seed, i as u64);
    let person = people::person(&mut d, i, practices, opts.unassigned, span.last);
    let practice = &practices[person.practice];
    let c = chart::chart(&mut d, person, practice, span);
    let resources = fhir_out::resources(&c, practice);
    let messages = notifications::messages(&mut d, &c);
    let payer_lists = payer_attribution(&mut d, c.person.practice, practices.len());
    Drawn {
        chart: c,
        resources,
        messages,
        payer_lists,
    }
}

/// The payers' attribution lists (practice indexes) a patient is on: mostly
/// the practice's own, sometimes missing from it, sometimes on another's —
/// payer lists and practice panels never quite agree.
fn payer_attribution(d: &mut Dice, own: usize, practices: usize) -> Vec<usize> {
    let mut lists = Vec::new();
    if d.chance(0.88) {
        lists.push(own);
    }
    if practices > 1 && d.chance(0.05) {
        let other = (own + 1 + d.index(practices - 1)) % practices;
        lists.push(other);
    }
    lists
}

/// `tandem generate`, with a progress bar on stderr.
pub fn cli(args: &crate::cli::GenerateArgs) -> anyhow::Result<()> {
    let opts = Options {
        patients: args.patients,
        practices: args.practices,
        seed: args.seed,
        out: args.out.clone(),
        year: args.year,
        unassigned: args.unassigned,
    };
    let bar = indicatif::ProgressBar::new(opts.patients as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} patients [{elapsed_precise}, {per_sec}]",
    )?);
    let summary = run(&opts, |n| {
        if n % 256 == 0 || n == opts.patients {
            bar.set_position(n as u64)
        }
    })?;
    bar.finish_and_clear();
    println!(
        "{} patients, {} resources, {} HIE notifications in {} ({} practices, seed {})",
        summary.patients,
        summary.resources,
        summary.notifications,
        opts.out.display(),
        opts.practices,
        opts.seed
    );
    Ok(())
}
