//! One patient's three years of care, drawn into the model: visits,
//! diagnoses, HbA1c results and blood pressures, screenings (the PHQ-2 →
//! PHQ-9 cascade, GAD-7, AUDIT-C, EPDS after a delivery) in every input
//! shape with some unanswered items and some item-9 positives, the EHR's
//! depression-screen results with same-day follow-up, smoking status, BMI
//! and developmental screens, hospice, palliative care, and ED visits and inpatient stays
//! (with readmissions) followed by a practice contact within 7 days, late,
//! or never.

use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime};

use super::dice::Dice;
use super::model::*;
use super::people::age_on;

mod screenings;
use screenings::screenings;

/// The three calendar years ending with `year`.
pub struct Span {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Span {
    pub fn ending(year: i32) -> Span {
        Span {
            first: NaiveDate::from_ymd_opt(year - 2, 1, 1).expect("a year"),
            last: NaiveDate::from_ymd_opt(year, 12, 31).expect("a year"),
        }
    }
}

/// Ids are the patient's id plus a kind letter and a counter.
struct Ids<'a>(&'a str, usize);

impl Ids<'_> {
    fn next(&mut self, kind: &str) -> String {
        self.1 += 1;
        format!("{}-{kind}{}", self.0, self.1)
    }
}

pub fn chart(d: &mut Dice, person: Person, practice: &Practice, span: &Span) -> Chart {
    let pid = person.id.clone();
    let mut ids = Ids(&pid, 0);
    let stays = stays(d, &person, span, &mut ids);
    let mut c = Chart {
        visits: visits(d, &person, practice, span, &stays, &mut ids),
        diagnoses: Vec::new(),
        labs: Vec::new(),
        bps: Vec::new(),
        administrations: Vec::new(),
        depression_screens: Vec::new(),
        follow_ups: Vec::new(),
        value_screens: Vec::new(),
        prescriptions: Vec::new(),
        hospice: None,
        palliative: None,
        stays,
        person,
    };
    diagnoses(d, &mut c, span, &mut ids);
    vitals_and_labs(d, &mut c, &mut ids);
    screenings(d, &mut c, &mut ids);
    readings(d, &mut c, &mut ids);
    prescriptions(d, &mut c, &mut ids);
    if age_on(c.person.birth, span.last) >= 65 && d.chance(0.03) {
        c.hospice = Some((ids.next("h"), d.day(span.last - Months::new(11), span.last)));
    }
    if age_on(c.person.birth, span.last) >= 50 && d.chance(0.04) {
        c.palliative = Some((ids.next("pc"), d.day(span.first, span.last)));
    }
    c
}

fn visits(
    d: &mut Dice,
    p: &Person,
    practice: &Practice,
    span: &Span,
    stays: &[Stay],
    ids: &mut Ids,
) -> Vec<Visit> {
    let mut out: Vec<Visit> = Vec::new();
    for year in span.first.year()..=span.last.year() {
        let from = NaiveDate::from_ymd_opt(year, 1, 1).unwrap().max(p.birth);
        let to = NaiveDate::from_ymd_opt(year, 12, 31).unwrap();
        if from > to {
            continue;
        }
        let n = d.weighted(&[0.15, 0.3, 0.25, 0.15, 0.1, 0.05]);
        let mut preventive = false;
        for _ in 0..n {
            let kind = match d.weighted(&[0.6, 0.15, 0.15, 0.1]) {
                1 if !preventive => {
                    preventive = true;
                    VisitKind::Preventive
                }
                2 => VisitKind::Telephone,
                3 => VisitKind::Virtual,
                _ => VisitKind::Office,
            };
            let provider = match p.pcp {
                Some(j) if d.chance(0.8) => j,
                _ => d.index(practice.providers.len()),
            };
            out.push(Visit {
                id: String::new(),
                day: d.day(from, to),
                kind,
                provider,
            });
        }
    }
    // After a discharge the practice reaches most patients within 7 days,
    // some late, some never.
    for stay in stays {
        let back = stay.discharged.date();
        let after = match d.weighted(&[0.55, 0.2, 0.25]) {
            0 => Some(d.int(1, 7)),
            1 => Some(d.int(8, 14)),
            _ => None,
        };
        if let Some(days) = after
            .map(|n| back + Days::new(n as u64))
            .filter(|day| *day <= span.last)
        {
            let kind = if d.chance(0.5) {
                VisitKind::Telephone
            } else {
                VisitKind::Office
            };
            let provider = p.pcp.unwrap_or_else(|| d.index(practice.providers.len()));
            out.push(Visit {
                id: String::new(),
                day: days,
                kind,
                provider,
            });
        }
    }
    out.sort_by_key(|v| v.day);
    out.dedup_by_key(|v| v.day); // one visit a day keeps "that day" unambiguous
    for v in &mut out {
        v.id = ids.next("v");
    }
    out
}

fn diagnoses(d: &mut Dice, c: &mut Chart, span: &Span, ids: &mut Ids) {
    let age = age_on(c.person.birth, span.last);
    let chances: &[(Dx, f64, i32)] = &[
        (Dx::Diabetes, if age >= 45 { 0.2 } else { 0.06 }, 18),
        (Dx::Hypertension, if age >= 45 { 0.45 } else { 0.12 }, 18),
        (Dx::Depression, 0.16, 12),
        (Dx::Anxiety, 0.14, 12),
        (Dx::Bipolar, 0.02, 15),
        (Dx::AlcoholUse, 0.05, 16),
        (Dx::Asthma, 0.08, 2),
    ];
    for (dx, p, min_age) in chances {
        if age >= *min_age && d.chance(*p) {
            let earliest = (c.person.birth + Months::new(12 * *min_age as u32))
                .max(span.first - Months::new(120));
            // Mostly long-standing; one in five first diagnosed during the span.
            let onset = if d.chance(0.8) {
                d.day(earliest, span.first)
            } else {
                d.day(span.first.max(earliest), span.last)
            };
            c.diagnoses.push(Diagnosis {
                id: ids.next("c"),
                dx: *dx,
                onset,
            });
        }
    }
}

fn vitals_and_labs(d: &mut Dice, c: &mut Chart, ids: &mut Ids) {
    let hypertensive = c.has(Dx::Hypertension).is_some();
    let diabetic = c.has(Dx::Diabetes).is_some();
    let control = d.normal(0.0, 1.0); // how well this patient is controlled
    for v in c.visits.clone() {
        let in_person = matches!(v.kind, VisitKind::Office | VisitKind::Preventive);
        if !in_person || age_on(c.person.birth, v.day) < 18 {
            continue;
        }
        let (s, di) = if hypertensive {
            (136.0 + 8.0 * control, 84.0 + 5.0 * control)
        } else {
            (121.0, 76.0)
        };
        c.bps.push(Bp {
            id: ids.next("bp"),
            day: v.day,
            systolic: d.normal(s, 10.0).clamp(90.0, 200.0) as u32,
            diastolic: d.normal(di, 7.0).clamp(50.0, 120.0) as u32,
        });
        if diabetic && d.chance(0.6) {
            let a1c = d.normal(7.9 + 0.9 * control, 1.1).clamp(5.0, 14.0);
            c.labs.push(Lab {
                id: ids.next("a1c"),
                day: v.day,
                percent: (a1c * 10.0).round() / 10.0,
            });
        }
    }
}

/// ED visits and inpatient stays over the span, with readmissions.
fn stays(d: &mut Dice, p: &Person, span: &Span, ids: &mut Ids) -> Vec<Stay> {
    let age = age_on(p.birth, span.last);
    let at = |day: NaiveDate, h: u32| day.and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap());
    let n = if age >= 18 {
        d.weighted(&[0.88, 0.08, 0.04])
    } else {
        d.weighted(&[0.94, 0.06])
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let day = d.day(span.first.max(p.birth), span.last - Days::new(10));
        let emergency = d.chance(0.65);
        let stay_days = if emergency { 0 } else { d.int(1, 6) as u64 };
        let admitted = at(day, d.int(1, 20));
        let discharged = at(day + Days::new(stay_days), 22.min(d.int(9, 23)));
        out.push(Stay {
            id: ids.next("adt"),
            admitted,
            discharged: discharged.max(admitted),
            emergency,
        });
        if !emergency && d.chance(0.2) {
            // A readmission within 30 days of discharge.
            let back = discharged.date() + Days::new(d.int(3, 29) as u64);
            if back <= span.last {
                let admitted = at(back, 8);
                out.push(Stay {
                    id: ids.next("adt"),
                    admitted,
                    discharged: at(back + Days::new(2), 15),
                    emergency: false,
                });
            }
        }
    }
    out.sort_by_key(|s| s.admitted);
    out
}

/// Smoking status and BMI for adults, developmental screens at the well
/// visits of children under three.
fn readings(d: &mut Dice, c: &mut Chart, ids: &mut Ids) {
    let smoking = match d.weighted(&[0.22, 0.2, 0.58]) {
        0 => Smoking::Current,
        1 => Smoking::Former,
        _ => Smoking::Never,
    };
    let bmi = d.normal(27.5, 6.0).clamp(16.0, 55.0);
    for v in c.visits.clone() {
        let age = age_on(c.person.birth, v.day);
        let in_person = matches!(v.kind, VisitKind::Office | VisitKind::Preventive);
        let mut add = |reading| {
            c.value_screens.push(ValueScreen {
                id: ids.next("r"),
                day: v.day,
                reading,
            })
        };
        if age >= 18 && in_person {
            if v.kind == VisitKind::Preventive || d.chance(0.3) {
                add(Reading::Smoking(smoking));
            }
            if d.chance(0.5) {
                add(Reading::Bmi((d.normal(bmi, 0.5) * 10.0).round() / 10.0));
            }
        }
        if (2..18).contains(&age) && v.kind == VisitKind::Preventive {
            add(Reading::BmiPercentile(d.int(1, 99) as f64));
        }
        if age < 3 && v.kind == VisitKind::Preventive {
            add(Reading::Development {
                concern: d.chance(0.12),
            });
        }
    }
}

/// Metformin for diabetes and an inhaled corticosteroid for asthma, renewed
/// at most in-person visits. (No antidepressants: they would enter CMS2's
/// follow-up logic, which the answers do not model.)
fn prescriptions(d: &mut Dice, c: &mut Chart, ids: &mut Ids) {
    const DRUGS: [(Dx, &str, &str); 2] = [
        (
            Dx::Diabetes,
            "860975",
            "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        ),
        (
            Dx::Asthma,
            "895994",
            "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        ),
    ];
    for v in c.visits.clone() {
        if !matches!(v.kind, VisitKind::Office | VisitKind::Preventive) {
            continue;
        }
        for (dx, rxnorm, name) in DRUGS {
            let treated = c.has(dx).is_some_and(|x| x.onset <= v.day);
            if treated && d.chance(0.7) {
                let days = if d.chance(0.5) { 30 } else { 90 };
                c.prescriptions.push(Prescription {
                    id: ids.next("rx"),
                    day: v.day,
                    rxnorm,
                    name,
                    days,
                });
            }
        }
    }
}
