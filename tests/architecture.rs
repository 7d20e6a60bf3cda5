//! The source tree shows the architecture, and this test keeps it so: each
//! program and each shared module is one folder of `src/` opening with a
//! comment that says what it is and what it may import; the programs never
//! import each other; the shared modules form layers without cycles; the
//! README's layout table names every folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may import (`crate::<name>`). Leaves import
/// nothing. The macro `auth_tables!` belongs to `portal`.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "connector",
        &[
            "nmsp",
            "contract",
            "tls",
            "portal",
            "db",
            "clock",
            "fields",
            "host",
            "conn_limit",
            "service_log",
        ],
    ),
    (
        "cloud",
        &[
            "contract", "tls", "portal", "db", "clock", "fields", "host", "nmsp",
        ],
    ),
    ("sim", &["nmsp", "tls", "contract", "clock"]),
    ("nmsp", &["contract", "clock"]),
    ("contract", &["fields", "clock"]),
    ("tls", &["db", "clock"]),
    ("portal", &["db", "fields", "clock", "conn_limit", "host"]),
    ("db", &["clock"]),
    ("service_log", &["clock"]),
    ("clock", &[]),
    ("fields", &[]),
    ("host", &[]),
    ("conn_limit", &[]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
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

/// The top-level module a file belongs to (`src/connector/web/api.rs` →
/// `connector`, `src/clock.rs` → `clock`).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "bin").then(|| name.to_string())
}

/// `crate::<name>` references in a file, tests included (a test that
/// reaches into another program is a dependency too).
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let preceded_by_ident = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_ident {
            continue; // `spaces_connector::…` in a doc example, say
        }
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        match name.as_str() {
            "auth_tables" => {
                out.insert("portal".to_string());
            }
            "" | "VERSION" => {}
            _ => {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn modules_import_only_what_their_layer_allows() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = top_module(file) else {
            continue;
        };
        let Some(ok) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in the layer table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for dep in imports(&text) {
            if dep != module && !ok.contains(dep.as_str()) {
                violations.push(format!("{}: `{module}` imports `{dep}`", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_layer_table_has_no_cycle() {
    // Depth-first: a module may not reach itself through what it may import.
    fn reaches(from: &str, target: &str, seen: &mut BTreeSet<String>) -> bool {
        let deps = ALLOWED.iter().find(|(m, _)| *m == from).unwrap().1;
        deps.iter()
            .any(|d| *d == target || (seen.insert(d.to_string()) && reaches(d, target, seen)))
    }
    for (module, _) in ALLOWED {
        assert!(
            !reaches(module, module, &mut BTreeSet::new()),
            "{module} depends on itself"
        );
    }
}

#[test]
fn every_folder_says_what_it_is_and_what_it_may_import() {
    let readme = std::fs::read_to_string(src().join("../README.md")).unwrap();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() || path.ends_with("bin") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let top = std::fs::read_to_string(path.join("mod.rs")).unwrap();
        assert!(top.starts_with("//! "), "src/{name}/mod.rs opens with //!");
        let header: String = top
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            header.contains("May import") || header.contains("Imports nothing"),
            "src/{name}/mod.rs says what it may import"
        );
        assert!(
            readme.contains(&format!("| `src/{name}/`")),
            "README's layout table lists src/{name}/"
        );
        assert!(
            ALLOWED.iter().any(|(m, _)| *m == name),
            "src/{name} is in this test's layer table"
        );
    }
}
