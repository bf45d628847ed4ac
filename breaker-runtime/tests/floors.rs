//! The runtime's floors, checked: a module imports only from its own floor or below, so
//! the state machine (the core) never depends on what observes it. ARCHITECTURE.md
//! draws them; this test reads every source file's `crate::` paths (comments and string
//! literals aside, names re-exported at the crate root resolved to the module that
//! defines them) and fails on an import that points up, naming the file and the path.
//!
//! | floor | modules | may import |
//! |---|---|---|
//! | 0 core | the state machine and what it is made of | the core, and the seam |
//! | 1 seam | `events` | anything: it is how the core reaches its observers |
//! | 2 around the breaker | building, registry, listeners, metrics, the fleet, keyed sets | floors 0 to 2 |
//! | 3 integrations | tower, reqwest, gRPC, HTTP statuses | floors 0 to 3 |
//! | 4 macro glue, behaviour tests | `__private`, `tests` | everything |
//!
//! A new module must be given a floor here (the test fails on a module it does not
//! know), which is the moment to decide where it stands.

#![cfg(not(loom))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "sync",
    "advice",
    "state",
    "clock",
    "recent",
    "lanes",
    "policy",
    "config",
    "outcome",
    "window",
    "backoff",
    "error",
    "name",
    "permit",
    "breaker",
    "call",
    "traceparent",
    "throttle",
];
const SEAM: &[&str] = &["events"];
const AROUND: &[&str] = &[
    "builder",
    "registry",
    "listener",
    "metrics",
    "shared",
    "keyed",
    "telemetry",
    "conventions",
];
const INTEGRATIONS: &[&str] = &[
    "tower",
    "reqwest",
    "grpc",
    "server_errors",
    "boundary",
    "admin",
];
// The behaviour tests (`src/tests`, compiled for tests only) use the crate as a user
// does: everything.
const GLUE: &[&str] = &["__private", "tests"];

fn floor(module: &str) -> Option<u8> {
    [CORE, SEAM, AROUND, INTEGRATIONS, GLUE]
        .iter()
        .position(|floor| floor.contains(&module))
        .map(|n| n as u8)
}

/// Whether code on `from`'s floor may import `to`.
fn allowed(from: &str, to: &str) -> bool {
    let (Some(a), Some(b)) = (floor(from), floor(to)) else {
        return false;
    };
    match a {
        0 => b <= 1,
        1 => true,
        _ => b <= a,
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source with comments and string and character literals blanked out (their lines
/// kept, so that line numbers hold, and nothing in them reads as a path).
fn code_only(text: &str) -> String {
    // What a blanked span leaves: its line breaks.
    let blank = |span: &str| "\n".repeat(span.matches('\n').count()) + " ";
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(b.len(), |e| i + e + 2);
            out.push_str(&blank(&text[i..end]));
            i = end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(b.len(), |e| start + e + close.len());
            out.push_str(&blank(&text[i..end]));
            i = end;
        } else if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push_str(&blank(&text[start..i]));
        } else if b[i] == b'\'' {
            // A character literal ('a', '\n', '\''), or a lifetime ('a), left as it is.
            let literal = if b.get(i + 1) == Some(&b'\\') {
                rest[2..].find('\'').map(|e| e + 3)
            } else {
                rest.chars()
                    .nth(1)
                    .filter(|c| rest[1 + c.len_utf8()..].starts_with('\''))
                    .map(|c| 2 + c.len_utf8())
            };
            match literal {
                Some(len) => {
                    out.push(' ');
                    i += len;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `code` (from [`code_only`]) with its inline test modules blanked, lines kept: a test
/// may use anything to observe the module it tests; the module's own code is what
/// stands on a floor.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(pos) = out[from..].find("#[cfg(") {
        let attr = from + pos;
        let Some(close) = out[attr..].find(")]") else {
            break;
        };
        let attr_end = attr + close + 2;
        from = attr_end;
        let is_test_module = out[attr..attr_end].contains("test")
            && out[attr_end..].trim_start().starts_with("mod ");
        let Some(open) = out[attr_end..].find(['{', ';']).map(|o| attr_end + o) else {
            break;
        };
        if !is_test_module || out.as_bytes()[open] != b'{' {
            continue; // not a test module, or one in a file of its own
        }
        let mut depth = 0;
        let mut end = out.len();
        for (i, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blank: String = out[attr..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(attr..end, &blank);
        from = end;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of every `crate::` (or `$crate::`) path, with the line it is on;
/// a `crate::{a, b::C}` group gives each of its items.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = code[at..].find("crate::") {
        let start = at + pos;
        at = start + "crate::".len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| is_ident(c) && c != '$') {
            continue; // `foo_crate::`, not a path from the crate root
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items at depth one of the group: each one's first segment.
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        push_first(&mut found, line, &item);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 {
                    item.push(c);
                }
            }
            push_first(&mut found, line, &item);
        } else {
            push_first(&mut found, line, rest);
        }
    }
    found
}

fn push_first(found: &mut Vec<(usize, String)>, line: usize, item: &str) {
    let first: String = item
        .trim_start()
        .chars()
        .take_while(|&c| is_ident(c))
        .collect();
    if !first.is_empty() && first != "self" {
        found.push((line, first));
    }
}

/// The crate's modules, and the module each name re-exported at the root comes from.
fn crate_root() -> (Vec<String>, BTreeMap<String, String>) {
    let lib = code_only(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut modules = Vec::new();
    let mut exports = BTreeMap::new();
    for statement in lib.split(';') {
        let words: Vec<&str> = statement.split_whitespace().collect();
        if let Some(i) = words.iter().position(|&w| w == "mod") {
            if let Some(name) = words.get(i + 1) {
                modules.push(name.trim().to_string());
            }
        }
        let Some(i) = words.iter().position(|&w| w == "use") else {
            continue;
        };
        if words.get(i.wrapping_sub(1)) != Some(&"pub") {
            continue;
        }
        let path: String = words[i + 1..].concat();
        let Some((module, names)) = path.split_once("::") else {
            continue;
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let name = name.rsplit("::").next().unwrap();
            exports.insert(name.to_string(), module.to_string());
        }
    }
    (modules, exports)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn every_import_points_down_a_floor() {
    let (modules, exports) = crate_root();
    let unplaced: Vec<&String> = modules.iter().filter(|m| floor(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules with no floor in tests/floors.rs: {unplaced:?}"
    );
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(src()).unwrap();
        let first = relative.components().next().unwrap();
        let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
        // A module's test file (`#[cfg(test)] mod tests;`) is tests, as an inline one is.
        let test_file = relative.components().count() > 1
            && relative.file_name().is_some_and(|f| f == "tests.rs");
        if module == "lib" || module == "attribute.md" || test_file {
            continue;
        }
        let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()));
        for (line, segment) in crate_paths(&code) {
            checked += 1;
            let target = if modules.contains(&segment) {
                segment.clone()
            } else if let Some(module) = exports.get(&segment) {
                module.clone()
            } else if segment == "circuit_breaker" {
                "__private".to_string() // the macro, re-exported from breaker-macros
            } else {
                wrong.push(format!(
                    "{}:{line}: crate::{segment} is neither a module nor a root re-export",
                    relative.display()
                ));
                continue;
            };
            if target != module && !allowed(module, &target) {
                wrong.push(format!(
                    "{}:{line}: `{module}` (floor {}) imports crate::{segment} from `{target}` (floor {})",
                    relative.display(),
                    floor(module).unwrap(),
                    floor(&target).unwrap(),
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} paths read: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_sees_paths_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{a::B, c, d::{E, F}};\n// crate::commented\nlet s = \"crate::quoted\";\nlet x: &'static str = crate::g::h(); let c = '\"'; crate::i;\n",
    );
    let segments: Vec<String> = crate_paths(&code).into_iter().map(|(_, s)| s).collect();
    assert_eq!(segments, ["a", "c", "d", "g", "i"]);
    assert!(allowed("breaker", "events") && allowed("breaker", "state"));
    assert!(!allowed("breaker", "listener") && !allowed("permit", "keyed"));
    assert!(allowed("events", "metrics") && allowed("keyed", "registry"));
    assert!(!allowed("registry", "tower") && allowed("__private", "keyed"));
}

#[test]
fn a_modules_tests_are_not_its_code() {
    let code = "use crate::a;\n#[cfg(all(test, not(loom)))]\nmod tests {\n    use crate::b;\n    fn f() { {} }\n}\n#[cfg(test)]\nmod more;\nuse crate::c;\n";
    let paths: Vec<String> = crate_paths(&without_tests(code))
        .into_iter()
        .map(|(line, segment)| format!("{line}:{segment}"))
        .collect();
    assert_eq!(paths, ["1:a", "9:c"]);
}
