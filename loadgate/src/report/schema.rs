//! JSON Schemas of the formats users touch, generated from the types that read and write
//! them: the spec format (editors complete `loadspec/*.toml` with it through taplo / Even Better
//! TOML's `#:schema` directive), `summary.json` and a distributed run's shard files. All are
//! checked in; a test fails when a type changed without `cargo xtask schemas`.

use crate::judge::verdict::GateResult;
use crate::shard_file::ShardFile;
use crate::spec::SpecFile;

/// Where the checked-in schemas live, relative to the project root.
pub const SPEC_SCHEMA_FILE: &str = "loadspec/spec.schema.json";
pub const SUMMARY_SCHEMA_FILE: &str = "docs/summary.schema.json";
pub const SHARD_SCHEMA_FILE: &str = "docs/shard.schema.json";

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

/// Every checked-in schema: its file under the project root and its text.
fn checked_in_schemas() -> [(&'static str, String); 3] {
    [
        (SPEC_SCHEMA_FILE, spec()),
        (SUMMARY_SCHEMA_FILE, summary()),
        (SHARD_SCHEMA_FILE, shard()),
    ]
}

/// Writes the checked-in schemas under `root` (a test fails while they are stale) and names
/// the files written.
pub fn write_checked_in(root: &std::path::Path) -> anyhow::Result<[&'static str; 3]> {
    let schemas = checked_in_schemas();
    for (file, text) in &schemas {
        crate::support::files::write_atomic(&root.join(file), text.as_bytes())?;
    }
    Ok(schemas.map(|(file, _)| file))
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

    fn checked_in(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_checked_in_schemas_are_current() {
        for (file, generated) in checked_in_schemas() {
            assert!(
                checked_in(file) == generated,
                "{file} is stale: the types changed; run `cargo xtask schemas` and commit it"
            );
        }
    }

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
