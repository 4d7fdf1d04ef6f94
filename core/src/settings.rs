//! Everything that decides an engine, in one place: the `sigmaline`
//! command fills it from its flags, hosts from key/value pairs (the same keys
//! in the C ABI's `sigmaline_options_set` and Fluent Bit's `[FILTER]`).

use std::path::{Path, PathBuf};

use crate::engine::load_placeholders;
use crate::{
    BuildReport, Engine, EngineBuilder, LogsourceMap, Mode, ProfileSet, RuleSet, Unmapped,
};

/// Every key `set` accepts, for error messages and documentation.
pub const KEYS: &[&str] = &[
    "rules",
    "mode",
    "profile",
    "tag_key",
    "logsources",
    "placeholders",
    "placeholder",
    "unmapped_logsources",
    "product",
    "max_record_bytes",
    "max_rule_file_bytes",
    "watch",
];

/// A configuration being assembled.
#[derive(Clone, Debug)]
pub struct Settings {
    pub rules: Vec<String>,
    pub mode: Mode,
    pub profile: String,
    pub tag_key: String,
    pub logsources: Option<PathBuf>,
    pub placeholder_files: Vec<PathBuf>,
    pub placeholders: Vec<(String, Vec<String>)>,
    pub unmapped: Unmapped,
    pub product: Option<String>,
    /// Records larger than this pass through unread (and are counted).
    pub max_record_bytes: usize,
    /// Rule files larger than this are rejected unread.
    pub max_rule_file_bytes: u64,
    /// Reload the rules when their files change (hosts that support it).
    pub watch: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: Vec::new(),
            mode: Mode::Tag,
            profile: "auto".into(),
            tag_key: "sigma".into(),
            logsources: None,
            placeholder_files: Vec::new(),
            placeholders: Vec::new(),
            unmapped: Unmapped::Inactive,
            product: None,
            max_record_bytes: crate::engine::DEFAULT_MAX_RECORD_BYTES,
            max_rule_file_bytes: crate::loader::DEFAULT_MAX_RULE_FILE_BYTES,
            watch: false,
        }
    }
}

impl Settings {
    /// Sets one key (keys compare without case, as Fluent Bit's do).
    /// `rules` and `placeholder(s)` may be given several times.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            // Repeatable, or several paths separated by commas (YAML configs
            // cannot repeat a key).
            "rules" => self.rules.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(String::from),
            ),
            "mode" => self.mode = value.parse()?,
            "profile" => self.profile = value.to_string(),
            "tag_key" | "tag_field" => {
                if value.is_empty() {
                    return Err("tag_key must not be empty".into());
                }
                self.tag_key = value.to_string()
            }
            "logsources" => self.logsources = Some(value.into()),
            "placeholders" => self.placeholder_files.push(value.into()),
            "placeholder" => {
                let (name, values) = value.split_once('=').ok_or_else(|| {
                    format!("placeholder `{value}`: expected NAME=VALUE[,VALUE...]")
                })?;
                self.placeholders.push((
                    name.trim().trim_matches('%').to_string(),
                    values.split(',').map(|v| v.trim().to_string()).collect(),
                ));
            }
            "unmapped_logsources" => self.unmapped = value.parse()?,
            "product" => self.product = Some(value.to_lowercase()),
            "max_record_bytes" => self.max_record_bytes = size(key, value)? as usize,
            "max_rule_file_bytes" => self.max_rule_file_bytes = size(key, value)?,
            "watch" => {
                self.watch = match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "yes" | "1" => true,
                    "off" | "false" | "no" | "0" => false,
                    _ => return Err(format!("watch `{value}`: expected on or off")),
                }
            }
            other => {
                return Err(format!(
                    "unknown option `{other}` (known: {})",
                    KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Loads the rules and compiles the engine; the report says what became
    /// of every rule (an engine may hold none).
    pub fn build_report(&self) -> Result<(Engine, BuildReport), String> {
        if self.rules.is_empty() {
            return Err("no rules configured (set `rules` to a file, directory or glob)".into());
        }
        let mut paths = Vec::new();
        for r in &self.rules {
            paths.extend(expand_glob(r)?);
        }
        let mut set = RuleSet::load_paths_limited(&paths, self.max_rule_file_bytes)
            .map_err(|e| e.to_string())?;
        if let Some(p) = &self.product {
            set.rules
                .retain(|r| r.logsource.product.as_deref() == Some(p.as_str()));
        }
        let mut b = EngineBuilder::new()
            .profiles(ProfileSet::by_name(&self.profile).map_err(|e| e.to_string())?)
            .mode(self.mode)
            .tag_field(&self.tag_key)
            .unmapped(self.unmapped)
            .max_record_bytes(self.max_record_bytes);
        if let Some(p) = &self.logsources {
            let mut m = LogsourceMap::builtin();
            m.extend(LogsourceMap::from_file(p).map_err(|e| e.to_string())?);
            b = b.logsources(m);
        }
        for f in &self.placeholder_files {
            for (name, values) in load_placeholders(f).map_err(|e| e.to_string())? {
                b = b.placeholder(&name, values);
            }
        }
        for (name, values) in &self.placeholders {
            b = b.placeholder(name, values.clone());
        }
        b.build(&set).map_err(|e| e.to_string())
    }

    /// [`Settings::build_report`], where an engine with no rule is an error
    /// that lists the first rejections.
    pub fn build(&self) -> Result<(Engine, BuildReport), String> {
        let (engine, report) = self.build_report()?;
        if engine.rule_count() == 0 {
            let mut msg = format!(
                "no rule could be compiled ({} rejected)",
                report.rejected.len()
            );
            for r in report.rejected.iter().take(5) {
                msg.push_str(&format!("; {r}"));
            }
            return Err(msg);
        }
        Ok((engine, report))
    }
}

/// A byte size: a number with an optional K, M or G suffix (powers of 1,024).
fn size(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    let (num, mult) = match v.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&v[..v.len() - 1], 1 << 10),
        Some('M') => (&v[..v.len() - 1], 1 << 20),
        Some('G') => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(mult)
            .ok_or_else(|| format!("{key} `{value}`: too large")),
        _ => Err(format!(
            "{key} `{value}`: expected a positive size such as 1048576, 512K or 1M"
        )),
    }
}

/// A path, or the files matching a `*`/`?` pattern in its last component.
fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| glob_match(name.as_bytes(), n.to_string_lossy().as_bytes()))
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(format!("{pattern}: no file matches"));
    }
    Ok(out)
}

fn glob_match(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|i| glob_match(rest, &n[i..])),
        Some((b'?', rest)) => !n.is_empty() && glob_match(rest, &n[1..]),
        Some((c, rest)) => n.first() == Some(c) && glob_match(rest, &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_errors() {
        let mut c = Settings::default();
        c.set("Rules", "a").unwrap();
        c.set("rules", "b, c").unwrap();
        assert_eq!(c.rules, ["a", "b", "c"]);
        c.set("mode", "drop").unwrap();
        assert_eq!(c.mode, Mode::Drop);
        assert!(c.set("mode", "nope").unwrap_err().contains("unknown mode"));
        assert!(c
            .set("colour", "x")
            .unwrap_err()
            .contains("unknown option `colour`"));
        c.set("placeholder", "%dc%=DC01,DC02").unwrap();
        assert_eq!(
            c.placeholders[0],
            (
                "dc".to_string(),
                vec!["DC01".to_string(), "DC02".to_string()]
            )
        );
        assert!(Settings::default()
            .build()
            .unwrap_err()
            .contains("no rules"));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.yml", b"a.yml"));
        assert!(glob_match(b"rule_?.yml", b"rule_1.yml"));
        assert!(!glob_match(b"*.yml", b"a.yaml"));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules/*.yml");
        assert_eq!(expand_glob(root.to_str().unwrap()).unwrap().len(), 2);
        assert!(expand_glob("/nonexistent-dir/*.yml").is_err());
    }
}
