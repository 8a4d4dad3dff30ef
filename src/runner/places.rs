//! The places jobs run on, each bounded by a `tokio::sync::Semaphore` of its own slot count
//! (the run's `-j` total bounds them all together, in the scheduler). A job holds a
//! [`Placement`] while it runs there.

use std::sync::Arc;

use futures::future::select_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Every place of the run with its semaphore.
pub(crate) struct Places {
    places: Vec<(Place, Arc<Semaphore>)>,
}

impl Places {
    /// Bounds each place by its own slots, and none by more than the run's `total`.
    pub fn new(places: Vec<Place>, total: usize) -> Places {
        assert!(!places.is_empty(), "an executor runs jobs somewhere");
        let places = places
            .into_iter()
            .map(|p| {
                let n = p.slots.min(total).min(Semaphore::MAX_PERMITS);
                (p, Arc::new(Semaphore::new(n)))
            })
            .collect();
        Places { places }
    }

    /// How many places there are.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Room at the place `index` (`--onall` pins each job to one).
    pub async fn acquire_at(&self, index: usize) -> Option<Placement> {
        let (place, sem) = self.places.get(index)?;
        let permit = sem.clone().acquire_owned().await.ok()?;
        Some(Placement {
            index,
            name: place.name.clone(),
            permit: Some(permit),
        })
    }

    /// Room at a place other than those in `avoid`: the one with the most free room now, or
    /// else the first to have some. `None` when every place is to be avoided.
    pub async fn acquire(&self, avoid: &[usize]) -> Option<Placement> {
        let candidates: Vec<usize> = (0..self.places.len())
            .filter(|i| !avoid.contains(i))
            .collect();
        let placement = |index: usize, permit| Placement {
            index,
            name: self.places[index].0.name.clone(),
            permit: Some(permit),
        };
        if let [only] = candidates[..] {
            let permit = self.places[only].1.clone().acquire_owned().await.ok()?;
            return Some(placement(only, permit));
        }
        let freest = candidates
            .iter()
            .copied()
            .max_by_key(|&i| (self.places[i].1.available_permits(), std::cmp::Reverse(i)))?;
        if let Ok(permit) = self.places[freest].1.clone().try_acquire_owned() {
            return Some(placement(freest, permit));
        }
        let waits = candidates.iter().map(|&i| {
            let sem = self.places[i].1.clone();
            Box::pin(async move { (i, sem.acquire_owned().await) })
        });
        let ((index, permit), _, _) = select_all(waits).await;
        Some(placement(index, permit.ok()?))
    }
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
