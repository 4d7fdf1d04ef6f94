//! Shared helpers for the end-to-end and corpus-driven tests.
//!
//! Corpus tests find `../shared/corpus` through `SIGMALINE_CORPUS` and skip
//! with a printed reason when it is absent, so the project still tests on a
//! machine without the corpus.

use std::path::{Path, PathBuf};

use sigmaline_core::{Engine, EngineBuilder, RuleSet};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The corpus directory, or `None` (with a printed reason) when absent.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("SIGMALINE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    if dir.join("sigmahq").is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: corpus not found at {} (set SIGMALINE_CORPUS)",
            dir.display()
        );
        None
    }
}

/// Every SigmaHQ rule directory of the snapshot.
pub fn sigmahq_rule_dirs(corpus: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus.join("sigmahq"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("rules")
        })
        .collect();
    dirs.sort();
    dirs
}

/// Every `product: windows` rule of the SigmaHQ snapshot.
pub fn windows_pack(corpus: &Path) -> RuleSet {
    let mut set = RuleSet::load_paths(&sigmahq_rule_dirs(corpus)).unwrap();
    set.rules
        .retain(|r| r.logsource.product.as_deref() == Some("windows"));
    set
}

/// Placeholder values for SigmaHQ's `rules-placeholder` pack, as a
/// deployment would configure them (`examples/placeholders.yml`).
pub fn example_placeholders() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("examples/placeholders.yml")).unwrap();
    let doc = yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap()
        .remove(0);
    doc.as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let vals = match v {
                yaml_rust2::Yaml::Array(a) => {
                    a.iter().map(|x| x.as_str().unwrap().to_string()).collect()
                }
                x => vec![x.as_str().unwrap().to_string()],
            };
            (k.as_str().unwrap().to_string(), vals)
        })
        .collect()
}

/// Builds an engine over `set` with default settings.
pub fn engine(set: &RuleSet) -> Engine {
    EngineBuilder::new().build(set).unwrap().0
}

/// Splits a file of concatenated JSON values (evtx_dump output).
pub fn json_values(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Reads a gzip file into lines.
pub fn gz_lines(path: &Path) -> Vec<Vec<u8>> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .split(b'\n')
        .map(|l| l.unwrap())
        .filter(|l| !l.is_empty())
        .collect()
}
