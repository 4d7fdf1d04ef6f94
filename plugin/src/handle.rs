//! The engine as a host holds it: immutable, shared by every thread, swapped
//! atomically on reload, with counters.
//!
//! Records in flight keep the engine they started with (an `Arc`), so a
//! reload never mixes two rule sets inside one record or one chunk. Each
//! call borrows a [`Scratch`] from a small pool instead of allocating one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use sigmaline_core::{Engine, Scratch};

use crate::config::Config;

/// One compiled rule set and its generation number.
pub struct Loaded {
    pub engine: Engine,
    pub generation: u64,
}

/// Counters since the handle was created.
#[derive(Debug, Default)]
pub struct Stats {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    pub matched: AtomicU64,
    pub dropped: AtomicU64,
    pub malformed: AtomicU64,
    pub reloads: AtomicU64,
}

/// See the module documentation.
pub struct Handle {
    current: ArcSwap<Loaded>,
    config: Mutex<Config>,
    pool: Mutex<Vec<(u64, Scratch)>>,
    pub stats: Stats,
}

impl Handle {
    /// Builds the engine; fails with the reason when no rule compiles.
    pub fn new(config: Config) -> Result<Handle, String> {
        let (engine, _) = config.build()?;
        Ok(Handle {
            current: ArcSwap::from_pointee(Loaded {
                engine,
                generation: 0,
            }),
            config: Mutex::new(config),
            pool: Mutex::new(Vec::new()),
            stats: Stats::default(),
        })
    }

    /// The engine records are evaluated with right now.
    pub fn engine(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Rebuilds from the configuration (rules re-read from disk) and swaps
    /// the new engine in. On failure the old engine stays.
    pub fn reload(&self) -> Result<usize, String> {
        let config = self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned")?
            .clone();
        let (engine, _) = config.build()?;
        let rules = engine.rule_count();
        let generation = self.current.load().generation + 1;
        self.current.store(Arc::new(Loaded { engine, generation }));
        self.stats.reloads.fetch_add(1, Relaxed);
        Ok(rules)
    }

    /// Runs `f` with the current engine and a scratch space made for it.
    pub fn with_engine<R>(&self, f: impl FnOnce(&Engine, &mut Scratch) -> R) -> R {
        let loaded = self.engine();
        let mut scratch = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| {
                // Scratch spaces of an older engine have the wrong sizes.
                p.retain(|(g, _)| *g == loaded.generation);
                p.pop()
            })
            .map(|(_, s)| s)
            .unwrap_or_else(|| loaded.engine.scratch());
        let r = f(&loaded.engine, &mut scratch);
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < 64 {
                p.push((loaded.generation, scratch));
            }
        }
        r
    }
}
