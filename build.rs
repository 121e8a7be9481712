//! Whether the browser tests can run here: with Chromium and chromedriver on `PATH` when the
//! tests are built, `cfg(browser)` is set and they run; without, they are compiled as ignored,
//! so `cargo test` lists each by name with what to install.
//!
//! Only this file's changes (and the migrations', below) rerun it, not `PATH`'s: a different
//! `PATH` (e.g. `.ci/run` prepends its tools folder) would otherwise rebuild the whole crate. After installing
//! Chromium on a machine that built without it, `touch build.rs` (CI installs it first).

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // `sqlx::migrate!` embeds the migration folders but cannot tell cargo about a file added to
    // them; without this an incremental build keeps the old list of migrations.
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(browser)");
    let on_path = |names: &[&str]| {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                names
                    .iter()
                    .any(|name| Path::new(&dir).join(name).is_file())
            })
        })
    };
    if on_path(&["chromium", "chromium-browser", "google-chrome"]) && on_path(&["chromedriver"]) {
        println!("cargo::rustc-cfg=browser");
    }
}
