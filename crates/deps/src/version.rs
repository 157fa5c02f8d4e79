//! glibc's `_dl_check_all_versions` as run by `dl_main` (verbose): every required symbol version
//! must be defined by the needed object; complaints are collected as diagnostics, not printed.

use crate::graph::{Diag, Fatal, Kind, LoadGraph, ObjId};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rld_search::search::{Trace, TraceEvent};

fn dso_filename<'a>(path: &'a [u8], progname: &'a [u8]) -> &'a [u8] {
    if path.is_empty() { progname } else { path }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn find_needed<H>(g: &LoadGraph<H>, requester: ObjId, file: &[u8]) -> Option<ObjId> {
    let matches = |id: ObjId| {
        g.objects
            .get(id)
            .is_some_and(|o| o.path == file || o.names.iter().any(|n| n == file))
    };
    if let Some(&id) = g.chain.iter().find(|&&id| matches(id)) {
        return Some(id);
    }
    if requester == g.main {
        return g.searchlist.iter().copied().find(|&id| matches(id));
    }
    None
}

/// Check every object in list order; push `Diag::Version` entries onto `g.diags`.
pub fn check_all<H>(
    g: &mut LoadGraph<H>,
    trace: bool,
    progname: &[u8],
    debug: Option<Trace>,
) -> Result<(), Fatal> {
    let mut diags: Vec<Diag> = Vec::new();
    for &l in &g.chain {
        let Some(o) = g.objects.get(l) else { continue };
        if o.kind == Kind::Missing {
            continue;
        }
        let requester_name = dso_filename(&o.path, progname);
        if let Some(v) = o.dynamic.bad_verneed_version {
            return Err(Fatal {
                objname: requester_name.to_vec(),
                errno: 0,
                msg: format!("unsupported version {v} of Verneed record"),
            });
        }
        let Some(needs) = &o.dynamic.verneed else {
            continue;
        };
        for need in needs {
            let (need_file, need_name) = (o.dynamic.name(need.file), o.dynamic.name(need.name));
            let Some(nid) = find_needed(g, l, need_file) else {
                continue;
            };
            let Some(n) = g.objects.get(nid) else {
                continue;
            };
            if trace && n.kind == Kind::Missing {
                continue;
            }
            if let Some(t) = debug {
                t(&TraceEvent::VersionCheck {
                    version: need_name,
                    file: dso_filename(&n.path, progname),
                    by: requester_name,
                });
            }
            // The names are only formatted for a diagnostic: almost every need is satisfied.
            let objname = || dso_filename(&n.path, progname).to_vec();
            let Some(defs) = &n.dynamic.verdef else {
                if n.kind != Kind::Vdso {
                    let req = lossy(requester_name);
                    diags.push(Diag::Version {
                        objname: objname(),
                        msg: format!("no version information available (required by {req})"),
                    });
                }
                continue;
            };
            let mut ok = false;
            let mut bad_version = None;
            for d in defs {
                if d.version != 1 {
                    bad_version = Some(d.version);
                    break;
                }
                if d.hash == need.hash && n.dynamic.name(d.name) == need_name {
                    ok = true;
                    break;
                }
            }
            if let Some(v) = bad_version {
                diags.push(Diag::Version {
                    objname: objname(),
                    msg: format!("unsupported version {v} of Verdef record"),
                });
            } else if !ok {
                let (s, req) = (lossy(need_name), lossy(requester_name));
                let weak = if need.weak { "weak " } else { "" };
                diags.push(Diag::Version {
                    objname: objname(),
                    msg: format!("{weak}version `{s}' not found (required by {req})"),
                });
            }
        }
    }
    g.diags.extend(diags);
    Ok(())
}

/// glibc's `_dl_check_map_versions` (not verbose) for objects a dlopen added: the first
/// required version that a needed object does not define is an error, like
/// "version `V' not found (required by REQ)" about the needed object. Weak versions and
/// needed objects without version information are accepted silently.
pub fn check_new<H>(
    objects: &[crate::graph::Object<H>],
    chain: &[ObjId],
    new: &[ObjId],
    debug: Option<Trace>,
) -> Result<(), Fatal> {
    for &l in new {
        let Some(o) = objects.get(l) else { continue };
        if let Some(v) = o.dynamic.bad_verneed_version {
            return Err(Fatal {
                objname: o.path.clone(),
                errno: 0,
                msg: format!("unsupported version {v} of Verneed record"),
            });
        }
        let Some(needs) = &o.dynamic.verneed else {
            continue;
        };
        for need in needs {
            let (need_file, need_name) = (o.dynamic.name(need.file), o.dynamic.name(need.name));
            let found = chain.iter().copied().find(|&id| {
                objects.get(id).is_some_and(|n| {
                    n.path == need_file || n.names.iter().any(|m| m.as_slice() == need_file)
                })
            });
            let Some(n) = found.and_then(|id| objects.get(id)) else {
                continue;
            };
            if let Some(t) = debug {
                t(&TraceEvent::VersionCheck {
                    version: need_name,
                    file: &n.path,
                    by: &o.path,
                });
            }
            let Some(defs) = &n.dynamic.verdef else {
                continue;
            };
            if let Some(d) = defs.iter().find(|d| d.version != 1) {
                return Err(Fatal {
                    objname: n.path.clone(),
                    errno: 0,
                    msg: format!("unsupported version {} of Verdef record", d.version),
                });
            }
            let ok = defs
                .iter()
                .any(|d| d.hash == need.hash && n.dynamic.name(d.name) == need_name);
            if !ok && !need.weak {
                return Err(Fatal {
                    objname: n.path.clone(),
                    errno: 0,
                    msg: format!(
                        "version `{}' not found (required by {})",
                        lossy(need_name),
                        lossy(&o.path)
                    ),
                });
            }
        }
    }
    Ok(())
}
