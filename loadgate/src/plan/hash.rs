//! The spec hash: what a baseline was measured under. Takes a spec's text and its data rows;
//! gives a short hex digest that changes with the workload, not with the gate or the formatting.

use sha2::{Digest as _, Sha256};

use crate::plan::data::DataTable;

/// Hash of the parts of a spec that shape the workload, independent of formatting and comments.
/// The data file's rows count too: other data is another workload.
pub(super) fn spec_hash(text: &str, data: Option<&DataTable>) -> String {
    let table: toml::Table = toml::from_str(text).unwrap_or_default();
    let shaping: toml::Table = [
        "seed", "load", "defaults", "request", "on_start", "data", "sweep", "flow", "tls",
    ]
    .into_iter()
    .filter_map(|key| table.get(key).map(|value| (key.to_owned(), value.clone())))
    .collect();
    let canonical = serde_json::to_string(&shaping).expect("a TOML table encodes as JSON");
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    if let Some(data) = data {
        for row in data.rows.iter() {
            for value in row {
                hasher.update(value.as_bytes());
                hasher.update([0]);
            }
        }
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::plan::fixtures::{SPEC, plan};

    #[test]
    fn the_hash_follows_the_workload_not_the_gate_or_comments() {
        let base = plan(SPEC).unwrap().spec_hash;
        assert_eq!(
            plan(&format!("# comment\n{}", SPEC.replace("15%", "50%")))
                .unwrap()
                .spec_hash,
            base
        );
        assert_ne!(
            plan(&SPEC.replace("users = 4", "users = 5"))
                .unwrap()
                .spec_hash,
            base
        );
        // The cookie jar and flows are part of the workload when written, and only then.
        let cookies_off = SPEC.replace("[defaults]", "[defaults]\ncookies = false");
        let flow =
            format!("{SPEC}\n[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\npath = \"/\"\n");
        for changed in [cookies_off, flow] {
            assert_ne!(plan(&changed).unwrap().spec_hash, base, "{changed}");
        }
    }
}
