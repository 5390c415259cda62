// SPDX-License-Identifier: GPL-2.0-only
//! `io/console.h`: the PV console ring page of a domU
//! (`start_info.console.domU.mfn`), with free-running 32-bit producer and
//! consumer indices masked by the ring size on use; each side notifies the
//! other over the console event channel in `start_info`.

use bytemuck::{Pod, Zeroable};

/// `XENCONS_RING_IDX`.
pub type XenconsRingIdx = u32;

/// The console page (`struct xencons_interface`): `input` is the
/// backend's output to the guest (`in`), `output` the guest's (`out`).
#[doc(alias = "xencons_interface")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenconsInterface {
    /// `in`: characters for the guest (backend produces).
    pub input: [u8; 1024],
    /// `out`: characters from the guest (guest produces).
    pub output: [u8; 2048],
    /// `in_cons` (guest-written).
    pub in_cons: XenconsRingIdx,
    /// `in_prod` (backend-written).
    pub in_prod: XenconsRingIdx,
    /// `out_cons` (backend-written).
    pub out_cons: XenconsRingIdx,
    /// `out_prod` (guest-written).
    pub out_prod: XenconsRingIdx,
}
abi_layout!(XenconsInterface: size 3088, input @ 0, output @ 1024, in_cons @ 3072,
    in_prod @ 3076, out_cons @ 3080, out_prod @ 3084);

/// Size of the console's `out` ring.
pub const XENCONS_OUT_SIZE: u32 = 2048;
/// Size of the console's `in` ring.
pub const XENCONS_IN_SIZE: u32 = 1024;
