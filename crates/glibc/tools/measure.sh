#!/bin/sh
# Regenerates the raw measurements for the glibc build installed on this machine.
# Needs gdb, readelf and the libc6-dbg DWARF; the output directory is the source of truth for rld-glibc.
set -eu

LIBC=${LIBC:-/lib/x86_64-linux-gnu/libc.so.6}
LDSO=${LDSO:-/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${VERSION:-$(dpkg-query -W -f='${Version}' libc6 2>/dev/null || true)}
[ -n "$VERSION" ] || { echo "cannot determine the libc6 package version; set VERSION" >&2; exit 1; }
OUT=${OUT:-$HERE/data/$VERSION}
mkdir -p "$OUT"

gdbq() { # binary, commands...
    bin=$1; shift
    args=""
    for c in "$@"; do args="$args -ex \"$c\""; done
    eval gdb -nx -batch $args "$bin" 2>&1
}

build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: *//p'; }

{
    echo "package_version $VERSION"
    echo "arch x86_64"
    echo "libc_build_id $(build_id "$LIBC")"
    echo "ldso_build_id $(build_id "$LDSO")"
    # The banner is printed by running libc.so.6; take it from the file so nothing is executed.
    printf 'libc_banner %s\n' "$(strings -n 20 "$LIBC" | grep -m1 '^GNU C Library')"
} > "$OUT/identity.txt"

# Structures whose DWARF lives with ld.so.
for spec in \
    "link_map:struct link_map" \
    "rtld_global:struct rtld_global" \
    "rtld_global_ro:struct rtld_global_ro" \
    "link_namespaces:struct link_namespaces" \
    "r_debug:struct r_debug" \
    "r_debug_extended:struct r_debug_extended" \
    "tcbhead_t:tcbhead_t" \
    "dtv_t:dtv_t" \
    "dtv_slotinfo_list:struct dtv_slotinfo_list" \
    "dtv_slotinfo:struct dtv_slotinfo" \
    "r_scope_elem:struct r_scope_elem" \
    "libname_list:struct libname_list" \
    "r_found_version:struct r_found_version" \
    "dl_exception:struct dl_exception" \
    "dl_find_object:struct dl_find_object" \
    "tls_index:tls_index" \
    "Dl_serinfo:Dl_serinfo" \
    "Dl_serpath:Dl_serpath" \
    "pthread_mutex_t:pthread_mutex_t" \
    "list_t:list_t" \
    "r_file_id:struct r_file_id" \
    "tunable_t:tunable_t" \
    "tunable_type_t:tunable_type_t"
do
    name=${spec%%:*}; type=${spec#*:}
    gdbq "$LDSO" "ptype /o $type" > "$OUT/$name.txt"
done

# struct pthread is described by libc's DWARF (ld.so only sees the tcbhead_t prefix).
gdbq "$LIBC" "ptype /o struct pthread" > "$OUT/pthread.txt"

# Tunables: the enum gives the ids, the static table gives type, bounds, default, level, alias.
gdbq "$LDSO" "ptype tunable_id_t" "ptype tunable_type_code_t" "ptype tunable_seclevel_t" > "$OUT/tunable_enums.txt"
n=$(gdbq "$LDSO" "print sizeof(tunable_list)/sizeof(tunable_list[0])" | sed -n 's/^\$1 = //p')
{
    echo "count $n"
    i=0
    while [ "$i" -lt "$n" ]; do
        gdb -nx -batch -ex "printf \"tunable %d %s %d %ld %ld %ld %d %s|\\n\", $i, tunable_list[$i].name, tunable_list[$i].type.type_code, tunable_list[$i].type.min, tunable_list[$i].type.max, tunable_list[$i].val.numval, tunable_list[$i].security_level, tunable_list[$i].env_alias" "$LDSO" 2>&1
        i=$((i + 1))
    done
} > "$OUT/tunable_list.txt"

# libthread_db descriptors exported by libc: {bits, count, byte offset} (sizeof_* are plain u32).
{
    for s in _thread_db_sizeof_pthread _thread_db_pthread_tid _thread_db_pthread_list \
             _thread_db_rtld_global__dl_stack_user _thread_db_rtld_global__dl_stack_used \
             _thread_db_rtld_global__dl_tls_dtv_slotinfo_list \
             _thread_db_link_map_l_tls_modid _thread_db_link_map_l_tls_offset
    do
        printf '%s ' "$s"
        gdbq "$LIBC" "print $s" | sed -n 's/^\$1 = //p'
    done
} > "$OUT/thread_db.txt"

echo "wrote $OUT"
