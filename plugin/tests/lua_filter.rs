//! The LuaJIT filter for Fluent Bit (plugin/lua/sigmaline.lua) under
//! Debian's `luajit`, called exactly as Fluent Bit's lua filter calls it
//! (tests/lua/fluentbit_filter_test.lua). Skipped without luajit unless
//! SIGMALINE_REQUIRE_HOSTS names it.

mod support;

use std::process::Command;

use support::{lib_dir, root, run};

#[test]
fn luajit_filter_tags_keeps_and_reports_errors() {
    if Command::new("luajit").arg("-v").output().is_err() {
        let req = std::env::var("SIGMALINE_REQUIRE_HOSTS").unwrap_or_default();
        assert!(
            !(req == "1" || req.split(',').any(|h| h == "luajit")),
            "luajit is required (SIGMALINE_REQUIRE_HOSTS)"
        );
        println!("SKIPPED: luajit not found (apt-get install luajit)");
        return;
    }
    let out = run(Command::new("luajit")
        .arg(root().join("tests/lua/fluentbit_filter_test.lua"))
        .arg(root())
        .arg(lib_dir().join("libsigmaline.so")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
