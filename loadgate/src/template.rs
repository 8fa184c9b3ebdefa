//! Templated request data: `${seq}`, `${user.id}`, `${random.int(a, b)}`, `${env.NAME}`.
//!
//! A template is parsed once while planning into literal and dynamic parts; rendering on the hot
//! path only appends to a reused buffer. `${env.NAME}` is resolved at parse time (the environment
//! does not change during a run), so a missing variable is an error before any load is sent.
//! `$${` writes a literal `${`. In a JSON body, a string that is exactly one numeric template
//! (`"${random.int(1, 9)}"`, `"${seq}"`, `"${user.id}"`) is sent as a JSON number.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
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
}

/// How values substituted from outside (the environment) are written into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    None,
    /// Inside a JSON string: quotes, backslashes and control characters are escaped.
    JsonString,
}

/// What a render needs from the running user.
pub struct RenderContext<'a> {
    pub seq: &'a AtomicU64,
    pub user_id: u32,
    pub rng: &'a mut fastrand::Rng,
}

impl Template {
    /// Parses `text`; `env` looks up `${env.NAME}`.
    pub fn parse(
        text: &str,
        escape: Escape,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar..];
            if let Some(escaped) = after.strip_prefix("$${") {
                literal.push_str("${");
                rest = escaped;
            } else if let Some(open) = after.strip_prefix("${") {
                let close = open
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
                let expression = open[..close].trim();
                match parse_expression(expression)? {
                    Expression::Env(name) => {
                        let value =
                            env(name).ok_or_else(|| format!("environment variable `{name}` is not set (used as `${{env.{name}}}`)"))?;
                        push_escaped(&mut literal, &value, escape);
                    }
                    Expression::Dynamic(part) => {
                        let after_close = &open[close + 1..];
                        if escape == Escape::JsonString
                            && is_whole_json_string(&literal, after_close)
                        {
                            // `"${seq}"` becomes the bare number: drop both quotes.
                            literal.pop();
                            rest = &after_close[1..];
                            if !literal.is_empty() {
                                parts.push(Part::Literal(std::mem::take(&mut literal)));
                            }
                            parts.push(part);
                            continue;
                        }
                        if !literal.is_empty() {
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(part);
                    }
                }
                rest = &open[close + 1..];
            } else {
                literal.push('$');
                rest = &after[1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// The text when the template has no dynamic part.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
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
                Part::Seq => write!(out, "{}", ctx.seq.fetch_add(1, Ordering::Relaxed) + 1),
                Part::UserId => write!(out, "{}", ctx.user_id),
                Part::RandomInt { low, high } => write!(out, "{}", ctx.rng.i64(*low..=*high)),
            };
        }
    }
}

enum Expression<'a> {
    Env(&'a str),
    Dynamic(Part),
}

fn parse_expression(expression: &str) -> Result<Expression<'_>, String> {
    const KNOWN: &str = "known: ${seq}, ${user.id}, ${random.int(a, b)}, ${env.NAME}";
    if expression == "seq" {
        return Ok(Expression::Dynamic(Part::Seq));
    }
    if expression == "user.id" {
        return Ok(Expression::Dynamic(Part::UserId));
    }
    if let Some(name) = expression.strip_prefix("env.") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{expression}}}`: `{name}` is not an environment variable name"
            ));
        }
        return Ok(Expression::Env(name));
    }
    if let Some(args) = expression
        .strip_prefix("random.int(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let bounds: Vec<Option<i64>> = args.split(',').map(|a| a.trim().parse().ok()).collect();
        return match bounds.as_slice() {
            [Some(low), Some(high)] if low <= high => Ok(Expression::Dynamic(Part::RandomInt {
                low: *low,
                high: *high,
            })),
            _ => Err(format!(
                "`${{{expression}}}`: random.int takes two integers, the first not larger than the second"
            )),
        };
    }
    Err(format!("unknown template `${{{expression}}}` ({KNOWN})"))
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
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn render(
        template: &Template,
        user_id: u32,
        seq: &AtomicU64,
        rng: &mut fastrand::Rng,
    ) -> String {
        let mut out = String::new();
        template.render(&mut RenderContext { seq, user_id, rng }, &mut out);
        out
    }

    #[test]
    fn literal_text_is_static() {
        let template = Template::parse("/orders?x=1$", Escape::None, &no_env).unwrap();
        assert_eq!(template.as_static(), Some("/orders?x=1$"));
        assert_eq!(
            Template::parse("", Escape::None, &no_env)
                .unwrap()
                .as_static(),
            Some("")
        );
    }

    #[test]
    fn dynamic_parts_render_per_call() {
        let template = Template::parse(
            "/u/${user.id}/n/${seq}/r/${random.int(5, 5)}",
            Escape::None,
            &no_env,
        )
        .unwrap();
        assert_eq!(template.as_static(), None);
        let seq = AtomicU64::new(0);
        let mut rng = fastrand::Rng::with_seed(7);
        assert_eq!(render(&template, 3, &seq, &mut rng), "/u/3/n/1/r/5");
        assert_eq!(render(&template, 4, &seq, &mut rng), "/u/4/n/2/r/5");
    }

    #[test]
    fn random_ints_stay_in_bounds_and_repeat_with_the_seed() {
        let template = Template::parse("${random.int(-2, 3)}", Escape::None, &no_env).unwrap();
        let seq = AtomicU64::new(0);
        let draw = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| render(&template, 1, &seq, &mut rng).parse::<i64>().unwrap())
                .collect::<Vec<_>>()
        };
        let first = draw(42);
        assert!(first.iter().all(|n| (-2..=3).contains(n)));
        assert_eq!(first, draw(42));
    }

    #[test]
    fn env_values_are_resolved_once_and_escaped_for_json() {
        let env = |name: &str| (name == "TOKEN").then(|| "a\"b".to_owned());
        let template =
            Template::parse(r#"{"t":"${env.TOKEN}"}"#, Escape::JsonString, &env).unwrap();
        assert_eq!(template.as_static(), Some(r#"{"t":"a\"b"}"#));
        let err = Template::parse("${env.MISSING}", Escape::None, &env).unwrap_err();
        assert!(err.contains("`MISSING` is not set"), "{err}");
    }

    #[test]
    fn a_json_string_holding_only_a_numeric_template_becomes_a_number() {
        let template = Template::parse(
            r#"{"n":"${random.int(7, 7)}","id":"a-${seq}","q":"\"${user.id}\""}"#,
            Escape::JsonString,
            &no_env,
        )
        .unwrap();
        let seq = AtomicU64::new(0);
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            render(&template, 2, &seq, &mut rng),
            r#"{"n":7,"id":"a-1","q":"\"2\""}"#
        );
        // Outside JSON the quotes are text like any other.
        let plain = Template::parse(r#""${seq}""#, Escape::None, &no_env).unwrap();
        assert_eq!(render(&plain, 1, &seq, &mut rng), r#""2""#);
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("${nope}", "unknown template `${nope}`"),
            ("${seq", "unclosed"),
            ("${random.int(5, 1)}", "random.int takes two integers"),
            ("${env.A-B}", "not an environment variable name"),
        ];
        for (text, expected) in cases {
            let err = Template::parse(text, Escape::None, &no_env).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert_eq!(
            Template::parse("$${seq}", Escape::None, &no_env)
                .unwrap()
                .as_static(),
            Some("${seq}")
        );
    }
}
