//! Clinical quality measures over the store: evaluation of the pure
//! `measure` engine a patient page at a time (`evaluate`), and the DEQM
//! operations built on it — `$evaluate-measure` and Measure reads
//! (`operations`), `$care-gaps` as gaps-in-care documents (`care_gaps`).

pub(crate) mod care_gaps;
pub(crate) mod evaluate;
pub(crate) mod operations;
