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
    _permit: OwnedSemaphorePermit,
}

/// One place and the semaphore of its slots.
struct Entry {
    place: Place,
    /// Its slots as permits: `place.slots` bounded by the run's total when it was set.
    permits: usize,
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
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.places.read().expect("never poisoned")
    }

    /// Takes in the executor's places as they are now (`places`: the same ones at the same
    /// indices, perhaps retired or with other slots, then any new ones), each bounded by the
    /// run's `total` as it is now. A place's lost slots are taken back as its jobs end.
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
                entry.sem.add_permits(permits - entry.permits);
            } else if permits < entry.permits {
                let debt = entry.permits - permits;
                let forgotten = entry.sem.forget_permits(debt);
                if forgotten < debt {
                    // The rest are held by running jobs: taken as they end (the semaphore is
                    // fair, so this waiter is served before any later job).
                    let sem = entry.sem.clone();
                    let rest = (debt - forgotten) as u32;
                    tokio::spawn(async move {
                        if let Ok(p) = sem.acquire_many_owned(rest).await {
                            p.forget();
                        }
                    });
                }
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
            // Retired in the meantime: the room is given back and the choice made again.
            if let Some(name) = self.open_name(index) {
                return Some(Placement {
                    index,
                    name,
                    _permit: permit,
                });
            }
        }
    }

    /// The place's name, unless it is retired.
    fn open_name(&self, index: usize) -> Option<Arc<str>> {
        let places = self.read();
        let entry = &places[index];
        (!entry.place.retired).then(|| entry.place.name.clone())
    }
}

impl Entry {
    fn new(place: Place, total: usize) -> Entry {
        let permits = bounded(place.slots, total);
        Entry {
            place,
            permits,
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
}
