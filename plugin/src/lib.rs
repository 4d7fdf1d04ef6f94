//! sigmaline for hosts written in C: a stable C ABI over the engine
//! ([`ffi`], header `include/sigmaline.h`) and a native Fluent Bit filter
//! ([`fluentbit`]) built on it.
//!
//! Everything a host calls goes through `extern "C"` functions that catch
//! panics, check their pointers and report failures as values: a shipper
//! must never crash because of a rule pack or a record.

pub mod chunk;
pub mod ffi;
pub mod fluentbit;
pub mod handle;
pub mod metrics;
pub mod watch;
