//! Environment variables glibc 2.36's loader unsets for AT_SECURE processes.
//! With tunables enabled (as in Debian's build) GLIBC_TUNABLES is not on this list: it is
//! filtered by the tunables parser instead (see `tunables`).

/// `UNSECURE_ENVVARS` (sysdeps/generic/unsecvars.h) as built with HAVE_TUNABLES, in order.
/// x86-64 Linux adds no `EXTRA_UNSECURE_ENVVARS`, and rtld.c only adds `MALLOC_CHECK_` when
/// tunables are disabled. Verified against the string table in this build's ld.so.
pub const UNSECURE_ENVVARS: &[&str] = &[
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LD_AUDIT",
    "LD_DEBUG",
    "LD_DEBUG_OUTPUT",
    "LD_DYNAMIC_WEAK",
    "LD_HWCAP_MASK",
    "LD_LIBRARY_PATH",
    "LD_ORIGIN_PATH",
    "LD_PRELOAD",
    "LD_PROFILE",
    "LD_SHOW_AUXV",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
];

/// Whether `name` (without `=value`) is removed from the environment in secure mode.
pub fn is_unsecure(name: &[u8]) -> bool {
    UNSECURE_ENVVARS.iter().any(|v| v.as_bytes() == name)
}
