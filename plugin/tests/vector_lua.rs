//! The Lua 5.4 C module (plugin/lua-module, `require("sigmaline")`) under
//! Debian's `lua5.4`, driven the way Vector's lua transform runs the
//! example hooks (tests/lua/vector_hooks_test.lua): tag mode, keep mode,
//! and clear errors for bad options. Skipped without lua5.4 and lua-cjson
//! unless SIGMALINE_REQUIRE_HOSTS names lua5.4.

mod support;

use std::process::Command;

use support::{root, run, tmpdir};

#[test]
fn vector_hooks_under_lua54() {
    let has_lua = Command::new("lua5.4")
        .args(["-e", "require('cjson')"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_lua {
        let req = std::env::var("SIGMALINE_REQUIRE_HOSTS").unwrap_or_default();
        assert!(
            !(req == "1" || req.split(',').any(|h| h == "lua5.4")),
            "lua5.4 and lua-cjson are required (SIGMALINE_REQUIRE_HOSTS)"
        );
        println!("SKIPPED: lua5.4 or lua-cjson not installed");
        return;
    }
    // The module, built like the C library: in its own target directory.
    let target = root().join("target/c-tests");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "sigmaline-lua"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "building the Lua module");
    let dir = tmpdir("lua54");
    std::fs::copy(
        target.join("debug/libsigmaline_lua.so"),
        dir.join("sigmaline.so"),
    )
    .unwrap();
    for mode in ["tag", "keep"] {
        let out = run(Command::new("lua5.4")
            .arg(root().join("tests/lua/vector_hooks_test.lua"))
            .arg(root())
            .arg(&dir)
            .arg(mode)
            .env("SIGMALINE_RULES", root().join("examples/rules"))
            .env("SIGMALINE_MODE", mode));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode}: {stdout}");
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}
