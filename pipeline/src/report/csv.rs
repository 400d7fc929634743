//! `report/csv/`: one CSV file per result table (a header row, then the data; fields quoted as RFC 4180 says), which
//! any CSV reader takes, and `index.csv` naming each file's table.

use super::Table;

fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn line(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

/// `(file name, contents)` per table, numbered in order (`01_per_layer_….csv`), then
/// `index.csv` with columns `file,title,study_tables`.
pub fn files(tables: &[Table]) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(tables.len() + 1);
    let mut index = line(&["file".into(), "title".into(), "study_tables".into()]);
    for (i, table) in tables.iter().enumerate() {
        let name = format!("{:02}_{}.csv", i + 1, table.slug());
        let mut text = line(&table.header);
        for row in &table.rows {
            text.push_str(&line(row));
        }
        index.push_str(&line(&[
            name.clone(),
            table.title.clone(),
            table.study.to_owned(),
        ]));
        out.push((name, text));
    }
    out.push(("index.csv".to_owned(), index));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_table_and_an_index() {
        let table = |title: &str| Table {
            title: title.into(),
            study: "7–8",
            header: vec!["Layer".into(), "MAE, ms".into()],
            rows: vec![vec!["CONV".into(), "say \"1\"".into()]],
        };
        let files = files(&[table("First `local`"), table("Second")]);
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].0, "01_first_local.csv");
        assert_eq!(files[0].1, "Layer,\"MAE, ms\"\nCONV,\"say \"\"1\"\"\"\n");
        assert_eq!(files[1].0, "02_second.csv");
        assert_eq!(
            files[2].1,
            "file,title,study_tables\n01_first_local.csv,First `local`,7–8\n02_second.csv,Second,7–8\n"
        );
    }
}
