//! The module map is a contract: the arrows between top-level modules written in `src/lib.rs`'s
//! crate documentation (where `cargo doc` shows them) are the only ones the code may have, and
//! they form no cycle. An arrow is a `crate::NAME` path (or `crate::{NAME, ...}`) in a module's
//! files; one used only by test code (after a file's first `#[cfg(test)]`, or in a file of tests:
//! `tests.rs`, `*_tests.rs`, under a `tests/` folder) is marked `(tests)` in the map. A second rule
//! keeps files small enough to read: no source file has more than 700 lines before its first
//! `#[cfg(test)]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: files and folders directly under `src/`, but not the crate roots.
fn top_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().expect("name").to_string_lossy().into_owned())
        .filter(|n| n != "main" && n != "lib")
        .collect()
}

fn top_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    Path::new(first.as_os_str()).file_stem().expect("stem").to_string_lossy().into_owned()
}

/// Every top-level module a file's text names through `crate::`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `geminal_crate::`...
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let head = item.trim().split("::").next().unwrap_or("").trim();
                if !head.is_empty() {
                    names.insert(head.to_string());
                }
            }
        } else {
            let ident: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() {
                names.insert(ident);
            }
        }
    }
    names
}

/// Whether a whole file is test code (a module of tests declared under `#[cfg(test)]`).
fn is_test_file(path: &Path) -> bool {
    let rel = path.strip_prefix(src()).expect("under src");
    let name = rel.file_name().expect("a name").to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs") || rel.components().any(|c| c.as_os_str() == "tests")
}

type Arrows = BTreeMap<String, BTreeSet<String>>;

/// The arrows the code has: module → the modules it names, from code that is built into the
/// program, and from test code alone.
fn actual_arrows() -> (Arrows, Arrows) {
    let tops = top_modules();
    let empty: Arrows = tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    let (mut code, mut tests) = (empty.clone(), empty);
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let top = top_of(&file);
        if !tops.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let (built, test_code) = if is_test_file(&file) {
            ("", text.as_str())
        } else {
            text.split_once("#[cfg(test)]").unwrap_or((text.as_str(), ""))
        };
        for (part, arrows) in [(built, &mut code), (test_code, &mut tests)] {
            for name in named_modules(part) {
                if name != top && tops.contains(&name) {
                    arrows.get_mut(&top).expect("a module").insert(name);
                }
            }
        }
    }
    for (module, used) in &code {
        let only_tests = tests.get_mut(module).expect("a module");
        only_tests.retain(|m| !used.contains(m));
    }
    (code, tests)
}

/// The arrows `src/lib.rs` allows: the lines `name → a, b, c (tests)` (or `name → (none)`) of
/// the fenced block after the `# Module map` heading; those marked `(tests)` only from test code.
fn documented_arrows() -> (Arrows, Arrows) {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("read lib.rs");
    let doc: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//!")).map(str::trim).collect();
    let start = doc.iter().position(|l| *l == "# Module map").expect("lib.rs documents a `# Module map`");
    let fence =
        start + doc[start..].iter().position(|l| l.starts_with("```")).expect("a fenced block after the heading");
    let (mut code, mut tests) = (Arrows::new(), Arrows::new());
    for line in doc[fence + 1..].iter().take_while(|l| !l.starts_with("```")) {
        if line.is_empty() {
            continue;
        }
        let (from, to) = line.split_once('→').unwrap_or_else(|| panic!("a map line without an arrow: {line:?}"));
        let from = from.trim().to_string();
        let (mut built, mut test_only) = (BTreeSet::new(), BTreeSet::new());
        for item in to.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "(none)") {
            match item.strip_suffix("(tests)") {
                Some(name) => test_only.insert(name.trim().to_string()),
                None => built.insert(item.to_string()),
            };
        }
        assert!(!code.contains_key(&from), "{from} is listed twice in the module map");
        code.insert(from.clone(), built);
        tests.insert(from, test_only);
    }
    (code, tests)
}

/// A cycle in `arrows`, as the modules along it, if there is one.
fn find_cycle(arrows: &Arrows) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        arrows: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| p == node).expect("on the path");
                let mut cycle = path[at..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in arrows.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, arrows, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in arrows.keys() {
        if let Some(cycle) = visit(node, arrows, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_module_map_in_lib_rs_is_the_code_s() {
    let (code, tests) = actual_arrows();
    let (allowed, allowed_in_tests) = documented_arrows();
    let mut problems = Vec::new();
    for module in code.keys() {
        if !allowed.contains_key(module) {
            problems.push(format!("module `{module}` is not in the module map"));
        }
    }
    for module in allowed.keys() {
        if !code.contains_key(module) {
            problems.push(format!("the module map lists `{module}`, which is not a module under src/"));
        }
    }
    let none = BTreeSet::new();
    for (from, used) in &code {
        let listed = allowed.get(from).unwrap_or(&none);
        let listed_tests = allowed_in_tests.get(from).unwrap_or(&none);
        for to in used.difference(listed) {
            if listed_tests.contains(to) {
                problems.push(format!(
                    "`{from}` uses `{to}` outside its tests, but the module map allows it only in tests"
                ));
            } else {
                problems.push(format!("`{from}` uses `{to}`, an arrow the module map does not allow"));
            }
        }
        for to in listed.difference(used) {
            problems.push(format!("the module map says `{from}` → `{to}`, but `{from}` does not use it"));
        }
        let used_tests = tests.get(from).unwrap_or(&none);
        for to in used_tests.difference(listed_tests) {
            problems.push(format!("the tests of `{from}` use `{to}`, an arrow the module map does not allow"));
        }
        for to in listed_tests.difference(used_tests) {
            problems.push(format!("the module map says `{from}` → `{to}` (tests), but its tests do not use it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let (mut all, tests) = actual_arrows();
    for (module, used) in tests {
        all.get_mut(&module).expect("a module").extend(used);
    }
    if let Some(cycle) = find_cycle(&all) {
        panic!("an import cycle between top-level modules: {}", cycle.join(" → "));
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_the_reader_reads_groups() {
    let mut arrows = BTreeMap::new();
    arrows.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    arrows.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    arrows.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&arrows).expect("a cycle"), ["a", "b", "c", "a"]);
    arrows.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&arrows), None);
    let named = named_modules("use crate::{store::Store, chat};\nlet x = crate::money::price();\n$crate::nope");
    assert_eq!(named, BTreeSet::from(["chat".to_string(), "money".to_string(), "store".to_string()]));
}

#[test]
fn no_source_file_is_longer_than_700_lines_before_its_tests() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("read a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let lines = code.matches('\n').count();
            (lines > MAX_LINES)
                .then(|| format!("{} ({lines} lines)", file.strip_prefix(src()).expect("under src").display()))
        })
        .collect();
    assert!(long.is_empty(), "source files over {MAX_LINES} lines before their tests: {}", long.join(", "));
}
