//! Logsource scoping: which records a rule's `logsource` applies to.
//!
//! A Sigma rule says nothing about Channel or Provider in its detection; the
//! logsource does. Without scoping, the DHCP rule's `EventID: 1031` would fire
//! on any provider's event 1031. The map is data (`data/logsources.yml`), so
//! a deployment can add its own channels without a rebuild.

use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::Yaml;

use crate::error::Error;
use crate::rule::Logsource;
use crate::yamlutil::{get, load_one, opt_str, pairs, str_list};

const BUILTIN: &str = include_str!("../data/logsources.yml");

/// One way for a record to belong to a logsource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// The record's Channel is one of these (case-insensitive)...
    pub channels: Vec<String>,
    /// ...or its Provider_Name is one of these.
    pub providers: Vec<String>,
    /// Extra field tests, each a list of accepted values (all must hold).
    pub conditions: Vec<(String, Vec<String>)>,
    /// Rule field name -> record field name for records of this variant.
    pub fieldmappings: HashMap<String, String>,
}

/// A logsource and the variants that make a record part of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    /// Empty: the logsource applies to every record.
    pub variants: Vec<Variant>,
}

/// The logsource map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogsourceMap {
    entries: Vec<Entry>,
}

impl Default for LogsourceMap {
    fn default() -> Self {
        LogsourceMap::builtin()
    }
}

impl LogsourceMap {
    /// The built-in Windows map.
    pub fn builtin() -> LogsourceMap {
        LogsourceMap::parse(BUILTIN).expect("built-in logsource map is valid")
    }

    /// An empty map: every rule is unscoped.
    pub fn empty() -> LogsourceMap {
        LogsourceMap {
            entries: Vec::new(),
        }
    }

    /// Parses a map in the `logsources.yml` format.
    pub fn parse(text: &str) -> Result<LogsourceMap, String> {
        let doc = load_one(text)?;
        let Some(Yaml::Array(list)) = get(&doc, "logsources") else {
            return Err("expected a top-level `logsources:` list".into());
        };
        let mut entries = Vec::new();
        for (i, e) in list.iter().enumerate() {
            entries.push(parse_entry(e).map_err(|m| format!("logsources[{i}]: {m}"))?);
        }
        Ok(LogsourceMap { entries })
    }

    /// Reads a user map from a file.
    pub fn from_file(path: &Path) -> Result<LogsourceMap, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        LogsourceMap::parse(&text).map_err(|message| Error::Config {
            path: path.into(),
            message,
        })
    }

    /// Adds entries; an entry for the same product/category/service replaces the old one.
    pub fn extend(&mut self, other: LogsourceMap) {
        for e in other.entries {
            self.entries.retain(|o| {
                (&o.product, &o.category, &o.service) != (&e.product, &e.category, &e.service)
            });
            self.entries.push(e);
        }
    }

    /// The entry for a rule's logsource, if the map knows it.
    pub fn lookup(&self, ls: &Logsource) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| {
            (e.product.is_none() || e.product == ls.product)
                && e.category == ls.category
                && e.service == ls.service
        })
    }
}

fn parse_entry(e: &Yaml) -> Result<Entry, String> {
    let lower = |o: Option<String>| o.map(|s| s.to_lowercase());
    let mut entry = Entry {
        product: lower(opt_str(e, "product")?),
        category: lower(opt_str(e, "category")?),
        service: lower(opt_str(e, "service")?),
        variants: Vec::new(),
    };
    match get(e, "variants") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Array(vs)) => {
            for v in vs {
                let mut variant = Variant {
                    channels: str_list(get(v, "channel"), "channel")?,
                    providers: str_list(get(v, "provider"), "provider")?,
                    ..Variant::default()
                };
                for (k, val) in pairs(get(v, "conditions"), "conditions")? {
                    variant
                        .conditions
                        .push((k.clone(), str_list(Some(val), &k)?));
                }
                for (k, val) in pairs(get(v, "fieldmappings"), "fieldmappings")? {
                    let to = crate::rule::scalar_text(val)
                        .ok_or("`fieldmappings` values must be strings")?;
                    variant.fieldmappings.insert(k, to);
                }
                if variant.channels.is_empty()
                    && variant.providers.is_empty()
                    && variant.conditions.is_empty()
                {
                    return Err("a variant needs a channel, a provider or conditions".into());
                }
                entry.variants.push(variant);
            }
        }
        Some(_) => return Err("`variants` must be a list".into()),
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: Option<&str>, c: Option<&str>, s: Option<&str>) -> Logsource {
        Logsource {
            product: p.map(Into::into),
            category: c.map(Into::into),
            service: s.map(Into::into),
        }
    }

    #[test]
    fn builtin_covers_the_seed_logsources() {
        let m = LogsourceMap::builtin();
        let dhcp = m.lookup(&ls(Some("windows"), None, Some("dhcp"))).unwrap();
        assert_eq!(
            dhcp.variants[0].channels,
            ["Microsoft-Windows-DHCP-Server/Operational"]
        );
        let reg = m
            .lookup(&ls(Some("windows"), Some("registry_set"), None))
            .unwrap();
        assert_eq!(reg.variants.len(), 2, "Sysmon 13 and Security 4657");
        let pc = m
            .lookup(&ls(Some("windows"), Some("process_creation"), None))
            .unwrap();
        assert_eq!(pc.variants[1].fieldmappings["Image"], "NewProcessName");
        assert!(m
            .lookup(&ls(Some("windows"), Some("no_such_category"), None))
            .is_none());
        assert!(m
            .lookup(&ls(Some("windows"), None, None))
            .unwrap()
            .variants
            .is_empty());
        assert!(m.lookup(&ls(None, Some("antivirus"), None)).is_some());
    }

    #[test]
    fn user_entries_override() {
        let mut m = LogsourceMap::builtin();
        m.extend(LogsourceMap::parse("logsources:\n  - product: windows\n    service: dhcp\n    variants:\n      - channel: [DhcpAdminEvents]\n").unwrap());
        let dhcp = m.lookup(&ls(Some("windows"), None, Some("dhcp"))).unwrap();
        assert_eq!(dhcp.variants[0].channels, ["DhcpAdminEvents"]);
        assert!(LogsourceMap::parse("logsources:\n  - product: x\n    variants: [{}]\n").is_err());
        assert!(LogsourceMap::parse("nope: 1").is_err());
    }
}
