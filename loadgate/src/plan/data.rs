//! Data files for `${row.COLUMN}`: CSV with a header line, or JSON lines. Read once while
//! planning into plain rows of text; a run only indexes them.

use std::path::Path;
use std::sync::Arc;

use crate::spec::Pick;

/// The rows of a data file, all with the same columns.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTable {
    pub columns: Vec<String>,
    pub rows: Arc<Vec<Vec<String>>>,
    pub pick: Pick,
}

/// The most rows a data file may hold: it is held in memory for the run.
const MAX_ROWS: usize = 1_000_000;

impl DataTable {
    /// Reads `file`: JSON lines when it ends in `.jsonl` or `.ndjson`, CSV otherwise. Errors say
    /// which line is wrong.
    pub fn read(file: &Path, pick: Pick) -> Result<DataTable, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|err| format!("cannot read data file {}: {err}", file.display()))?;
        let json_lines = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        );
        let (columns, rows) = if json_lines {
            parse_json_lines(&text)
        } else {
            parse_csv(&text)
        }
        .map_err(|err| format!("data file {}: {err}", file.display()))?;
        if rows.is_empty() {
            return Err(format!("data file {} has no rows", file.display()));
        }
        if rows.len() > MAX_ROWS {
            return Err(format!(
                "data file {} has {} rows; at most {MAX_ROWS} are allowed",
                file.display(),
                rows.len()
            ));
        }
        Ok(DataTable {
            columns,
            rows: Arc::new(rows),
            pick,
        })
    }
}

type Rows = (Vec<String>, Vec<Vec<String>>);

fn parse_csv(text: &str) -> Result<Rows, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|err| err.to_string())?
        .iter()
        .map(|c| c.trim().to_owned())
        .collect();
    if columns.iter().any(String::is_empty) {
        return Err("the header line names an empty column".into());
    }
    let rows = reader
        .records()
        .map(|record| {
            record
                .map(|r| r.iter().map(str::to_owned).collect())
                .map_err(|err| err.to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok((columns, rows))
}

/// One JSON object per line; the first line's keys are the columns, and every line must have
/// them. Strings are taken as they are, other values as JSON text.
fn parse_json_lines(text: &str) -> Result<Rows, String> {
    let mut columns: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| format!("line {}: {why}", index + 1);
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|err| at(format!("not a JSON object: {err}")))?;
        let columns = columns.get_or_insert_with(|| object.keys().cloned().collect());
        let row = columns
            .iter()
            .map(|column| match object.get(column) {
                Some(serde_json::Value::String(text)) => Ok(text.clone()),
                Some(value) => Ok(value.to_string()),
                None => Err(at(format!("no `{column}` (the first line has it)"))),
            })
            .collect::<Result<_, _>>()?;
        rows.push(row);
    }
    Ok((columns.unwrap_or_default(), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<DataTable, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        DataTable::read(&file, Pick::Sequential)
    }

    #[test]
    fn csv_has_a_header_and_quoted_fields() {
        let table = read("d.csv", "id,text\n1,hello\n2,\"a, \"\"quoted\"\" text\"\n").unwrap();
        assert_eq!(table.columns, ["id", "text"]);
        assert_eq!(table.rows[1], ["2", "a, \"quoted\" text"]);
    }

    #[test]
    fn json_lines_take_the_first_lines_keys() {
        let table = read(
            "d.jsonl",
            "{\"text\": \"hi\", \"n\": 3}\n\n{\"n\": 4, \"text\": \"yo\", \"extra\": true}\n",
        )
        .unwrap();
        assert_eq!(table.columns, ["n", "text"]);
        assert_eq!(*table.rows, [["3", "hi"], ["4", "yo"]]);
    }

    #[test]
    fn bad_data_files_say_where() {
        let err = read("d.jsonl", "{\"text\": \"hi\"}\n{\"other\": 1}\n").unwrap_err();
        assert!(
            err.ends_with("line 2: no `text` (the first line has it)"),
            "{err}"
        );
        let err = read("d.jsonl", "{\"text\": \"hi\"}\n[1]\n").unwrap_err();
        assert!(err.contains("line 2: not a JSON object"), "{err}");
        let err = read("d.csv", "a,b\n1\n").unwrap_err();
        assert!(err.contains("line: 2"), "{err}");
        let err = read("d.csv", "a,b\n").unwrap_err();
        assert!(err.ends_with("has no rows"), "{err}");
        let err = DataTable::read(Path::new("/nonexistent/d.csv"), Pick::Random).unwrap_err();
        assert!(
            err.starts_with("cannot read data file /nonexistent/d.csv"),
            "{err}"
        );
    }
}
