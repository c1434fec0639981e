//! Writes the fuzz targets' starting corpora from real inputs:
//! `make-seeds CAPTURE_DIR CONFIG_DIR OUT_DIR` puts each capture file in
//! `OUT_DIR/pcap_reader/`, its frames in `OUT_DIR/parse/`, the frames
//! framed as the `pipeline` target reads them (once per configuration) in
//! `OUT_DIR/pipeline/`, and every `*.toml` in `OUT_DIR/config/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vswitch_ports::pcap::PcapReader;

/// Frames taken from each capture as `parse` seeds (the captures are
/// small; this keeps the corpus quick to load).
const FRAMES_PER_CAPTURE: usize = 64;
/// How many configurations the `pipeline` target chooses from.
const PIPELINE_CONFIGS: u8 = 5;

fn files(dir: &Path, ext: &[&str]) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ext.contains(&x))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(name);
    fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The frames of a capture, up to [`FRAMES_PER_CAPTURE`]; those before a
/// bad record when the capture has one (some are broken on purpose).
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let Ok(mut reader) = PcapReader::open(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Ok(Some(frame)) = reader.next_frame() {
        out.push(frame.data.to_vec());
        if out.len() == FRAMES_PER_CAPTURE {
            break;
        }
    }
    out
}

fn run(captures: &Path, configs: &Path, out: &Path) -> Result<(), String> {
    let mut counts = [0usize; 4];
    let mut capture_files = files(captures, &["pcap", "pcapng"])?;
    capture_files.extend(files(configs, &["pcap", "pcapng"])?);
    for path in &capture_files {
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("capture");
        let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        write(&out.join("pcap_reader"), stem, &bytes)?;
        counts[0] += 1;
        let frames = frames(path);
        for (i, frame) in frames.iter().enumerate() {
            write(&out.join("parse"), &format!("{stem}-{i}"), frame)?;
            counts[1] += 1;
        }
        for config in 0..PIPELINE_CONFIGS {
            let mut seed = vec![config];
            for (i, frame) in frames.iter().enumerate() {
                let len = (frame.len() as u16).to_le_bytes();
                seed.extend_from_slice(&[i as u8 % 4, (i % 8 == 7) as u8, len[0], len[1]]);
                seed.extend_from_slice(frame);
            }
            write(
                &out.join("pipeline"),
                &format!("{stem}-config{config}"),
                &seed,
            )?;
            counts[2] += 1;
        }
    }
    for path in files(configs, &["toml"])? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config");
        let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        write(&out.join("config"), name, &bytes)?;
        counts[3] += 1;
    }
    // The control protocol: each request, a bad one, and an answer of
    // each shape.
    for (name, line) in [
        ("show", "show\n"),
        ("stats", "stats\n"),
        ("pmd-stats", "pmd-stats\n"),
        ("fdb-show", "fdb-show br0\n"),
        ("bad", "fdb-show br0 br1\n"),
        ("json-fdb-show", "{\"method\":\"fdb-show\",\"params\":{\"bridge\":\"br0\"}}\n"),
        (
            "transact",
            r#"{"method":"transact","params":{"ops":[{"op":"add-port","bridge":"br0","port":"c1","settings":{"type":"tap","vlan":10,"options:interface":"t1"}},{"op":"add","table":"bridge","record":"br0","column":"static_mac","values":[{"mac":"02:00:00:00:00:02","port":"c1"}]},{"op":"set","table":"port","record":"p1","settings":{"trunks":[10,20]}},{"op":"remove","table":"bridge","record":"br0","column":"static_mac","values":[{"port":"p1"}]},{"op":"clear","table":"port","record":"c1","columns":["vlan"]},{"op":"get","table":"port","record":"p1","columns":["type"]},{"op":"list","table":"port"},{"op":"del-port","port":"p1"},{"op":"del-br","bridge":"br0"}]}}"#,
        ),
        (
            "answer",
            r#"{"ports":[{"name":"p1","drop_reasons":{"x":1},"device_drops":{}}],"workers":[{"core":1,"flow_cache":{"hits":1}}],"entries":[{"port":"p1","static":true}]}"#,
        ),
    ] {
        write(&out.join("control"), name, line.as_bytes())?;
    }
    println!(
        "seeds: {} captures, {} frames, {} pipeline inputs, {} configurations in {}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [captures, configs, out] = &args[..] else {
        eprintln!("usage: make-seeds CAPTURE_DIR CONFIG_DIR OUT_DIR");
        return ExitCode::FAILURE;
    };
    match run(captures, configs, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-seeds: {e}");
            ExitCode::FAILURE
        }
    }
}
