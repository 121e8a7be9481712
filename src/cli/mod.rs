//! Subcommands of the `medrelay` command that are more than a line or two.

pub mod staff;
