// SPDX-License-Identifier: GPL-2.0-only
//! Internal macros that stamp out ABI enums, layout checks and C strings.
//!
//! Every ABI struct goes through [`abi_layout!`], which asserts its size and
//! field offsets at compile time and gives it the crate's byte views and a
//! zeroed `Default`. Every number space that a hypercall dispatcher matches
//! on goes through [`abi_enum!`], which adds `TryFrom` from the raw number and
//! a rustdoc alias with Xen's C name.

/// Defines a `#[repr(int)]` enum mirroring a family of Xen `#define`s.
///
/// Each variant is written `Name = value => "XEN_C_NAME",`; the C name becomes
/// a `#[doc(alias)]` and is returned by `xen_name()`. The enum gets
/// `TryFrom<int>` (unknown numbers give [`crate::Unknown`]), `From<Self> for
/// int`, `raw()` and an `ALL` table used by the tests.
macro_rules! abi_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $repr:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal => $xen:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr($repr)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = ""]
                #[doc = concat!("Xen: `", $xen, "` = ", stringify!($value), ".")]
                #[doc(alias = $xen)]
                $variant = $value,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The raw number as it appears in the ABI.
            #[must_use]
            pub const fn raw(self) -> $repr {
                self as $repr
            }

            /// Xen's C name for this value.
            #[must_use]
            pub const fn xen_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $xen,)+
                }
            }
        }

        impl TryFrom<$repr> for $name {
            type Error = $crate::Unknown<$repr>;

            fn try_from(value: $repr) -> Result<Self, Self::Error> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    other => Err($crate::Unknown(other)),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                value as $repr
            }
        }
    };
}

/// Checks an ABI struct's layout at compile time and implements
/// [`crate::AbiBytes`] and a zero-filled `Default` for it.
///
/// `abi_layout!(T: size N, field @ off, nested.field @ off, ...)` expands to
/// `const _: () = assert!(size_of::<T>() == N && offset_of!(T, field) == off
/// && ...)`, with the numbers taken from Xen's x86_64 headers.
macro_rules! abi_layout {
    ($ty:ty : size $size:literal $(, $($field:ident).+ @ $off:literal)* $(,)?) => {
        const _: () = assert!(
            ::core::mem::size_of::<$ty>() == $size
                $(&& ::core::mem::offset_of!($ty, $($field).+) == $off)*
        );

        impl $crate::AbiBytes for $ty {}

        impl ::core::default::Default for $ty {
            fn default() -> Self {
                ::bytemuck::Zeroable::zeroed()
            }
        }
    };
}

/// Defines a fixed-size, NUL-padded C `char` array type (Xen's
/// `typedef char name[N]`) as a transparent newtype over `[u8; N]`.
macro_rules! c_string {
    ($(#[$meta:meta])* $name:ident, $len:literal, $xen:literal) => {
        $(#[$meta])*
        #[doc = ""]
        #[doc = concat!("Xen: `", $xen, "` (`char[", stringify!($len), "]`).")]
        #[doc(alias = $xen)]
        #[derive(Clone, Copy, PartialEq, Eq, ::bytemuck::Pod, ::bytemuck::Zeroable)]
        #[repr(transparent)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Size of the buffer in bytes, terminating NUL included.
            pub const LEN: usize = $len;

            /// Builds the buffer from `text`, truncated to `LEN - 1` bytes so
            /// that it is always NUL-terminated; every byte after the text is
            /// zero (no stale data can leak to the guest).
            #[must_use]
            pub fn new(text: &[u8]) -> Self {
                let mut out = [0u8; $len];
                for (dst, src) in out.iter_mut().zip(text.iter().take($len - 1)) {
                    *dst = *src;
                }
                Self(out)
            }

            /// The bytes before the first NUL (all of them if there is none).
            #[must_use]
            pub fn as_c_bytes(&self) -> &[u8] {
                let end = self.0.iter().position(|&b| b == 0).unwrap_or($len);
                self.0.get(..end).unwrap_or(&[])
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match ::core::str::from_utf8(self.as_c_bytes()) {
                    Ok(text) => f.debug_tuple(stringify!($name)).field(&text).finish(),
                    Err(_) => f.debug_tuple(stringify!($name)).field(&self.as_c_bytes()).finish(),
                }
            }
        }

        abi_layout!($name: size $len);
    };
}

/// The methods the `domctl` and `sysctl` envelopes share: decoding the
/// command, checking the interface version, and the 128-byte union read
/// and written as an argument struct.
macro_rules! control_envelope {
    ($ty:ident, $cmd:ident, $version:ident) => {
        impl $ty {
            /// Decodes `cmd`; `Err` carries an unknown command number.
            pub fn op(&self) -> Result<$cmd, crate::Unknown<u32>> {
                $cmd::try_from(self.cmd)
            }

            #[doc = concat!("Whether `interface_version` is [`", stringify!($version), "`].")]
            #[must_use]
            pub const fn version_ok(&self) -> bool {
                self.interface_version == $version
            }

            /// `Ok` if the caller was built for this interface; otherwise
            /// `Err` with the version it gave (Xen answers `-EACCES`).
            pub const fn check_version(&self) -> Result<(), crate::Unknown<u32>> {
                if self.version_ok() { Ok(()) } else { Err(crate::Unknown(self.interface_version)) }
            }

            /// Reads the union as the argument struct `T` (its leading
            /// bytes); `None` if `T` does not fit.
            #[must_use]
            pub fn payload<T: crate::AbiBytes>(&self) -> Option<T> {
                crate::union_payload(&self.u)
            }

            /// Writes `value` into the leading bytes of the union, leaving
            /// the rest untouched; `false` if `T` does not fit.
            pub fn set_payload<T: crate::AbiBytes>(&mut self, value: &T) -> bool {
                crate::set_union_payload(&mut self.u, value)
            }

            /// The union's 128 bytes.
            #[must_use]
            pub fn payload_bytes(&self) -> &[u8] {
                bytemuck::bytes_of(&self.u)
            }

            /// The union's 128 bytes, writable.
            pub fn payload_bytes_mut(&mut self) -> &mut [u8] {
                bytemuck::bytes_of_mut(&mut self.u)
            }
        }
    };
}
