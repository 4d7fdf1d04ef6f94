//! Field shapes: where a Sigma field lives in a record.
//!
//! The same Sysmon event arrives flat from nxlog (`TargetObject`), nested
//! from evtx_dump (`Event.EventData.TargetObject`) or under Winlogbeat's
//! `winlog.event_data`. A profile is data that maps Sigma names onto paths,
//! so the engine walks each record once and never looks at fields no rule
//! reads. Built-in profiles live in `data/profiles.yml`.

use std::path::Path;

use yaml_rust2::Yaml;

use crate::error::Error;
use crate::yamlutil::{get, load_one, opt_str, pairs, str_list};

const BUILTIN: &str = include_str!("../data/profiles.yml");

/// One record shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Top-level keys that identify this shape under `auto` (any of them).
    pub detect: Vec<String>,
    /// Sigma field name -> dotted paths.
    pub fields: Vec<(String, Vec<String>)>,
    /// Dotted paths of objects whose keys are Sigma field names.
    pub passthrough: Vec<String>,
    /// An array whose elements are fields by position (Windows StringInserts).
    pub positional: Option<Positional>,
}

/// Fields of an array by position, chosen by the record's provider and event id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positional {
    /// Dotted path of the array.
    pub path: String,
    /// Top-level keys holding the provider name and the event id.
    pub provider_field: String,
    pub event_id_field: String,
    pub events: Vec<PositionalEvent>,
}

/// One event layout: for these providers and event ids, element `i` is `fields[i]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionalEvent {
    pub providers: Vec<String>,
    pub event_ids: Vec<String>,
    pub fields: Vec<String>,
}

/// Which profile(s) to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileSet {
    /// Under `auto`, all of them in order; otherwise exactly one.
    pub profiles: Vec<Profile>,
}

impl ProfileSet {
    /// Every built-in profile; the shape is recognised per record.
    pub fn auto() -> ProfileSet {
        ProfileSet {
            profiles: parse_profiles(BUILTIN, &[]).expect("built-in profiles are valid"),
        }
    }

    /// `auto`, a built-in name (`flat`, `evtx`, `ecs`), or a YAML file path.
    pub fn by_name(name: &str) -> Result<ProfileSet, Error> {
        let builtin = ProfileSet::auto();
        if name == "auto" {
            return Ok(builtin);
        }
        if let Some(p) = builtin.profiles.iter().find(|p| p.name == name) {
            let mut p = p.clone();
            p.detect.clear();
            return Ok(ProfileSet { profiles: vec![p] });
        }
        let path = Path::new(name);
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "unknown profile `{name}`: use auto, flat, evtx, ecs or a profile YAML file"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        let profiles =
            parse_profiles(&text, &builtin.profiles).map_err(|message| Error::Config {
                path: path.into(),
                message,
            })?;
        Ok(ProfileSet { profiles })
    }
}

/// Parses a `profiles:` list (or a single profile mapping); `extends` may
/// name a profile in `bases`.
pub fn parse_profiles(text: &str, bases: &[Profile]) -> Result<Vec<Profile>, String> {
    let doc = load_one(text)?;
    let list: Vec<&Yaml> = match get(&doc, "profiles") {
        Some(Yaml::Array(a)) => a.iter().collect(),
        Some(_) => return Err("`profiles` must be a list".into()),
        None => vec![&doc],
    };
    let mut out: Vec<Profile> = Vec::new();
    for (i, p) in list.into_iter().enumerate() {
        let name = opt_str(p, "name")?.unwrap_or_else(|| format!("profile{i}"));
        let mut prof = match opt_str(p, "extends")? {
            Some(base) => {
                let b = bases.iter().chain(out.iter()).find(|b| b.name == base);
                let mut b = b
                    .cloned()
                    .ok_or_else(|| format!("{name}: unknown base profile `{base}`"))?;
                b.detect.clear();
                b
            }
            None => Profile::default(),
        };
        prof.name = name.clone();
        let detect = str_list(get(p, "detect"), "detect")?;
        if !detect.is_empty() {
            prof.detect = detect;
        }
        if let Some(pos) = get(p, "positional") {
            prof.positional =
                Some(parse_positional(pos).map_err(|e| format!("{name}: positional: {e}"))?);
        }
        prof.passthrough
            .extend(str_list(get(p, "passthrough"), "passthrough")?);
        for (k, v) in pairs(get(p, "fields"), "fields").map_err(|e| format!("{name}: {e}"))? {
            let paths = str_list(Some(v), &k).map_err(|e| format!("{name}: {e}"))?;
            if paths.is_empty() {
                return Err(format!("{name}: field `{k}` has no path"));
            }
            prof.fields.push((k, paths));
        }
        if prof.fields.is_empty() && prof.passthrough.is_empty() {
            return Err(format!("{name}: a profile needs `fields` or `passthrough`"));
        }
        out.push(prof);
    }
    Ok(out)
}

fn parse_positional(y: &Yaml) -> Result<Positional, String> {
    let mut pos = Positional {
        path: opt_str(y, "path")?.ok_or("missing `path`")?,
        provider_field: opt_str(y, "provider_field")?.unwrap_or_else(|| "ProviderName".into()),
        event_id_field: opt_str(y, "event_id_field")?.unwrap_or_else(|| "EventID".into()),
        events: Vec::new(),
    };
    let Some(Yaml::Array(events)) = get(y, "events") else {
        return Err("`events` must be a list".into());
    };
    for e in events {
        let ev = PositionalEvent {
            providers: str_list(get(e, "provider"), "provider")?,
            event_ids: str_list(get(e, "event_ids"), "event_ids")?,
            fields: str_list(get(e, "fields"), "fields")?,
        };
        if ev.providers.is_empty() || ev.event_ids.is_empty() || ev.fields.is_empty() {
            return Err("each event needs `provider`, `event_ids` and `fields`".into());
        }
        pos.events.push(ev);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles() {
        let a = ProfileSet::auto();
        let names: Vec<_> = a.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["evtx", "ecs", "winevtlog", "flat"]);
        assert_eq!(
            ProfileSet::by_name("flat").unwrap().profiles[0].passthrough,
            [""]
        );
        assert!(ProfileSet::by_name("nope").is_err());
    }

    #[test]
    fn user_profile_extends_a_builtin() {
        let p = parse_profiles(
            "name: mine\nextends: flat\nfields:\n  Image: [proc.path]\n",
            &ProfileSet::auto().profiles,
        )
        .unwrap();
        assert_eq!(p[0].passthrough, [""]);
        assert!(p[0]
            .fields
            .iter()
            .any(|(k, v)| k == "Image" && v == &["proc.path"]));
        assert!(p[0].fields.iter().any(|(k, _)| k == "Provider_Name"));
        assert!(parse_profiles("name: x\nextends: nope\nfields: {a: b}\n", &[]).is_err());
        assert!(parse_profiles("name: x\n", &[]).is_err());
    }
}
