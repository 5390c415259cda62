// SPDX-License-Identifier: GPL-2.0-only
//! Identities shared by every scheduler: physical CPUs, schedulable units,
//! CPU masks (affinity, idlers) and the error type.
//!
//! A [`SchedUnit`] is Xen's `sched_unit` with one vCPU per unit (no core
//! scheduling): a domain id and a vCPU id. Time is Xen's `s_time_t` as an
//! unsigned count of nanoseconds since boot ([`Time`]).

use core::fmt;

use guest_abi::xen::{DomId, VcpuId};

/// System time in nanoseconds since boot (Xen's `NOW()`).
pub type Time = u64;

/// Nanoseconds in one microsecond.
pub const NS_PER_US: u64 = 1_000;
/// Nanoseconds in one millisecond (Xen's `MILLISECS(1)`).
pub const NS_PER_MS: u64 = 1_000_000;

/// A physical CPU number (Xen's `unsigned int cpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpu(pub u32);

impl Cpu {
    /// The CPU's position in per-CPU tables.
    pub fn index(self) -> usize {
        // u32 always fits usize on the 64-bit targets this crate serves.
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A schedulable unit: one vCPU of one domain (Xen's `sched_unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchedUnit {
    /// The owning domain.
    pub dom: DomId,
    /// The vCPU within the domain.
    pub vcpu: VcpuId,
}

impl SchedUnit {
    /// Unit for vCPU `vcpu` of domain `dom`.
    pub const fn new(dom: u16, vcpu: u32) -> Self {
        Self { dom: DomId(dom), vcpu: VcpuId(vcpu) }
    }
}

impl fmt::Display for SchedUnit {
    /// Xen's `d<dom>v<vcpu>` notation (`%pv`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{}v{}", self.dom.0, self.vcpu.0)
    }
}

/// A set of physical CPUs (Xen's `cpumask_t`), up to [`CpuMask::CAPACITY`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuMask(u128);

impl CpuMask {
    /// Number of CPUs a mask can name.
    pub const CAPACITY: u32 = 128;
    /// No CPU.
    pub const EMPTY: Self = Self(0);
    /// Every CPU the mask can name (Xen's `cpumask_all`, for "no affinity").
    pub const ALL: Self = Self(u128::MAX);

    /// The mask holding only `cpu` (empty if `cpu` is out of range).
    pub fn only(cpu: Cpu) -> Self {
        Self::EMPTY.with(cpu)
    }

    /// The mask of CPUs `0..n`.
    pub fn first_n(n: u32) -> Self {
        (0..n.min(Self::CAPACITY)).fold(Self::EMPTY, |m, c| m.with(Cpu(c)))
    }

    /// The mask of the listed CPUs.
    pub fn from_cpus(cpus: &[u32]) -> Self {
        cpus.iter().fold(Self::EMPTY, |m, &c| m.with(Cpu(c)))
    }

    fn bit(cpu: Cpu) -> u128 {
        1u128.checked_shl(cpu.0).unwrap_or(0)
    }

    /// This mask plus `cpu`.
    #[must_use]
    pub fn with(self, cpu: Cpu) -> Self {
        Self(self.0 | Self::bit(cpu))
    }

    /// This mask minus `cpu`.
    #[must_use]
    pub fn without(self, cpu: Cpu) -> Self {
        Self(self.0 & !Self::bit(cpu))
    }

    /// Adds `cpu` (ignored when out of range).
    pub fn set(&mut self, cpu: Cpu) {
        *self = self.with(cpu);
    }

    /// Removes `cpu`.
    pub fn clear(&mut self, cpu: Cpu) {
        *self = self.without(cpu);
    }

    /// Whether `cpu` is in the mask.
    pub fn contains(self, cpu: Cpu) -> bool {
        self.0 & Self::bit(cpu) != 0
    }

    /// Whether the mask is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of CPUs in the mask (`cpumask_weight`).
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// Intersection.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Union.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// CPUs in `self` but not in `other` (`cpumask_andnot`).
    #[must_use]
    pub fn and_not(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether the masks share a CPU.
    pub fn intersects(self, other: Self) -> bool {
        !self.and(other).is_empty()
    }

    /// The lowest CPU in the mask.
    pub fn first(self) -> Option<Cpu> {
        (self.0 != 0).then(|| Cpu(self.0.trailing_zeros()))
    }

    /// The next CPU after `cpu`, wrapping around (`cpumask_cycle`); `None`
    /// only for an empty mask. May return `cpu` itself if it is the only one.
    pub fn cycle(self, cpu: Cpu) -> Option<Cpu> {
        let above = cpu.0.checked_add(1).and_then(|s| u128::MAX.checked_shl(s)).unwrap_or(0);
        Self(self.0 & above).first().or_else(|| self.first())
    }

    /// The CPUs in ascending order.
    pub fn iter(self) -> impl Iterator<Item = Cpu> {
        (0..Self::CAPACITY).map(Cpu).filter(move |&c| self.contains(c))
    }
}

impl fmt::Display for CpuMask {
    /// Xen's `%*pbl` range list, e.g. `0-3,6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut cpus = self.iter().peekable();
        while let Some(start) = cpus.next() {
            let mut end = start;
            while let Some(&next) = cpus.peek() {
                if Some(next.0) != end.0.checked_add(1) {
                    break;
                }
                end = next;
                cpus.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end { write!(f, "{start}")? } else { write!(f, "{start}-{end}")? }
        }
        Ok(())
    }
}

/// Why a scheduler operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// The CPU number is beyond [`CpuMask::CAPACITY`].
    CpuOutOfRange,
    /// `init_cpu` on a CPU the scheduler already runs.
    CpuAlreadyOnline,
    /// The CPU is not (or no longer) part of the scheduler.
    CpuOffline,
    /// The last CPU cannot be removed while units remain.
    LastCpu,
    /// The unit is already inserted.
    UnitExists,
    /// The unit is unknown to the scheduler.
    NoSuchUnit,
    /// The domain has no unit in the scheduler.
    NoSuchDomain,
    /// The affinity mask names no online CPU.
    EmptyAffinity,
    /// A weight outside `1..=65535`.
    InvalidWeight,
    /// A cap above the accepted maximum (see the scheduler's docs).
    InvalidCap,
    /// A time slice outside the scheduler's range.
    InvalidTimeslice,
    /// A rate limit outside the scheduler's range.
    InvalidRatelimit,
    /// sEDF parameters Xen 4.5 refuses (see `SedfParams::put`).
    InvalidSedf,
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CpuOutOfRange => "CPU number out of range",
            Self::CpuAlreadyOnline => "CPU already in the scheduler",
            Self::CpuOffline => "CPU not in the scheduler",
            Self::LastCpu => "cannot remove the last CPU while units remain",
            Self::UnitExists => "unit already inserted",
            Self::NoSuchUnit => "no such unit",
            Self::NoSuchDomain => "no such domain",
            Self::EmptyAffinity => "affinity names no online CPU",
            Self::InvalidWeight => "weight out of range",
            Self::InvalidCap => "cap out of range",
            Self::InvalidTimeslice => "time slice out of range",
            Self::InvalidRatelimit => "rate limit out of range",
            Self::InvalidSedf => "sEDF parameters out of range",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests on known values")]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    #[test]
    fn mask_ops() {
        let m = CpuMask::from_cpus(&[0, 2, 3, 127]);
        assert_eq!(m.count(), 4);
        assert!(m.contains(Cpu(127)) && !m.contains(Cpu(1)) && !m.contains(Cpu(128)));
        assert_eq!(CpuMask::only(Cpu(200)), CpuMask::EMPTY);
        assert_eq!(m.first(), Some(Cpu(0)));
        assert_eq!(m.cycle(Cpu(0)), Some(Cpu(2)));
        assert_eq!(m.cycle(Cpu(3)), Some(Cpu(127)));
        assert_eq!(m.cycle(Cpu(127)), Some(Cpu(0)));
        assert_eq!(CpuMask::only(Cpu(5)).cycle(Cpu(5)), Some(Cpu(5)));
        assert_eq!(CpuMask::EMPTY.cycle(Cpu(5)), None);
        assert_eq!(m.without(Cpu(0)).and(CpuMask::first_n(4)), CpuMask::from_cpus(&[2, 3]));
        assert_eq!(m.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 2, 3, 127]);
        assert_eq!(format!("{m}"), "0,2-3,127");
        assert_eq!(format!("{}", CpuMask::first_n(4)), "0-3");
        assert_eq!(format!("{}", SchedUnit::new(3, 1)), "d3v1");
        assert!(CpuMask::ALL.and_not(CpuMask::ALL).is_empty());
    }
}
