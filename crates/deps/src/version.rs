//! glibc's `_dl_check_all_versions` as run by `dl_main` (verbose): every required symbol version
//! must be defined by the needed object; complaints are collected as diagnostics, not printed.

use crate::elfdyn::DynInfo;
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

/// What the start-up version check reads of the objects it checks: `id`s are the caller's
/// (graph ids, or a loader's table indices).
pub trait VersionObjects {
    fn kind(&self, id: ObjId) -> Option<Kind>;
    /// glibc's `l_name` (the program's is its name as given).
    fn path(&self, id: ObjId) -> &[u8];
    /// The object is known by `file` (its `l_name` or one of its `l_libname`s).
    fn known_as(&self, id: ObjId, file: &[u8]) -> bool;
    /// Its version facts (`verneed`, `verdef`, `bad_verneed_version`).
    fn dynamic(&self, id: ObjId) -> Option<&DynInfo>;
}

impl<H> VersionObjects for LoadGraph<H> {
    fn kind(&self, id: ObjId) -> Option<Kind> {
        self.objects.get(id).map(|o| o.kind)
    }
    fn path(&self, id: ObjId) -> &[u8] {
        self.objects.get(id).map_or(&[], |o| o.path.as_slice())
    }
    fn known_as(&self, id: ObjId, file: &[u8]) -> bool {
        self.objects
            .get(id)
            .is_some_and(|o| o.path == file || o.names.iter().any(|n| n == file))
    }
    fn dynamic(&self, id: ObjId) -> Option<&DynInfo> {
        self.objects.get(id).map(|o| &o.dynamic)
    }
}

/// The lists the start-up check walks (ids as in [`VersionObjects`]).
#[derive(Clone, Copy, Debug)]
pub struct StartLists<'a> {
    /// The link-map list, in order.
    pub chain: &'a [ObjId],
    /// The main program's search list.
    pub searchlist: &'a [ObjId],
    pub main: ObjId,
}

fn find_needed(
    objs: &dyn VersionObjects,
    lists: StartLists<'_>,
    requester: ObjId,
    file: &[u8],
) -> Option<ObjId> {
    if let Some(&id) = lists.chain.iter().find(|&&id| objs.known_as(id, file)) {
        return Some(id);
    }
    if requester == lists.main {
        return lists
            .searchlist
            .iter()
            .copied()
            .find(|&id| objs.known_as(id, file));
    }
    None
}

/// Check every object of the load graph in list order; push `Diag::Version` entries onto
/// `g.diags`.
pub fn check_all<H>(
    g: &mut LoadGraph<H>,
    trace: bool,
    progname: &[u8],
    debug: Option<Trace>,
) -> Result<(), Fatal> {
    let lists = StartLists {
        chain: &g.chain,
        searchlist: &g.searchlist,
        main: g.main,
    };
    let diags = check_start(&*g, lists, trace, progname, debug)?;
    g.diags.extend(diags);
    Ok(())
}

/// glibc's `_dl_check_all_versions` as `dl_main` runs it (verbose): every object on the
/// chain, in order; the complaints are returned as diagnostics. (One copy of the code for
/// both callers, the load graph and the loader's late check: `dyn`.)
pub fn check_start(
    objs: &dyn VersionObjects,
    lists: StartLists<'_>,
    trace: bool,
    progname: &[u8],
    debug: Option<Trace>,
) -> Result<Vec<Diag>, Fatal> {
    let mut diags: Vec<Diag> = Vec::new();
    for &l in lists.chain {
        let (Some(kind), Some(dynamic)) = (objs.kind(l), objs.dynamic(l)) else {
            continue;
        };
        if kind == Kind::Missing {
            continue;
        }
        let requester_name = dso_filename(objs.path(l), progname);
        if let Some(v) = dynamic.bad_verneed_version {
            return Err(Fatal {
                objname: requester_name.to_vec(),
                errno: 0,
                msg: format!("unsupported version {v} of Verneed record"),
            });
        }
        let Some(needs) = &dynamic.verneed else {
            continue;
        };
        for need in needs {
            let (need_file, need_name) = (dynamic.name(need.file), dynamic.name(need.name));
            let Some(nid) = find_needed(objs, lists, l, need_file) else {
                continue;
            };
            let (Some(nkind), Some(ndyn)) = (objs.kind(nid), objs.dynamic(nid)) else {
                continue;
            };
            if trace && nkind == Kind::Missing {
                continue;
            }
            let npath = dso_filename(objs.path(nid), progname);
            if let Some(t) = debug {
                t(&TraceEvent::VersionCheck {
                    version: need_name,
                    file: npath,
                    by: requester_name,
                });
            }
            // The names are only formatted for a diagnostic: almost every need is satisfied.
            let objname = || npath.to_vec();
            let Some(defs) = &ndyn.verdef else {
                if nkind != Kind::Vdso {
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
                if d.hash == need.hash && ndyn.name(d.name) == need_name {
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
    Ok(diags)
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
