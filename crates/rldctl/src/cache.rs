//! `rldctl cache list|clear`: the launch cache's records (see rld_link::launch).

use std::path::PathBuf;

use rld_link::launch::Record;

/// The directory rld uses, by the same rules: RLD_LAUNCH_CACHE, else $XDG_CACHE_HOME/rld,
/// else $HOME/.cache/rld. None when the cache is off or there is no such variable.
pub fn directory() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match std::env::var_os("RLD_LAUNCH_CACHE") {
        Some(v) if v.is_empty() || v == "0" || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => var("XDG_CACHE_HOME")
            .map(|x| PathBuf::from(x).join("rld"))
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache/rld"))),
    }
}

fn is_record_name(n: &str) -> bool {
    rld_link::launch::is_record_name(n.as_bytes())
}

/// A record being written (`NAME.tmp.PID`), or left behind by a killed writer.
fn is_temporary_name(n: &str) -> bool {
    n.split_once(".tmp.").is_some_and(|(rec, pid)| {
        is_record_name(rec) && !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

fn entries(dir: &PathBuf, keep: fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(keep))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn records(dir: &PathBuf) -> Vec<PathBuf> {
    entries(dir, is_record_name)
}

/// One line per record: program, objects, bindings, size, file.
pub fn list(dir: &PathBuf) -> bool {
    let recs = records(dir);
    if recs.is_empty() {
        println!("no launch-cache records in {}", dir.display());
        return true;
    }
    println!(
        "{:<40} {:>7} {:>9} {:>10}  record",
        "program", "objects", "bindings", "bytes"
    );
    let mut total = 0u64;
    let n = recs.len();
    for p in recs {
        let bytes = std::fs::read(&p).unwrap_or_default();
        total += bytes.len() as u64;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Record::parse(&bytes) {
            Some(r) => {
                let (objs, binds) = r.size();
                println!(
                    "{:<40} {objs:>7} {binds:>9} {:>10}  {name}",
                    String::from_utf8_lossy(r.label),
                    bytes.len()
                );
            }
            None => println!(
                "{:<40} {:>7} {:>9} {:>10}  {name}",
                "(unreadable)",
                "-",
                "-",
                bytes.len()
            ),
        }
    }
    let limit = std::env::var_os("RLD_LAUNCH_CACHE_SIZE")
        .and_then(|v| rld_link::launch::parse_size(v.as_encoded_bytes()))
        .unwrap_or(rld_link::launch::DEFAULT_CACHE_SIZE);
    println!(
        "{n} records, {total} bytes in {} (limit {limit} bytes: RLD_LAUNCH_CACHE_SIZE)",
        dir.display()
    );
    true
}

/// Removes every record (rld writes a new one at the next launch of each program) and
/// temporary files of writers that are gone (a running writer's is left alone).
pub fn clear(dir: &PathBuf) -> bool {
    let mut ok = true;
    let recs = records(dir);
    let stale = entries(dir, is_temporary_name).into_iter().filter(|p| {
        let pid = p
            .to_string_lossy()
            .rsplit(".tmp.")
            .next()
            .map(|h| u32::from_str_radix(h, 16));
        !matches!(pid, Some(Ok(pid)) if std::path::Path::new(&format!("/proc/{pid}")).exists())
    });
    for p in recs.iter().cloned().chain(stale) {
        if let Err(e) = std::fs::remove_file(&p) {
            eprintln!("rldctl: {}: {e}", p.display());
            ok = false;
        }
    }
    println!(
        "removed {} launch-cache records from {}",
        recs.len(),
        dir.display()
    );
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names() {
        assert!(is_record_name("fe00-3c569"));
        assert!(!is_record_name("fe00-3c569.tmp.1a"));
        assert!(!is_record_name("fe00"));
        assert!(!is_record_name("fe00-"));
        assert!(!is_record_name("x-1"));
        assert!(is_record_name("fe00-3c569-0a1b2c3d"));
        assert!(!is_record_name("fe00-3c569-"));
        assert!(!is_record_name("1-2-3-4"));
        assert!(is_record_name("dl-ec06bb348d4c6d7f"));
        assert!(!is_record_name("dl-"));
        assert!(!is_record_name("dl-xyz"));
        assert!(is_temporary_name("fe00-3c569.tmp.1a"));
        assert!(!is_temporary_name("fe00-3c569.tmp."));
        assert!(!is_temporary_name("notes.tmp.1"));
    }
}
