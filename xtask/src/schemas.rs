//! `cargo xtask schemas`: this repository's checked-in copies of the JSON Schemas the library
//! generates, where editors and readers find them. A test fails while a copy is stale.

use std::path::Path;

use anyhow::Context as _;

/// Each checked-in schema: its file under the project root and its current text.
fn checked_in() -> [(&'static str, String); 3] {
    [
        ("loadspec/spec.schema.json", loadgate::schema::spec()),
        ("docs/summary.schema.json", loadgate::schema::summary()),
        ("docs/shard.schema.json", loadgate::schema::shard()),
    ]
}

/// Writes the checked-in schemas under `root`, each whole or not at all, and names the files.
pub fn write(root: &Path) -> anyhow::Result<[&'static str; 3]> {
    let schemas = checked_in();
    for (file, text) in &schemas {
        let path = root.join(file);
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).with_context(|| format!("cannot write {file}"))?;
        std::fs::rename(&partial, &path).with_context(|| format!("cannot write {file}"))?;
    }
    Ok(schemas.map(|(file, _)| file))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_schemas_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (file, generated) in super::checked_in() {
            let path = root.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                text == generated,
                "{file} is stale: the types changed; run `cargo xtask schemas` and commit it"
            );
        }
    }
}
