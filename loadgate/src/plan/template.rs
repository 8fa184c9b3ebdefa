//! Templated request data: `${seq}`, `${user.id}`, `${random.int(a, b)}`, `${random.choice([…])}`,
//! `${random.string(n)}`, `${uuid}`, `${row.COLUMN}`, `${user.NAME}`, `${env.NAME}`.
//!
//! A template is parsed once while planning into literal and dynamic parts; rendering on the hot
//! path only appends to a reused buffer. `${env.NAME}` is resolved at parse time (the environment
//! does not change during a run), so a missing variable is an error before any load is sent, and
//! the value is remembered as a secret to redact from every output. `$${` writes a literal `${`.
//! In a JSON body, dynamic text is escaped as a JSON string, and a string that is exactly one
//! numeric template (`"${random.int(1, 9)}"`, `"${seq}"`, `"${user.id}"`) is sent as a number.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::plan::shard::ShardOf;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    escape: Escape,
    /// Values taken from the environment: secrets, never written to a report.
    secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// A counter shared by all users of one run, starting at 1.
    Seq,
    /// The 1-based index of the virtual user sending the request.
    UserId,
    /// A uniform integer in `low..=high`.
    RandomInt {
        low: i64,
        high: i64,
    },
    /// One of these texts, uniformly; already escaped for the template's context.
    RandomChoice {
        choices: Vec<String>,
        numeric: bool,
    },
    /// `len` random ASCII letters and digits.
    RandomString(usize),
    /// A random (version 4) UUID from the seeded stream.
    Uuid,
    /// A column of the data file's current row.
    Row(usize),
    /// A value the user captured from an earlier answer.
    UserVar(usize),
}

impl Part {
    /// Whether the part always renders as a number (so a JSON string of it alone becomes one).
    fn is_numeric(&self) -> bool {
        match self {
            Part::Seq | Part::UserId | Part::RandomInt { .. } => true,
            Part::RandomChoice { numeric, .. } => *numeric,
            _ => false,
        }
    }
}

/// How substituted text is written into the template's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    None,
    /// Inside a JSON string: quotes, backslashes and control characters are escaped.
    JsonString,
}

/// What a template may name, known while planning.
pub struct Names<'a> {
    /// Looks up `${env.NAME}`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The data file's columns, for `${row.COLUMN}`.
    pub columns: &'a [String],
    /// The values requests capture, for `${user.NAME}`.
    pub captures: &'a [String],
    /// In a flow's step: the captures it may use, those of `[[on_start]]` and of the earlier
    /// steps; `None` elsewhere (any capture of the spec).
    pub captured_before: Option<&'a [String]>,
}

/// What a render needs from the running user.
pub struct RenderContext<'a> {
    /// This process's count of `${seq}` values so far.
    pub seq: &'a AtomicU64,
    /// Which values of `${seq}` are this process's: all of them unless the run is sharded.
    pub shard: ShardOf,
    pub user_id: u32,
    pub rng: &'a mut fastrand::Rng,
    /// The data file's row picked for this request; empty without a data file.
    pub row: &'a [String],
    /// The user's captured values, by capture index; empty when nothing was captured yet.
    pub user_vars: &'a [String],
}

/// The longest `${random.string(n)}`.
const MAX_RANDOM_STRING: usize = 1 << 20;

impl Template {
    /// Parses `text`, written in the context `escape`.
    pub fn parse(text: &str, escape: Escape, names: &Names<'_>) -> Result<Template, String> {
        let mut template = Template {
            parts: Vec::new(),
            escape,
            secrets: Vec::new(),
        };
        let mut literal = String::new();
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar..];
            if let Some(escaped) = after.strip_prefix("$${") {
                literal.push_str("${");
                rest = escaped;
                continue;
            }
            let Some(open) = after.strip_prefix("${") else {
                literal.push('$');
                rest = &after[1..];
                continue;
            };
            let close = open
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let written = open[..close].trim();
            // In a JSON body the expression went through JSON's string escaping too.
            let expression = match escape {
                Escape::None => written.to_owned(),
                Escape::JsonString => serde_json::from_str::<String>(&format!("\"{written}\""))
                    .unwrap_or_else(|_| written.to_owned()),
            };
            rest = &open[close + 1..];
            match parse_expression(&expression, escape, names)? {
                Expression::Env(value) => {
                    push_escaped(&mut literal, &value, escape);
                    template.secrets.push(value);
                }
                Expression::Text(text) => push_escaped(&mut literal, &text, escape),
                Expression::Dynamic(part) => {
                    if escape == Escape::JsonString
                        && part.is_numeric()
                        && is_whole_json_string(&literal, rest)
                    {
                        // `"${seq}"` becomes the bare number: drop both quotes.
                        literal.pop();
                        rest = &rest[1..];
                    }
                    if !literal.is_empty() {
                        template
                            .parts
                            .push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    template.parts.push(part);
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || template.parts.is_empty() {
            template.parts.push(Part::Literal(literal));
        }
        Ok(template)
    }

    /// The text when the template has no dynamic part.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether rendering needs a row of the data file.
    pub fn uses_row(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Row(_)))
    }

    /// The capture slots the template reads (`${user.NAME}`).
    pub fn user_vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::UserVar(slot) => Some(*slot),
            _ => None,
        })
    }

    /// The environment's values written into the template.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Appends the rendered text to `out`.
    pub fn render(&self, ctx: &mut RenderContext<'_>, out: &mut String) {
        for part in &self.parts {
            // Writing into a String cannot fail.
            let _ = match part {
                Part::Literal(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Part::Seq => {
                    let local = ctx.seq.fetch_add(1, Ordering::Relaxed);
                    write!(out, "{}", ctx.shard.seq_value(local))
                }
                Part::UserId => write!(out, "{}", ctx.user_id),
                Part::RandomInt { low, high } => write!(out, "{}", ctx.rng.i64(*low..=*high)),
                Part::RandomChoice { choices, .. } => {
                    out.push_str(&choices[ctx.rng.usize(..choices.len())]);
                    Ok(())
                }
                Part::RandomString(len) => {
                    out.extend((0..*len).map(|_| ctx.rng.alphanumeric()));
                    Ok(())
                }
                Part::Uuid => {
                    // Version 4, variant 1: the bits RFC 9562 fixes, the rest random.
                    let bits = (ctx.rng.u128(..) & !(0xF000 << 64) | (0x4000 << 64)) & !(0xC << 60)
                        | (0x8 << 60);
                    push_uuid(out, bits);
                    Ok(())
                }
                Part::Row(column) => {
                    push_escaped(
                        out,
                        ctx.row.get(*column).map_or("", String::as_str),
                        self.escape,
                    );
                    Ok(())
                }
                Part::UserVar(slot) => {
                    let value = ctx.user_vars.get(*slot).map_or("", String::as_str);
                    push_escaped(out, value, self.escape);
                    Ok(())
                }
            };
        }
    }
}

enum Expression {
    /// `${env.NAME}`, resolved: its value.
    Env(String),
    /// `${env.NAME:-default}` with `NAME` unset: the default, written in the spec, no secret.
    Text(String),
    Dynamic(Part),
}

/// One `${…}` expression, by its prefix family.
fn parse_expression(
    expression: &str,
    escape: Escape,
    names: &Names<'_>,
) -> Result<Expression, String> {
    const KNOWN: &str = "known: ${seq}, ${uuid}, ${user.id}, ${user.NAME}, ${row.COLUMN}, \
                         ${random.int(a, b)}, ${random.choice([…])}, ${random.string(n)}, \
                         ${env.NAME}, ${env.NAME:-default}";
    if let Some(reference) = expression.strip_prefix("env.") {
        return parse_env(expression, reference, names);
    }
    let fixed = match expression {
        "seq" => Some(Part::Seq),
        "uuid" => Some(Part::Uuid),
        "user.id" => Some(Part::UserId),
        _ => None,
    };
    let part = if let Some(part) = fixed {
        Ok(part)
    } else if let Some(column) = expression.strip_prefix("row.") {
        parse_row(expression, column, names)
    } else if let Some(name) = expression.strip_prefix("user.") {
        parse_user_var(expression, name, names)
    } else if let Some(random) = parse_random(expression, escape) {
        random
    } else {
        Err(format!("unknown template `${{{expression}}}` ({KNOWN})"))
    };
    part.map(Expression::Dynamic)
}

/// `${env.NAME}` or `${env.NAME:-default}`: the environment's value now, else the default.
fn parse_env(expression: &str, reference: &str, names: &Names<'_>) -> Result<Expression, String> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`${{{expression}}}`: `{name}` is not an environment variable name"
        ));
    }
    match ((names.env)(name), default) {
        (Some(value), _) => Ok(Expression::Env(value)),
        (None, Some(default)) => Ok(Expression::Text(default.to_owned())),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set (used as `${{env.{name}}}`)"
        )),
    }
}

/// `${row.COLUMN}`: a column of the data file.
fn parse_row(expression: &str, column: &str, names: &Names<'_>) -> Result<Part, String> {
    match names.columns.iter().position(|c| c == column) {
        Some(index) => Ok(Part::Row(index)),
        None if names.columns.is_empty() => Err(format!(
            "`${{{expression}}}` needs a data file: add `data = {{ file = \"…\" }}` to the spec"
        )),
        None => Err(format!(
            "`${{{expression}}}`: the data file has no column `{column}` (it has: {})",
            names.columns.join(", ")
        )),
    }
}

/// `${user.NAME}`: a value a request captures.
fn parse_user_var(expression: &str, name: &str, names: &Names<'_>) -> Result<Part, String> {
    match names.captures.iter().position(|c| c == name) {
        Some(_)
            if names
                .captured_before
                .is_some_and(|before| !before.iter().any(|c| c == name)) =>
        {
            Err(format!(
                "`${{{expression}}}` is used before any step captures `{name}` (capture it in an earlier step of this flow or in an `[[on_start]]`)"
            ))
        }
        Some(index) => Ok(Part::UserVar(index)),
        None => Err(format!(
            "`${{{expression}}}`: no request captures `{name}` (add `capture = {{ {name} = \"json:$.…\" }}` to an `[[on_start]]` or `[[request]]`)"
        )),
    }
}

/// `${random.int(a, b)}`, `${random.choice([…])}` or `${random.string(n)}`; `None` for any
/// other expression.
fn parse_random(expression: &str, escape: Escape) -> Option<Result<Part, String>> {
    if let Some(args) = call_args(expression, "random.int") {
        let bounds: Vec<Option<i64>> = args.split(',').map(|a| a.trim().parse().ok()).collect();
        return Some(match bounds.as_slice() {
            [Some(low), Some(high)] if low <= high => Ok(Part::RandomInt {
                low: *low,
                high: *high,
            }),
            _ => Err(format!(
                "`${{{expression}}}`: random.int takes two integers, the first not larger than the second"
            )),
        });
    }
    if let Some(args) = call_args(expression, "random.choice") {
        return Some(parse_random_choice(expression, args, escape));
    }
    let args = call_args(expression, "random.string")?;
    Some(match args.trim().parse::<usize>() {
        Ok(len) if (1..=MAX_RANDOM_STRING).contains(&len) => Ok(Part::RandomString(len)),
        _ => Err(format!(
            "`${{{expression}}}`: random.string takes a length from 1 to {MAX_RANDOM_STRING}"
        )),
    })
}

/// `${random.choice([…])}`: strings or numbers, escaped now for the template's context; a
/// choice of numbers only is numeric.
fn parse_random_choice(expression: &str, args: &str, escape: Escape) -> Result<Part, String> {
    let invalid = || {
        format!(
            "`${{{expression}}}`: random.choice takes a non-empty list of strings or numbers, like [\"a\", \"b\"]"
        )
    };
    let values: Vec<serde_json::Value> = serde_json::from_str(args).map_err(|_| invalid())?;
    if values.is_empty() {
        return Err(invalid());
    }
    let numeric = values.iter().all(serde_json::Value::is_number);
    let choices = values
        .iter()
        .map(|value| {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
                _ => return Err(invalid()),
            };
            let mut escaped = String::new();
            push_escaped(&mut escaped, &text, escape);
            Ok(escaped)
        })
        .collect::<Result<_, _>>()?;
    Ok(Part::RandomChoice { choices, numeric })
}

/// The 8-4-4-4-12 hex form, written without an intermediate string.
fn push_uuid(out: &mut String, bits: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for digit in 0..32 {
        if matches!(digit, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        let nibble = (bits >> (124 - 4 * digit)) & 0xF;
        out.push(char::from(HEX[nibble as usize]));
    }
}

/// `name(args)` → `args`.
fn call_args<'e>(expression: &'e str, name: &str) -> Option<&'e str> {
    expression
        .strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// In JSON text, whether a template sits alone between the quotes of a string: the quote before
/// it is not escaped (an even number of backslashes precedes it) and a quote follows it.
fn is_whole_json_string(before: &str, after: &str) -> bool {
    let Some(without_quote) = before.strip_suffix('"') else {
        return false;
    };
    let backslashes = without_quote
        .chars()
        .rev()
        .take_while(|c| *c == '\\')
        .count();
    backslashes % 2 == 0 && after.starts_with('"')
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::JsonString => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{:04x}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const NO_NAMES: Names<'static> = Names {
        env: &no_env,
        columns: &[],
        captures: &[],
        captured_before: None,
    };

    fn parse(text: &str) -> Template {
        Template::parse(text, Escape::None, &NO_NAMES).unwrap()
    }

    fn render_with(
        template: &Template,
        user_id: u32,
        seq: &AtomicU64,
        rng: &mut fastrand::Rng,
    ) -> String {
        let mut out = String::new();
        template.render(
            &mut RenderContext {
                seq,
                shard: ShardOf::WHOLE,
                user_id,
                rng,
                row: &[],
                user_vars: &[],
            },
            &mut out,
        );
        out
    }

    fn render(template: &Template) -> String {
        render_with(
            template,
            1,
            &AtomicU64::new(0),
            &mut fastrand::Rng::with_seed(1),
        )
    }

    #[test]
    fn literal_text_is_static() {
        assert_eq!(parse("/orders?x=1$").as_static(), Some("/orders?x=1$"));
        assert_eq!(parse("").as_static(), Some(""));
        assert_eq!(parse("$${seq}").as_static(), Some("${seq}"));
    }

    #[test]
    fn dynamic_parts_render_per_call() {
        let template = parse("/u/${user.id}/n/${seq}/r/${random.int(5, 5)}");
        assert_eq!(template.as_static(), None);
        let seq = AtomicU64::new(0);
        let mut rng = fastrand::Rng::with_seed(7);
        assert_eq!(render_with(&template, 3, &seq, &mut rng), "/u/3/n/1/r/5");
        assert_eq!(render_with(&template, 4, &seq, &mut rng), "/u/4/n/2/r/5");
    }

    #[test]
    fn random_values_stay_in_bounds_and_repeat_with_the_seed() {
        let template = parse(
            "${random.int(-2, 3)} ${random.choice([\"a\", \"b\"])} ${random.string(6)} ${uuid}",
        );
        let draw = |seed| {
            let seq = AtomicU64::new(0);
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| render_with(&template, 1, &seq, &mut rng))
                .collect::<Vec<_>>()
        };
        let first = draw(42);
        for line in &first {
            let fields: Vec<&str> = line.split(' ').collect();
            assert!(
                (-2..=3).contains(&fields[0].parse::<i64>().unwrap()),
                "{line}"
            );
            assert!(["a", "b"].contains(&fields[1]), "{line}");
            assert!(fields[2].len() == 6 && fields[2].chars().all(|c| c.is_ascii_alphanumeric()));
            let uuid = fields[3];
            let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
            assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
            assert!("89ab".contains(&uuid[19..20]), "variant 1: {uuid}");
        }
        assert_eq!(first, draw(42));
        assert_ne!(first, draw(43));
    }

    #[test]
    fn env_values_are_resolved_once_escaped_for_json_and_kept_as_secrets() {
        let env = |name: &str| (name == "TOKEN").then(|| "a\"b".to_owned());
        let names = Names {
            env: &env,
            ..NO_NAMES
        };
        let template =
            Template::parse(r#"{"t":"${env.TOKEN}"}"#, Escape::JsonString, &names).unwrap();
        assert_eq!(template.as_static(), Some(r#"{"t":"a\"b"}"#));
        assert_eq!(template.secrets(), ["a\"b"]);
        let err = Template::parse("${env.MISSING}", Escape::None, &names).unwrap_err();
        assert!(err.contains("`MISSING` is not set"), "{err}");
        // A default is the spec's own text, not a secret.
        let defaulted = Template::parse("k=${env.MISSING:-demo}", Escape::None, &names).unwrap();
        assert_eq!(
            (defaulted.as_static(), defaulted.secrets().len()),
            (Some("k=demo"), 0)
        );
        let set = Template::parse("${env.TOKEN:-demo}", Escape::None, &names).unwrap();
        assert_eq!(set.as_static(), Some("a\"b"));
    }

    #[test]
    fn json_bodies_get_numbers_for_numeric_templates_and_escaped_text_for_the_rest() {
        let columns = ["text".to_owned()];
        let names = Names {
            columns: &columns,
            ..NO_NAMES
        };
        // As `json = { … }` arrives: already JSON-encoded, expressions included.
        let body = serde_json::json!({
            "n": "${random.int(7, 7)}",
            "c": "${random.choice([1, 1])}",
            "s": "${random.choice([\"x\"])}",
            "id": "a-${seq}",
            "text": "${row.text}",
        })
        .to_string();
        let template = Template::parse(&body, Escape::JsonString, &names).unwrap();
        let mut out = String::new();
        let row = ["say \"hi\"\n".to_owned()];
        template.render(
            &mut RenderContext {
                seq: &AtomicU64::new(0),
                shard: ShardOf::WHOLE,
                user_id: 1,
                rng: &mut fastrand::Rng::with_seed(1),
                row: &row,
                user_vars: &[],
            },
            &mut out,
        );
        let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"n": 7, "c": 1, "s": "x", "id": "a-1", "text": "say \"hi\"\n"})
        );
        // Outside JSON the quotes are text like any other.
        assert_eq!(render(&parse(r#""${seq}""#)), r#""1""#);
    }

    #[test]
    fn rows_and_captured_values_render_from_the_context() {
        let columns = ["a".to_owned(), "b".to_owned()];
        let captures = ["token".to_owned()];
        let names = Names {
            env: &no_env,
            columns: &columns,
            captures: &captures,
            captured_before: None,
        };
        let template = Template::parse("${row.b}/${user.token}", Escape::None, &names).unwrap();
        assert_eq!(template.user_vars().collect::<Vec<_>>(), [0]);
        let too_early = Names {
            captured_before: Some(&[]),
            ..names
        };
        let err = Template::parse("${user.token}", Escape::None, &too_early).unwrap_err();
        assert!(
            err.contains("used before any step captures `token`"),
            "{err}"
        );
        assert!(template.uses_row());
        let mut out = String::new();
        template.render(
            &mut RenderContext {
                seq: &AtomicU64::new(0),
                shard: ShardOf::WHOLE,
                user_id: 1,
                rng: &mut fastrand::Rng::with_seed(1),
                row: &["1".to_owned(), "2".to_owned()],
                user_vars: &["t0k".to_owned()],
            },
            &mut out,
        );
        assert_eq!(out, "2/t0k");
        assert!(!parse("${seq}").uses_row());
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("${nope}", "unknown template `${nope}`"),
            ("${seq", "unclosed"),
            ("${random.int(5, 1)}", "random.int takes two integers"),
            (
                "${random.choice([])}",
                "random.choice takes a non-empty list",
            ),
            (
                "${random.choice([null])}",
                "random.choice takes a non-empty list",
            ),
            ("${random.string(0)}", "random.string takes a length"),
            ("${env.A-B}", "not an environment variable name"),
            ("${row.text}", "needs a data file"),
            ("${user.token}", "no request captures `token`"),
        ];
        for (text, expected) in cases {
            let err = Template::parse(text, Escape::None, &NO_NAMES).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let columns = ["a".to_owned()];
        let names = Names {
            columns: &columns,
            ..NO_NAMES
        };
        let err = Template::parse("${row.b}", Escape::None, &names).unwrap_err();
        assert!(err.contains("no column `b` (it has: a)"), "{err}");
    }
}
