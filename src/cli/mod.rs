//! The `medrelay` command's subcommands, one file each; `main.rs` only parses and dispatches.

pub mod clinic;
pub mod keys;
pub mod serve;
pub mod staff;
