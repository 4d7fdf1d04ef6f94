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

use crate::metrics::RuleHits;

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
    pub reload_failures: AtomicU64,
    /// Matches per rule id (see `metrics`).
    pub rule_hits: RuleHits,
}

/// See the module documentation.
pub struct Handle {
    current: ArcSwap<Loaded>,
    config: Mutex<Config>,
    pool: Mutex<Vec<(u64, Scratch)>>,
    pub stats: Stats,
    last_reload_error: Mutex<Option<String>>,
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
            last_reload_error: Mutex::new(None),
        })
    }

    /// The engine records are evaluated with right now.
    pub fn engine(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Rebuilds from the configuration (rules re-read from disk) and swaps
    /// the new engine in. On failure the old engine stays.
    pub fn reload(&self) -> Result<usize, String> {
        let built = self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned".to_string())
            .and_then(|c| c.clone().build());
        let engine = match built {
            Ok((engine, _)) => engine,
            Err(e) => {
                self.stats.reload_failures.fetch_add(1, Relaxed);
                if let Ok(mut last) = self.last_reload_error.lock() {
                    *last = Some(e.clone());
                }
                return Err(e);
            }
        };
        let rules = engine.rule_count();
        let generation = self.current.load().generation + 1;
        self.current.store(Arc::new(Loaded { engine, generation }));
        self.stats.reloads.fetch_add(1, Relaxed);
        Ok(rules)
    }

    /// The generation of the engine in use (0, then +1 per reload).
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// The configuration the engine is (re)built from.
    pub fn config(&self) -> Config {
        self.config.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Why the last failed reload failed (None if none has).
    pub fn last_reload_error(&self) -> Option<String> {
        self.last_reload_error.lock().ok().and_then(|e| e.clone())
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
        assert_eq!(h.stats.reload_failures.load(Relaxed), 1);
        let why = h.last_reload_error().unwrap();
        assert!(why.contains("r.yml"), "{why}");
        let text = crate::metrics::prometheus(&h);
        assert!(
            text.contains("sigmaline_reload_failures_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sigmaline_last_reload_error_info{reason=\"no rule could be compiled"),
            "{text}"
        );
        assert!(text.contains("sigmaline_rules_loaded 1\n"), "{text}");
    }

    /// The Prometheus text parses line by line: comments, or a metric name,
    /// optional labels and a number.
    #[test]
    fn prometheus_text_is_well_formed() {
        let h = handle();
        let mut out = Vec::new();
        for _ in 0..3 {
            h.with_engine(|e, s| {
                e.filter_json(s, HIT, &mut out).unwrap();
                h.stats.rule_hits.add(e, e.last_matches(s));
            });
        }
        let text = crate::metrics::prometheus(&h);
        for line in text.lines() {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let bare = name.split('{').next().unwrap();
            assert!(
                bare.starts_with("sigmaline_")
                    && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            if let Some(labels) = name.strip_prefix(bare) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
        }
        assert!(
            text.contains("title=\"DHCP Callout DLL Installation\",level=\"high\"} 3\n"),
            "{text}"
        );
    }
}
