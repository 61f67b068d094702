//! include/wshub.h must be what cbindgen (pinned) generates from src/ffi.
//! `WSHUB_WRITE_HEADER=1 cargo test --test c_header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_a_fresh_generation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = root.join("include/wshub.h");
    if std::env::var_os("WSHUB_WRITE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/wshub.h");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/wshub.h is stale: run `WSHUB_WRITE_HEADER=1 cargo test --test c_header` and commit it"
    );
}
