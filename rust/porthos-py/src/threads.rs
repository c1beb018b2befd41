//! Where a batch call's work runs: the `threads` argument's bounds, the rayon pools
//! (one kept per thread for `threads=1`), `Place` (`threads=1` on the calling thread,
//! without rayon), and `par_runs`, which maps runs of a batch in parallel with the GIL
//! released and Python's signals still handled.

use pyo3::prelude::*;
use rayon::prelude::*;

use porthos_core::template::Spread;

use crate::error::{NativeError, NativeResult};

/// The most worker threads a call may ask for. `threads=100000` spawned threads until
/// the machine stalled (issue 20 §3); a CA machine with more cores than this is not
/// in sight, and a count above it is a typo, refused with one clear error.
pub const MAX_THREADS: usize = 1024;

/// A rayon pool of `threads` workers (shared, see `pool`), or None for the global pool.
pub type Pool = Option<std::sync::Arc<rayon::ThreadPool>>;

static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COUNT_FORKS: std::sync::Once = std::sync::Once::new();

extern "C" fn count_fork() {
    FORKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many fork()s this process descends from since the extension first kept a pool
/// (a child handler of pthread_atfork counts them; a process id can repeat, e.g. a
/// grandchild given its grandparent's id, or PID 1 in a new namespace).
fn fork_generation() -> u64 {
    COUNT_FORKS.call_once(|| {
        // SAFETY: registers a handler that only increments an atomic, which is
        // async-signal-safe, as a fork child handler must be.
        unsafe {
            libc::pthread_atfork(None, None, Some(count_fork));
        }
    });
    FORKS.load(std::sync::atomic::Ordering::Relaxed)
}

thread_local! {
    /// The one-worker pool of this thread, with the fork generation it was built in.
    /// Why kept: a thread that calls into Rust with `threads=1` again and again (a
    /// batch loop, the one-thread issuance before its calls ran on the calling thread,
    /// see `Place`) got a fresh pool each call, so its work ran on a new OS thread
    /// every time, placed anew by the scheduler (issues 16 and 21). The calls that
    /// take a `Place` need no pool at `threads=1`; the others still keep this one.
    /// Only one worker is kept: a thread that lives long (the main thread, a Dask or
    /// executor thread) keeps at most one idle OS thread, not `threads` of them.
    /// Dropped with its thread, which ends the worker.
    static KEPT_POOL: std::cell::RefCell<Option<(u64, std::sync::Arc<rayon::ThreadPool>)>> =
        const { std::cell::RefCell::new(None) };
}

fn build_pool(n: usize) -> NativeResult<std::sync::Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map(std::sync::Arc::new)
        .map_err(|e| NativeError::Batch(format!("threads: {e}")))
}

/// A rayon pool of `threads` workers, or None for the global pool (all cores). A
/// thread keeps its one-worker pool for its next `threads=1` call.
pub fn pool(threads: Option<usize>) -> NativeResult<Pool> {
    match threads {
        None => Ok(None),
        Some(0) => Err(NativeError::Batch("threads: must be at least 1".into())),
        Some(n) if n > MAX_THREADS => Err(NativeError::Batch(format!(
            "threads: {n} is more than {MAX_THREADS}, the most porthos starts"
        ))),
        Some(1) => {
            let generation = fork_generation();
            let kept = KEPT_POOL.with_borrow_mut(|k| match k.take() {
                Some((g, p)) if g == generation => {
                    *k = Some((g, p.clone()));
                    Some(p)
                }
                // Built before a fork(): its worker is not in this process, and
                // dropping the pool would signal a thread that is not there.
                Some(stale) => {
                    std::mem::forget(stale);
                    None
                }
                None => None,
            });
            if let Some(p) = kept {
                return Ok(Some(p));
            }
            let built = build_pool(1)?;
            KEPT_POOL.with_borrow_mut(|k| *k = Some((generation, built.clone())));
            Ok(Some(built))
        }
        Some(n) => build_pool(n).map(Some),
    }
}

/// Where a batch call runs: `threads=1` on the calling thread, without rayon, else in
/// `pool(threads)`. Why not the kept one-worker pool for `threads=1`: the caller only
/// waits while that worker runs, so the work is one thread's either way, and the pool
/// adds a handoff per call, an idle worker that spins after each call, and a second
/// runnable thread the scheduler may put on the core of the batch's signer (a streamed
/// one-thread issuance fills, verifies and signs on three threads at once; issues 16
/// §5 and 21 §8).
pub struct Place {
    pub spread: Spread,
    pub pool: Pool,
}

/// The `Place` of a call with `threads` (checked as `pool` checks it).
pub fn place(threads: Option<usize>) -> NativeResult<Place> {
    if threads == Some(1) {
        return Ok(Place {
            spread: Spread::CallingThread,
            pool: None,
        });
    }
    Ok(Place {
        spread: Spread::Pool,
        pool: pool(threads)?,
    })
}

impl Place {
    /// `f(spread)` where this place says: inside its pool, or on this thread.
    pub fn run<T: Send>(&self, f: impl FnOnce(Spread) -> T + Send) -> T {
        let spread = self.spread;
        run_in(&self.pool, move || f(spread))
    }
}

/// Run `f` inside the pool when there is one.
pub fn run_in<T: Send>(pool: &Pool, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// Items per worker thread below which a batch runs as one fork-join with no signal
/// checks: under ~30-100 ms of work (one item costs 30-100 µs: P-256 ~35 µs, RSA-4096
/// and Ed25519 longer), so Ctrl-C still lands within a fraction of a second, and a
/// small batch does not pay for the watcher thread of a large one.
pub const CHUNK_PER_THREAD: usize = 1024;

/// Where par_runs' helper thread leaves the batch's runs (or its panic).
type Finished<T> = std::sync::Mutex<Option<std::thread::Result<Vec<Vec<T>>>>>;

/// How often the calling thread takes the GIL back to run Python's signal handlers
/// while a large batch runs.
const SIGNAL_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Map `f` over `0..n` in parallel and in order, with the GIL released (a `Place` on
/// the calling thread: in order on this thread, `runs_here`). `f` gets a run
/// of `run_len` consecutive indices and returns one result per index, in order: batch
/// kernels (the IFMA P-256 verifier works eight lanes at a time and inverts all s of
/// a run at once) need runs, not single items.
///
/// A large batch is ONE parallel job over all its runs, so rayon's work stealing
/// balances it to the end: a worker that loses its core for a while (another process,
/// an interrupt) is covered by the others. (It used to be cut into chunks of
/// 1,024 items per thread with a fork-join barrier each, and at every barrier the
/// workers waited for the slowest one; on 2 cores that cost 5-10 % of the scaling of a
/// 100k-item batch.) Meanwhile the calling thread waits on a condition variable and
/// takes the GIL back every 20 ms for Python's signal handlers, so a SIGINT raises
/// KeyboardInterrupt: the runs not yet started are skipped, the partial work is
/// dropped.
pub fn par_runs<T: Send>(
    py: Python<'_>,
    n: usize,
    place: &Place,
    run_len: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync,
) -> PyResult<Vec<T>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, Mutex};

    if place.spread == Spread::CallingThread {
        return runs_here(py, n, run_len, f);
    }
    let pool = &place.pool;

    let threads = pool
        .as_ref()
        .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    let run_len = run_len.max(1);
    let starts = |stop: &AtomicBool| {
        (0..n)
            .step_by(run_len)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|a| {
                if stop.load(Ordering::Relaxed) {
                    Vec::new()
                } else {
                    f(a..n.min(a + run_len))
                }
            })
            .collect::<Vec<Vec<T>>>()
    };
    let flatten = |runs: Vec<Vec<T>>| {
        let mut out: Vec<T> = Vec::with_capacity(n);
        for run in runs {
            out.extend(run);
        }
        out
    };
    let stop = AtomicBool::new(false);
    if n <= CHUNK_PER_THREAD * threads.max(1) {
        let runs = py.detach(|| run_in(pool, || starts(&stop)));
        py.check_signals()?;
        return Ok(flatten(runs));
    }

    // The batch runs on a scoped helper thread (it blocks in the pool while rayon's
    // workers do the work); this thread only waits and polls for signals.
    let done: (Finished<T>, Condvar) = (Mutex::new(None), Condvar::new());
    let (stop, done) = (&stop, &done);
    let starts = &starts;
    let outcome = std::thread::scope(|s| {
        s.spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_in(pool, || starts(stop))
            }));
            let mut slot = done.0.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(r);
            done.1.notify_all();
        });
        let mut interrupted: Option<PyErr> = None;
        loop {
            let finished = py.detach(|| {
                let slot = done.0.lock().unwrap_or_else(|e| e.into_inner());
                let (mut slot, _) = done
                    .1
                    .wait_timeout_while(slot, SIGNAL_POLL, |r| r.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                slot.take()
            });
            if let Some(r) = finished {
                break interrupted.map_or(Ok(r), Err);
            }
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    // Skip the runs not yet started, then wait for those in flight.
                    stop.store(true, Ordering::Relaxed);
                    interrupted = Some(e);
                }
            }
        }
    });
    match outcome? {
        Ok(runs) => Ok(flatten(runs)),
        // A panic in `f` reaches Python as PanicException, as it did on this thread.
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// `par_runs` on the calling thread: the runs in order, the GIL released for up to
/// `CHUNK_PER_THREAD` items at a time and Python's signals handled between them (a
/// SIGINT raises KeyboardInterrupt and drops the partial work, as in parallel).
fn runs_here<T: Send>(
    py: Python<'_>,
    n: usize,
    run_len: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync,
) -> PyResult<Vec<T>> {
    let run_len = run_len.max(1);
    // Whole runs per group, so the runs start where the parallel form's do.
    let group = CHUNK_PER_THREAD.div_ceil(run_len) * run_len;
    let mut out: Vec<T> = Vec::with_capacity(n);
    let mut a = 0;
    while a < n {
        let end = n.min(a + group);
        let part = py.detach(|| {
            let mut part = Vec::with_capacity(end - a);
            for s in (a..end).step_by(run_len) {
                part.extend(f(s..end.min(s + run_len)));
            }
            part
        });
        out.extend(part);
        a = end;
        if a < n {
            py.check_signals()?;
        }
    }
    Ok(out)
}
