//! Parquet tables: round trips, file naming, corruption.

use polars::prelude::{ParquetReader, SerReader};
use snni_artifacts::{Output, StoreError};

use crate::support::{commit_sample, sample_df, temp_store};

#[test]
fn tables_round_trip_with_ints_floats_and_strings() {
    let (_dir, store) = temp_store();
    let mut df = sample_df();
    let table = store.write_table("metrics", &mut df).unwrap();
    assert_eq!(table.name, "metrics");
    assert_eq!(table.rows, 4);
    assert!(table.file.starts_with("tables/metrics-"), "{}", table.file);
    assert!(table
        .file
        .ends_with(&format!("-{}.parquet", &table.digest.to_hex()[..16])));
    let path = store.table_path(&table);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), table.bytes);
    assert_eq!(store.read_table(&table).unwrap(), sample_df());
}

#[test]
fn table_files_are_plain_parquet() {
    let (_dir, store) = temp_store();
    let table = store.write_table("metrics", &mut sample_df()).unwrap();
    let file = std::fs::File::open(store.table_path(&table)).unwrap();
    assert_eq!(ParquetReader::new(file).finish().unwrap(), sample_df());
}

#[test]
fn no_temporary_files_are_left_behind() {
    let (_dir, store) = temp_store();
    let table = store.write_table("metrics", &mut sample_df()).unwrap();
    let again = store.write_table("metrics", &mut sample_df()).unwrap();
    let files: Vec<_> = std::fs::read_dir(store.dir().join("tables"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.iter().all(|name| !name.starts_with('.')), "{files:?}");
    assert!(files.contains(&table.file["tables/".len()..].to_string()));
    assert!(files.contains(&again.file["tables/".len()..].to_string()));
}

#[test]
fn invalid_table_names_are_refused() {
    let (_dir, store) = temp_store();
    let err = store
        .write_table("../escape", &mut sample_df())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTableName { .. }),
        "{err:?}"
    );
}

#[test]
fn a_corrupt_parquet_file_is_reported_with_path_digests_and_remedy() {
    let (_dir, store) = temp_store();
    let record = commit_sample(&store, "bench", "1");
    let Output::Table(table) = &record.outputs["metrics"] else {
        unreachable!()
    };
    let path = store.table_path(table);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let err = store.read_table(table).unwrap_err();
    let StoreError::CorruptTable {
        path: named,
        expected,
        actual,
        stage,
    } = &err
    else {
        panic!("expected CorruptTable, got {err:?}");
    };
    assert_eq!(named, &path);
    assert_eq!(*expected, table.digest);
    assert_ne!(actual, expected);
    assert_eq!(stage.as_deref(), Some("bench"));
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&table.digest.to_string()), "{message}");
    assert!(message.contains(&actual.to_string()), "{message}");
    assert!(
        message.contains("re-run the stage with `--force bench`"),
        "{message}"
    );
}

#[test]
fn a_deleted_parquet_file_is_reported_as_missing() {
    let (_dir, store) = temp_store();
    let table = store.write_table("metrics", &mut sample_df()).unwrap();
    std::fs::remove_file(store.table_path(&table)).unwrap();
    let err = store.read_table(&table).unwrap_err();
    assert!(matches!(err, StoreError::MissingTable { .. }), "{err:?}");
    assert!(err.to_string().contains("--force NAME"), "{err}");
}
