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
    let cold = concat!(env!("CARGO_MANIFEST_DIR"), "/cold.ld");
    println!("cargo:rustc-link-arg-bin=rld=-Wl,-T,{cold}");
    println!("cargo:rerun-if-changed=cold.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
