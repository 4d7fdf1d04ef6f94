//! The C programs under valgrind: the ABI test (every entry point, errors,
//! reload, drop mode) and the Fluent Bit harness (init, a chunk with a
//! match, exit) with zero memory errors and zero definite or indirect leaks.
//! Skipped when valgrind is missing, unless SIGMALINE_REQUIRE_HOSTS=1 (CI).

mod support;

use std::process::Command;

use support::{compile, lib_dir, root, run, tmpdir};

fn valgrind() -> Option<Command> {
    let found = Command::new("valgrind").arg("--version").output().is_ok();
    if !found {
        let req = std::env::var("SIGMALINE_REQUIRE_HOSTS").unwrap_or_default();
        assert!(
            !(req == "1" || req.split(',').any(|h| h == "valgrind")),
            "valgrind is required (SIGMALINE_REQUIRE_HOSTS is set)"
        );
        println!("SKIPPED: valgrind not found");
        return None;
    }
    let mut c = Command::new("valgrind");
    c.args([
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--error-exitcode=99",
        "-q",
    ]);
    Some(c)
}

#[test]
fn abi_test_is_clean_under_valgrind() {
    let Some(mut vg) = valgrind() else { return };
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
    let out = run(vg.arg(&exe).arg(root().join("examples/rules")));
    assert_eq!(out.status.code(), Some(0), "valgrind found errors or leaks");
    assert!(String::from_utf8_lossy(&out.stdout).contains(" passed, 0 failed"));
}

#[test]
fn fluentbit_harness_is_clean_under_valgrind() {
    let Some(mut vg) = valgrind() else { return };
    let exe = compile("flb_harness", &["-rdynamic", "-ldl"]);
    let dir = tmpdir("flb-valgrind");
    let so = dir.join("flb-filter_sigma.so");
    std::fs::copy(lib_dir().join("libsigmaline.so"), &so).unwrap();
    let props = format!("rules {}\n", root().join("examples/rules").display());
    std::fs::write(dir.join("props"), props).unwrap();
    // One v2 event that matches the DHCP callout rule, one that does not.
    let mut chunk = Vec::new();
    for target in [
        r"HKLM\System\CurrentControlSet\Services\DHCPServer\Parameters\CalloutDlls",
        r"HKLM\Software\x",
    ] {
        chunk.extend_from_slice(&[0x92, 0x92, 0xd7, 0x00]);
        chunk.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        chunk.extend_from_slice(&0u32.to_be_bytes());
        chunk.push(0x80);
        rmp::encode::write_map_len(&mut chunk, 3).unwrap();
        rmp::encode::write_str(&mut chunk, "EventID").unwrap();
        rmp::encode::write_uint(&mut chunk, 13).unwrap();
        rmp::encode::write_str(&mut chunk, "Channel").unwrap();
        rmp::encode::write_str(&mut chunk, "Microsoft-Windows-Sysmon/Operational").unwrap();
        rmp::encode::write_str(&mut chunk, "TargetObject").unwrap();
        rmp::encode::write_str(&mut chunk, target).unwrap();
    }
    std::fs::write(dir.join("in0"), &chunk).unwrap();
    let out = run(vg
        .arg(&exe)
        .arg(&so)
        .arg(dir.join("props"))
        .arg(dir.join("in0"))
        .arg(dir.join("out0")));
    assert_eq!(out.status.code(), Some(0), "valgrind found errors or leaks");
    assert!(String::from_utf8_lossy(&out.stdout).contains("MODIFIED"));
}
