//! [`CpuPool`]: which shards may run at once, and on which CPUs.
//!
//! A run has `--jobs` slots. A [`Reservation::Shared`] shard takes one slot and lets the OS
//! place it; a [`Reservation::Cpus`] shard does the same but also counts its CPUs, and
//! starts only while the running ones' CPUs and its own fit on the machine (or nothing
//! shared runs); a [`Reservation::Pinned`] shard takes one slot *and* CPUs of its own, disjoint
//! from every other pinned shard's, so shaped shards run side by side without disturbing
//! each other; a [`Reservation::Exclusive`] shard waits until nothing runs and holds
//! everything. Shared and pinned shards never run at the same time (a shared shard could be
//! placed on a pinned shard's CPUs), and a waiting pinned or exclusive request holds back
//! new shared ones so it is not starved.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use snni_stages::Reservation;
use tokio::sync::Notify;

/// The run's slots and CPUs.
#[derive(Debug)]
pub struct CpuPool {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    jobs: usize,
    cpus: Vec<usize>,
    free: BTreeSet<usize>,
    shared: usize,
    /// CPUs the running shared shards counted ([`Reservation::Cpus`]).
    shared_cpus: usize,
    pinned: usize,
    exclusive: bool,
    /// Pinned or exclusive requests waiting; while any waits, shared ones do not start.
    priority_waiting: usize,
}

/// What a granted reservation holds; dropping it gives everything back.
#[derive(Debug)]
pub struct Grant {
    pool: Arc<CpuPool>,
    held: Held,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// A shared slot and the CPUs it counted.
    Shared(usize),
    Pinned(Vec<usize>),
    Exclusive,
}

/// A reservation that can never be granted here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the shard asks for {wanted} CPUs of its own, but this machine offers {available} ({cpus}); lower `shaped_cpus`")]
pub struct TooManyCpus {
    /// CPUs asked for.
    pub wanted: usize,
    /// CPUs the pool has.
    pub available: usize,
    /// Their numbers.
    pub cpus: String,
}

impl CpuPool {
    /// A pool of `jobs` slots over `cpus` (this process's usable CPUs).
    pub fn new(jobs: usize, cpus: Vec<usize>) -> Arc<CpuPool> {
        Arc::new(CpuPool {
            state: Mutex::new(State {
                jobs: jobs.max(1),
                free: cpus.iter().copied().collect(),
                cpus,
                shared: 0,
                shared_cpus: 0,
                pinned: 0,
                exclusive: false,
                priority_waiting: 0,
            }),
            changed: Notify::new(),
        })
    }

    /// A pool over the CPUs this process may use.
    pub fn for_this_machine(jobs: usize) -> Arc<CpuPool> {
        let cpus = snni_stages::profile::usable_cpus().unwrap_or_else(|| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        });
        CpuPool::new(jobs, cpus)
    }

    /// Waits until `reservation` can be granted, then grants it.
    pub async fn acquire(self: &Arc<Self>, reservation: Reservation) -> Result<Grant, TooManyCpus> {
        let priority = !reservation.is_shared();
        if let Reservation::Pinned(wanted) = reservation {
            let state = self.lock();
            if wanted > state.cpus.len() {
                return Err(TooManyCpus {
                    wanted,
                    available: state.cpus.len(),
                    cpus: snni_stages::profile::cpu_list(&state.cpus),
                });
            }
        }
        // Counted while waiting, even if this future is dropped before it is granted.
        let _waiting = priority.then(|| Waiting::register(self));
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(held) = self.try_take(reservation) {
                return Ok(Grant {
                    pool: self.clone(),
                    held,
                });
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_take(&self, reservation: Reservation) -> Option<Held> {
        let mut state = self.lock();
        let running = state.shared + state.pinned;
        let held = match reservation {
            Reservation::Shared | Reservation::Cpus(_) => {
                let wanted = match reservation {
                    Reservation::Cpus(n) => n,
                    _ => 0,
                };
                let fits = state.shared == 0 || state.shared_cpus + wanted <= state.cpus.len();
                let ok = !state.exclusive
                    && state.pinned == 0
                    && state.priority_waiting == 0
                    && running < state.jobs
                    && fits;
                ok.then(|| {
                    state.shared += 1;
                    state.shared_cpus += wanted;
                    Held::Shared(wanted)
                })
            }
            Reservation::Pinned(wanted) => {
                let ok = !state.exclusive
                    && state.shared == 0
                    && running < state.jobs
                    && state.free.len() >= wanted;
                ok.then(|| {
                    let cpus: Vec<usize> = state.free.iter().copied().take(wanted).collect();
                    for cpu in &cpus {
                        state.free.remove(cpu);
                    }
                    state.pinned += 1;
                    Held::Pinned(cpus)
                })
            }
            Reservation::Exclusive => (!state.exclusive && running == 0).then(|| {
                state.exclusive = true;
                Held::Exclusive
            }),
        };
        held
    }
}

/// A pinned or exclusive request waiting (see [`State::priority_waiting`]).
struct Waiting<'a> {
    pool: &'a CpuPool,
}

impl<'a> Waiting<'a> {
    fn register(pool: &'a CpuPool) -> Waiting<'a> {
        pool.lock().priority_waiting += 1;
        Waiting { pool }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pool.lock().priority_waiting -= 1;
        self.pool.changed.notify_waiters();
    }
}

impl Grant {
    /// The CPUs this grant pins its shard to (pinned reservations only).
    pub fn cpus(&self) -> Option<&[usize]> {
        match &self.held {
            Held::Pinned(cpus) => Some(cpus),
            _ => None,
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        {
            let mut state = self.pool.lock();
            match &self.held {
                Held::Shared(cpus) => {
                    state.shared -= 1;
                    state.shared_cpus -= cpus;
                }
                Held::Pinned(cpus) => {
                    state.pinned -= 1;
                    state.free.extend(cpus.iter().copied());
                }
                Held::Exclusive => state.exclusive = false,
            }
        }
        self.pool.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn now<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), future)
                .await
                .ok()
        })
    }

    #[test]
    fn pinned_shards_get_disjoint_cpus_and_exclude_shared_ones() {
        let pool = CpuPool::new(4, vec![0, 1, 2, 3]);
        let a = now(pool.acquire(Reservation::Pinned(2))).unwrap().unwrap();
        let b = now(pool.acquire(Reservation::Pinned(2))).unwrap().unwrap();
        let (ca, cb) = (a.cpus().unwrap().to_vec(), b.cpus().unwrap().to_vec());
        assert!(ca.iter().all(|cpu| !cb.contains(cpu)), "{ca:?} {cb:?}");
        assert!(
            now(pool.acquire(Reservation::Pinned(1))).is_none(),
            "no CPU is free"
        );
        assert!(
            now(pool.acquire(Reservation::Shared)).is_none(),
            "pinned shards run"
        );
        drop(a);
        let c = now(pool.acquire(Reservation::Pinned(1))).unwrap().unwrap();
        assert!(c.cpus().unwrap().iter().all(|cpu| ca.contains(cpu)));
        drop((b, c));
        let shared = now(pool.acquire(Reservation::Shared)).unwrap().unwrap();
        assert_eq!(shared.cpus(), None);
        assert!(
            now(pool.acquire(Reservation::Pinned(1))).is_none(),
            "a shared shard runs"
        );
    }

    #[test]
    fn shards_that_count_cpus_run_side_by_side_only_while_their_cpus_fit() {
        // Two CPUs, four slots: plain shared shards fill the slots...
        let pool = CpuPool::new(4, vec![0, 1]);
        let plain: Vec<Grant> = (0..4)
            .map(|_| now(pool.acquire(Reservation::Shared)).unwrap().unwrap())
            .collect();
        drop(plain);
        // ... but a shard with two busy parties takes both CPUs, and the next waits.
        let first = now(pool.acquire(Reservation::Cpus(2))).unwrap().unwrap();
        assert_eq!(first.cpus(), None, "counted, not pinned");
        assert!(
            now(pool.acquire(Reservation::Cpus(2))).is_none(),
            "two parties per CPU"
        );
        // A shard that counts no CPU still fits beside it.
        let plain = now(pool.acquire(Reservation::Shared)).unwrap().unwrap();
        drop((first, plain));
        let second = now(pool.acquire(Reservation::Cpus(2))).unwrap().unwrap();
        drop(second);
        // One shard always runs, even when it counts more CPUs than there are.
        let big = now(pool.acquire(Reservation::Cpus(4))).unwrap().unwrap();
        assert!(now(pool.acquire(Reservation::Cpus(1))).is_none());
        drop(big);
        // On four CPUs, two such shards run at once.
        let pool = CpuPool::new(4, vec![0, 1, 2, 3]);
        let held: Vec<Grant> = (0..2)
            .map(|_| now(pool.acquire(Reservation::Cpus(2))).unwrap().unwrap())
            .collect();
        assert!(now(pool.acquire(Reservation::Cpus(2))).is_none());
        drop(held);
    }

    #[test]
    fn jobs_bound_every_kind_and_exclusive_waits_for_all() {
        let pool = CpuPool::new(1, vec![0, 1]);
        let one = now(pool.acquire(Reservation::Pinned(1))).unwrap().unwrap();
        assert!(
            now(pool.acquire(Reservation::Pinned(1))).is_none(),
            "--jobs 1"
        );
        drop(one);
        let all = now(pool.acquire(Reservation::Exclusive)).unwrap().unwrap();
        assert!(now(pool.acquire(Reservation::Shared)).is_none());
        drop(all);
        let err = now(pool.acquire(Reservation::Pinned(3)))
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("3 CPUs"), "{err}");
    }

    #[test]
    fn a_waiting_pinned_request_holds_back_new_shared_ones() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = CpuPool::new(4, vec![0, 1]);
            let shared = pool.acquire(Reservation::Shared).await.unwrap();
            let waiter = {
                let pool = pool.clone();
                tokio::spawn(async move { pool.acquire(Reservation::Pinned(2)).await })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            let blocked =
                tokio::time::timeout(Duration::from_millis(20), pool.acquire(Reservation::Shared))
                    .await;
            assert!(
                blocked.is_err(),
                "a new shared shard must wait for the pinned one"
            );
            drop(shared);
            let pinned = waiter.await.unwrap().unwrap();
            assert_eq!(pinned.cpus(), Some(&[0, 1][..]));
        });
    }
}
