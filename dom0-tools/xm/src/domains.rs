// SPDX-License-Identifier: GPL-2.0-only
//! What `xm` knows of the running domains until xend exists: the
//! hypervisor's list (`XEN_SYSCTL_getdomaininfolist`) with each domain's
//! name from xenstore (`/local/domain/<id>/name`, as xend writes it), and
//! xend's names where there is none: `Domain-0` for domain 0
//! (`XendDomain.DOM0_NAME`) and `Domain-<id>` for a domain xend did not
//! create (what `XendDomainInfo.recreate` calls one it finds nameless).

use guest_abi::domctl::{
    XEN_DOMINF_blocked, XEN_DOMINF_dying, XEN_DOMINF_paused, XEN_DOMINF_running,
    XEN_DOMINF_shutdown, XenDomctlGetdomaininfo,
};
use xenctrl::Xc;

use crate::Failure;

/// `SHUTDOWN_crash`, the shutdown code of a crashed domain.
const SHUTDOWN_CRASH: u32 = 3;

/// One domain as `xm list` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    /// Its id.
    pub domid: u16,
    /// Its name.
    pub name: String,
    /// Memory in MiB (its pages now).
    pub mem_mib: u64,
    /// Most memory it may have, MiB.
    pub maxmem_mib: u64,
    /// vCPUs online.
    pub online_vcpus: u32,
    /// vCPUs it has (highest id + 1).
    pub vcpus: u32,
    /// xend's six-letter state (`r b p s c d` or `-`).
    pub state: String,
    /// CPU time used, seconds.
    pub cpu_time: f64,
    /// Its handle (UUID) as xend prints it.
    pub uuid: String,
}

/// xend's state string from the `XEN_DOMINF_*` flags
/// (`XendConfig._get_old_state_string`): running, blocked, paused,
/// shutdown (not a crash), crashed, dying.
pub fn state_string(flags: u32, shutdown_code: u32) -> String {
    let shut = flags & XEN_DOMINF_shutdown != 0;
    let crashed = shut && shutdown_code == SHUTDOWN_CRASH;
    [
        (flags & XEN_DOMINF_running != 0, 'r'),
        (flags & XEN_DOMINF_blocked != 0, 'b'),
        (flags & XEN_DOMINF_paused != 0, 'p'),
        (shut && !crashed, 's'),
        (crashed, 'c'),
        (flags & XEN_DOMINF_dying != 0, 'd'),
    ]
    .iter()
    .map(|&(on, c)| if on { c } else { '-' })
    .collect()
}

/// A handle as `8-4-4-4-12` lower-case hex.
pub fn uuid_string(h: &[u8; 16]) -> String {
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    let part = |a: usize, b: usize| hex.get(a..b).unwrap_or("");
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

/// The name xend gives a domain with none in xenstore.
pub fn fallback_name(domid: u16) -> String {
    if domid == 0 { "Domain-0".to_owned() } else { format!("Domain-{domid}") }
}

/// One domain from the hypervisor's record and its xenstore name.
pub fn domain(info: &XenDomctlGetdomaininfo, name: Option<String>) -> Domain {
    let mib = |pages: u64| pages.saturating_mul(4096) >> 20;
    Domain {
        domid: info.domain.0,
        name: name.unwrap_or_else(|| fallback_name(info.domain.0)),
        mem_mib: mib(info.tot_pages),
        maxmem_mib: mib(info.max_pages),
        online_vcpus: info.nr_online_vcpus,
        vcpus: info.max_vcpu_id.saturating_add(1),
        state: state_string(info.flags, info.shutdown_code()),
        cpu_time: info.cpu_time as f64 / 1e9,
        uuid: uuid_string(&info.handle.0),
    }
}

/// Every domain, with names from xenstore where xenstored answers.
pub fn all() -> Result<Vec<Domain>, Failure> {
    let infos = Xc::open()?.all_domains()?;
    let socket = std::env::var_os("XENSTORED_PATH")
        .map_or_else(|| xenstored::client::DEFAULT_SOCKET.into(), std::path::PathBuf::from);
    let mut store = xenstored::client::Client::connect(&socket).ok();
    Ok(infos
        .iter()
        .map(|i| {
            let path = format!("/local/domain/{}/name", i.domain.0);
            let name = store
                .as_mut()
                .and_then(|c| c.read(0, &path).ok())
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            domain(i, name)
        })
        .collect())
}

/// The domain `spec` names (a name, else an id), as xend's
/// `domain_lookup_nr`; xm's error otherwise.
pub fn lookup<'a>(doms: &'a [Domain], spec: &str) -> Result<&'a Domain, Failure> {
    doms.iter()
        .find(|d| d.name == spec)
        .or_else(|| spec.parse::<u16>().ok().and_then(|id| doms.iter().find(|d| d.domid == id)))
        .ok_or_else(|| Failure::Failed(format!("Domain '{spec}' does not exist.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letters_as_xend() {
        assert_eq!(state_string(XEN_DOMINF_running, 0), "r-----");
        assert_eq!(state_string(XEN_DOMINF_blocked | XEN_DOMINF_paused, 0), "-bp---");
        assert_eq!(state_string(XEN_DOMINF_shutdown, 0), "---s--");
        assert_eq!(state_string(XEN_DOMINF_shutdown | XEN_DOMINF_dying, SHUTDOWN_CRASH), "----cd");
        assert_eq!(state_string(0, 0), "------");
    }

    #[test]
    fn uuid_and_names() {
        let h: [u8; 16] = core::array::from_fn(|i| u8::try_from(i * 17).unwrap_or(0));
        assert_eq!(uuid_string(&h), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(fallback_name(0), "Domain-0");
        assert_eq!(fallback_name(7), "Domain-7");
    }

    #[test]
    fn lookup_by_name_then_id() {
        let mk = |domid: u16, name: &str| Domain {
            domid,
            name: name.into(),
            mem_mib: 0,
            maxmem_mib: 0,
            online_vcpus: 1,
            vcpus: 1,
            state: "------".into(),
            cpu_time: 0.0,
            uuid: String::new(),
        };
        let doms = [mk(0, "Domain-0"), mk(3, "7"), mk(7, "vm")];
        assert_eq!(lookup(&doms, "vm").map(|d| d.domid).ok(), Some(7));
        // A name wins over an id, as xend looks names up first.
        assert_eq!(lookup(&doms, "7").map(|d| d.domid).ok(), Some(3));
        assert_eq!(lookup(&doms, "0").map(|d| d.domid).ok(), Some(0));
        match lookup(&doms, "nosuch") {
            Err(Failure::Failed(m)) => assert_eq!(m, "Domain 'nosuch' does not exist."),
            other => panic!("{other:?}"),
        }
    }
}
