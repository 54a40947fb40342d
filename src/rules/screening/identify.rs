//! Which instrument an administration is, from the item keys it answers.
//!
//! Senders often name no Questionnaire, or one Tandem cannot resolve to an
//! instrument, and send the item codes (LOINC) as linkIds. The administration
//! is then the **most complete** instrument its items cover, read from the set
//! of keys alone, so item order, nesting in groups and which items are missing
//! never change the answer.

use super::catalog::Instrument;

/// The instrument a set of item keys is an administration of: the **most
/// complete** one they cover. An instrument is a candidate when at least half
/// its items are named; among candidates the one with the most named items
/// wins (nine PHQ-9 items are a PHQ-9, not a PHQ-2 that happens to be inside
/// it), and on a tie the smaller instrument (AUDIT-C's three items alone are
/// an AUDIT-C). Order, nesting and which items are missing do not matter:
/// only the set of keys is read.
pub fn by_items(instruments: &[Instrument], keys: &[String]) -> Option<usize> {
    instruments
        .iter()
        .enumerate()
        .filter_map(|(i, inst)| {
            let named = inst
                .items
                .iter()
                .filter(|it| keys.iter().any(|k| it.is_named(k)))
                .count();
            (named > 0 && named * 2 >= inst.items.len()).then_some((i, named, inst.items.len()))
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)))
        .map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::by_items;
    use crate::rules::screening::catalog::builtin;
    use crate::rules::screening::rules::{Missing, ScreeningConfig, rule};
    use crate::rules::screening::safety::SafetyItems;
    use crate::rules::screening::score::{Answer, Response};

    /// The keys a sender may use for each item: its linkId or any item code.
    fn keys_of(i: usize, codes: bool) -> Vec<String> {
        let inst = &builtin()[i];
        inst.items
            .iter()
            .map(|it| match (codes, it.codes.first()) {
                (true, Some(c)) => c.clone(),
                _ => it.link_id.clone(),
            })
            .collect()
    }

    proptest! {
        /// Any permutation of an instrument's items, with as many missing as
        /// its missing-answer rule allows, plus unscored extras (a total, a
        /// difficulty question), identifies that instrument.
        #[test]
        fn permutations_and_allowed_missing_items_identify_the_instrument(
            which in 0usize..9,
            codes in any::<bool>(),
            order in proptest::collection::vec(any::<u32>(), 10),
            drop in proptest::collection::vec(any::<u32>(), 2),
            extras in any::<bool>(),
        ) {
            let instruments = builtin();
            let inst = &instruments[which];
            let cfg = ScreeningConfig::default();
            let allowed = match rule(&inst.key, &cfg).unwrap().missing {
                Missing::Prorate { max_missing } => max_missing,
                Missing::AllRequired => 0,
            };
            let mut keys = keys_of(which, codes);
            let mut ranked: Vec<(u32, String)> = order.iter().copied().zip(keys.drain(..)).collect();
            ranked.sort();
            let mut keys: Vec<String> = ranked.into_iter().map(|(_, k)| k).collect();
            for d in drop.iter().take(allowed) {
                if keys.len() > 1 {
                    let at = *d as usize % keys.len();
                    keys.remove(at);
                }
            }
            if extras {
                keys.push(inst.total.code.clone());
                keys.push("69722-7".into());
            }
            prop_assert_eq!(by_items(&instruments, &keys), Some(which), "{} from {:?}", inst.key, keys);
        }

        /// PHQ-9 item 9 above zero is found in any order and with any other
        /// items missing, whatever the rest of the response is.
        #[test]
        fn item_nine_is_found_in_any_response(
            order in proptest::collection::vec(any::<u32>(), 9),
            keep in proptest::collection::vec(any::<bool>(), 9),
            score in 1u8..=3,
        ) {
            let instruments = builtin();
            let phq9 = instruments.iter().position(|i| i.key == "phq-9").unwrap();
            let answers = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
            let mut responses: Vec<(u32, Response)> = keys_of(phq9, true)
                .into_iter()
                .zip(order)
                .enumerate()
                .filter(|(i, _)| *i == 8 || keep[*i])
                .map(|(i, (key, o))| {
                    let code = if i == 8 { answers[score as usize] } else { answers[0] };
                    (o, Response { key, answer: Answer::Coded { system: None, code: code.into(), weight: None } })
                })
                .collect();
            responses.sort_by_key(|(o, _)| *o);
            let responses: Vec<Response> = responses.into_iter().map(|(_, r)| r).collect();
            let hits = SafetyItems::of(&instruments, &ScreeningConfig::default()).scan(&responses);
            prop_assert_eq!(hits.len(), 1);
            prop_assert_eq!(hits[0].1.weight, Some(f64::from(score)));
        }
    }

    #[test]
    fn nested_instruments_resolve_to_the_larger_when_its_items_are_there() {
        let instruments = builtin();
        let key = |k: &str| instruments.iter().position(|i| i.key == k);
        assert_eq!(
            by_items(&instruments, &keys_of(key("phq-9").unwrap(), true)),
            key("phq-9")
        );
        assert_eq!(
            by_items(&instruments, &keys_of(key("phq-2").unwrap(), true)),
            key("phq-2")
        );
        assert_eq!(
            by_items(&instruments, &keys_of(key("audit").unwrap(), true)),
            key("audit")
        );
        assert_eq!(
            by_items(&instruments, &keys_of(key("audit-c").unwrap(), true)),
            key("audit-c")
        );
        assert_eq!(by_items(&instruments, &["unrelated".to_string()]), None);
    }
}
