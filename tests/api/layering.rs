//! The module tree reads top-down: every `crate::<module>` a file names (in a `use` or a
//! path) is its own top-level module or one in a lower layer. A lower layer owns its settings
//! and error types; `config` and `startup` assemble them (STYLE.md rule 3).

use std::path::{Path, PathBuf};

/// Top-level modules of `src/`, from the top (composition) to the bottom (pure types). A
/// module may name modules of a later entry only; modules within one entry don't name each
/// other.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["startup", "devdb"],
    &["config"],
    &["http"],
    &["otp", "retention"],
    &["limits"],
    &["providers", "hashing"],
    &["fraud", "messages"],
    &["store"],
    &["metrics", "telemetry"],
    &["domain"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`src/http/b2b.rs` → `http`).
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Every module a line names as `crate::<module>`, `crate::{a, b}` included.
fn named_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

#[test]
fn no_module_names_a_module_of_a_higher_layer() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut offences = Vec::new();
    let mut checked = 0;
    for file in &files {
        let from = owner(&src, file);
        if from == "main" || from == "lib" {
            continue;
        }
        let from_layer = layer_of(&from).unwrap_or_else(|| {
            panic!("src/{from} is in no layer: add it to LAYERS in tests/api/layering.rs")
        });
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for to in named_modules(code) {
                checked += 1;
                if to == from {
                    continue;
                }
                let Some(to_layer) = layer_of(&to) else {
                    offences.push(format!(
                        "{}:{}: names crate::{to}, which is in no layer",
                        file.strip_prefix(src.parent().unwrap()).unwrap().display(),
                        n + 1
                    ));
                    continue;
                };
                if to_layer <= from_layer {
                    offences.push(format!(
                        "{}:{}: `{from}` names `{to}`, which is {} ({})",
                        file.strip_prefix(src.parent().unwrap()).unwrap().display(),
                        n + 1,
                        if to_layer == from_layer {
                            "in the same layer"
                        } else {
                            "in a higher layer"
                        },
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} references found: is the scan broken?"
    );
    assert!(
        offences.is_empty(),
        "imports against the layer order:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scanner_sees_plain_grouped_and_inline_references() {
    assert_eq!(named_modules("use crate::config::Config;"), ["config"]);
    assert_eq!(
        named_modules("use crate::{devdb, store, telemetry};"),
        ["devdb", "store", "telemetry"]
    );
    assert_eq!(
        named_modules("        crate::metrics::refusal(reason.as_str()); crate::otp::x"),
        ["metrics", "otp"]
    );
    assert!(named_modules("use super::errors::ApiError;").is_empty());
}
