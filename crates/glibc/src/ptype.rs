//! Parser for gdb's `ptype /o` output, the raw form in which struct layouts are committed.
//! Shared by build.rs (to generate the layout constants) and by the tests (to re-check them).

use alloc::string::String;
use alloc::vec::Vec;

/// One member found in a `ptype /o` dump. Nested named members are reported as `outer.inner`;
/// members of anonymous unions/structs keep their own name, as C lets code name them directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    pub offset: usize,
    pub size: usize,
    /// `(bit position within the byte at `offset`, width in bits)` for bitfields.
    pub bits: Option<(u8, u8)>,
}

/// A parsed dump: the members in source order and the total size of the outermost type.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub members: Vec<Member>,
    pub size: usize,
}

impl Layout {
    pub fn get(&self, path: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.path == path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

struct Frame {
    offset: usize,
    size: usize,
    first_member: usize,
    total: Option<usize>,
}

fn parse_num(s: &str) -> Option<usize> {
    s.trim().parse().ok()
}

/// Splits `/* a | b */ rest` into the comment body and the declaration text.
fn split_comment(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    let body = t.strip_prefix("/*")?;
    let end = body.find("*/")?;
    Some((&body[..end], body[end + 2..].trim()))
}

/// The declared name and the bitfield width of one member declaration (without the `;`).
fn decl_name(decl: &str) -> Option<(&str, Option<u8>)> {
    let decl = decl.trim();
    let (decl, width) = match decl.rfind(" : ") {
        // `enum {..} l_type : 2` — the width follows the last ` : ` outside braces.
        Some(i) if !decl[i..].contains('}') => (
            decl[..i].trim_end(),
            decl[i + 3..].trim().parse::<u8>().ok(),
        ),
        _ => (decl, None),
    };
    if let Some(i) = decl.find("(*") {
        let rest = &decl[i + 2..];
        let end = rest.find(')')?;
        let name = rest[..end].trim();
        let name = name.split('[').next()?;
        return Some((name, width));
    }
    let decl = match decl.find('[') {
        Some(i) => &decl[..i],
        None => decl,
    };
    let name = decl.rsplit([' ', '*']).next()?;
    if name.is_empty() {
        return None;
    }
    Some((name, width))
}

/// Parses the output of `gdb -batch -ex 'ptype /o TYPE'`.
pub fn parse(text: &str) -> Result<Layout, ParseError> {
    let mut members: Vec<Member> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut size = None;
    for (n, line) in text.lines().enumerate() {
        let err = |what| ParseError { line: n + 1, what };
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix('}') {
            let frame = stack.pop().ok_or(err("unbalanced '}'"))?;
            let rest = rest.trim().trim_end_matches(';').trim();
            if stack.is_empty() {
                size = frame.total.or(Some(frame.size));
                break;
            }
            if !rest.is_empty() {
                let name = decl_name(rest).ok_or(err("bad aggregate name"))?.0;
                for m in members.iter_mut().skip(frame.first_member) {
                    let mut p = String::from(name);
                    p.push('.');
                    p.push_str(&m.path);
                    m.path = p;
                }
                members.insert(
                    frame.first_member,
                    Member {
                        path: String::from(name),
                        offset: frame.offset,
                        size: frame.total.unwrap_or(frame.size),
                        bits: None,
                    },
                );
            }
            continue;
        }
        let Some((comment, decl)) = split_comment(t) else {
            if t.starts_with("type = ") && t.ends_with('{') {
                // `ptype` without a leading offset column (not used by measure.sh).
                stack.push(Frame {
                    offset: 0,
                    size: 0,
                    first_member: 0,
                    total: None,
                });
            }
            continue;
        };
        let comment = comment.trim();
        if let Some(v) = comment.strip_prefix("total size (bytes):") {
            if let Some(f) = stack.last_mut() {
                f.total = Some(parse_num(v).ok_or(err("bad total size"))?);
            }
            continue;
        }
        if comment.starts_with("XXX") {
            continue;
        }
        if comment.starts_with("offset") {
            // Header line: `/* offset | size */  type = struct X {`.
            if decl.ends_with('{') {
                stack.push(Frame {
                    offset: 0,
                    size: 0,
                    first_member: 0,
                    total: None,
                });
            }
            continue;
        }
        let (off_part, size_part) = match comment.split_once('|') {
            Some((a, b)) => (Some(a.trim()), b.trim()),
            None => (None, comment),
        };
        let msize = parse_num(size_part).ok_or(err("bad size column"))?;
        let parent_off = stack
            .last()
            .map(|f| f.offset)
            .ok_or(err("member outside type"))?;
        let (offset, bitpos) = match off_part {
            None => (parent_off, None),
            Some(o) => match o.split_once(':') {
                Some((byte, bit)) => (
                    parse_num(byte).ok_or(err("bad offset"))?,
                    Some(bit.trim().parse::<u8>().map_err(|_| err("bad bit"))?),
                ),
                None => (parse_num(o).ok_or(err("bad offset"))?, None),
            },
        };
        if decl.ends_with('{') {
            stack.push(Frame {
                offset,
                size: msize,
                first_member: members.len(),
                total: None,
            });
            continue;
        }
        let decl = decl.trim_end_matches(';');
        let (name, width) = decl_name(decl).ok_or(err("bad declaration"))?;
        let bits = match (bitpos, width) {
            (Some(b), Some(w)) => Some((b, w)),
            (None, Some(w)) => Some((0, w)),
            (Some(_), None) => return Err(err("bit offset without width")),
            (None, None) => None,
        };
        members.push(Member {
            path: String::from(name),
            offset,
            size: msize,
            bits,
        });
    }
    let size = size.ok_or(ParseError {
        line: 0,
        what: "no complete type in input",
    })?;
    Ok(Layout { members, size })
}
