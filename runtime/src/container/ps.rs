//! `keel ps`: the processes of a container. JSON is the array of host pids
//! containerd expects; the table is `ps`'s own output filtered to them.

use std::collections::HashSet;
use std::process::Command;

use super::{cgroup_of, kill::container_pids, load, Error, Globals};

/// Host pids of every process in the container.
pub fn pids(g: &Globals, id: &str) -> Result<Vec<i32>, Error> {
    let l = load(g, id)?;
    match cgroup_of(&l.state)? {
        Some(cg) => Ok(cg.pids()?),
        None if l.state.init_alive() => Ok(container_pids(&l.state)),
        None => Ok(Vec::new()),
    }
}

/// Runs `ps ARGS` (default `-ef`) and keeps the header and the lines whose
/// PID column is one of `pids`.
pub fn table(pids: &[i32], ps_args: &[String]) -> Result<String, Error> {
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(Error::io("run ps"))?;
    if !out.status.success() {
        return Err(Error::Unsupported(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(filter_table(&String::from_utf8_lossy(&out.stdout), pids))
}

/// Keeps the header line and the rows whose PID column is in `pids`.
pub fn filter_table(text: &str, pids: &[i32]) -> String {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        return format!("{header}\n");
    };
    let want: HashSet<i32> = pids.iter().copied().collect();
    let mut out = format!("{header}\n");
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p| want.contains(&p))
        {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let t = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep 100\nroot 43 1 other\n";
        assert_eq!(
            filter_table(t, &[42]),
            "UID PID PPID CMD\nroot 42 1 sleep 100\n"
        );
    }
}
