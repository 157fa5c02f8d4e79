//! Host tests: real system files cross-checked against readelf and glibc's ld.so itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::collapsible_if,
    clippy::type_complexity
)]

mod util;

mod dynamic_tests;
mod fixture_tests;
mod fuzz_tests;
mod header_tests;
mod tables_tests;
