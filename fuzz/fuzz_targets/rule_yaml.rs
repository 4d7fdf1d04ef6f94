//! Any text as a rule file: loading reports or rejects, compiling builds or
//! fails, evaluating the result on a few records never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmaline_core::{EngineBuilder, RuleSet, Unmapped};

const RECORDS: &[&[u8]] = &[
    br#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami"}"#,
    br#"{"EventID":4624,"LogonType":3,"IpAddress":"10.1.2.3","a":{"b":[1,null,true,"x"]}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut set = RuleSet::default();
    set.add_str(text, std::path::Path::new("fuzz.yml"));
    // The built-in logsource map and profiles are parsed once.
    static BUILDER: OnceLock<EngineBuilder> = OnceLock::new();
    let builder = BUILDER.get_or_init(EngineBuilder::new);
    for unmapped in [Unmapped::Inactive, Unmapped::Everywhere] {
        if let Ok((engine, _)) = builder.clone().unmapped(unmapped).build(&set) {
            let mut s = engine.scratch();
            for r in RECORDS {
                let _ = engine.match_json(&mut s, r);
            }
        }
    }
});
