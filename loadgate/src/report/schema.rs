//! JSON Schemas of the formats users touch, generated from the types that read and write
//! them: the spec format (editors complete `loadspec/*.toml` with it through taplo / Even Better
//! TOML's `#:schema` directive), `summary.json` and a distributed run's shard files. This
//! repository checks its copies in (`cargo xtask schemas` writes them, and a test of xtask fails
//! while they are stale); where they live is the repository's business, not the library's.

use crate::judge::verdict::GateResult;
use crate::shard_file::ShardFile;
use crate::spec::SpecFile;

/// The schema of a load spec, as pretty JSON with a final newline.
pub fn spec() -> String {
    render(schemars::schema_for!(SpecFile), "loadgate load spec")
}

/// The schema of `summary.json`, as pretty JSON with a final newline.
pub fn summary() -> String {
    render(schemars::schema_for!(GateResult), "loadgate summary.json")
}

/// The schema of a shard file (`OUT/shards/shard-I-of-N.json`), as pretty JSON with a final
/// newline.
pub fn shard() -> String {
    render(schemars::schema_for!(ShardFile), "loadgate shard file")
}

fn render(mut schema: schemars::Schema, title: &str) -> String {
    schema.insert("title".into(), title.into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema encodes as JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_schema_knows_every_table_and_rejects_unknown_keys() {
        let schema: serde_json::Value = serde_json::from_str(&spec()).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        for key in [
            "name", "seed", "service", "load", "defaults", "request", "on_start", "data", "gate",
            "sweep",
        ] {
            assert!(properties.contains_key(key), "{key}");
        }
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], serde_json::json!(["load"]));
    }
}
