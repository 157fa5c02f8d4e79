// Link flags for the no_std loader binary only: tests, the lib target and build
// scripts of dependencies must keep the normal host link line.
fn main() {
    for a in [
        "-nostartfiles",
        "-nostdlib",
        "-static-pie",
        "-Wl,-e,_start",
        "-Wl,-z,pack-relative-relocs",
        "-Wl,-z,now",
        "-Wl,-z,relro",
        // Each PT_LOAD starts on a page of its own: the writable statics (7 KiB) then take
        // two pages instead of three (they started 3.5 KiB into one).
        "-Wl,-z,separate-loadable-segments",
        "-Wl,--no-undefined",
        "-Wl,--build-id=sha1",
        // rld is the process's `ld-linux-x86-64.so.2`: libc binds to its exported, versioned
        // symbols like to any other object's (see exports.map).
        "-Wl,--export-dynamic",
        "-Wl,-soname,ld-linux-x86-64.so.2",
        "-Wl,--hash-style=gnu",
        // Symbols of exports.map that the runtime does not define yet are skipped.
        "-Wl,--undefined-version",
    ] {
        println!("cargo:rustc-link-arg-bin=rld={a}");
    }
    let map = concat!(env!("CARGO_MANIFEST_DIR"), "/exports.map");
    println!("cargo:rustc-link-arg-bin=rld=-Wl,--version-script={map}");
    println!("cargo:rerun-if-changed=exports.map");
    hot_order();
    let cold = concat!(env!("CARGO_MANIFEST_DIR"), "/cold.ld");
    println!("cargo:rustc-link-arg-bin=rld=-Wl,-T,{cold}");
    println!("cargo:rerun-if-changed=cold.ld");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Start-up code first in `.text` (`layout/hot.txt`, see there): passed to the linker as a
/// symbol ordering file. The stable toolchain links with rust-lld (the default since Rust
/// 1.90 on this target), which has the option; another linker keeps its default order.
fn hot_order() {
    println!("cargo:rerun-if-changed=layout/hot.txt");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let lld = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            let v = String::from_utf8_lossy(&o.stdout).into_owned();
            let rel = v
                .lines()
                .find_map(|l| l.strip_prefix("release: "))?
                .to_owned();
            let mut it = rel.split('.');
            let major: u32 = it.next()?.parse().ok()?;
            let minor: u32 = it.next()?.parse().ok()?;
            Some((major, minor) >= (1, 90))
        })
        .unwrap_or(false);
    if !lld {
        println!("cargo:warning=rld: linker without --symbol-ordering-file; default code order");
        return;
    }
    let list = concat!(env!("CARGO_MANIFEST_DIR"), "/layout/hot.txt");
    let Ok(text) = std::fs::read_to_string(list) else {
        println!("cargo:warning=rld: {list} unreadable; default code order");
        return;
    };
    // The ordering file takes one symbol per line: comments and blank lines go.
    let symbols: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let path = out.join("hot.order");
    if std::fs::write(&path, symbols).is_err() {
        println!(
            "cargo:warning=rld: cannot write {}; default code order",
            path.display()
        );
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=rld=-Wl,--symbol-ordering-file={}",
        path.display()
    );
    // Entries of another build (renamed functions, other hashes) only cost layout.
    println!("cargo:rustc-link-arg-bin=rld=-Wl,--no-warn-symbol-ordering");
}
