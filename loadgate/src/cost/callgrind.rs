//! Callgrind's output file → the instructions it counted: the total, and each function's self and
//! inclusive cost. Reads the format as Callgrind writes it (name compression, relative
//! positions, call lines), of which only the first event (`Ir`, instructions executed) is kept.

use std::collections::HashMap;

/// One function's instructions in a dump.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCount {
    pub name: String,
    /// Executed in the function's own code.
    pub self_ir: u64,
    /// Its own code plus what the functions it called executed (a recursive call counted once).
    pub inclusive_ir: u64,
}

/// What one dump counted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dump {
    pub total_ir: u64,
    pub functions: Vec<FunctionCount>,
}

impl Dump {
    /// Adds another process's dump of the same moment (a service that forked workers).
    pub fn add(&mut self, other: Dump) {
        self.total_ir += other.total_ir;
        let mut by_name: HashMap<String, FunctionCount> = self
            .functions
            .drain(..)
            .map(|f| (f.name.clone(), f))
            .collect();
        for function in other.functions {
            let entry = by_name
                .entry(function.name.clone())
                .or_insert(FunctionCount {
                    name: function.name,
                    self_ir: 0,
                    inclusive_ir: 0,
                });
            entry.self_ir += function.self_ir;
            entry.inclusive_ir += function.inclusive_ir;
        }
        self.functions = by_name.into_values().collect();
        sort(&mut self.functions);
    }
}

/// Most self instructions first; ties by name, so the order repeats.
fn sort(functions: &mut [FunctionCount]) {
    functions.sort_by(|a, b| b.self_ir.cmp(&a.self_ir).then_with(|| a.name.cmp(&b.name)));
}

/// Why a file is not a Callgrind dump we can read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses the text of a Callgrind output file.
pub fn parse(text: &str) -> Result<Dump, ParseError> {
    let mut parser = Parser::default();
    for (idx, line) in text.lines().enumerate() {
        parser.line(line).map_err(|message| ParseError {
            line: idx + 1,
            message,
        })?;
    }
    parser.finish()
}

#[derive(Default)]
struct Parser {
    /// Position columns before the events on a cost line (`positions: instr line` has two).
    n_positions: Option<usize>,
    /// Compressed names: `(id) name` once, then `(id)` alone.
    names: HashMap<u64, String>,
    current: Option<String>,
    /// The next cost line is a call's inclusive cost, not the current function's own.
    call_pending: bool,
    /// Self cost, and inclusive cost of calls to other functions, by function name.
    self_ir: HashMap<String, u64>,
    called_ir: HashMap<String, u64>,
    /// `summary:` or `totals:`; else the sum of self costs.
    total: Option<u64>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some((key, value)) = line.split_once('=') {
            return self.spec_line(key, value);
        }
        if let Some((key, value)) = line.split_once(':')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
        {
            return self.header(key, value.trim());
        }
        self.cost_line(line)
    }

    fn header(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "positions" => self.n_positions = Some(value.split_whitespace().count().max(1)),
            "events" if value.split_whitespace().next() != Some("Ir") => {
                return Err(format!("the first event is `{value}`, not Ir"));
            }
            // `summary:` is the dump's; `totals:` may add what the dump itself cost.
            "summary" | "totals" => {
                let first = value.split_whitespace().next().unwrap_or("0");
                let total = first.parse().map_err(|_| format!("`{key}: {value}`"))?;
                if key == "summary" || self.total.is_none() {
                    self.total = Some(total);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn spec_line(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "fn" => {
                self.current = Some(self.name(value)?);
                self.call_pending = false;
            }
            // The callee's name may be defined here; the call's cost goes to the caller.
            "cfn" => {
                self.name(value)?;
            }
            "calls" => self.call_pending = true,
            // Files, objects and jumps (--collect-jumps) carry no instructions.
            _ => {}
        }
        Ok(())
    }

    /// `(id) name` defines a compressed name, `(id)` uses it, and a bare name is itself.
    fn name(&mut self, value: &str) -> Result<String, String> {
        let value = value.trim();
        let Some(rest) = value.strip_prefix('(') else {
            return Ok(normalize(value));
        };
        let (id, name) = rest
            .split_once(')')
            .ok_or_else(|| format!("unclosed name id in `{value}`"))?;
        let id: u64 = id
            .parse()
            .map_err(|_| format!("bad name id in `{value}`"))?;
        let name = name.trim();
        if name.is_empty() {
            return self
                .names
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("name id ({id}) used before it was defined"));
        }
        let name = normalize(name);
        self.names.insert(id, name.clone());
        Ok(name)
    }

    fn cost_line(&mut self, line: &str) -> Result<(), String> {
        let n_positions = self.n_positions.unwrap_or(1);
        let mut fields = line.split_whitespace();
        for _ in 0..n_positions {
            let position = fields.next().unwrap_or("");
            if !is_position(position) {
                return Err(format!("`{line}` is not a cost line"));
            }
        }
        let ir: u64 = match fields.next() {
            None => 0,
            Some(field) => field.parse().map_err(|_| format!("`{line}`: bad count"))?,
        };
        let Some(function) = &self.current else {
            return Err("a cost line before any fn=".to_owned());
        };
        let into = if std::mem::take(&mut self.call_pending) {
            &mut self.called_ir
        } else {
            &mut self.self_ir
        };
        *into.entry(function.clone()).or_default() += ir;
        Ok(())
    }

    fn finish(self) -> Result<Dump, ParseError> {
        let mut functions: Vec<FunctionCount> = self
            .self_ir
            .iter()
            .chain(
                self.called_ir
                    .iter()
                    .filter(|(f, _)| !self.self_ir.contains_key(*f)),
            )
            .map(|(name, _)| FunctionCount {
                name: name.clone(),
                self_ir: self.self_ir.get(name).copied().unwrap_or(0),
                inclusive_ir: self.self_ir.get(name).copied().unwrap_or(0)
                    + self.called_ir.get(name).copied().unwrap_or(0),
            })
            .collect();
        sort(&mut functions);
        let total_ir = self
            .total
            .unwrap_or_else(|| self.self_ir.values().sum::<u64>());
        Ok(Dump {
            total_ir,
            functions,
        })
    }
}

/// A position: a number, `+N`/`-N` relative to the last, `*` the same, or hex (`0x…`).
fn is_position(field: &str) -> bool {
    let digits = field
        .strip_prefix(['+', '-'])
        .unwrap_or(field)
        .trim_start_matches("0x");
    field == "*" || (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A function's name as it reads in every build: Rust's legacy symbol hash (`::h` and 16 hex
/// digits) changes whenever the code does, so it is dropped; a trailing `'2` (Callgrind's
/// recursion level) too, so a function's levels add up.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    let name = match name.rsplit_once('\'') {
        Some((base, level)) if !level.is_empty() && level.chars().all(|c| c.is_ascii_digit()) => {
            base
        }
        _ => name,
    };
    let name = match name.rfind("::h") {
        Some(at)
            if name.len() - at == 3 + 16
                && name[at + 3..].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            &name[..at]
        }
        _ => name,
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  ./service --port 1
part: 2

desc: I1 cache:
desc: Trigger: Client Request: batch

positions: line
events: Ir
summary: 1000

ob=(1) /bin/service
fl=(1) src/main.rs
fn=(1) service::handler::h0123456789abcdef
10 100
+2 50
cfl=(1)
cfn=(2) service::work
calls=3 20
12 600
fn=(2)
20 590
* 10
fn=(3) std::rt::main
cfn=(1)
calls=1 10
1 750
totals: 1000
";

    #[test]
    fn self_and_inclusive_instructions_per_function() {
        let dump = parse(DUMP).unwrap();
        assert_eq!(dump.total_ir, 1000);
        let rows: Vec<(&str, u64, u64)> = dump
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.self_ir, f.inclusive_ir))
            .collect();
        assert_eq!(
            rows,
            [
                ("service::work", 600, 600),
                ("service::handler", 150, 750),
                ("std::rt::main", 0, 750),
            ]
        );
    }

    #[test]
    fn two_columns_of_positions_and_hex_addresses() {
        let text = "positions: instr line\nevents: Ir Dr\nfn=f\n0x4000 3 7 1\n+4 * 3 0\n";
        let dump = parse(text).unwrap();
        assert_eq!(dump.total_ir, 10);
        assert_eq!(dump.functions[0].self_ir, 10);
    }

    #[test]
    fn broken_files_are_refused_with_their_line() {
        for (text, line, part) in [
            ("events: Dr\n", 1, "not Ir"),
            ("events: Ir\n10 5\n", 2, "before any fn"),
            ("events: Ir\nfn=(9)\n", 2, "before it was defined"),
            ("events: Ir\nfn=f\n10 x\n", 3, "bad count"),
            ("events: Ir\nfn=f\nhello world\n", 3, "not a cost line"),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(part), "{text:?}: {err}");
        }
    }

    #[test]
    fn dumps_of_several_processes_add_up_by_function() {
        let mut a = parse(DUMP).unwrap();
        a.add(parse(DUMP).unwrap());
        assert_eq!(a.total_ir, 2000);
        assert_eq!(a.functions[0].name, "service::work");
        assert_eq!(a.functions[0].self_ir, 1200);
    }

    #[test]
    fn rust_symbol_hashes_are_dropped() {
        assert_eq!(normalize("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(normalize("a::b::hello"), "a::b::hello");
        assert_eq!(normalize("main"), "main");
        assert_eq!(normalize("<F as Future>::poll'2"), "<F as Future>::poll");
    }
}
