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

use sigmaline_core::Settings as Config;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> Handle {
        let mut c = Config::default();
        c.set(
            "rules",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rules"),
        )
        .unwrap();
        Handle::new(c).unwrap()
    }

    const HIT: &[u8] = br#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Services\\DHCPServer\\Parameters\\CalloutDlls"}"#;

    #[test]
    fn threads_evaluate_while_the_rules_reload() {
        let h = handle();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        let mut out = Vec::new();
                        let o = h
                            .with_engine(|e, sc| e.filter_json(sc, HIT, &mut out))
                            .unwrap();
                        assert_eq!(o.matched, 1);
                    }
                });
            }
            for _ in 0..5 {
                assert_eq!(h.reload().unwrap(), 2);
            }
        });
        assert_eq!(h.stats.reloads.load(Relaxed), 5);
        assert_eq!(h.engine().generation, 5);
    }

    #[test]
    fn failed_reload_keeps_the_old_rules() {
        let dir = std::env::temp_dir().join(format!("sigmaline-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rule = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/rules/registry_set_dhcp_calloutdll.yml"
        ))
        .unwrap();
        std::fs::write(dir.join("r.yml"), &rule).unwrap();
        let mut c = Config::default();
        c.set("rules", dir.to_str().unwrap()).unwrap();
        let h = Handle::new(c).unwrap();
        std::fs::write(dir.join("r.yml"), "title: [broken").unwrap();
        assert!(h
            .reload()
            .unwrap_err()
            .contains("no rule could be compiled"));
        let mut out = Vec::new();
        assert_eq!(
            h.with_engine(|e, s| e.filter_json(s, HIT, &mut out))
                .unwrap()
                .matched,
            1
        );
        assert_eq!(h.engine().generation, 0);
    }
}
