//! Reloading the rules when their files change.
//!
//! A `notify` watcher (inotify on Linux) reports changes under the rule
//! paths; a thread waits until the changes have been quiet for
//! [`QUIET`] (editors and `git checkout` write many files, often by
//! rename) and reloads once. A reload that fails keeps the old rules and is
//! reported through `on_reload`. The thread holds only a weak reference to
//! the handle and ends when the [`Watcher`] is dropped, before the engine
//! goes away.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::handle::Handle;

/// How long changes must stop before the rules are reloaded.
pub const QUIET: Duration = Duration::from_millis(300);

/// Watches a handle's rule paths; stops when dropped.
pub struct Watcher {
    inner: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `handle`'s rule paths. `on_reload` gets the number
    /// of rules after each reload, or why it failed.
    pub fn start(
        handle: &Arc<Handle>,
        on_reload: impl Fn(Result<usize, String>) + Send + 'static,
    ) -> Result<Watcher, String> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut inner = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok_and(|e| changes_rules(&e.kind)) {
                let _ = tx.send(());
            }
        })
        .map_err(|e| format!("cannot watch the rules: {e}"))?;
        for (path, mode) in watch_list(&handle.config().rules) {
            inner
                .watch(&path, mode)
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        }
        let weak: Weak<Handle> = Arc::downgrade(handle);
        let thread = std::thread::Builder::new()
            .name("sigmaline-watch".into())
            .spawn(move || {
                // Ends when the notify watcher (the only sender) is dropped.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(QUIET).is_ok() {}
                    let Some(h) = weak.upgrade() else { return };
                    on_reload(h.reload());
                }
            })
            .map_err(|e| format!("cannot start the watch thread: {e}"))?;
        Ok(Watcher {
            inner: Some(inner),
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.inner.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Creating, writing, renaming or removing a file changes the rules;
/// opening, reading or touching metadata (our own reload reads them) does not.
fn changes_rules(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// What to watch for each configured rule path: a directory recursively; a
/// file or a glob through its directory (editors replace files by rename,
/// which a watch on the file itself would lose).
fn watch_list(rules: &[String]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut out: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for r in rules {
        let p = Path::new(r);
        let entry = if p.is_dir() {
            (p.to_path_buf(), RecursiveMode::Recursive)
        } else {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            (parent.to_path_buf(), RecursiveMode::NonRecursive)
        };
        if !out.iter().any(|(q, _)| *q == entry.0) {
            out.push(entry);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Instant;

    use super::*;

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn rules_reload_when_files_change_and_a_bad_edit_keeps_the_old_ones() {
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rules");
        let dir = std::env::temp_dir().join(format!("sigmaline-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let copy = |name: &str| {
            std::fs::copy(format!("{examples}/{name}"), dir.join(name)).unwrap();
        };
        copy("registry_set_dhcp_calloutdll.yml");
        let mut c = sigmaline_core::Settings::default();
        c.set("rules", dir.to_str().unwrap()).unwrap();
        c.set("watch", "on").unwrap();
        let h = Arc::new(Handle::new(c).unwrap());
        let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = outcomes.clone();
        let w = Watcher::start(&h, move |r| seen.lock().unwrap().push(r)).unwrap();

        // A new rule file: picked up without any call.
        copy("win_susp_dhcp_config_failed.yml");
        wait_for("the new rule", || h.engine().engine.rule_count() == 2);
        // Reloading reads the files; that must not trigger more reloads.
        let n = h.stats.reloads.load(Relaxed);
        std::thread::sleep(QUIET * 3);
        assert_eq!(h.stats.reloads.load(Relaxed), n, "reload storm");

        // A broken edit: reported, the two rules stay.
        std::fs::write(
            dir.join("win_susp_dhcp_config_failed.yml"),
            "title: [broken",
        )
        .unwrap();
        std::fs::write(dir.join("registry_set_dhcp_calloutdll.yml"), "detection: {").unwrap();
        wait_for("the failed reload", || {
            h.stats.reload_failures.load(Relaxed) > 0
        });
        assert_eq!(h.engine().engine.rule_count(), 2);
        assert!(outcomes.lock().unwrap().iter().any(|r| r.is_err()));

        // Stopping the watcher ends its thread; the handle is then the only owner.
        drop(w);
        assert_eq!(Arc::strong_count(&h), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reading_the_rules_is_not_a_change() {
        use notify::event::{AccessKind, CreateKind, MetadataKind};
        assert!(!changes_rules(&EventKind::Access(AccessKind::Any)));
        assert!(!changes_rules(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
        assert!(changes_rules(&EventKind::Create(CreateKind::File)));
        assert!(changes_rules(&EventKind::Modify(ModifyKind::Any)));
    }
}
