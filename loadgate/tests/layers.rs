//! The shape of `loadgate/src`, checked: each stage folder imports only from the stages before
//! it in `lib.rs` (and from `support`), no two source files import each other, directly or
//! through others, and only the command line (`cli`) prints or reads CI variables. And in every
//! crate we ship or build with (`loadgate`, `demo-service`, `xtask`), no function outside test
//! code is longer than 80 lines.
//!
//! A file's imports are every path it names, resolved the way rustc does: `crate::`, `super::`,
//! `self::`, a child module's name, and each branch of a `use` group. Test code is a
//! `#[cfg(test)] mod` item (a block, or a file of its own) and only that is left out: a test
//! may build fixtures from any stage, but a function after a `#[cfg(test)] fn` is still code.
//! The checker's own tests at the end prove it fails on small sources that break each rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages in pipeline order, as `lib.rs` declares them (`mod x;` lines, not inline blocks).
fn stages(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("pub mod ").or(line.strip_prefix("mod ")))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One source file: its text without test modules, and the same with strings and comments blanked.
struct Source {
    text: String,
    code: String,
}

/// Every source file of `loadgate/src` as its module path (`run::http1`, `plan`, `` for lib.rs).
fn modules() -> BTreeMap<String, Source> {
    let mut files = files(&src());
    // The `loadgate` binary: another crate, over the library's public API.
    files.remove("main");
    parse(files)
}

/// Every `.rs` file under a crate's `src` as its module path (`` for the crate's root); a binary
/// `main.rs` beside a `lib.rs` is another crate, named `main` here.
fn files(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                walk(&path, &[prefix, &[stem]].concat(), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let root = prefix.is_empty() && (stem == "lib" || !dir.join("lib.rs").exists());
                let name = match stem.as_str() {
                    "mod" => prefix.to_vec(),
                    "lib" | "main" if root => Vec::new(),
                    _ => [prefix, &[stem]].concat(),
                };
                out.insert(name.join("::"), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(src, &[], &mut files);
    files
}

/// Files (module path → text) into sources without their test modules; a file that is itself a
/// test module (`#[cfg(test)] mod x;` in its parent) is left out with everything under it.
fn parse(files: BTreeMap<String, String>) -> BTreeMap<String, Source> {
    let mut sources = BTreeMap::new();
    let mut test_files = Vec::new();
    for (module, text) in &files {
        let (source, test_children) = without_tests(text);
        test_files.extend(test_children.into_iter().map(|child| join(module, &child)));
        sources.insert(module.clone(), source);
    }
    sources.retain(|module, _| {
        !test_files
            .iter()
            .any(|test| module == test || module.starts_with(&format!("{test}::")))
    });
    sources
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// Strings, characters and comments as spaces, byte for byte, so positions and braces in code
/// stay where they are and nothing quoted reads as a path.
fn blank(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut at = 0;
    let clear = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    while at < bytes.len() {
        let rest = &bytes[at..];
        let end = if rest.starts_with(b"//") {
            at + rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            at + 2 + find(&rest[2..], b"*/").map_or(rest.len() - 2, |n| n + 2)
        } else if let Some((open, hashes)) = raw_string_start(bytes, at) {
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            at + open + find(&rest[open..], &close).map_or(rest.len() - open, |n| n + close.len())
        } else if rest[0] == b'"' {
            at + 1 + quoted_end(&rest[1..], b'"')
        } else if rest[0] == b'\'' && is_char_literal(rest) {
            at + 1 + quoted_end(&rest[1..], b'\'')
        } else {
            at += 1;
            continue;
        };
        clear(&mut out, at, end.min(bytes.len()));
        at = end;
    }
    String::from_utf8(out).expect("only ASCII replaced whole bytes")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_ident_byte(bytes: &[u8], at: usize) -> bool {
    bytes
        .get(at)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// `r"`, `r#"`, `br"`…: the length of the opening and the number of hashes, when a raw string
/// starts at `at`.
fn raw_string_start(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = if bytes[at] == b'b' { at + 1 } else { at };
    if bytes.get(start) != Some(&b'r') || is_ident_byte(bytes, at.wrapping_sub(1)) {
        return None;
    }
    let hashes = bytes[start + 1..]
        .iter()
        .take_while(|b| **b == b'#')
        .count();
    (bytes.get(start + 1 + hashes) == Some(&b'"')).then_some((start - at + hashes + 2, hashes))
}

/// The length up to and including the closing quote, escapes skipped.
fn quoted_end(rest: &[u8], quote: u8) -> usize {
    let mut at = 0;
    while at < rest.len() {
        match rest[at] {
            b'\\' => at += 2,
            b if b == quote => return at + 1,
            _ => at += 1,
        }
    }
    rest.len()
}

/// `'a'`, `'\n'`, `'\u{..}'` rather than a lifetime `'a`.
fn is_char_literal(rest: &[u8]) -> bool {
    match rest.get(1) {
        Some(b'\\') => true,
        Some(&first) => {
            // The length of one UTF-8 character from its first byte.
            let len = match first {
                0..0x80 => 1,
                0xF0.. => 4,
                0xE0.. => 3,
                _ => 2,
            };
            rest.get(1 + len) == Some(&b'\'')
        }
        None => false,
    }
}

/// The text with every `#[cfg(test)] mod` item removed, and the names of those that are files.
fn without_tests(text: &str) -> (Source, Vec<String>) {
    let blanked = blank(text);
    let mut cuts = Vec::new();
    let mut test_children = Vec::new();
    for (at, _) in blanked.match_indices("#[cfg(test)]") {
        if cuts.last().is_some_and(|(_, end)| at < *end) {
            continue; // inside a test module already left out
        }
        let mut rest = &blanked[at + "#[cfg(test)]".len()..];
        // Other attributes may stand between `#[cfg(test)]` and the item.
        while let Some(attribute) = rest.trim_start().strip_prefix("#[") {
            rest = &attribute[attribute.find(']').unwrap() + 1..];
        }
        let item = rest.trim_start();
        let item = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|vis| item.strip_prefix(vis))
            .unwrap_or(item);
        let Some(after) = item.strip_prefix("mod ") else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body = &after[name.len()..].trim_start();
        let item_at = blanked.len() - body.len();
        let end = if body.starts_with(';') {
            test_children.push(name);
            item_at + 1
        } else {
            item_at + matching_brace(&blanked[item_at..])
        };
        cuts.push((at, end));
    }
    let keep = |s: &str| {
        let mut out = String::new();
        let mut from = 0;
        for (start, end) in &cuts {
            out.push_str(&s[from..*start]);
            from = *end;
        }
        out.push_str(&s[from..]);
        out
    };
    let source = Source {
        text: keep(text),
        code: keep(&blanked),
    };
    (source, test_children)
}

/// The length of a `{ … }` block that starts `code`, up to and including its closing brace.
fn matching_brace(code: &str) -> usize {
    let mut depth = 0;
    for (at, c) in code.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return at + 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    panic!("an unclosed block: {}", &code[..code.len().min(80)])
}

/// Every path a file's code names: `use` trees expanded (`a::{b, c::d}` → `a::b`, `a::c::d`) and
/// every other `x::y…` in the code, as written.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        if tokens[at] == "use" {
            let end = tokens[at..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |n| at + n);
            let mut tree = &tokens[at + 1..end];
            use_tree(&mut tree, &[], &mut found);
            at = end;
        } else if is_ident(&tokens[at])
            && tokens.get(at + 1).is_some_and(|t| t == "::")
            && (at == 0 || tokens[at - 1] != "::")
        {
            let mut path = vec![tokens[at].clone()];
            at += 1;
            while tokens.get(at).is_some_and(|t| t == "::")
                && tokens.get(at + 1).is_some_and(|t| is_ident(t))
            {
                path.push(tokens[at + 1].clone());
                at += 2;
            }
            found.push(path);
        } else {
            at += 1;
        }
    }
    found
}

/// Identifiers, `::` and single punctuation; whitespace dropped.
fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = at + c.len_utf8();
            while let Some((next, d)) = chars.peek().copied() {
                if !(d.is_alphanumeric() || d == '_') {
                    break;
                }
                end = next + d.len_utf8();
                chars.next();
            }
            tokens.push(code[at..end].to_owned());
        } else if c == ':' && chars.peek().is_some_and(|(_, d)| *d == ':') {
            chars.next();
            tokens.push("::".to_owned());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// One `use` tree (`a::b::{c, d::*}` or `a as b`), consumed from `tokens`, its paths into `found`.
fn use_tree(tokens: &mut &[String], prefix: &[String], found: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.first().map(String::as_str) {
            Some("{") => {
                *tokens = &tokens[1..];
                while tokens.first().is_some_and(|t| t != "}") {
                    let before = tokens.len();
                    use_tree(tokens, &path, found);
                    if tokens.len() == before || tokens.first().is_some_and(|t| t == ",") {
                        *tokens = &tokens[1..];
                    }
                }
                *tokens = tokens.get(1..).unwrap_or_default();
                return;
            }
            Some("::") | Some("*") => *tokens = &tokens[1..],
            Some("as") => *tokens = tokens.get(2..).unwrap_or_default(),
            Some(token) if is_ident(token) => {
                if token != "self" || path.is_empty() {
                    path.push(token.to_owned());
                }
                *tokens = &tokens[1..];
            }
            // `,`, `}` or the end: this branch is complete.
            _ => break,
        }
    }
    found.push(path);
}

/// The modules a file's code names, each path resolved from `module` to the longest known module
/// (a path that names only the crate root, like `crate::Exit`, names no module).
fn imports(module: &str, code: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let here: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let mut found = BTreeSet::new();
    for path in paths(code).into_iter().filter(|path| !path.is_empty()) {
        let mut absolute: Vec<&str> = match path[0].as_str() {
            "crate" => vec![],
            "self" | "super" => here.clone(),
            child if known.contains(join(module, child).as_str()) => here.clone(),
            // `std::…`, another crate, a type's associated item: not a module of this crate.
            _ => continue,
        };
        let mut segments = path.iter().map(String::as_str).peekable();
        if path[0] == "crate" || path[0] == "self" {
            segments.next();
        }
        while segments.peek() == Some(&"super") {
            segments.next();
            absolute.pop();
        }
        absolute.extend(segments);
        let resolved = (1..=absolute.len())
            .rev()
            .map(|n| absolute[..n].join("::"))
            .find(|candidate| known.contains(candidate.as_str()));
        found.extend(resolved.filter(|m| m != module));
    }
    found
}

fn stage_of(module: &str) -> &str {
    module.split("::").next().unwrap()
}

/// Every import of a module from a stage after its own in `stages`.
fn upward_imports(stages: &[String], sources: &BTreeMap<String, Source>) -> Vec<String> {
    let rank = |module: &str| stages.iter().position(|s| s == stage_of(module));
    let known: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    let mut upward = Vec::new();
    for (module, source) in sources {
        if module.is_empty() {
            continue;
        }
        let own = rank(module).unwrap_or_else(|| panic!("{module} is not under a stage of lib.rs"));
        for imported in imports(module, &source.code, &known) {
            if rank(&imported).unwrap() > own {
                upward.push(format!("{module} imports {imported}"));
            }
        }
    }
    upward
}

/// Every group of files that import each other, directly or through others (the strongly
/// connected parts of the import graph), each as its modules in order.
fn circles(sources: &BTreeMap<String, Source>) -> Vec<Vec<String>> {
    let known: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = sources
        .iter()
        .map(|(module, source)| (module.as_str(), imports(module, &source.code, &known)))
        .collect();
    let reachable = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(node) = todo.pop() {
            for next in &graph[node.as_str()] {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<String>> =
        graph.keys().map(|node| (*node, reachable(node))).collect();
    let mut circles: Vec<Vec<String>> = Vec::new();
    for (node, from_here) in &reach {
        let circle: Vec<String> = from_here
            .iter()
            .filter(|other| reach[other.as_str()].contains(*node))
            .cloned()
            .collect();
        if !circle.is_empty() && !circles.contains(&circle) {
            circles.push(circle);
        }
    }
    circles
}

/// The most lines a function may span outside test code, from `fn` to its closing brace.
const MOST_LINES: usize = 80;

/// Every function of a file's code (test modules already left out) longer than `most` lines,
/// as its name and length; a `#[test]` function is test code and a declaration has no body.
fn long_functions(code: &str, most: usize) -> Vec<(String, usize)> {
    let mut long = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && is_ident_byte(code.as_bytes(), at - 1) {
            continue; // `…fn ` inside a longer word
        }
        let after = &code[at + 3..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // What stands between the previous item (or statement) and this one: its attributes.
        let item_start = code[..at].rfind([';', '{', '}']).map_or(0, |n| n + 1);
        let attributes = &code[item_start..at];
        // `#[test]`, `#[tokio::test]`, `#[cfg(test)]`.
        if name.is_empty() || attributes.contains("test]") {
            continue;
        }
        let Some(body) = after.find(['{', ';']) else {
            continue;
        };
        if after.as_bytes()[body] == b';' {
            continue; // a declaration in a trait or an `extern` block
        }
        let body_at = at + 3 + body;
        let end = body_at + matching_brace(&code[body_at..]);
        let lines = code[at..end].lines().count();
        if lines > most {
            long.push((name, lines));
        }
    }
    long
}

#[test]
fn no_stage_imports_from_a_later_stage() {
    let stages = stages(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    assert!(stages.len() >= 8, "lib.rs declares the stages: {stages:?}");
    assert_eq!(
        stages[0], "support",
        "support is the leaf every stage may use"
    );
    let upward = upward_imports(&stages, &modules());
    assert!(upward.is_empty(), "imports from a later stage: {upward:#?}");
}

#[test]
fn no_two_files_import_each_other() {
    let circles = circles(&modules());
    assert!(
        circles.is_empty(),
        "files that import each other: {circles:#?}"
    );
}

#[test]
fn only_the_command_line_prints_or_reads_ci_variables() {
    let mut found = Vec::new();
    for (module, source) in modules() {
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
            if source.text.contains(needle) {
                found.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the engine narrates through events: {found:#?}"
    );
}

#[test]
fn no_function_outside_tests_is_longer_than_80_lines() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut long = Vec::new();
    let mut functions = 0;
    for krate in ["loadgate", "demo-service", "xtask"] {
        for (module, source) in parse(files(&workspace.join(krate).join("src"))) {
            functions += source.code.matches("fn ").count();
            let module = if module.is_empty() { "(root)" } else { &module };
            for (name, lines) in long_functions(&source.code, MOST_LINES) {
                long.push(format!("{krate} {module}: fn {name} is {lines} lines"));
            }
        }
    }
    assert!(
        functions > 500,
        "the crates were read: {functions} functions"
    );
    assert!(
        long.is_empty(),
        "functions over {MOST_LINES} lines (split them into named steps): {long:#?}"
    );
}

/// The checker on small sources: each rule fails when broken, so a pass above means something.
mod checker {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> BTreeMap<String, Source> {
        parse(
            files
                .iter()
                .map(|(module, text)| (module.to_string(), text.to_string()))
                .collect(),
        )
    }

    fn stages() -> Vec<String> {
        super::stages("mod support;\nmod early;\nmod late;\npub mod testing {\n}\n")
    }

    #[test]
    fn lib_rs_declares_the_stages_and_not_inline_modules() {
        assert_eq!(stages(), ["support", "early", "late"]);
    }

    #[test]
    fn a_super_circle_between_a_facade_and_its_child_is_found() {
        let files = [
            (
                "early",
                "mod child;\npub use child::Thing;\npub struct Shared;\n",
            ),
            (
                "early::child",
                "use super::Shared;\npub struct Thing(Shared);\n",
            ),
        ];
        assert_eq!(circles(&sources(&files)), [["early", "early::child"]]);
    }

    #[test]
    fn a_circle_through_self_and_use_groups_is_found() {
        let files = [
            (
                "early",
                "mod a;\nmod b;\nuse self::{a::{self, One}, b as _};\n",
            ),
            (
                "early::a",
                "pub struct One;\nfn f() { crate::early::b::two(); }\n",
            ),
            (
                "early::b",
                "pub fn two() { super::super::early::a::One; }\n",
            ),
        ];
        assert_eq!(circles(&sources(&files)), [["early::a", "early::b"]]);
    }

    #[test]
    fn shared_items_below_both_make_no_circle() {
        let files = [
            ("early", "mod child;\nmod shared;\npub use child::Thing;\n"),
            (
                "early::child",
                "use super::shared::Shared;\npub struct Thing(Shared);\n",
            ),
            ("early::shared", "pub struct Shared;\n"),
        ];
        assert!(circles(&sources(&files)).is_empty());
    }

    #[test]
    fn a_later_stage_named_inside_a_function_after_a_test_function_is_found() {
        let text = "#[cfg(test)]\npub(crate) fn of_text() {}\n\n\
                    pub fn build() {\n    let x = crate::late::Thing::new();\n}\n";
        let files = [("early", text), ("late", "pub struct Thing;\n")];
        let upward = upward_imports(&stages(), &sources(&files));
        assert_eq!(upward, ["early imports late"]);
    }

    #[test]
    fn a_child_module_path_and_a_use_group_are_imports() {
        let files = [
            ("early", "mod inner;\nfn f() { inner::g(); }\n"),
            (
                "early::inner",
                "use crate::{support::Clock, late::{Thing}};\n",
            ),
            ("late", ""),
            ("support", ""),
        ];
        let upward = upward_imports(&stages(), &sources(&files));
        assert_eq!(upward, ["early::inner imports late"]);
    }

    #[test]
    fn only_test_modules_are_left_out() {
        let text = "fn f() {}\n#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    \
                    fn g() { let s = \"}\"; crate::late::x(); }\n}\n\
                    fn h() { crate::late::y(); }\n#[cfg(test)]\nmod fixture;\n";
        let files = [
            ("early", text),
            ("early::fixture", "use crate::late::Z;\n"),
            ("late", ""),
        ];
        let sources = sources(&files);
        assert!(!sources.contains_key("early::fixture"), "a test file");
        assert!(!sources["early"].text.contains("fn g"));
        assert!(sources["early"].text.contains("fn h"));
        assert_eq!(upward_imports(&stages(), &sources), ["early imports late"]);
    }

    #[test]
    fn quoted_and_commented_paths_are_not_imports() {
        let text = "// crate::late::a\n/* super::late */ fn f() { let s = \"crate::late::b\"; \
                    let r = r#\"crate::late::c\"#; let c = '\"'; let l: &'static str = s; }\n";
        let files = [("early", text), ("late", "")];
        assert!(upward_imports(&stages(), &sources(&files)).is_empty());
        // …while the text the print check reads keeps them.
        assert!(sources(&files)["early"].text.contains("crate::late::b"));
    }

    #[test]
    fn a_function_over_the_limit_is_found_and_test_code_is_not() {
        let body = |lines: usize| "    let x = 1;\n".repeat(lines - 2);
        let text = format!(
            "fn long() {{\n{}}}\nfn short() {{\n{}}}\n#[test]\nfn a_test() {{\n{}}}\n\
             #[cfg(test)]\nmod tests {{\n    fn helper() {{\n{}    }}\n}}\n\
             trait T {{\n    fn declared(&self);\n}}\n\
             pub(crate) async fn quoted() {{\n    let s = \"{{\";\n{}}}\n",
            body(5),
            body(4),
            body(9),
            body(9),
            body(4),
        );
        let sources = sources(&[("early", text.as_str())]);
        let found = long_functions(&sources["early"].code, 4);
        assert_eq!(found, [("long".to_owned(), 5), ("quoted".to_owned(), 5)]);
    }
}
