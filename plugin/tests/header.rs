//! The checked-in C header is what cbindgen generates from the Rust source.
//! `SIGMALINE_UPDATE_HEADER=1 cargo test -p sigmaline-plugin --test header`
//! rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen runs")
        .write(&mut generated);
    let path = crate_dir.join("include/sigmaline.h");
    if std::env::var_os("SIGMALINE_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "plugin/include/sigmaline.h is stale: run SIGMALINE_UPDATE_HEADER=1 cargo test -p sigmaline-plugin --test header"
    );
}
