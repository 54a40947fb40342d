//! Clinical quality measures over the store: evaluation of the pure
//! `measure` engine a patient page at a time (`evaluate`), and the DEQM
//! operations built on it — `$evaluate-measure`, `$care-gaps`, Measure reads
//! (`operations`).

pub(crate) mod evaluate;
pub(crate) mod operations;
