//! Every public async method of `coring::net` (with `net::unix`) and `coring::io` (an `async fn`, a
//! `fn` returning `impl Future`, or a `poll_` method) says in its docs, under "# Cancel safety",
//! what dropping it before completion does to data already moved. The behaviour itself is checked
//! by the scenario tests (`accept_dropped_by_select_...`, `udp_receive_dropped_by_select_...`,
//! `cancellation_storm_...`, ...); this test keeps the contract written down for new methods.

use std::path::Path;

/// The public async methods in `source` whose docs lack the section, as `name (line)`.
fn undocumented(source: &str) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        // A provided or required method of a public trait is public too.
        let in_pub_trait = line.starts_with("    fn ")
            && lines[..i]
                .iter()
                .rev()
                .find(|l| !l.is_empty() && !l.starts_with(' '))
                .is_some_and(|l| l.starts_with("pub trait "));
        let public = code.starts_with("pub ") && code.contains(" fn ") && !code.starts_with("pub(");
        if !public && !in_pub_trait {
            continue;
        }
        // The signature, up to the body or the end of the declaration.
        let end = lines[i..]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
            .map_or(lines.len(), |n| i + n + 1);
        let signature = lines[i..end].join(" ");
        let is_async = code.starts_with("pub async fn ")
            || code.starts_with("pub fn poll_")
            || signature.contains("impl Future");
        if !is_async {
            continue;
        }
        let docs: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim_start())
            .take_while(|l| l.starts_with("///") || l.starts_with("#["))
            .collect();
        if !docs.iter().any(|l| l.trim() == "/// # Cancel safety") {
            let name = code.split("fn ").nth(1).unwrap_or(code);
            let name = name.split(['<', '(']).next().unwrap_or(name);
            missing.push(format!("{name} (line {})", i + 1));
        }
    }
    missing
}

#[test]
fn every_public_async_method_in_net_and_io_documents_its_cancel_safety() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    let mut checked = 0;
    for dir in ["net", "net/unix", "io"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name.contains("test") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            checked += 1;
            for method in undocumented(&source) {
                missing.push(format!("{dir}/{name}: {method}"));
            }
        }
    }
    assert!(checked >= 10, "only {checked} source files found");
    assert!(
        missing.is_empty(),
        "public async methods without a \"# Cancel safety\" section:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_check_finds_a_method_without_the_section() {
    let source = "/// Reads.\npub async fn read(&self) {}\n\n/// Polls.\n///\n/// # Cancel safety\n///\n/// Cancel safe.\npub fn poll_next(&mut self) {}\n";
    assert_eq!(undocumented(source), ["read (line 2)"]);
    let source = "/// A trait.\npub trait Read {\n    /// Reads.\n    fn read(&mut self) -> impl Future<Output = ()>;\n}\n";
    assert_eq!(undocumented(source), ["read (line 4)"]);
}
