//! The shape of `loadgate/src`, checked: each stage folder imports only from the stages before
//! it in `lib.rs` (and from `support`), no two source files import each other, directly or
//! through others, and only the command line (`cli`) prints or reads CI variables. Test code (`#[cfg(test)]` to the end of a file) is left out: a test may build
//! fixtures from any stage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages in pipeline order, as `lib.rs` declares them.
fn stages() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| line.strip_prefix("pub mod ").or(line.strip_prefix("mod ")))
        .map(|name| name.trim_end_matches(';').to_owned())
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file as its module path (`run::http1`, `plan`), with its non-test text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                walk(&path, &[prefix, &[stem]].concat(), out);
            } else if prefix.is_empty() && stem == "main" {
                // The `loadgate` binary: another crate, over the library's public API.
                continue;
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap().to_owned();
                let name = match stem.as_str() {
                    "mod" | "lib" => prefix.to_vec(),
                    _ => [prefix, &[stem]].concat(),
                };
                out.insert(name.join("::"), code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &[], &mut out);
    out
}

/// The modules a file names as `crate::a::b…`, each resolved to the longest known module path.
fn imports(code: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let path: Vec<&str> = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap()
            .split("::")
            .filter(|part| !part.is_empty())
            .collect();
        let module = (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|candidate| known.contains_key(candidate));
        found.extend(module);
    }
    found
}

fn stage_of(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn no_stage_imports_from_a_later_stage() {
    let stages = stages();
    assert!(stages.len() >= 8, "lib.rs declares the stages: {stages:?}");
    let rank = |module: &str| stages.iter().position(|s| s == stage_of(module));
    let modules = modules();
    let mut upward = Vec::new();
    for (module, code) in &modules {
        if module.is_empty() {
            continue;
        }
        let own = rank(module).unwrap_or_else(|| panic!("{module} is not under a stage of lib.rs"));
        for imported in imports(code, &modules) {
            let theirs = rank(&imported).unwrap();
            if theirs > own && stage_of(&imported) != "support" {
                upward.push(format!("{module} imports {imported}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a later stage: {upward:#?}");
}

#[test]
fn no_two_files_import_each_other() {
    let modules = modules();
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(module, code)| {
            let mut out = imports(code, &modules);
            out.remove(module);
            (module.as_str(), out)
        })
        .collect();
    // Depth-first search for a back edge; the stack names the circle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<&'a str, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            return Some(stack[at..].iter().map(|n| n.to_string()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in &graph[node] {
            if let Some(circle) = visit(next, graph, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let circle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(circle.is_none(), "an import circle: {circle:?}");
    }
}

#[test]
fn only_the_command_line_prints_or_reads_ci_variables() {
    let mut found = Vec::new();
    for (module, code) in modules() {
        if stage_of(&module) == "cli" {
            continue;
        }
        for needle in [
            "eprintln!",
            "println!",
            "eprint!",
            "std::io::stderr",
            "var(\"GITHUB",
            "var_os(\"GITHUB",
        ] {
            if code.contains(needle) {
                found.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the engine narrates through events: {found:#?}"
    );
}
