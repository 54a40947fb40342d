//! Whole-population passes (measures, milestones, panels, risk): a tenant's
//! patients with their records, a page at a time.
//!
//! Reading and parsing are most of a pass. By default the next page is read
//! while the caller evaluates the current one (parsed on the blocking pool
//! with it). A pass that reads much and keeps little (the risk pass) can
//! ask for [`Pages`]: a task of its own reads two pages side by side on two
//! reader connections, each parsed as it arrives, the population split into
//! pages by an index-only list of patient ids. A pass that needs little of
//! a large type says so with a cheap test on the stored text
//! ([`Reading::keep`]), and the rest is never parsed. Memory holds a few
//! pages, never the population; dropping [`Pages`] stops the reads (and
//! interrupts a query under way).

use std::sync::Arc;

use serde_json::Value;
use std::collections::VecDeque;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::measure::record::Record;
use crate::store::{AccessContext, PatientPage, PatientRecord, Store, StoreError};

/// Patients per page.
pub const PAGE: usize = 250;
/// Pages read at once.
const AHEAD: usize = 2;
/// Patient ids listed per round trip, to split into pages.
const ID_BLOCK: usize = PAGE * 16;

/// Whether a pass needs a resource, from its type and stored JSON text: a
/// test cheaper than parsing it (a partial parse of a few elements), which
/// must keep everything the pass reads.
pub type Keep = fn(&str, &str) -> bool;

/// What a pass reads: the resources of `types` pointing at each patient
/// (those `keep` passes), for every patient or `only` these ids.
#[derive(Debug, Clone)]
pub struct Reading {
    pub types: Vec<String>,
    pub keep: Option<Keep>,
    pub only: Option<Vec<String>>,
    /// Read two pages side by side ([`Pages`]) rather than one page ahead.
    pub side_by_side: bool,
}

impl Reading {
    pub fn of(types: &[&str]) -> Reading {
        Reading {
            types: types.iter().map(|t| t.to_string()).collect(),
            keep: None,
            only: None,
            side_by_side: false,
        }
    }

    /// Pages read two at a time: what the risk pass gains from (its records
    /// are read and mostly skipped). The milestone and measure passes run
    /// several folds at once and were slower with it (docs/benchmarks.md),
    /// so they keep one page read ahead.
    pub fn side_by_side(mut self) -> Reading {
        self.side_by_side = true;
        self
    }

    pub fn keeping(mut self, keep: Keep) -> Reading {
        self.keep = Some(keep);
        self
    }

    pub fn only(mut self, only: Option<Vec<String>>) -> Reading {
        self.only = only;
        self
    }
}

/// The pages of a pass, parsed, in patient-id order (or `only`'s order).
pub struct Pages {
    rx: mpsc::Receiver<Result<Vec<Record>, StoreError>>,
    task: JoinHandle<()>,
}

impl Pages {
    pub fn start(store: Arc<dyn Store>, ctx: &AccessContext, reading: Reading) -> Pages {
        let (tx, rx) = mpsc::channel(1);
        let ctx = ctx.clone();
        let task = tokio::spawn(async move {
            let mut ids = Ids {
                given: reading.only.clone().map(Vec::into_iter),
                block: Vec::new().into_iter(),
                after: None,
            };
            // Each page is read and parsed by a task of its own, so the
            // pages ahead progress while this one waits for the consumer.
            let mut ahead: VecDeque<Aborting<Result<Vec<Record>, StoreError>>> = VecDeque::new();
            loop {
                while ahead.len() < AHEAD {
                    match ids.next_page(store.as_ref(), &ctx).await {
                        Ok(Some(page)) => ahead.push_back(Aborting(tokio::spawn(read(
                            store.clone(),
                            ctx.clone(),
                            reading.types.clone(),
                            reading.keep,
                            page,
                        )))),
                        Ok(None) => break,
                        Err(e) => ahead.push_back(Aborting(tokio::spawn(async { Err(e) }))),
                    }
                }
                let Some(mut next) = ahead.pop_front() else {
                    return;
                };
                let page = (&mut next.0)
                    .await
                    .map_err(|e| StoreError::Backend(format!("page task failed: {e}")))
                    .and_then(|p| p);
                let failed = page.is_err();
                if page.as_ref().is_ok_and(Vec::is_empty) {
                    continue;
                }
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        });
        Pages { rx, task }
    }

    /// The next page; `None` when the pass has read everyone.
    pub async fn next(&mut self) -> Option<Result<Vec<Record>, StoreError>> {
        self.rx.recv().await
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The patient ids of a pass, a page at a time: `only`'s, or the store's
/// in id order, listed a block at a time.
struct Ids {
    given: Option<std::vec::IntoIter<String>>,
    block: std::vec::IntoIter<String>,
    after: Option<String>,
}

impl Ids {
    async fn next_page(
        &mut self,
        store: &dyn Store,
        ctx: &AccessContext,
    ) -> Result<Option<Vec<String>>, StoreError> {
        if let Some(given) = &mut self.given {
            let page: Vec<String> = given.take(PAGE).collect();
            return Ok((!page.is_empty()).then_some(page));
        }
        if self.block.len() == 0 {
            let block = store.patient_ids(ctx, self.after.clone(), ID_BLOCK).await?;
            match block.last() {
                Some(last) => self.after = Some(last.clone()),
                None => return Ok(None),
            }
            self.block = block.into_iter();
        }
        let page: Vec<String> = self.block.by_ref().take(PAGE).collect();
        Ok((!page.is_empty()).then_some(page))
    }
}

/// Reads one page of `ids` and parses it on the blocking pool.
async fn read(
    store: Arc<dyn Store>,
    ctx: AccessContext,
    types: Vec<String>,
    keep: Option<Keep>,
    ids: Vec<String>,
) -> Result<Vec<Record>, StoreError> {
    let page = PatientPage {
        types,
        after: None,
        limit: ids.len(),
        only: Some(ids),
    };
    let rows = store.patient_records(&ctx, page).await?;
    tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .filter_map(|p| record_of(p, keep))
            .collect::<Vec<Record>>()
    })
    .await
    .map_err(|e| StoreError::Backend(format!("parsing task failed: {e}")))
}

/// A task aborted when its handle is dropped (a pass given up stops its
/// reads ahead).
struct Aborting<T>(JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A stored patient compartment as a [`Record`], of its resources those
/// `keep` passes (`None` if the Patient does not parse).
fn record_of(p: PatientRecord, keep: Option<Keep>) -> Option<Record> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    let patient = parse(&p.patient.body)?;
    let kept = p
        .resources
        .iter()
        .filter(|r| keep.is_none_or(|k| k(&r.resource_type, &r.body)))
        .filter_map(|r| parse(&r.body));
    Record::new(std::iter::once(patient).chain(kept))
}

/// Folds the tenant's patients (as `reading` says) into `state`, a page at
/// a time: `work` takes each record on the blocking pool while the next
/// pages are read and parsed; `after_page` then sees the state on the caller's side
/// with the number of patients read so far.
pub(crate) async fn fold_records<S, W>(
    store: &Arc<dyn Store>,
    ctx: &AccessContext,
    reading: Reading,
    mut state: S,
    work: W,
    mut after_page: impl FnMut(&mut S, u64) + Send,
) -> Result<S, StoreError>
where
    S: Send + 'static,
    W: Fn(&mut S, Record) + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let mut seen = 0u64;
    if reading.side_by_side {
        let mut pages = Pages::start(store.clone(), ctx, reading);
        while let Some(records) = pages.next().await {
            let records = records?;
            seen += records.len() as u64;
            state = evaluate(state, records, &work).await?;
            after_page(&mut state, seen);
        }
        return Ok(state);
    }
    let fetch = |after: Option<String>| {
        let page = PatientPage {
            types: reading.types.clone(),
            after,
            only: reading.only.clone(),
            limit: PAGE,
        };
        store.patient_records(ctx, page)
    };
    let mut rows = fetch(None).await?;
    while let Some(last) = rows.last() {
        let next = fetch(Some(last.patient.id.clone()));
        seen += rows.len() as u64;
        let keep = reading.keep;
        let records: Vec<Record> = rows
            .into_iter()
            .filter_map(|p| record_of(p, keep))
            .collect();
        let (worked, fetched) = tokio::join!(evaluate(state, records, &work), next);
        state = worked?;
        rows = fetched?;
        after_page(&mut state, seen);
    }
    Ok(state)
}

/// Runs `work` over a page's records (parsed as they are taken) on the
/// blocking pool.
async fn evaluate<S, W, I>(mut state: S, records: I, work: &Arc<W>) -> Result<S, StoreError>
where
    S: Send + 'static,
    W: Fn(&mut S, Record) + Send + Sync + 'static,
    I: IntoIterator<Item = Record> + Send + 'static,
{
    let w = work.clone();
    tokio::task::spawn_blocking(move || {
        for record in records {
            w(&mut state, record);
        }
        state
    })
    .await
    .map_err(|e| StoreError::Backend(format!("evaluation task failed: {e}")))
}
