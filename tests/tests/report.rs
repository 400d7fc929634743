//! The smoke study's outputs read the way their readers read them: `report/index.html` in
//! headless Chromium (no console errors, every plot loads, tables have rows; a screenshot
//! is kept), `report/tables.tex` through pdflatex, every Parquet table through pyarrow, every
//! CSV file through Python's csv module, and `snni predict` on an ONNX model against the
//! same network built in. The tools come from `.ci/run` (see `common/tools.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{repo_root, snni_bin, tools};
use snni_artifacts::{OnLocked, Output, Store};

/// The smoke study, run once per test process, with its report in every format.
struct Smoke {
    root: PathBuf,
    store: PathBuf,
}

impl Smoke {
    fn report(&self) -> PathBuf {
        self.store.join("report")
    }
}

fn snni(args: &[&str]) -> String {
    let output = Command::new(snni_bin())
        .args(args)
        .env_remove("SNNI_STORE")
        .env_remove("RUST_LOG")
        .output()
        .expect("run snni");
    assert!(
        output.status.success(),
        "snni {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn smoke() -> &'static Smoke {
    static SMOKE: OnceLock<Smoke> = OnceLock::new();
    SMOKE.get_or_init(|| {
        // Kept after the run (under the target dir) so a person can look at the report and
        // the screenshot; replaced by the next run.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("smoke-report");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let store = root.join("store");
        let manifest = repo_root().join("manifests/smoke.yaml");
        let (manifest, store_arg) = (manifest.to_str().unwrap(), store.to_str().unwrap());
        snni(&["run", manifest, "--store", store_arg]);
        for format in ["latex", "csv", "md"] {
            snni(&["tables", manifest, "--store", store_arg, "--format", format]);
        }
        Smoke { root, store }
    })
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Chromium, headless, as root, on a closed network, with a fresh profile.
fn chromium(binary: &Path, profile: &Path) -> Command {
    let mut command = Command::new(binary);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Console messages and load failures in Chromium's log.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Failed to load resource")
                || l.contains("net::ERR_")
        })
        .collect()
}

#[test]
fn report_renders_in_chromium_with_every_plot_and_table() {
    let test = "report_renders_in_chromium_with_every_plot_and_table";
    let Some(binary) = tools::chromium(test) else {
        return;
    };
    let smoke = smoke();
    let index = smoke.report().join("index.html");
    let work = smoke.root.join("chromium");
    std::fs::create_dir_all(&work).unwrap();

    // 1. A screenshot of the page as a reader opens it, with the browser's log.
    let png = work.join("report.png");
    let shot = chromium(&binary, &work.join("profile-shot"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2400")
        .arg(file_url(&index))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&shot.stderr);
    assert!(shot.status.success(), "chromium failed:\n{log}");
    assert_eq!(
        console_errors(&log),
        Vec::<&str>::new(),
        "the page logged errors"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000,
        "screenshot {} is {} bytes",
        png.display(),
        bytes.len()
    );
    let (width, height) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1280, 2400));

    // 2. What the page holds once loaded: a harness page reads it from an iframe (file://
    //    frames may read each other only with web security off, in this throwaway profile).
    let harness = work.join("harness.html");
    std::fs::write(
        &harness,
        format!(
            r#"<!DOCTYPE html><html><body>
<iframe id="f" src="{}" style="width:1280px;height:2400px"></iframe>
<script>
document.getElementById("f").addEventListener("load", () => {{
  const d = document.getElementById("f").contentDocument;
  const images = [...d.images].map(i => ({{src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight}}));
  const tables = [...d.querySelectorAll("table")].map(t => ({{caption: t.caption ? t.caption.textContent : "", rows: t.querySelectorAll("tr").length - 1}}));
  const pre = document.createElement("pre");
  pre.id = "result";
  pre.textContent = JSON.stringify({{title: d.title, images, tables}});
  document.body.appendChild(pre);
}});
</script></body></html>"#,
            file_url(&index)
        ),
    )
    .unwrap();
    let dump = chromium(&binary, &work.join("profile-dom"))
        .args([
            "--disable-web-security",
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(file_url(&harness))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dump.stdout);
    let json = dom
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "the harness saw no page:\n{dom}\n{}",
                String::from_utf8_lossy(&dump.stderr)
            )
        })
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let page: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(page["title"], "snni-lab report: smoke");
    let images = page["images"].as_array().unwrap();
    // Per-layer scatter per setting × method, error bars per setting, breakdowns.
    assert!(images.len() >= 6, "{page:#}");
    for image in images {
        assert_eq!(image["ok"], true, "a plot did not load: {image}");
        assert!(image["width"].as_u64().unwrap() >= 300, "{image}");
        let file = smoke.report().join(image["src"].as_str().unwrap());
        let svg = std::fs::read_to_string(&file).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{}",
            file.display()
        );
    }
    let tables = page["tables"].as_array().unwrap();
    assert!(tables.len() >= 6, "{page:#}");
    for table in tables {
        assert!(
            table["rows"].as_u64().unwrap() >= 1,
            "an empty table: {table}"
        );
    }
    eprintln!("screenshot: {}", png.display());
}

#[test]
fn tables_tex_compiles_with_pdflatex() {
    let Some(pdflatex) = tools::pdflatex("tables_tex_compiles_with_pdflatex") else {
        return;
    };
    let smoke = smoke();
    let work = smoke.root.join("latex");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(smoke.report().join("tables.tex"), work.join("tables.tex")).unwrap();
    let run = Command::new(pdflatex)
        .args(["-interaction=nonstopmode", "-halt-on-error", "tables.tex"])
        .current_dir(&work)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(work.join("tables.log")).unwrap_or_default();
    assert!(
        run.status.success(),
        "pdflatex failed:\n{}\n{log}",
        String::from_utf8_lossy(&run.stdout)
    );
    let pdf = std::fs::read(work.join("tables.pdf")).unwrap();
    assert!(
        pdf.starts_with(b"%PDF-") && pdf.len() > 10_000,
        "{} bytes",
        pdf.len()
    );
    // Every table made it, with its caption; nothing was set as a missing character.
    let tex = std::fs::read_to_string(work.join("tables.tex")).unwrap();
    let tables = tex.matches("\\begin{table}").count();
    assert!(tables >= 6, "{tables} tables");
    assert_eq!(log.matches("Missing character").count(), 0, "{log}");
    assert!(!log.contains("undefined"), "{log}");
}

#[test]
fn parquet_tables_read_the_same_in_pyarrow() {
    let Some(python) = tools::python("parquet_tables_read_the_same_in_pyarrow") else {
        return;
    };
    let smoke = smoke();
    let store = Store::open_read_only(&smoke.store, OnLocked::Fail).unwrap();
    let mut expected = Vec::new();
    for record in store.records().unwrap() {
        for output in record.outputs.values() {
            if let Output::Table(table) = output {
                let frame = store.read_table(table).unwrap();
                let path = store.table_path(table);
                let columns: Vec<(String, String)> = frame
                    .get_column_names()
                    .iter()
                    .zip(frame.dtypes())
                    .map(|(name, dtype)| (name.to_string(), format!("{dtype:?}")))
                    .collect();
                expected.push((path, frame.height(), columns));
            }
        }
    }
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    expected.dedup_by(|a, b| a.0 == b.0);
    let names: Vec<&str> = expected
        .iter()
        .map(|(p, _, _)| p.file_name().unwrap().to_str().unwrap())
        .collect();
    for table in [
        "dataset-tables-layers-",
        "dataset-tables-networks-",
        "dataset-tables-conv-",
        "evaluate-per_layer-per_layer-",
        "evaluate-per_layer-predictions-",
        "whole-server.local-networks-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(table)),
            "no {table} table in {names:?}"
        );
    }
    let paths: Vec<&std::ffi::OsStr> = expected.iter().map(|(p, _, _)| p.as_os_str()).collect();
    let mut args = vec![std::ffi::OsStr::new("parquet")];
    args.extend(paths);
    let seen = tools::run_python(&python, "read_tables.py", &args);
    let seen: Vec<serde_json::Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seen.len(), expected.len());
    for ((path, rows, columns), arrow) in expected.iter().zip(&seen) {
        let file = path.display();
        assert_eq!(arrow["rows"].as_u64().unwrap() as usize, *rows, "{file}");
        let arrow_columns = arrow["columns"].as_array().unwrap();
        assert_eq!(arrow_columns.len(), columns.len(), "{file}");
        for ((name, polars), arrow) in columns.iter().zip(arrow_columns) {
            assert_eq!(arrow[0].as_str().unwrap(), name, "{file}");
            let arrow = arrow[1].as_str().unwrap();
            let same = match polars.as_str() {
                "String" => matches!(arrow, "string" | "large_string" | "string_view"),
                "UInt64" => arrow == "uint64",
                "UInt32" => arrow == "uint32",
                "Int64" => arrow == "int64",
                "Int32" => arrow == "int32",
                "Float64" => arrow == "double",
                "Float32" => arrow == "float",
                "Boolean" => arrow == "bool",
                other => {
                    panic!("{file}: column {name} has a type this test does not know: {other}")
                }
            };
            assert!(
                same,
                "{file}: column {name} is {polars} in snni, {arrow} in pyarrow"
            );
        }
    }
}

#[test]
fn csv_tables_are_one_file_each_for_any_csv_reader() {
    let Some(python) = tools::python("csv_tables_are_one_file_each_for_any_csv_reader") else {
        return;
    };
    let smoke = smoke();
    let dir = smoke.report().join("csv");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut args = vec![std::ffi::OsStr::new("csv")];
    args.extend(files.iter().map(|p| p.as_os_str()));
    let seen = tools::run_python(&python, "read_tables.py", &args);
    for line in seen.lines() {
        let file: serde_json::Value = serde_json::from_str(line).unwrap();
        let header = file["header"].as_array().unwrap();
        assert!(header.len() >= 2, "{file}");
        assert!(file["rows"].as_u64().unwrap() >= 1, "{file}");
        assert_eq!(
            file["widths"],
            serde_json::json!([header.len()]),
            "ragged rows: {file}"
        );
        assert!(
            !header.iter().any(|h| h.as_str().unwrap().starts_with('#')),
            "{file}"
        );
    }
}

#[test]
fn predict_takes_an_onnx_model_like_the_network_it_describes() {
    let test = "predict_takes_an_onnx_model_like_the_network_it_describes";
    let Some(python) = tools::python(test) else {
        return;
    };
    let smoke = smoke();
    let fixtures = smoke.root.join("onnx");
    tools::run_python(&python, "onnx_fixtures.py", &[fixtures.as_os_str()]);
    let store = smoke.store.to_str().unwrap();
    let predict = |network: &str, input: &str| -> serde_json::Value {
        let out = snni(&[
            "predict",
            "--network",
            network,
            "--input",
            input,
            "--setting",
            "local",
            "--method",
            "all",
            "--json",
            "--store",
            store,
        ]);
        serde_json::from_str(&out).unwrap()
    };
    let model = fixtures.join("squeezenet11_32.onnx");
    let onnx = predict(model.to_str().unwrap(), "224x224x3");
    let builtin = predict("squeezenet", "32x32x3");
    assert_eq!(
        onnx["layers"].as_array().map(Vec::len),
        builtin["layers"].as_array().map(Vec::len)
    );
    // Same layers, same features: every method predicts the same total for both, or
    // excludes it for both (`total_s` is null when a method's total is not trusted, e.g. a
    // layer outside its training range).
    let totals = |v: &serde_json::Value| -> Vec<(String, String, Option<f64>)> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["party"].to_string(),
                    r["method"].to_string(),
                    r["total_s"].as_f64(),
                )
            })
            .collect()
    };
    let (onnx, builtin) = (totals(&onnx), totals(&builtin));
    assert!(onnx.len() >= 8, "{onnx:?}");
    assert_eq!(onnx.len(), builtin.len());
    for (a, b) in onnx.iter().zip(&builtin) {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        match (a.2, b.2) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs(), "{a:?} vs {b:?}"),
            (None, None) => {}
            _ => panic!("one network's total is excluded, the other's not: {a:?} vs {b:?}"),
        }
    }
    assert!(
        onnx.iter().any(|t| t.2.is_some()),
        "every method's total was excluded: {onnx:?}"
    );
}
