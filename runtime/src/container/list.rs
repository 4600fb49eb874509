//! `keel list`: every container under `--root`, in runc's table or JSON.

use std::os::unix::fs::MetadataExt;

use super::{Error, Globals};
use crate::state::StateDoc;

/// The state documents of every container, sorted by id. The owner is the
/// name of the user owning the state directory, as runc's list shows it.
pub fn list(g: &Globals) -> Result<Vec<StateDoc>, Error> {
    let root = g.state_root();
    let mut out = Vec::new();
    for id in root.ids()? {
        let Ok(st) = root.peek(&id) else { continue };
        let dir = root.path().join(&id);
        let status = super::live_status(&st, dir.join("exec.fifo").exists());
        let mut doc = st.doc(status);
        let uid = std::fs::metadata(&dir).map(|m| m.uid()).unwrap_or(0);
        doc.owner = user_name(uid);
        out.push(doc);
    }
    Ok(out)
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

/// runc's table: Go's tabwriter with minwidth 12 and padding 3.
pub fn table(docs: &[StateDoc]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for d in docs {
        rows.push(vec![
            d.id.clone(),
            d.pid.to_string(),
            d.status.to_string(),
            d.bundle.display().to_string(),
            d.created.clone(),
            d.owner.clone(),
        ]);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols - 1)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 < cols {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_runcs_header() {
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
