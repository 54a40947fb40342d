//! The configured programs with their loaded milestone catalogs, and who is
//! enrolled where: what `$milestones`, `$good-standing` and the quarterly
//! feed consult, and what lets program staff and facilitators reach the
//! practices they oversee.

use std::collections::HashMap;

use crate::measure::milestone::catalog::MilestoneCatalog;
use crate::measure::milestone::program::{Enrolment, Program, Track};

/// Programs, catalogs and enrolments, checked.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    programs: Vec<(Program, MilestoneCatalog)>,
    enrolments: HashMap<String, Enrolment>,
}

/// A practice's enrolment with its program, track and catalog.
pub struct Enrolled<'a> {
    pub enrolment: &'a Enrolment,
    pub program: &'a Program,
    pub track: &'a Track,
    pub catalog: &'a MilestoneCatalog,
}

impl Programs {
    /// Loads every program's catalog and checks programs and enrolments;
    /// the error names the offending key.
    pub fn load(programs: &[Program], enrolments: &[Enrolment]) -> Result<Programs, String> {
        let mut out = Programs::default();
        for p in programs {
            if out.programs.iter().any(|(q, _)| q.id == p.id) {
                return Err(format!(
                    "invalid configuration: key 'programs.id': '{}' is configured twice",
                    p.id
                ));
            }
            let catalog = MilestoneCatalog::load(&p.catalog).map_err(|e| {
                format!(
                    "invalid configuration: key 'programs.{}.catalog': {e}",
                    p.id
                )
            })?;
            p.check(&catalog)?;
            out.programs.push((p.clone(), catalog));
        }
        for e in enrolments {
            e.check(programs)?;
            if out
                .enrolments
                .insert(e.practice.clone(), e.clone())
                .is_some()
            {
                return Err(format!(
                    "invalid configuration: key 'enrolments.{}': the practice is enrolled twice",
                    e.practice
                ));
            }
        }
        Ok(out)
    }

    /// The practice's enrolment, if it has one.
    pub fn enrolled(&self, practice: &str) -> Option<Enrolled<'_>> {
        let enrolment = self.enrolments.get(practice)?;
        let (program, catalog) = self
            .programs
            .iter()
            .find(|(p, _)| p.id == enrolment.program)?;
        Some(Enrolled {
            enrolment,
            track: program.track(&enrolment.track)?,
            program,
            catalog,
        })
    }

    /// Whether an organization (a program, or a facilitator) oversees the
    /// practice: program staff see every practice enrolled in their program,
    /// a facilitator the practices assigned to them.
    pub fn oversees(&self, org: &str, practice: &str) -> bool {
        self.enrolments
            .get(practice)
            .is_some_and(|e| e.program == org || e.facilitator.as_deref() == Some(org))
    }

    /// The practices enrolled in `program`, sorted.
    pub fn in_program(&self, program: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .enrolments
            .values()
            .filter(|e| e.program == program)
            .map(|e| e.practice.clone())
            .collect();
        v.sort();
        v
    }

    /// Every enrolled practice, sorted.
    pub fn practices(&self) -> Vec<String> {
        let mut v: Vec<String> = self.enrolments.keys().cloned().collect();
        v.sort();
        v
    }
}
