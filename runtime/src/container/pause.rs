//! `keel pause` / `keel resume`: freeze and thaw the container's cgroup
//! (the v1 freezer or v2 `cgroup.freeze`).

use super::{cgroup_of, load, Error, Globals};
use crate::state::Status;

fn manager(
    g: &Globals,
    id: &str,
    op: &'static str,
    want: Status,
) -> Result<crate::cgroups::Manager, Error> {
    let l = load(g, id)?;
    if l.status != want {
        return Err(Error::InvalidStatus {
            op,
            id: id.into(),
            status: l.status,
            hint: if want == Status::Running {
                ": container not running"
            } else {
                ": container not paused"
            },
        });
    }
    cgroup_of(&l.state)?
        .ok_or_else(|| Error::Unsupported(format!("container {id} has no cgroup to {op}")))
}

/// Freezes every process of a running container.
pub fn pause(g: &Globals, id: &str) -> Result<(), Error> {
    Ok(manager(g, id, "pause", Status::Running)?.freeze()?)
}

/// Thaws a paused container.
pub fn resume(g: &Globals, id: &str) -> Result<(), Error> {
    Ok(manager(g, id, "resume", Status::Paused)?.thaw()?)
}
