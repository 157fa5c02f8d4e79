//! AT_SECURE policy and preload-list parsing, as glibc 2.36's rtld applies them.
//! Pure functions over byte strings; the loader applies the results to its environment copy.

use alloc::vec::Vec;

// The list of variables removed in secure mode is per glibc build: rld-glibc `unsecvars`.

/// glibc's `SECURE_PATH_LIMIT` / `SECURE_NAME_LIMIT`.
pub const SECURE_PATH_LIMIT: usize = 1024;
pub const SECURE_NAME_LIMIT: usize = 255;

/// glibc's `dso_name_valid_for_suid`.
pub fn preload_name_valid(name: &[u8], secure: bool) -> bool {
    if secure && (name.len() >= SECURE_NAME_LIMIT || name.contains(&b'/')) {
        return false;
    }
    !name.is_empty()
}

/// Split LD_PRELOAD / --preload as `handle_preload_list`: separators ' ' and ':', names of
/// `SECURE_PATH_LIMIT` bytes or more dropped, then the secure-mode filter.
pub fn split_preload_list(list: &[u8], secure: bool) -> Vec<Vec<u8>> {
    list.split(|&c| c == b' ' || c == b':')
        .filter(|n| n.len() < SECURE_PATH_LIMIT)
        .filter(|n| preload_name_valid(n, secure))
        .map(|n| n.to_vec())
        .collect()
}

/// Names in `/etc/ld.so.preload`: '#' comments to end of line, separators ": \t\n".
pub fn parse_preload_file(contents: &[u8]) -> Vec<Vec<u8>> {
    let mut cleaned = contents.to_vec();
    let mut in_comment = false;
    for c in cleaned.iter_mut() {
        if *c == b'#' {
            in_comment = true;
        }
        if in_comment {
            if *c == b'\n' {
                in_comment = false;
            } else {
                *c = b' ';
            }
        }
    }
    cleaned
        .split(|&c| matches!(c, b':' | b' ' | b'\t' | b'\n'))
        .filter(|n| !n.is_empty())
        .map(|n| n.to_vec())
        .collect()
}
