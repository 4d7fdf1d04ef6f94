//! `require("sigmaline")` in Lua 5.4 (Vector's `lua` transform): build an
//! engine once from rule paths, then evaluate `event.log` tables in place.
//!
//! ```lua
//! local sigmaline = require("sigmaline")
//! local engine = sigmaline.new({ rules = "/etc/sigmaline/rules", mode = "tag" })
//! -- in hooks.process(event, emit):
//! local verdict = engine:process(event.log)   -- "tagged" | "pass" | "drop"
//! if verdict ~= "drop" then emit(event) end
//! ```
//!
//! A bad configuration raises a Lua error at `new` (Vector then refuses to
//! start); a record that cannot be evaluated is passed and counted, never
//! raised into Vector.

use std::cell::{Cell, RefCell};

use mlua::prelude::*;
use sigmaline_core::{Engine, Scratch, Settings};

struct LuaEngine {
    engine: Engine,
    scratch: RefCell<Scratch>,
    malformed: Cell<u64>,
    matched: Cell<u64>,
}

impl LuaUserData for LuaEngine {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // Tags `log` in place when it matches; says what to do with it.
        m.add_method("process", |lua, this, log: LuaTable| {
            let record: serde_json::Value = match lua.from_value(LuaValue::Table(log.clone())) {
                Ok(v) => v,
                Err(_) => {
                    this.malformed.set(this.malformed.get() + 1);
                    return Ok("pass");
                }
            };
            let mut s = this.scratch.borrow_mut();
            let matched = match this.engine.match_value(&mut s, &record) {
                Ok(m) => m.to_vec(),
                Err(_) => {
                    this.malformed.set(this.malformed.get() + 1);
                    return Ok("pass");
                }
            };
            let emit = match this.engine.mode() {
                sigmaline_core::Mode::Tag => true,
                sigmaline_core::Mode::Keep => !matched.is_empty(),
                sigmaline_core::Mode::Drop => matched.is_empty(),
            };
            if !emit {
                return Ok("drop");
            }
            if matched.is_empty() || this.engine.mode() == sigmaline_core::Mode::Drop {
                return Ok("pass");
            }
            this.matched.set(this.matched.get() + 1);
            let tags: Vec<serde_json::Value> = matched
                .iter()
                .map(|&r| serde_json::from_str(this.engine.tag_json(r)).expect("tags are JSON"))
                .collect();
            let opts = LuaSerializeOptions::new().serialize_none_to_null(false);
            log.set(
                this.engine.tag_field(),
                lua.to_value_with(&serde_json::Value::Array(tags), opts)?,
            )?;
            Ok("tagged")
        });
        m.add_method("stats", |lua, this, ()| {
            let t = lua.create_table()?;
            t.set("rules", this.engine.rule_count())?;
            t.set("matched", this.matched.get())?;
            t.set("malformed", this.malformed.get())?;
            Ok(t)
        });
    }
}

/// `sigmaline.new{ rules = ..., mode = ..., ... }`: every sigmaline option.
fn new(_: &Lua, opts: LuaTable) -> LuaResult<LuaEngine> {
    let mut st = Settings::default();
    for pair in opts.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        let v = match v {
            LuaValue::String(s) => s.to_str()?.to_string(),
            LuaValue::Integer(i) => i.to_string(),
            LuaValue::Number(n) => n.to_string(),
            LuaValue::Boolean(b) => if b { "on" } else { "off" }.to_string(),
            other => {
                return Err(LuaError::runtime(format!(
                    "sigmaline: option {k}: unsupported {}",
                    other.type_name()
                )))
            }
        };
        st.set(&k, &v)
            .map_err(|e| LuaError::runtime(format!("sigmaline: {e}")))?;
    }
    let (engine, _) = st
        .build()
        .map_err(|e| LuaError::runtime(format!("sigmaline: {e}")))?;
    let scratch = RefCell::new(engine.scratch());
    Ok(LuaEngine {
        engine,
        scratch,
        malformed: Cell::new(0),
        matched: Cell::new(0),
    })
}

#[mlua::lua_module(name = "sigmaline")]
fn sigmaline(lua: &Lua) -> LuaResult<LuaTable> {
    let m = lua.create_table()?;
    m.set("new", lua.create_function(new)?)?;
    m.set("version", sigmaline_core::VERSION)?;
    Ok(m)
}
