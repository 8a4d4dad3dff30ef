//! The running median of the successful jobs' runtimes, for `--timeout N%` (GNU parallel's
//! timeout relative to the median): two heaps, so each job costs O(log n), and a watch
//! channel, so a running job's supervisor moves its deadline when the median changes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// The median so far (`None` before the first success).
pub(crate) struct Median {
    heaps: Mutex<(BinaryHeap<Duration>, BinaryHeap<Reverse<Duration>>)>,
    tx: watch::Sender<Option<Duration>>,
}

impl Default for Median {
    fn default() -> Self {
        Median {
            heaps: Mutex::default(),
            tx: watch::channel(None).0,
        }
    }
}

impl Median {
    /// Adds the runtime of a job that succeeded.
    pub fn add(&self, d: Duration) {
        let mut guard = self
            .heaps
            .lock()
            .expect("never poisoned: no panics under it");
        let (low, high) = &mut *guard;
        match low.peek() {
            Some(&top) if d > top => high.push(Reverse(d)),
            _ => low.push(d),
        }
        // Keep low the same size as high, or one more.
        if low.len() > high.len() + 1 {
            let top = low.pop().expect("low is not empty");
            high.push(Reverse(top));
        } else if high.len() > low.len() {
            let Reverse(top) = high.pop().expect("high is not empty");
            low.push(top);
        }
        let median = match (low.peek(), high.peek()) {
            (Some(&a), Some(&Reverse(b))) if low.len() == high.len() => (a + b) / 2,
            (Some(&a), _) => a,
            (None, _) => return,
        };
        self.tx.send_replace(Some(median));
    }

    /// A receiver of each new median.
    pub fn subscribe(&self) -> watch::Receiver<Option<Duration>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_what_was_added() {
        let m = Median::default();
        let rx = m.subscribe();
        assert_eq!(*rx.borrow(), None);
        let ms = Duration::from_millis;
        m.add(ms(100));
        assert_eq!(*rx.borrow(), Some(ms(100)));
        m.add(ms(300));
        assert_eq!(*rx.borrow(), Some(ms(200)));
        m.add(ms(50));
        assert_eq!(*rx.borrow(), Some(ms(100)));
        m.add(ms(1000));
        m.add(ms(2000));
        assert_eq!(*rx.borrow(), Some(ms(300)));
    }
}
