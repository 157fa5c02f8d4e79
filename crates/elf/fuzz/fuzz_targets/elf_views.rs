//! libFuzzer target: every rld-elf view over arbitrary bytes must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(rld_elf::fuzzing::exercise(data));
});
