//! Compiling and running the C programs under `tests/c`.

// Shared by several test binaries; each uses a part.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directory holding a freshly built `libsigmaline.so`.
///
/// `cargo test` builds only the rlib of a cdylib crate, so the shared
/// library is built here, once per test binary, in its own target
/// directory (the outer cargo holds the lock on the main one).
pub fn lib_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let target = root().join("target/c-tests");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "sigmaline-plugin", "--lib"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(root())
            .status()
            .expect("running cargo");
        assert!(status.success(), "building libsigmaline.so");
        target.join("debug")
    })
    .clone()
}

/// A fresh directory, unique per call (tests run in parallel threads).
pub fn tmpdir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!(
        "sigmaline-plugin-{name}-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `tests/c/<name>.c` with the system C compiler (`CC` or `cc`),
/// once per test process.
pub fn compile(name: &str, extra: &[&str]) -> PathBuf {
    compile_as(name, name, extra)
}

/// Compiles `tests/c/<name>.c` into an executable called `exe`.
pub fn compile_as(name: &str, exe: &str, extra: &[&str]) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(n, _)| n == exe) {
        return p.clone();
    }
    let p = compile_now(name, exe, extra);
    built.push((exe.to_string(), p.clone()));
    p
}

fn compile_now(name: &str, exe: &str, extra: &[&str]) -> PathBuf {
    let out = tmpdir(exe).join(exe);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let src = root().join("tests/c").join(format!("{name}.c"));
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-I")
        .arg(root().join("plugin/include"))
        .args(extra)
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(status.success(), "compiling {}", src.display());
    out
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    out
}
