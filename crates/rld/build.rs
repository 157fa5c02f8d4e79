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
    ] {
        println!("cargo:rustc-link-arg-bin=rld={a}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
