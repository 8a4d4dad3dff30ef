//! The places jobs run on, each bounded by a `tokio::sync::Semaphore` of its own slot count
//! (the run's `-j` total bounds them all together, in the scheduler). A job holds a
//! [`Placement`] while it runs there. Places may be added, retired or given other slots while
//! the run goes on ([`Places::update`], from the executor's
//! [`places_changed`](crate::exec::Executor::places_changed)): indices never change.

use std::sync::{Arc, RwLock};

use futures::future::select_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::exec::Place;

/// A job's room at one place, freed when dropped.
#[derive(Debug)]
pub(crate) struct Placement {
    /// The place's index in the executor's list.
    pub index: usize,
    /// Its name, for records.
    pub name: Arc<str>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Placement {
    /// Gives the room back now, before another placement is waited for: a job that holds
    /// room at a failed place while it waits for room elsewhere could wait for ever (each
    /// of the jobs failing at once holds what the others wait for).
    pub fn release(&mut self) {
        self.permit = None;
    }
}

/// One place and the semaphore of its slots.
struct Entry {
    place: Place,
    /// Its slots as permits: `place.slots` bounded by the run's total when it was set.
    permits: usize,
    /// Permits still held by running jobs beyond `permits` (its slots went down): each one is
    /// forgotten when it is next acquired.
    debt: usize,
    sem: Arc<Semaphore>,
}

/// Every place of the run with its semaphore.
pub(crate) struct Places {
    places: RwLock<Vec<Entry>>,
    /// Bumped on every change, so that a waiting [`Places::acquire`] looks again.
    changed: watch::Sender<u64>,
}

impl Places {
    /// Bounds each place by its own slots, and none by more than the run's `total`.
    pub fn new(places: Vec<Place>, total: usize) -> Places {
        assert!(!places.is_empty(), "an executor runs jobs somewhere");
        let places = places.into_iter().map(|p| Entry::new(p, total)).collect();
        Places {
            places: RwLock::new(places),
            changed: watch::Sender::new(0),
        }
    }

    /// How many places there are.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Room at the place `index` (`--onall` pins each job to one).
    pub async fn acquire_at(&self, index: usize) -> Option<Placement> {
        loop {
            let sem = self.read().get(index)?.sem.clone();
            let permit = sem.acquire_owned().await.ok()?;
            let mut places = self.places.write().expect("never poisoned");
            let entry = &mut places[index];
            if entry.debt > 0 {
                entry.debt -= 1;
                permit.forget();
                continue;
            }
            return Some(Placement {
                index,
                name: entry.place.name.clone(),
                permit: Some(permit),
            });
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.places.read().expect("never poisoned")
    }

    /// Takes in the executor's places as they are now (`places`: the same ones at the same
    /// indices, perhaps retired or with other slots, then any new ones), each bounded by the
    /// run's `total` as it is now. A place's lost slots are taken back as its jobs end.
    /// Waiting [`Places::acquire`]s look again.
    pub fn update(&self, places: Vec<Place>, total: usize) {
        let mut entries = self.places.write().expect("never poisoned");
        debug_assert!(places.len() >= entries.len(), "places are only appended");
        for (i, place) in places.into_iter().enumerate() {
            let Some(entry) = entries.get_mut(i) else {
                entries.push(Entry::new(place, total));
                continue;
            };
            let permits = bounded(place.slots, total);
            if permits > entry.permits {
                let more = permits - entry.permits;
                let paid = more.min(entry.debt);
                entry.debt -= paid;
                entry.sem.add_permits(more - paid);
            } else if permits < entry.permits {
                let fewer = entry.permits - permits;
                entry.debt += fewer - entry.sem.forget_permits(fewer);
            }
            entry.permits = permits;
            entry.place = place;
        }
        drop(entries);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Room at a place other than those in `avoid` (and not retired): the one with the most
    /// free room now, or else the first to have some. `None` when every place is to be
    /// avoided or retired.
    pub async fn acquire(&self, avoid: &[usize]) -> Option<Placement> {
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            let candidates: Vec<(usize, Arc<Semaphore>)> = self
                .read()
                .iter()
                .enumerate()
                .filter(|(i, e)| !avoid.contains(i) && !e.place.retired)
                .map(|(i, e)| (i, e.sem.clone()))
                .collect();
            let freest = candidates
                .iter()
                .max_by_key(|(i, sem)| (sem.available_permits(), std::cmp::Reverse(*i)))?;
            let got = match freest.1.clone().try_acquire_owned() {
                Ok(permit) => Some((freest.0, permit)),
                Err(_) => {
                    let waits = candidates.into_iter().map(|(i, sem)| {
                        Box::pin(async move {
                            let permit = sem.acquire_owned().await;
                            (i, permit.expect("a place's semaphore is never closed"))
                        })
                    });
                    tokio::select! {
                        ((index, permit), _, _) = select_all(waits) => Some((index, permit)),
                        // A place came, went or changed its slots: look again.
                        _ = changed.changed() => None,
                    }
                }
            };
            let Some((index, permit)) = got else { continue };
            if let Some(placement) = self.claim(index, permit) {
                return Some(placement);
            }
        }
    }

    /// The placement for `permit`, unless the place retired in the meantime (the room is
    /// given back) or lost slots (the permit is forgotten): then the choice is made again.
    fn claim(&self, index: usize, permit: OwnedSemaphorePermit) -> Option<Placement> {
        let mut places = self.places.write().expect("never poisoned");
        let entry = &mut places[index];
        if entry.debt > 0 {
            entry.debt -= 1;
            permit.forget();
            return None;
        }
        (!entry.place.retired).then(|| Placement {
            index,
            name: entry.place.name.clone(),
            permit: Some(permit),
        })
    }
}

impl Entry {
    fn new(place: Place, total: usize) -> Entry {
        let permits = bounded(place.slots, total);
        Entry {
            place,
            permits,
            debt: 0,
            sem: Arc::new(Semaphore::new(permits)),
        }
    }
}

/// A place's permits: its slots, no more than the run's total.
fn bounded(slots: usize, total: usize) -> usize {
    slots.min(total).min(Semaphore::MAX_PERMITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_place_is_bounded_by_its_own_slots_and_the_total() {
        let places = Places::new(vec![Place::new("a", 1), Place::new("b", 8)], 2);
        assert_eq!(places.len(), 2);
        let first = places.acquire(&[]).await.unwrap();
        let second = places.acquire(&[]).await.unwrap();
        // "b" has the most room first (2 of its 8, bounded by the total), then "a" or "b".
        assert_eq!(first.name.as_ref(), "b");
        let third = places.acquire(&[]).await.unwrap();
        let names = [&*first.name, &*second.name, &*third.name];
        assert_eq!(names.iter().filter(|n| **n == "a").count(), 1);
        // Everything is taken: the next waits until a placement is dropped.
        let waiting = places.acquire(&[]);
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        let freed = first.name.clone();
        drop(first);
        assert_eq!(waiting.await.unwrap().name, freed);
        assert!(places.acquire(&[0, 1]).await.is_none());
    }

    #[tokio::test]
    async fn places_are_added_retired_and_resized_with_stable_indices() {
        let places = Places::new(vec![Place::new("a", 2)], 10);
        let a1 = places.acquire(&[]).await.unwrap();
        let a2 = places.acquire(&[]).await.unwrap();
        // Full: a waiter sees a place added meanwhile.
        let waiting = places.acquire(&[]);
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        places.update(vec![Place::new("a", 2), Place::new("b", 1)], 10);
        let b = waiting.await.unwrap();
        assert_eq!((b.index, &*b.name), (1, "b"));
        // `a` down to one slot with two jobs there: the first to end gives its room back
        // for good, the second's is `a`'s one slot.
        places.update(vec![Place::new("a", 1), Place::new("b", 1)], 10);
        let waiting = places.acquire(&[1]);
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        drop(a1);
        tokio::task::yield_now().await;
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "a's lost slot is taken back"
        );
        drop(a2);
        let a3 = waiting.await.unwrap();
        assert_eq!(a3.index, 0);
        // `a` retired: its freed room takes no job; `b` is avoided, so there is nowhere.
        let mut retired = Place::new("a", 1);
        retired.retired = true;
        places.update(vec![retired, Place::new("b", 1)], 10);
        drop(a3);
        assert!(places.acquire(&[1]).await.is_none());
        // Back again: it takes jobs.
        places.update(vec![Place::new("a", 1), Place::new("b", 1)], 10);
        assert_eq!(places.acquire(&[1]).await.unwrap().index, 0);
        assert_eq!(places.len(), 2);
    }
}
