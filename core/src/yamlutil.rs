//! Small helpers for reading configuration YAML (logsource maps, profiles).

use yaml_rust2::Yaml;

use crate::rule::scalar_text;

pub fn get<'a>(y: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match y {
        Yaml::Hash(h) => h.get(&Yaml::String(key.to_string())),
        _ => None,
    }
}

pub fn opt_str(y: &Yaml, key: &str) -> Result<Option<String>, String> {
    match get(y, key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(v) => scalar_text(v)
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a string")),
    }
}

/// A scalar or a list of scalars, as a list of strings.
pub fn str_list(y: Option<&Yaml>, what: &str) -> Result<Vec<String>, String> {
    match y {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Array(a)) => a
            .iter()
            .map(|v| scalar_text(v).ok_or_else(|| format!("`{what}` must hold strings")))
            .collect(),
        Some(v) => scalar_text(v)
            .map(|s| vec![s])
            .ok_or_else(|| format!("`{what}` must be a string or a list")),
    }
}

/// The entries of a mapping as (key, value) pairs.
pub fn pairs<'a>(y: Option<&'a Yaml>, what: &str) -> Result<Vec<(String, &'a Yaml)>, String> {
    match y {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Hash(h)) => h
            .iter()
            .map(|(k, v)| {
                scalar_text(k)
                    .map(|k| (k, v))
                    .ok_or_else(|| format!("`{what}` keys must be strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{what}` must be a mapping")),
    }
}

pub fn load_one(text: &str) -> Result<Yaml, String> {
    let mut docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| {
        format!(
            "YAML syntax error at line {}: {}",
            e.marker().line(),
            e.info()
        )
    })?;
    if docs.is_empty() {
        return Err("empty document".into());
    }
    Ok(docs.swap_remove(0))
}
