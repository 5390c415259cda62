// SPDX-License-Identifier: GPL-2.0-only
//! Link every PV test kernel with this crate's linker script (`guest.ld`).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| String::from("."));
    println!("cargo:rustc-link-arg-bins=-T{dir}/guest.ld");
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rerun-if-changed={dir}/guest.ld");
}
