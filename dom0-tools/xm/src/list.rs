// SPDX-License-Identifier: GPL-2.0-only
//! `xm list [-l|--long] [--state=<state>] [Domain, ...]`, `xm domid` and
//! `xm domname`, in Xen 4.1's formats (`xm_brief_list`: `"%-40s %5s %5s
//! %5s %10s %9s"` header, `"%(name)-40s %(domid)5s %(mem)5d %(vcpus)5d
//! %(state)10s %(cpu_time)8.1f"` rows).
//!
//! `-l` prints each domain's `(domain ...)` SXP in xend's 80-column layout
//! with what is known without xend (id, uuid, vCPUs, name, memory, CPU
//! time, status, state); the configuration xend keeps (`on_*`, image,
//! devices) comes with xend. `--label` needs ACM and `--pool` CPU pools
//! beyond Pool-0: both are refused with a message.

use xm_config::sxp::{Sxp, pretty};

use crate::domains::{self, Domain};
use crate::{Failure, arg_check, flags};

/// The brief table.
pub fn brief(doms: &[Domain]) -> String {
    let mut out = format!(
        "{:<40} {:>5} {:>5} {:>5} {:>10} {:>9}\n",
        "Name", "ID", "Mem", "VCPUs", "State", "Time(s)"
    );
    for d in doms {
        out.push_str(&format!(
            "{:<40} {:>5} {:>5} {:>5} {:>10} {:>8.1}\n",
            d.name, d.domid, d.mem_mib, d.online_vcpus, d.state, d.cpu_time
        ));
    }
    out
}

/// Xen-API's power state number for a state string (`XendAPIConstants`:
/// 0 halted, 1 paused, 2 running, 4 shutting down... as
/// `XendDomainInfo._stateGet` maps Xen's flags).
fn status(state: &str) -> i64 {
    match state.as_bytes() {
        [_, _, b'p', ..] => 1,
        [_, _, _, b's', ..] | [_, _, _, _, b'c', ..] => 4,
        _ => 2,
    }
}

/// The `-l` SXP of one domain.
pub fn long(d: &Domain) -> Sxp {
    let int = |v: u64| Sxp::Int(i64::try_from(v).unwrap_or(i64::MAX));
    Sxp::element(
        "domain",
        vec![
            Sxp::pair("domid", Sxp::Int(i64::from(d.domid))),
            Sxp::pair("uuid", Sxp::str(&d.uuid)),
            Sxp::pair("vcpus", Sxp::Int(i64::from(d.vcpus))),
            Sxp::pair("name", Sxp::str(&d.name)),
            Sxp::pair("memory", int(d.mem_mib)),
            Sxp::pair("maxmem", int(d.maxmem_mib)),
            Sxp::pair("cpu_time", Sxp::Float(d.cpu_time)),
            Sxp::pair("online_vcpus", Sxp::Int(i64::from(d.online_vcpus))),
            Sxp::pair("status", Sxp::Int(status(&d.state))),
            Sxp::pair("state", Sxp::str(&d.state)),
        ],
    )
}

/// Whether `d` is in `state` (a name of xend's `DOM_STATES`).
fn in_state(d: &Domain, state: &str) -> Result<bool, Failure> {
    let s = d.state.as_bytes();
    let has = |i: usize, c: u8| s.get(i) == Some(&c);
    Ok(match state {
        "all" => true,
        "running" => (has(0, b'r') || has(1, b'b')) && !has(2, b'p'),
        "paused" => has(2, b'p'),
        "shutdown" => has(3, b's'),
        "crashed" => has(4, b'c'),
        "dying" => has(5, b'd'),
        "halted" | "suspended" | "unknown" => false,
        other => {
            return Err(Failure::Usage("list", format!("Invalid state '{other}'")));
        }
    })
}

/// `xm list`.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut state = "all".to_owned();
    let mut rest = Vec::new();
    for a in args {
        if let Some(v) = a.strip_prefix("--state=") {
            state = v.to_owned();
        } else if a.starts_with("--pool=") {
            return Err(Failure::Failed(
                "xm list --pool: CPU pools beyond Pool-0 are not supported".into(),
            ));
        } else {
            rest.push(a.clone());
        }
    }
    let (seen, params) = flags(&rest, "list", &[("l", "long"), ("v", "vcpus"), ("L", "label")])?;
    if seen.contains(&"L") {
        return Err(Failure::Failed("xm list --label: no ACM policy is active".into()));
    }
    if seen.contains(&"v") {
        return Err(Failure::Failed("xm list -v is deprecated.  Please use xm vcpu-list.".into()));
    }
    if state != "all" && !params.is_empty() {
        return Err(Failure::Failed(
            "You may specify either a state or a particular VM, but not both".into(),
        ));
    }
    let all = domains::all()?;
    let mut doms = Vec::new();
    if params.is_empty() {
        for d in &all {
            if in_state(d, &state)? {
                doms.push(d.clone());
            }
        }
    } else {
        for p in params {
            doms.push(domains::lookup(&all, p)?.clone());
        }
    }
    if seen.contains(&"l") {
        for d in &doms {
            print!("{}", pretty(&long(d)));
        }
    } else {
        print!("{}", brief(&doms));
    }
    Ok(())
}

/// `xm domid <DomainName>`.
pub fn domid(args: &[String]) -> Result<(), Failure> {
    arg_check(args, "domid", 1, 1)?;
    let all = domains::all()?;
    let name = args.first().map_or("", String::as_str);
    let d = all
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Failure::Failed(format!("Domain '{name}' does not exist.")))?;
    println!("{}", d.domid);
    Ok(())
}

/// `xm domname <DomId>`.
pub fn domname(args: &[String]) -> Result<(), Failure> {
    arg_check(args, "domname", 1, 1)?;
    let all = domains::all()?;
    let spec = args.first().map_or("", String::as_str);
    let d = spec
        .parse::<u16>()
        .ok()
        .and_then(|id| all.iter().find(|d| d.domid == id))
        .ok_or_else(|| Failure::Failed(format!("Domain '{spec}' does not exist.")))?;
    println!("{}", d.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(domid: u16, name: &str, mem: u64, vcpus: u32, state: &str, t: f64) -> Domain {
        Domain {
            domid,
            name: name.into(),
            mem_mib: mem,
            maxmem_mib: mem,
            online_vcpus: vcpus,
            vcpus,
            state: state.into(),
            cpu_time: t,
            uuid: "00000000-0000-0000-0000-000000000000".into(),
        }
    }

    #[test]
    fn brief_table_is_xm_41s() {
        let t = brief(&[
            dom(0, "Domain-0", 1024, 2, "r-----", 5068.62),
            dom(3, "vm01", 256, 1, "-b----", 7.55),
        ]);
        assert_eq!(
            t,
            "Name                                        ID   Mem VCPUs      State   Time(s)\n\
             Domain-0                                     0  1024     2     r-----   5068.6\n\
             vm01                                         3   256     1     -b----      7.5\n"
        );
    }

    #[test]
    fn long_form_is_xend_sxp() {
        let text = pretty(&long(&dom(0, "Domain-0", 512, 1, "r-----", 12.5)));
        assert!(text.starts_with("(domain\n    (domid 0)\n"), "{text}");
        assert!(text.contains("    (name Domain-0)\n") && text.contains("    (state r-----)\n"));
        assert!(text.contains("    (cpu_time 12.5)\n") && text.contains("    (status 2)\n"));
        assert!(text.ends_with(")\n"));
    }

    #[test]
    fn states_select_as_xend() {
        let r = dom(1, "a", 1, 1, "r-----", 0.0);
        let p = dom(2, "b", 1, 1, "--p---", 0.0);
        let c = dom(3, "c", 1, 1, "----c-", 0.0);
        assert!(in_state(&r, "running").unwrap_or(false));
        assert!(!in_state(&p, "running").unwrap_or(true));
        assert!(in_state(&p, "paused").unwrap_or(false));
        assert!(in_state(&c, "crashed").unwrap_or(false));
        assert!(in_state(&c, "all").unwrap_or(false));
        assert!(in_state(&r, "bogus").is_err());
    }
}
