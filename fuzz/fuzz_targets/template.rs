//! Any text as a template, in both contexts: parsing gives a template or an error, and
//! rendering a parsed template never panics.
#![no_main]

use std::sync::atomic::AtomicU64;

use libfuzzer_sys::fuzz_target;
use loadgate::testing::shard::ShardOf;
use loadgate::testing::template::{Escape, Names, RenderContext, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let columns = ["text".to_owned(), "id".to_owned()];
    let captures = ["token".to_owned()];
    let names = Names {
        env: &|name| (name == "TOKEN").then(|| "s\"e\\cret".to_owned()),
        columns: &columns,
        captures: &captures,
        captured_before: None,
    };
    for escape in [Escape::None, Escape::JsonString] {
        let Ok(template) = Template::parse(text, escape, &names) else {
            continue;
        };
        let seq = AtomicU64::new(0);
        let mut rng = fastrand_seeded();
        let row = ["a \"row\"\n".to_owned(), "7".to_owned()];
        let vars = ["t0k".to_owned()];
        let mut out = String::new();
        template.render(
            &mut RenderContext {
                seq: &seq,
                shard: ShardOf::WHOLE,
                user_id: 1,
                rng: &mut rng,
                row: &row,
                user_vars: &vars,
            },
            &mut out,
        );
    }
});

fn fastrand_seeded() -> loadgate::testing::template::Rng {
    loadgate::testing::template::Rng::with_seed(1)
}
