//! The C ABI used from C, through the generated header and the shared
//! library, as a third-party host would (tests/c/abi_test.c).

mod support;

use std::process::Command;

use support::{compile, lib_dir, root, run};

#[test]
fn c_program_uses_the_abi() {
    let lib = lib_dir();
    let exe = compile(
        "abi_test",
        &[
            "-L",
            lib.to_str().unwrap(),
            "-lsigmaline",
            &format!("-Wl,-rpath,{}", lib.display()),
        ],
    );
    let out = run(Command::new(&exe).arg(root().join("examples/rules")));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "abi_test failed");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
